"""What a run or a sweep will measure: its jobs (one worker process each), built from the options.

Imports no framework.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from .. import backends as registry
from . import env as environment
from .job import Job, planned

if TYPE_CHECKING:  # options.py checks options with these functions: no import back at run time
    from .options import Options


def matched_config(options: Options, name: str) -> registry.TrainConfig:
    given = {"optimizer": options.optimizer, "lr": options.lr, "epochs": options.epochs}
    return registry.preset("matched", name, **{k: v for k, v in given.items() if v is not None}, seed=0)


def article_config(options: Options, name: str) -> registry.TrainConfig | None:
    try:
        config = registry.preset("article", name)
    except ValueError:  # a backend the article has no snippet for (the numba floor)
        return None
    return config.replace(epochs=max(1, round(config.epochs * options.article_scale)))


def sweep_config(name: str, hidden: int, batch: int) -> registry.TrainConfig:
    """The sweep's network: the matched preset (float32, plain SGD), `hidden` wide, on `batch` samples."""
    return registry.preset("matched", name, seed=0).replace(hidden=hidden, samples=batch, dtype="float32")


def devices(options: Options) -> tuple[str, ...]:
    found = []
    for device in options.devices:
        if device == "auto":
            found += ["cpu", "gpu"] if environment.gpus() else ["cpu"]
        else:
            found.append(device)
    return tuple(dict.fromkeys(found))


def jobs(options: Options) -> list[Job]:
    """One job per backend and device, in the order given; none where nothing is planned."""
    found = []
    for name in options.names:
        modes = tuple(m for m in options.modes if m in registry.modes_of(name))
        common = dict(modes=modes, threads=options.threads, spec=dataclasses.asdict(registry.spec(name)),
                      repeats=options.repeats, window_s=options.window_s)  # fmt: skip
        for device in devices(options) if modes else ():
            job = Job(options.command, name, device, **common, **kind_fields(options, name))
            if planned(job):  # e.g. the numba floor has no article snippet
                found.append(job)
    return found


def kind_fields(options: Options, name: str) -> dict:
    if options.command == "sweep":
        return dict(hidden=options.hidden, batch=options.batch, cell_cap_s=options.cell_cap_s)
    matched = matched_config(options, name) if options.preset in ("matched", "all") else None
    article = article_config(options, name) if options.preset in ("article", "all") else None
    return dict(seeds=options.seeds, budget_s=options.budget_s, matched=matched and dataclasses.asdict(matched),
                article=article and dataclasses.asdict(article))  # fmt: skip
