"""`summarise`: a run's tables into the report's content (bench/findings.py's types): the comparisons,
the choices a reader makes, and how each number was obtained; the rest comes from bench/sections.py."""

from __future__ import annotations

import dataclasses

import pandas as pd

from ..backends import MODES, REGISTRY, floor_backends  # the registry; imports no framework
from .findings import CLASSIC, Choices, Method, Pair, Step, Summary
from .load import Loaded, as_int, measured, median_of, numbers, trained, trained_one
from .sections import article_of, bare_of, classic_of, curves_of, environment_of, sweep_of, targets_of
from .stats import (
    break_even,
    break_even_range,
    compare_samples,
)
from .summary import FINISHED, KEY, Group, groups_of, windows_of

# ---------------------------------------------------------------- summarise


def summarise(loaded: Loaded) -> Summary:
    """The report's content, computed from the loaded tables: pure, plain data."""
    runs, env = loaded.runs, loaded.env or {}
    presets = list(dict.fromkeys(runs["preset"])) if runs is not None else []
    preset = "matched" if "matched" in presets or not presets else presets[0]
    groups = against_fastest(groups_of(runs, loaded.timings, preset)) if runs is not None else ()
    timed = [g for g in groups if measured(g.us)]
    floors = floor_backends()
    return Summary(
        preset=preset,
        groups=groups,
        fastest=min(timed, key=lambda g: g.us) if timed else None,
        problems=problems_of(runs) if runs is not None else (),
        methods=methods_of(runs, loaded.timings) if runs is not None else (),
        choices=choices_of(groups),
        curves=curves_of(loaded),
        article=article_of(runs) if runs is not None else (),
        targets=targets_of(runs) if runs is not None else (),
        floor=min((g for g in timed if g.key[0] in floors), key=lambda g: g.us, default=None),
        floor_names=floors,
        bare_us=bare_of(runs) if runs is not None else {},
        environment=environment_of(loaded.env) if loaded.env is not None else None,
        sweep=sweep_of(loaded),
        missing=dict(loaded.missing),
        warnings=tuple(loaded.warnings),
        timestamp=env.get("timestamp"),
        commit=env.get("git_commit"),
        classic=classic_of(loaded),
        ladders=ladders_of(groups),
        keras_fits=keras_fits_of(groups),
        absent=dict(loaded.absent),
    )


def step(group: Group, reference: Group | None) -> Step:
    if reference is None or group is reference or not (group.values and reference.values):
        return Step(group, None)
    return Step(group, compare_samples(reference.values, group.values))


def ladders_of(groups: tuple[Group, ...]) -> tuple[tuple[Step, ...], ...]:
    """Each backend and device with more than one mode: its modes in MODES order, each against idiomatic."""
    ladders = []
    ran = [g for g in groups if g.status == "ok"]  # skipped and failed rows have their own section
    for where in dict.fromkeys(g.key[:2] for g in ran):
        modes = {g.key[2]: g for g in ran if g.key[:2] == where}
        if len(modes) > 1:
            reference = modes.get("idiomatic")
            ladders.append(tuple(step(modes[m], reference) for m in MODES if m in modes))
    return tuple(ladders)


def keras_fits_of(groups: tuple[Group, ...]) -> tuple[Step, ...]:
    """model.fit (each Keras backend's idiomatic mode), each against Keras on TensorFlow on its device."""
    fits = [g for g in groups if g.status == "ok" and g.key[2] == "idiomatic" and is_keras(g.key[0])]
    on_tf = {g.key[1]: g for g in fits if REGISTRY[g.key[0]].packages[0] == "tensorflow"}
    return tuple(step(g, on_tf.get(g.key[1])) for g in fits)


def is_keras(name: str) -> bool:
    return name in REGISTRY and "keras" in REGISTRY[name].packages


def against_fastest(groups: tuple[Group, ...]) -> tuple[Group, ...]:
    """Each timed group but the fastest, compared with the fastest over their processes."""
    timed = [g for g in groups if measured(g.us)]
    if not timed:
        return groups
    fastest = min(timed, key=lambda g: g.us)
    return tuple(
        dataclasses.replace(g, versus=compare_samples(fastest.values, g.values))
        if measured(g.us) and g.key != fastest.key
        else g
        for g in groups
    )


def problems_of(runs: pd.DataFrame) -> tuple[tuple, ...]:
    bad = runs[runs["status"] != "ok"]
    if bad.empty:
        return ()
    counted = bad.groupby([*KEY, "preset", "status", "reason"], sort=True).size().reset_index(name="runs")
    return tuple(tuple(row) for row in counted.itertuples(index=False))


def choices_of(groups: tuple[Group, ...]) -> Choices:
    timed = tuple(sorted((g for g in groups if measured(g.us)), key=lambda g: g.us))
    if not timed:
        return Choices()
    fast = timed[0]
    started = sorted((g for g in timed if measured(g.startup_s)), key=lambda g: g.startup_s)
    first = started[0] if started else None
    payback = bounds = None
    if first is not None and measured(fast.startup_s) and fast.startup_s > first.startup_s:
        if first.versus is not None and first.versus.verdict == "slower":
            payback = break_even(first.startup_s, first.us, fast.startup_s, fast.us)
            if None not in (first.startup_ci, first.us_ci, fast.startup_ci, fast.us_ci):
                bounds = break_even_range(first.startup_ci, first.us_ci, fast.startup_ci, fast.us_ci)
    by_key = {g.key: g for g in timed}
    modes = [(by_key.get((b, d, "idiomatic")), g) for (b, d, m), g in sorted(by_key.items()) if m != "idiomatic"]
    devices = [(by_key.get((b, "cpu", m)), g) for (b, d, m), g in sorted(by_key.items()) if d == "gpu"]
    whole = [g for g in groups if measured(g.startup_s) and measured(g.training_s)]
    converged = tuple(g for g in groups if g.seeds)
    best = max(converged, key=lambda g: g.solved / g.seeds) if converged else None
    return Choices(
        timed=timed,
        first_start=first,
        payback_epochs=payback,
        payback_bounds=bounds,
        whole=tuple(sorted(whole, key=lambda g: g.total_s)),
        modes=tuple(Pair(a, b, compare_samples(a.values, b.values)) for a, b in modes if a is not None),
        devices=tuple(Pair(a, b, compare_samples(a.values, b.values)) for a, b in devices if a is not None),
        converged=converged,
        apart=tuple(g for g in converged if g.success[1] < best.success[0]) if best else (),
    )


# ---------------------------------------------------------------- summarise: how each number was obtained


def methods_of(runs: pd.DataFrame, timings: pd.DataFrame | None = None) -> tuple[Method, ...]:
    """The distinct ways rows were obtained, from their columns (and their group's timing rows)."""
    used = runs[(runs["method"] != "") & runs["status"].isin(FINISHED)]
    key4 = [*KEY, "preset"]
    preset_epochs = runs.groupby("preset")["epochs"].max().to_dict()
    found = set()
    for key, rows in used.groupby([*key4, "role"], sort=True):
        if key[-1] == "timing" and per_process(rows):
            found.add(processes_method(rows, windows_of(timings, key[3], key[:3])))
            continue
        if key[3] == CLASSIC and key[-1] == "convergence":  # each seed ends once converged: one line for all
            found.add(until_converged(rows))
            continue
        epochs = as_int(preset_epochs.get(key[3]))
        found |= {method_of(row, epochs) for _, row in rows.iterrows()}
    return tuple(found)


def until_converged(rows: pd.DataFrame) -> Method:
    """The classic preset's seeds: each trained until converged, or to the preset's epochs."""
    first, epochs = rows.iloc[0], numbers(trained(rows))
    return Method(
        (first["backend"], first["device"], first["mode"]),
        first["preset"],
        first["role"],
        first["method"],
        epochs_range=(int(epochs.min()), int(epochs.max())) if epochs.size else None,
    )


def per_process(rows: pd.DataFrame) -> bool:
    """Timing rows of fresh processes, as against one timing run (the article presets)."""
    return bool(rows["process"].notna().all() and rows["call_us"].notna().any())


def processes_method(rows: pd.DataFrame, windows: pd.DataFrame | None) -> Method:
    first = rows.iloc[0]
    lengths = ()
    if windows is not None and not windows.empty:
        lengths = tuple(sorted({int(w) for w in numbers(windows["window_epochs"])}))
    solving = rows["stop_reason"].isin(["solved", "budget"]) | rows["time_to_solve_cold_s"].notna()
    return Method(
        (first["backend"], first["device"], first["mode"]),
        first["preset"],
        "timing",
        first["method"],
        windows=as_int(median_of(rows["windows"])),
        processes=len(rows),
        window_lengths=lengths,
        solved_in=int(solving.sum()),
        solved=int(rows["time_to_solve_cold_s"].notna().sum()),
    )


def method_of(row: pd.Series, preset_epochs: int | None) -> Method:
    key, preset, role = (row["backend"], row["device"], row["mode"]), row["preset"], row["role"]
    base = Method(key, preset, role, row["method"])
    epochs = trained_one(row)
    if role != "timing":
        return dataclasses.replace(base, epochs=epochs)
    windows, window, replays = as_int(row["windows"]), as_int(row["window_epochs"]), as_int(row["replays"])
    stopped = as_int(row["stopped_at_epoch"])
    of = next((n for n in (as_int(row["epochs"]), preset_epochs) if n and stopped and n > stopped), None)
    return dataclasses.replace(
        base,
        epochs=epochs,
        windows=windows,
        window_epochs=window,
        replays=replays,
        in_run=windows_in_run(windows, window, replays, epochs),
        stopped_at_epoch=stopped,
        stop_reason=row["stop_reason"],
        of_epochs=of,
    )


def windows_in_run(windows: int | None, window: int | None, replays: int | None, epochs: int | None) -> int | None:
    """Windows timed in the run itself: each replay times the run's epochs again in windows, but for its
    warm-up window (bench/measure.py's replay). None where the columns do not add up to that."""
    if not (windows and window and replays and epochs):
        return None
    in_run = windows - replays * (epochs // window - 1)
    return in_run if 0 < in_run < windows else None
