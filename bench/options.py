"""The options of `xorbench run` and `xorbench sweep`: one type, one set of defaults, one place that checks them.

Every message names the flag as the user typed it (`--timeout`, not `timeout_s`). Nothing here
imports a framework.
"""

from __future__ import annotations

import dataclasses
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import backends as registry  # `backends` is also an option's name

COMMANDS = ("run", "sweep")
PRESET_CHOICES = ("matched", "article", "classic", "all")
DEVICE_CHOICES = ("cpu", "gpu", "auto")
# The modes a run or sweep measures unless --modes says otherwise: each framework as written, and at
# its best. `compiled` (one documented switch) costs a minute or more of compiling per process here
# for torch and Keras on torch, which would take the default run far past its budget: `--modes all`.
DEFAULT_MODES = ("idiomatic", "tuned")
SWEEP_HIDDEN = (4, 16, 64, 256, 1024, 4096)
SWEEP_BATCH = (4, 256, 4096, 65536)
# Limits that keep every accepted input in bounded memory (README, "Running the benchmark"). A run holds
# its tables in memory and every seed's loss curve until it ends (~8 bytes an epoch, compressed), and a
# worker its seeds' losses (8 bytes an epoch, float64).
LIMITS = {"seeds": 10_000, "epochs": 1_000_000, "repeats": 100, "processes": 100, "threads": 1024}
CURVE_EPOCHS = 10_000_000  # seeds x epochs x presets x backend modes: ~80 MB of curves at most
SWEEP_VALUES = 64  # values of sweep --hidden and --batch each (4,096 cells per backend and mode)


@dataclass(frozen=True)
class Options:
    """One `xorbench run` or `xorbench sweep`. None: that command's default (DEFAULTS)."""

    command: str = "run"
    backends: tuple[str, ...] | None = None  # None: every registered backend
    devices: tuple[str, ...] = ("auto",)
    modes: tuple[str, ...] = DEFAULT_MODES
    threads: int = registry.DEFAULT_THREADS
    timeout_s: float | None = None  # a worker that reports nothing (no row, no progress) this long is stopped
    out: Path = Path("results")
    repeats: int | None = None  # timed windows per timing run / per sweep cell
    window_s: float | None = None  # aim for timed windows this long
    # run
    preset: str = "all"
    optimizer: str | None = None  # None: the matched preset's own (SGD)
    lr: float | None = None
    momentum: float | None = None  # SGD's heavy-ball momentum; None: the preset's own (0; classic 0.9)
    epochs: int | None = None  # matched preset; None: its 2000
    run_hidden: int | None = None  # `run --hidden`: matched and classic presets' hidden units (4 and 2)
    init_range: float | None = None  # the classic preset's uniform init range r; None: its 0.5
    seeds: int = 30  # convergence seeds per preset (the classic experiment wants at least 30)
    processes: int = 5  # fresh worker processes per timed row
    budget_s: float = 30.0  # per backend and mode: longer full runs are shortened or borrow convergence
    article_scale: float = 1.0  # --quick shortens the article's runs
    report: bool = True
    # sweep
    hidden: tuple[int, ...] = SWEEP_HIDDEN
    batch: tuple[int, ...] = SWEEP_BATCH
    cell_cap_s: float = 2.5  # an epoch longer than this (measured or extrapolated) ends or skips a sweep cell
    argv: str = "xorbench run"  # the command line, for env.json

    def __post_init__(self) -> None:
        for name, value in DEFAULTS[self.command].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)

    @property
    def names(self) -> tuple[str, ...]:
        return self.backends if self.backends is not None else registry.BACKENDS

    def replace(self, **changes) -> Options:
        return dataclasses.replace(self, **changes)


DEFAULTS = {
    "run": {"timeout_s": 300.0, "repeats": 8, "window_s": 0.2},
    "sweep": {"timeout_s": 240.0, "repeats": 3, "window_s": 0.1},
}
QUICK = {
    "run": {
        "epochs": 200,
        "seeds": 3,
        "processes": 2,
        "repeats": 4,
        "budget_s": 3.0,
        "window_s": 0.05,
        "article_scale": 0.1,
    },
    "sweep": {"repeats": 2, "window_s": 0.05, "cell_cap_s": 0.3, "hidden": (4, 64, 1024), "batch": (4, 4096)},
}
FLAGS = {"timeout_s": "--timeout", "budget_s": "--budget", "window_s": "window", "article_scale": "article scale",
         "cell_cap_s": "cell cap"}  # fmt: skip


def flag(name: str) -> str:
    return FLAGS.get(name, f"--{name}")


def make(command: str, quick: bool, given: dict, argv: str) -> Options:
    """Options from what the user gave (None: not given), over --quick's values, over the defaults."""
    registry.check_choice("command", command, COMMANDS)
    chosen = {k: v for k, v in given.items() if v is not None}
    return Options(command=command, argv=argv, **{**(QUICK[command] if quick else {}), **chosen})


def names(text: str) -> tuple[str, ...]:
    """--backends numpy,torch -> ("numpy", "torch"): comma-separated, blanks and repeats dropped."""
    return tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))


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
    """Raise ValueError, naming the flag, for anything that would fail later. Does no work."""
    check_selection(options)
    for name in ("threads", "repeats", "seeds", "processes"):
        check_count(name, getattr(options, name), LIMITS[name])
    for name in ("timeout_s", "window_s", "budget_s", "article_scale", "cell_cap_s"):
        if not getattr(options, name) > 0:
            raise ValueError(f"{flag(name)} must be > 0; got {getattr(options, name)!r}")
    if options.command == "run":
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


def check_run(options: Options) -> None:
    from .plan import classic_config, jobs, matched_config

    registry.check_choice("preset", options.preset, PRESET_CHOICES)
    if options.lr is not None and not math.isfinite(options.lr):
        raise ValueError(f"--lr must be a finite number > 0; got {options.lr!r}")
    if options.run_hidden is not None:
        check_count("hidden", options.run_hidden)
    for name in options.names:
        try:  # TrainConfig checks --optimizer, --lr, --momentum, --epochs, --hidden, --init-range
            matched_config(options, name)
            classic_config(options, name)
        except ValueError as error:
            raise as_flag(error) from None
    if options.epochs is not None:
        check_count("epochs", options.epochs, LIMITS["epochs"])
    check_run_memory(options)
    if not jobs(options):
        raise ValueError(nothing_to_run(options))


def check_run_memory(options: Options) -> None:
    """The loss curves a run keeps, and its widest network (--hidden), within bounded memory."""
    from .plan import memory_refusal

    kept = curve_epochs(options)
    if kept > CURVE_EPOCHS:
        raise ValueError(f"--seeds {options.seeds:,} x the presets' epochs x {len(options.names)} backends' modes "
                         f"keeps {kept:,} loss-curve epochs in memory, over the limit of {CURVE_EPOCHS:,}: "
                         "lower --seeds or --epochs, or choose fewer --backends or --modes")  # fmt: skip
    for name in options.names if options.run_hidden is not None else ():
        reason = memory_refusal(name, options.run_hidden, 4)
        if reason:
            raise ValueError(f"--hidden {options.run_hidden:,} is {reason}")


def curve_epochs(options: Options) -> int:
    """Loss-curve epochs a run keeps: every convergence seed of every chosen mode, matched and classic."""
    from .plan import classic_config, matched_config

    presets = [make for preset, make in (("matched", matched_config), ("classic", classic_config))
               if options.preset in (preset, "all")]  # fmt: skip
    total = 0
    for name in options.names:
        modes = [mode for mode in options.modes if mode in registry.modes_of(name)]
        total += sum(options.seeds * make(options, name).epochs * len(modes) for make in presets)
    return total


def nothing_to_run(options: Options) -> str:
    """Why no job is left: the article preset in tuned mode only, or no chosen backend with a snippet."""
    from .plan import article_config

    if options.preset == "article" and "idiomatic" in options.modes:
        others = [name for name in registry.BACKENDS if name not in options.names and article_config(options, name)]
        return (f"nothing to run: the article has no snippet for {', '.join(options.names)} (it has one for "
                f"{', '.join(others)}): choose one of those with --backends, or another --preset")  # fmt: skip
    return "nothing to run: the article preset runs in idiomatic mode only (add --modes idiomatic)"


def check_sweep(options: Options) -> None:
    from .plan import jobs, matched_config

    try:  # the swept network is the matched preset's: TrainConfig checks --momentum
        for name in options.names:
            matched_config(options, name)
    except ValueError as error:
        raise as_flag(error) from None

    for name, minimum in (("hidden", 1), ("batch", 4)):
        values = getattr(options, name)
        if not values or any(not isinstance(v, int) or v < minimum for v in values):
            raise ValueError(f"--{name} must be comma-separated integers >= {minimum}; got {values!r}")
        if len(values) > SWEEP_VALUES:
            raise ValueError(f"--{name} takes at most {SWEEP_VALUES} values (a limit that bounds memory); "
                             f"got {len(values)}")  # fmt: skip
    if not jobs(options):
        raise ValueError("nothing to sweep: no chosen backend offers the chosen modes")
    check_sweep_memory(options)


def check_sweep_memory(options: Options) -> None:
    """Refuse a sweep whose every cell is over the memory limit for every chosen backend. A grid with
    some cells within it runs: the worker skips each cell over it, with its estimate as the reason."""
    from .plan import memory_refusal

    smallest = min(options.hidden), min(options.batch)  # the estimate grows with both
    reasons = [memory_refusal(name, *smallest) for name in options.names]
    if all(reasons):
        every = "the cell is" if len(options.hidden) * len(options.batch) == 1 else "every cell is"
        raise ValueError(f"nothing to sweep: {every} {min(reasons, key=len)}")


def as_flag(error: ValueError) -> ValueError:
    """TrainConfig's message names its field ("init_range must be ..."); say the flag the user typed."""
    field, _, rest = str(error).partition(" ")
    if field in ("lr", "epochs", "momentum", "hidden", "init_range"):
        return ValueError(f"--{field.replace('_', '-')} {rest}")
    return error


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
