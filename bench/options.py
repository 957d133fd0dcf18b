"""The options of `xorbench run` (RunOptions) and `xorbench sweep` (SweepOptions): one frozen type per
command, each with one set of defaults and its --quick values, and the checks that need nothing but them.

Every message names the flag as the user typed it (`--timeout`, not `timeout_s`). The checks that need a
preset's config or the planned jobs live in bench/plan.py (plan.check, which calls `check` here first):
plan imports this module, never the other way. Nothing here imports a framework.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from .. import backends as registry  # `backends` is also an option's name

PRESET_CHOICES = ("matched", "article", "classic", "all")
DEVICE_CHOICES = ("cpu", "gpu", "auto")
# The modes a run or sweep measures unless --modes says otherwise: each framework as written, and at
# its best. `compiled` (one documented switch) costs a minute or more of compiling per process here
# for torch and Keras on torch, which would take the default run far past its budget: `--modes all`.
DEFAULT_MODES = ("idiomatic", "tuned")
SWEEP_HIDDEN = (4, 16, 64, 256, 1024, 4096)
SWEEP_BATCH = (4, 256, 4096, 65536)
# Limits that keep every accepted input in bounded memory (docs/USAGE.md, "Limits"). A run holds
# its tables in memory and every seed's loss curve until it ends (~8 bytes an epoch, compressed), and a
# worker its seeds' losses (8 bytes an epoch, float64).
LIMITS = {"seeds": 10_000, "epochs": 1_000_000, "repeats": 100, "processes": 100, "threads": 1024}
CURVE_EPOCHS = 10_000_000  # seeds x epochs x presets x backend modes: 40 MB of float32 curves (docs/USAGE.md: peak RSS)
SWEEP_VALUES = 64  # values of sweep --hidden and --batch each (4,096 cells per backend and mode)
# A worker process needs about a second here to start Python and import NumPy before it can report
# anything: a shorter --timeout stops every worker before its first row (every row an error).
MIN_TIMEOUT_S = 1.0
# The classic preset draws weights and biases uniform in [-R, R]. Past |w| ~ 40 every sigmoid is 0 or 1
# in float32 (no gradient, nothing to learn), and near 1e308 the draw itself overflows: 100 leaves room
# to show saturation and stays far from that.
# The frameworks a person chooses between, each as written and at its best, and the compiled floor: a
# default run's rows. Keras on JAX and on torch are the same Keras code on another engine (--backends all).
DEFAULT_BACKENDS = ("numpy", "keras", "torch", "jax", "numba")
MAX_INIT_RANGE = 100.0
# The flags a preset's config takes, and the presets that take them; the article preset takes none
# (it is the article's code as written). The sweep's network is the matched preset's.
USED_BY = {"optimizer": ("matched",), "lr": ("matched",), "epochs": ("matched",), "momentum": ("matched",),
           "hidden": ("matched", "classic"), "init_range": ("classic",)}  # fmt: skip
# The flags that set how a preset is measured, and the presets measured so: --processes the matched
# preset's timing processes, --repeats theirs and the article's timed windows, --seeds the convergence
# seeds of the matched and classic presets. Given for presets that do not run, they would be ignored.
MEASURED_BY = {"processes": ("matched",), "repeats": ("matched", "article"), "seeds": ("matched", "classic")}


@dataclass(frozen=True)
class Shared:
    """What `run` and `sweep` both take."""

    backends: tuple[str, ...] | None = None  # None: DEFAULT_BACKENDS
    devices: tuple[str, ...] = ("auto",)
    modes: tuple[str, ...] = DEFAULT_MODES
    threads: int = registry.DEFAULT_THREADS
    out: Path = Path("results")
    momentum: float | None = None  # SGD's heavy-ball momentum; None: the matched preset's own (0)
    argv: str = "xorbench"  # the command line, for env.json

    @property
    def names(self) -> tuple[str, ...]:
        return self.backends if self.backends is not None else DEFAULT_BACKENDS

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class RunOptions(Shared):
    """One `xorbench run`. None for a preset's value: that preset's own."""

    command: ClassVar[str] = "run"
    QUICK: ClassVar[dict] = {"epochs": 200, "seeds": 3, "processes": 1, "repeats": 4, "solve_s": 3.0,
                             "window_s": 0.05, "article_scale": 0.1}  # fmt: skip
    MIN_REPEATS: ClassVar[int] = 2  # fit(W) = a + b * W needs windows of two lengths (stats.call_and_epoch)
    COUNTS: ClassVar[tuple] = ("threads", "repeats", "seeds", "processes")  # integers >= 1, at most LIMITS
    POSITIVE: ClassVar[tuple] = ("timeout_s", "window_s", "budget_s", "solve_s", "article_scale")

    timeout_s: float = 300.0  # a worker that reports nothing (no row, no progress) this long is stopped
    repeats: int = 8  # timed windows per timing process, two lengths in turn
    window_s: float = 0.1  # aim for timed windows this long (the short ones an eighth of it)
    preset: str = "all"
    optimizer: str | None = None  # None: the matched preset's own (SGD)
    lr: float | None = None
    epochs: int | None = None  # matched preset; None: its 2000
    hidden: int | None = None  # matched and classic presets' hidden units; None: theirs (4 and 2)
    init_range: float | None = None  # the classic preset's uniform init range r; None: its 0.5
    seeds: int = 30  # convergence seeds per preset (the classic experiment wants at least 30)
    processes: int | None = None  # fresh timing processes per timed row; None: planned within budget_s
    budget_s: float = 280.0  # the run's measuring seconds, within which it plans its timing processes
    solve_s: float = 20.0  # per row: its timing processes train to solved (cold, then warm) while this fits
    article_scale: float = 1.0  # --quick shortens the article's runs
    report: bool = True
    given: frozenset[str] = frozenset()  # the fields the user set on the command line (check_run)


@dataclass(frozen=True)
class SweepOptions(Shared):
    """One `xorbench sweep`: the matched preset's network over hidden widths x batch sizes."""

    command: ClassVar[str] = "sweep"
    QUICK: ClassVar[dict] = {"repeats": 2, "window_s": 0.05, "cell_cap_s": 0.3, "hidden": (4, 64, 1024),
                             "batch": (4, 4096)}  # fmt: skip
    MIN_REPEATS: ClassVar[int] = 1  # a cell's time is the median of its windows, of one length
    COUNTS: ClassVar[tuple] = ("threads", "repeats")
    POSITIVE: ClassVar[tuple] = ("timeout_s", "window_s", "cell_cap_s")

    timeout_s: float = 240.0
    repeats: int = 3  # timed windows per sweep cell
    window_s: float = 0.1
    hidden: tuple[int, ...] = SWEEP_HIDDEN
    batch: tuple[int, ...] = SWEEP_BATCH
    cell_cap_s: float = 2.5  # an epoch longer than this (measured or extrapolated) ends or skips a sweep cell


Options = RunOptions | SweepOptions
TYPES = {"run": RunOptions, "sweep": SweepOptions}
FLAGS = {"timeout_s": "--timeout", "budget_s": "--budget", "window_s": "window", "article_scale": "article scale",
         "cell_cap_s": "cell cap", "init_range": "--init-range", "solve_s": "solve budget"}  # fmt: skip


def flag(name: str) -> str:
    return FLAGS.get(name, f"--{name}")


def make(command: str, quick: bool, given: dict, argv: str) -> Options:
    """Options from what the user gave (None: not given), over --quick's values, over the defaults."""
    registry.check_choice("command", command, tuple(TYPES))
    kind = TYPES[command]
    chosen = {k: v for k, v in given.items() if v is not None}
    typed = {"given": frozenset(chosen)} if command == "run" else {}
    return kind(argv=argv, **{**(kind.QUICK if quick else {}), **chosen, **typed})


def names(text: str) -> tuple[str, ...]:
    """--backends numpy,torch -> ("numpy", "torch"): comma-separated, blanks and repeats dropped."""
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


def backend_names(text: str) -> tuple[str, ...]:
    """--backends numpy,torch -> ("numpy", "torch"); `all` anywhere -> every registered backend."""
    chosen = names(text)
    return registry.BACKENDS if "all" in chosen else chosen


def mode_names(text: str) -> tuple[str, ...]:
    """--modes idiomatic,tuned -> ("idiomatic", "tuned"); `all` anywhere -> every registered mode."""
    chosen = names(text)
    return registry.MODES if "all" in chosen else chosen


def integers(text: str, name: str) -> tuple[int, ...]:
    values = []
    for part in names(text):
        try:
            values.append(int(part))
        except ValueError:
            raise ValueError(f"--{name} must be comma-separated integers; got {part!r}") from None
    return tuple(dict.fromkeys(values))


def check(options: Options) -> None:
    """Raise ValueError, naming the flag, for any value that is wrong on its own or beside another
    option. Does no work; plan.check goes on to what the presets' configs and the jobs need."""
    check_selection(options)
    for name in options.COUNTS:
        if getattr(options, name) is not None:  # --processes: None plans them within --budget
            check_count(name, getattr(options, name), LIMITS[name])
    if options.repeats < options.MIN_REPEATS:
        raise ValueError(f"--repeats must be at least {options.MIN_REPEATS}: each timing process fits a + b * W to "
                         f"windows of two lengths, taken in turn; got {options.repeats}")  # fmt: skip
    for name in options.POSITIVE:
        if not getattr(options, name) > 0:
            raise ValueError(f"{flag(name)} must be > 0; got {getattr(options, name)!r}")
    if options.timeout_s < MIN_TIMEOUT_S:
        raise ValueError(f"--timeout must be at least {MIN_TIMEOUT_S:g} s (a worker needs about that to start and "
                         f"report); got {options.timeout_s:g}")  # fmt: skip
    if isinstance(options, RunOptions):
        check_run(options)
    else:
        check_sweep(options)


def check_selection(options: Options) -> None:
    """--backends/--devices/--modes: at least one each, known names only."""
    for name in ("backends", "devices", "modes"):
        if not getattr(options, name) and not (name == "backends" and options.backends is None):
            raise ValueError(f"--{name} needs at least one name")
    for name in options.names:
        registry.spec(name)
    for device in options.devices:
        registry.check_choice("device", device, DEVICE_CHOICES)
    for mode in options.modes:
        registry.check_choice("mode", mode, registry.MODES)


def check_count(name: str, value, limit: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"--{name} must be an integer >= 1; got {value!r}")
    if limit is not None and value > limit:
        raise ValueError(f"--{name} must be at most {limit:,} (a limit that bounds memory); got {value:,}")


def check_run(options: RunOptions) -> None:
    registry.check_choice("preset", options.preset, PRESET_CHOICES)
    presets = PRESET_CHOICES[:3] if options.preset == "all" else (options.preset,)
    for name, users in USED_BY.items():
        if getattr(options, name) is not None and not set(users) & set(presets):
            which = f"the {users[0]} preset's" if len(users) == 1 else f"the {' and '.join(users)} presets'"
            raise ValueError(f"{flag(name)} sets {which} config only, and --preset {options.preset} does not run "
                             f"{'it' if len(users) == 1 else 'them'}: add --preset {users[0]} or all, or drop "
                             f"{flag(name)}")  # fmt: skip
    for name, users in MEASURED_BY.items():
        if name in options.given and not set(users) & set(presets):
            which = f"the {users[0]} preset is" if len(users) == 1 else f"the {' and '.join(users)} presets are"
            raise ValueError(f"{flag(name)} sets how {which} measured, and --preset {options.preset} does not run "
                             f"{'it' if len(users) == 1 else 'them'}: drop {flag(name)}")  # fmt: skip
    if options.lr is not None and not math.isfinite(options.lr):
        raise ValueError(f"--lr must be a finite number > 0; got {options.lr!r}")
    if options.hidden is not None:
        check_count("hidden", options.hidden)
    if options.epochs is not None:
        check_count("epochs", options.epochs, LIMITS["epochs"])
    if options.init_range is not None and options.init_range > MAX_INIT_RANGE:
        raise ValueError(f"--init-range must be at most {MAX_INIT_RANGE:g} (past about 40 every sigmoid starts "
                         f"saturated in float32); got {options.init_range:g}")  # fmt: skip


def check_sweep(options: SweepOptions) -> None:
    for name, minimum in (("hidden", 1), ("batch", 4)):
        values = getattr(options, name)
        if not values or any(not isinstance(v, int) or v < minimum for v in values):
            raise ValueError(f"--{name} must be comma-separated integers >= {minimum}; got {values!r}")
        if len(values) > SWEEP_VALUES:
            raise ValueError(f"--{name} takes at most {SWEEP_VALUES} values (a limit that bounds memory); "
                             f"got {len(values)}")  # fmt: skip


def check_writable(out: Path, files: tuple[str, ...] = ()) -> None:
    """--out can be made and written to, and none of the `files` the command writes there is a folder."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".xorbench-probe-"):
            pass
    except OSError as error:
        raise ValueError(f"--out {out} is not writable ({error.strerror or error})") from None
    for name in files:
        if (out / name).is_dir():
            raise ValueError(f"--out {out} has a folder named {name}, where that file goes: move it, or choose "
                             "another --out")  # fmt: skip
