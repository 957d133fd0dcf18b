"""What a run or a sweep will measure: its jobs (one worker process each), built from the options, and
the checks that need the presets' configs or the jobs (check).

Imports run one way: cli -> runner -> plan -> options. Imports no framework.
"""

from __future__ import annotations

import dataclasses

from .. import backends as registry
from . import budget
from . import env as environment
from . import options as opts
from .job import Job, RunJob, SweepJob, TimeJob, planned
from .options import Options, RunOptions


def matched_config(options: Options, name: str) -> registry.TrainConfig:
    """The matched preset as the options set it: a run's --optimizer, --lr, --epochs, --momentum and
    --hidden; a sweep's --momentum (its --hidden is the grid's, set per cell)."""
    given = {"momentum": options.momentum}
    if isinstance(options, RunOptions):
        given |= {"optimizer": options.optimizer, "lr": options.lr, "epochs": options.epochs, "hidden": options.hidden}
    return registry.preset("matched", name, **{k: v for k, v in given.items() if v is not None}, seed=0)


def classic_config(options: RunOptions, name: str) -> registry.TrainConfig:
    """The 1986 set-up; --hidden widens it (2 by default, the paper's) and --init-range sets its init range.
    --epochs is the matched preset's: the classic experiment keeps its own limit (5000)."""
    given = {"hidden": options.hidden, "init_range": options.init_range}
    return registry.preset("classic", name, **{k: v for k, v in given.items() if v is not None}, seed=0)


def article_config(options: Options, name: str) -> registry.TrainConfig | None:
    try:
        config = registry.preset("article", name)
    except ValueError:  # a backend the article has no snippet for (the numba floor)
        return None
    return config.replace(epochs=max(1, round(config.epochs * options.article_scale)))


def sweep_config(matched: dict, hidden: int, batch: int) -> registry.TrainConfig:
    """The sweep's network: the matched preset (float32, SGD), `hidden` wide, on `batch` samples."""
    return registry.TrainConfig(**matched).replace(hidden=hidden, samples=batch, dtype="float32")


# A network's memory, estimated before it is built (a sweep cell, or a run's --hidden):
#   bytes ~ k * dtype size * (hidden * batch + 3 * hidden + 3 * batch)
# hidden x batch for the hidden activations and their gradients, ~3 per hidden unit for the weights,
# their gradients and the optimizer's state, ~3 per sample for the data. k per backend covers the
# framework's workspace and copies: 1.25x the largest peak-RSS growth per unit measured over three
# shapes (512 x 65,536, 4,194,304 x 4 and 4 x 8,388,608, float32, setup + 2 epochs) on the
# reference machine, rounded up: numpy 5.7, numba 3.4, torch 3.9, jax 4.5, keras 2.9.
MEMORY_FACTOR = {"numpy": 8, "numba": 5, "torch": 5, "jax": 6, "keras": 4}
MEMORY_FACTOR_DEFAULT = 8  # a backend not measured (a newly registered one)
MEMORY_SHARE = 0.5  # of the memory available now: what one network (plus its process) may take


def network_bytes(backend: str, hidden: int, batch: int, dtype: str = "float32") -> int:
    """The estimated memory of a `hidden`-wide network trained on `batch` samples (see MEMORY_FACTOR)."""
    size = 8 if dtype == "float64" else 4
    return MEMORY_FACTOR.get(backend, MEMORY_FACTOR_DEFAULT) * size * (hidden * batch + 3 * hidden + 3 * batch)


def memory_refusal(backend: str, hidden: int, batch: int, dtype: str = "float32") -> str | None:
    """Why this network must not be built in this process, or None: its estimate plus this process's
    resident memory over MEMORY_SHARE of the memory available now."""
    import psutil

    estimate, rss = network_bytes(backend, hidden, batch, dtype), psutil.Process().memory_info().rss
    available = psutil.virtual_memory().available
    if estimate + rss <= MEMORY_SHARE * available:
        return None
    k = MEMORY_FACTOR.get(backend, MEMORY_FACTOR_DEFAULT)
    return (f"over the memory limit: hidden {hidden} x batch {batch} needs about {gigabytes(estimate)} by "
            f"estimate ({k} x {dtype} x (hidden*batch + 3*hidden + 3*batch), {backend}) plus this process's "
            f"{gigabytes(rss)}, over {MEMORY_SHARE:.0%} of the {gigabytes(available)} available now")  # fmt: skip


def gigabytes(n: float) -> str:
    return f"{n / 2**30:,.3g} GB" if n < 2**40 else f"{n / 2**40:,.3g} TB"


# ---------------------------------------------------------------- checks that need configs or jobs


def check(options: Options) -> None:
    """Every check of the options, before any work: each value on its own (options.check), then what the
    presets' configs (TrainConfig) and the jobs make of them. ValueError naming the flag."""
    opts.check(options)
    try:  # TrainConfig checks --optimizer, --lr, --momentum, --epochs, --hidden, --init-range
        for name in options.names:
            matched_config(options, name)
            if isinstance(options, RunOptions):
                classic_config(options, name)
    except ValueError as error:
        raise as_flag(error) from None
    if isinstance(options, RunOptions):
        check_run_memory(options)
        if not jobs(options):
            raise ValueError(nothing_to_run(options))
        return
    if not jobs(options):
        raise ValueError(f"nothing to sweep: {no_mode(options) or 'no chosen backend offers the chosen modes'}")
    check_sweep_memory(options)


def as_flag(error: ValueError) -> ValueError:
    """TrainConfig's message names its field ("init_range must be ..."); say the flag the user typed."""
    field, _, rest = str(error).partition(" ")
    if field in ("lr", "epochs", "momentum", "hidden", "init_range"):
        return ValueError(f"--{field.replace('_', '-')} {rest}")
    return error


def check_run_memory(options: RunOptions) -> None:
    """The loss curves a run keeps, and its widest network (--hidden), within bounded memory."""
    kept = curve_epochs(options)
    if kept > opts.CURVE_EPOCHS:
        raise ValueError(f"--seeds {options.seeds:,} x the presets' epochs x {len(options.names)} backends' modes "
                         f"keeps {kept:,} loss-curve epochs in memory, over the limit of {opts.CURVE_EPOCHS:,}: "
                         "lower --seeds or --epochs, or choose fewer --backends or --modes")  # fmt: skip
    for name in options.names if options.hidden is not None else ():
        reason = memory_refusal(name, options.hidden, 4)
        if reason:
            raise ValueError(f"--hidden {options.hidden:,} is {reason}")


def curve_epochs(options: RunOptions) -> int:
    """Loss-curve epochs a run keeps: every convergence seed of every chosen backend (on one mode each),
    matched and classic."""
    presets = [make for preset, make in (("matched", matched_config), ("classic", classic_config))
               if options.preset in (preset, "all")]  # fmt: skip
    offered = [name for name in options.names if any(m in registry.modes_of(name) for m in options.modes)]
    return sum(options.seeds * make(options, name).epochs for name in offered for make in presets)


def no_mode(options: Options) -> str | None:
    """Why no chosen backend offers a chosen mode (`--modes compiled --backends numpy`), or None."""
    if any(mode in registry.modes_of(name) for name in options.names for mode in options.modes):
        return None
    offered = "; ".join(f"{name} has {', '.join(registry.modes_of(name))}" for name in options.names)
    return f"no chosen backend offers --modes {','.join(options.modes)} ({offered})"


def nothing_to_run(options: RunOptions) -> str:
    """Why no job is left: no chosen backend offers a chosen mode, the article preset in tuned or compiled
    mode only, or no chosen backend with an article snippet."""
    if no_mode(options):
        return f"nothing to run: {no_mode(options)}"
    if options.preset == "article" and "idiomatic" in options.modes:
        others = [name for name in registry.BACKENDS if name not in options.names and article_config(options, name)]
        return (f"nothing to run: the article has no snippet for {', '.join(options.names)} (it has one for "
                f"{', '.join(others)}): choose one of those with --backends, or another --preset")  # fmt: skip
    return "nothing to run: the article preset runs in idiomatic mode only (add --modes idiomatic)"


def check_sweep_memory(options: opts.SweepOptions) -> None:
    """Refuse a sweep whose every cell is over the memory limit for every chosen backend. A grid with
    some cells within it runs: the worker skips each cell over it, with its estimate as the reason."""
    smallest = min(options.hidden), min(options.batch)  # the estimate grows with both
    reasons = [memory_refusal(name, *smallest) for name in options.names]
    if all(reasons):
        every = "the cell is" if len(options.hidden) * len(options.batch) == 1 else "every cell is"
        raise ValueError(f"nothing to sweep: {every} {min(reasons, key=len)}")


def devices(options: Options) -> tuple[str, ...]:
    found = []
    for device in options.devices:
        if device == "auto":
            found += ["cpu", "gpu"] if environment.gpus() else ["cpu"]
        else:
            found.append(device)
    return tuple(dict.fromkeys(found))


def jobs(options: Options) -> list[Job]:
    """Every job of a run or sweep as planned before anything is measured: for a run, its first timing
    processes round-robin across rows (A B C A B C ...), so a slow spell of the machine falls on every
    row alike, then one convergence-and-article job per backend and device. The runner adds processes
    within the budget once it knows what they cost (more_processes)."""
    if options.command == "sweep":
        return sweep_jobs(options)
    return time_jobs(options, range(first_processes(options))) + run_jobs(options, {})


def first_processes(options: RunOptions) -> int:
    """Timing processes per row before the budget is planned: --processes, or the fewest that give the
    median an interval (budget.LEAST)."""
    return options.processes if options.processes is not None else budget.LEAST


def chosen(options: Options) -> list[tuple[dict, tuple[str, ...]]]:
    """Per chosen backend and device: the fields every job of theirs carries, and the chosen modes the
    backend offers (none: no job)."""
    found = []
    for name in options.names:
        offered = tuple(m for m in options.modes if m in registry.modes_of(name))
        for device in devices(options) if offered else ():
            common = dict(backend=name, device=device, threads=options.threads, repeats=options.repeats,
                          window_s=options.window_s, spec=dataclasses.asdict(registry.spec(name)))  # fmt: skip
            found.append((common, offered))
    return found


def sweep_jobs(options: Options) -> list[SweepJob]:
    """One job per cell, each in a fresh process as a user's script runs (a long-lived process would carry
    the allocator's and the compilers' state from cell to cell: NumPy ran up to 2x faster there at the
    larger cells than in a fresh process, measured); per backend, device and mode, by growing work."""
    found = []
    for common, modes in chosen(options):
        matched = dataclasses.asdict(matched_config(options, common["backend"]))
        whole = SweepJob(**common, modes=modes, matched=matched, hidden=options.hidden, batch=options.batch,
                         cell_cap_s=options.cell_cap_s)  # fmt: skip
        found += [dataclasses.replace(whole, modes=(k.mode,), hidden=(k.hidden,), batch=(k.batch,))
                  for k in planned(whole)]  # fmt: skip
    return found


EXTRAPOLATE_FROM_S = 0.01  # a sweep cell's epoch must take this long to predict a bigger cell's


def with_estimate(job: SweepJob, done: list) -> SweepJob:
    """The job, with an epoch of its cell predicted from the cells of its backend, device and mode in
    `done` (SweepRows): the fastest epoch as overhead, the rest grown from the largest cell that took
    at least EXTRAPOLATE_FROM_S (smaller ones are mostly overhead, no guide to bigger cells)."""
    from .measure import extrapolate

    mine = [r for r in done if (r.backend, r.device, r.mode) == (job.backend, job.device, job.modes[0])]
    seconds = [(r.hidden * r.batch, r.epoch_us_median * 1e-6) for r in mine if (r.epoch_us_median or 0) > 0]
    big = [cell for cell in seconds if cell[1] >= EXTRAPOLATE_FROM_S]
    floor = min((s for _, s in seconds), default=0.0)
    largest = max(big) if big else None
    return dataclasses.replace(job, estimate_s=extrapolate(largest, floor, job.hidden[0] * job.batch[0]))


def time_jobs(options: Options, processes: range, start_order: int = 0,
              rows: set | None = None) -> list[TimeJob]:  # fmt: skip
    """One job per process in `processes` and timed row (backend x device x mode), rows interleaved
    round-robin; `rows` ((backend, device, mode)) limits them, `start_order` numbers the first."""
    if options.preset not in ("matched", "all"):
        return []
    timed = [(common, mode, dataclasses.asdict(matched_config(options, common["backend"])))
             for common, modes in chosen(options) for mode in modes]  # fmt: skip
    found = []
    for process in processes:
        for common, mode, matched in timed:
            if rows is not None and (common["backend"], common["device"], mode) not in rows:
                continue
            cache = compile_cache(common["spec"], process)
            found.append(TimeJob(**common, mode=mode, matched=matched, solve_s=options.solve_s, process=process,
                                 start_order=start_order + len(found), compile_cache=cache))  # fmt: skip
    return found


def compile_cache(spec: dict, process: int) -> str:
    """The on-disk compile cache a timing process starts with, for backends that have one: the first
    process fills the run's cache (cold), every later one finds it full (warm), as a user's second run
    would. (A cold process costs a minute or more of compiling here, for torch tuned and Keras on
    torch: one per row keeps the default run within its budget.)"""
    if not spec.get("compile_cache_env"):
        return ""
    return "cold" if process == 0 else "warm"


def run_jobs(options: Options, modes: dict[tuple[str, str], dict[str, str]]) -> list[RunJob]:
    """One job per backend and device for the convergence seeds and the article presets. `modes`:
    (backend, device) -> preset -> the mode that trains its seeds fastest (convergence_modes); otherwise
    the backend's tuned mode where chosen (its loop at its fastest), else its first chosen mode."""
    chosen_presets = {"matched": matched_config, "article": article_config, "classic": classic_config}
    found = []
    for common, offered in chosen(options):
        name = common["backend"]
        configs = {
            p: make(options, name) if options.preset in (p, "all") else None for p, make in chosen_presets.items()
        }
        fallback = "tuned" if "tuned" in offered else offered[0]
        fastest = modes.get((name, common["device"]), {})
        chosen_modes = {preset: fastest.get(preset, fallback) for preset in CONVERGENCE_PRESETS}
        job = RunJob(**common, modes=offered, convergence_modes=chosen_modes,
                     seeds=options.seeds, solve_s=options.solve_s,
                     **{p: config and dataclasses.asdict(config) for p, config in configs.items()})  # fmt: skip
        if planned(job):  # e.g. the numba floor has no article snippet
            found.append(job)
    return found


# ---------------------------------------------------------------- the budget, from what was measured

SPREAD_PRIOR = 0.2  # a row's between-process CV before two processes measured it (0.08-0.2 here, issue 23)
SPREAD_FLOOR = 0.02  # below this, a few processes' spread is luck, not precision


def row_costs(rows: list, seconds: dict[tuple, list[float]]) -> dict[tuple, budget.Cost]:
    """Per timed row (backend, device, mode): what one more of its timing processes costs (the median wall
    seconds of its processes after the first, which may fill a compile cache or train to solved) and the
    between-process spread of its figure (the coefficient of variation of its processes' epoch_us)."""
    import numpy as np

    costs = {}
    for row, spent in seconds.items():
        values = np.array([r.epoch_us for r in rows if (r.backend, r.device, r.mode) == row and r.epoch_us])
        spread = float(values.std(ddof=1) / values.mean()) if values.size >= 2 else SPREAD_PRIOR
        later = spent[1:] or spent
        costs[row] = budget.Cost(float(np.median(later)), max(spread, SPREAD_FLOOR))
    return costs


# The classic preset's seeds stop once converged: about 1,500 of their 5,000 epochs each here (the
# reference run's numpy seeds), so its seeds cost this share of their limit.
CLASSIC_SHARE = 0.3
CONVERGENCE_PRESETS = {"matched": matched_config, "classic": classic_config}


def convergence_seconds(options: RunOptions, name: str, preset: str, timed: list) -> float | None:
    """What a backend's convergence seeds of one preset would take on the mode of these timing rows, its
    import aside: a build and first epoch (the matched net's as the timing processes found it; the
    classic net's as the slowest did, or as a cold-cache process's solve run: another shape, another
    compile, with no cache to find) and every seed's epochs at the mode's per-epoch cost. None: not timed."""
    from .stats import median

    us = median([r.epoch_us for r in timed if r.epoch_us])
    builds = [r.startup_s - r.import_s for r in timed if r.startup_s and r.import_s is not None]
    if us is None or not builds:
        return None
    epochs = CONVERGENCE_PRESETS[preset](options, name).epochs * (CLASSIC_SHARE if preset == "classic" else 1)
    # a new shape compiles every function a run calls (torch tuned: its window and its one-epoch step),
    # as a cold process's solve run did; its build alone compiled only the first
    cold = [r.time_to_solve_cold_s for r in timed if r.time_to_solve_cold_s and r.compile_cache == "cold"]
    build = max(builds + cold) if preset == "classic" else median(builds)
    return build + options.seeds * epochs * us * 1e-6


def convergence_presets(options: RunOptions) -> list[str]:
    return [preset for preset in CONVERGENCE_PRESETS if options.preset in (preset, "all")]


def convergence_modes(options: RunOptions, rows: list) -> dict[tuple[str, str], dict[str, str]]:
    """(backend, device) -> preset -> the timed mode whose convergence seeds of that preset would take the
    least time, with what that would take."""
    found: dict[tuple[str, str], dict[str, tuple[float, str]]] = {}
    for backend, device, mode in dict.fromkeys((r.backend, r.device, r.mode) for r in rows):
        timed = [r for r in rows if (r.backend, r.device, r.mode) == (backend, device, mode)]
        for preset in convergence_presets(options):
            seconds = convergence_seconds(options, backend, preset, timed)
            best = found.setdefault((backend, device), {}).get(preset)
            if seconds is not None and (best is None or seconds < best[0]):
                found[backend, device][preset] = (seconds, mode)
    return {key: {preset: mode for preset, (_, mode) in modes.items()} for key, modes in found.items()}


def more_processes(options: RunOptions, rows: list, seconds: dict[tuple, list[float]], spent_s: float) -> budget.Plan:
    """The timing processes each row should have in all, within what is left of the budget (the
    convergence jobs ran already); OverBudget when nothing is left."""
    done = {row: len(spent) for row, spent in seconds.items()}
    left = options.budget_s - spent_s
    return budget.allocate(row_costs(rows, seconds), left, least=0, done=done)
