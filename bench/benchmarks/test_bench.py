"""pytest-benchmark: every backend x device x mode side by side, in three groups.

    pytest bench --benchmark-only

Each benchmark times one call of the same trainers the harness uses (fit or
predict); building, importing and warming up happen before it, and each one
checks its result, so a fast but wrong backend cannot win. With
`--benchmark-disable` only the one-epoch benchmark runs, once, as each row's smoke test
(bench/benchmarks/conftest.py): the battery in tests/ checks the curves.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from xorbench import backends
from xorbench.backends.base import make_result

# Calls made before timing: the first call traces or compiles (Keras, XLA, torch.compile, numba).
WARMUP_CALLS = 3

# Seed 0 of the matched preset first dips below LOSS_TARGET at epoch 363 on every backend, so
# 400 epochs solve it; the preset's 2,000 would cost Keras' model.fit ~70 s per round here.
SOLVE_EPOCHS = 400
# With benchmarks disabled (CI), the train-to-solve test still trains to solved, just faster:
# SGD at lr 8 solves seed 0 at epoch 105 on every backend (~4 s for Keras' model.fit here). 128 epochs,
# a multiple of torch tuned's 16-epoch window, so its one-epoch function is not compiled for this config too.
SMOKE = {"lr": 8.0, "epochs": 128}
# Rounds of train-to-solve per row: as many as fit in about this time, at least one.
SOLVE_BUDGET_S = 2.0
MAX_SOLVE_ROUNDS = 20


def reference_outputs(config: backends.TrainConfig) -> np.ndarray:
    """The network's outputs at the shared initial weights, in float64 NumPy: what every backend must match."""
    X, _ = backends.xor_data(config)
    w1, b1, w2, b2 = (a.astype(np.float64) for a in backends.initial_params(config).astuple())

    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    return sigmoid(sigmoid(X @ w1 + b1) @ w2 + b2)


def reference_loss(config: backends.TrainConfig) -> float:
    """The first epoch's loss: the mean squared error at the initial weights."""
    _, y = backends.xor_data(config)
    return float(np.mean((reference_outputs(config) - y) ** 2))


def describe(benchmark, config: backends.TrainConfig, timed: str) -> None:
    benchmark.extra_info.update(
        preset="matched", optimizer=config.optimizer, lr=config.lr, seed=config.seed, dtype=config.dtype, timed=timed
    )


@pytest.mark.benchmark(group="epoch")
def test_one_epoch(benchmark, row):
    """Forward, backward and update on the 4 XOR rows, on a model already built and warmed up."""
    config = backends.preset("matched", row.backend)
    trainer = row.trainer(config)
    first = trainer.fit(1)  # its loss is the one at the shared initial weights: the forward pass is right
    np.testing.assert_allclose(first.losses, [reference_loss(config)], rtol=1e-5)
    for _ in range(WARMUP_CALLS):
        trainer.fit(1)
    describe(benchmark, config, "trainer.fit(1) on a warmed-up model")

    history = benchmark(trainer.fit, 1)

    assert len(history) == 1 and np.isfinite(history.losses).all(), history.losses


@pytest.mark.benchmark(group="inference")
def test_inference(benchmark, row):
    """The forward pass alone, returning host NumPy (so a GPU has finished)."""
    config = backends.preset("matched", row.backend)
    trainer = row.trainer(config)
    for _ in range(WARMUP_CALLS):
        trainer.predict()
    describe(benchmark, config, "trainer.predict() on a warmed-up model")

    outputs = benchmark(trainer.predict)

    np.testing.assert_allclose(outputs, reference_outputs(config), rtol=1e-5, atol=1e-6)


@pytest.mark.benchmark(group="train-to-solved")
def test_train_to_solved(benchmark, row):
    """fit(epochs) from the shared initial weights until XOR is solved, the trainer set up afresh each round.

    One trainer serves every round: setup() before each (untimed) loads the initial weights
    and a fresh optimizer state. Compilation (torch.compile, numba, Keras' traced model.fit
    and XLA loop, which Keras keeps across set-ups of the same shape) is warmed up first.
    """
    if benchmark.enabled:
        config = backends.preset("matched", row.backend, epochs=SOLVE_EPOCHS)
        trainer = row.trainer(config)
        rounds = solve_rounds(trainer, config)
    else:
        config, rounds = backends.preset("matched", row.backend, **SMOKE), 1
        trainer = row.trainer(config)
    describe(benchmark, config, f"trainer.fit({config.epochs}) from the initial weights (setup() untimed)")

    def fresh_start() -> None:
        trainer.setup(config)
        backends.synchronize(trainer)

    history = benchmark.pedantic(trainer.fit, args=(config.epochs,), setup=fresh_start, rounds=rounds, iterations=1)

    result = make_result(trainer, config, history, train_s=float("nan"))
    assert result.solved, (
        f"{row.backend}-{row.device}-{row.mode} did not solve XOR in {config.epochs} epochs: status {result.status} "
        f"{result.reason}, accuracy {result.accuracy}, final loss {result.losses[-1]:.4g} "
        f"(target {backends.LOSS_TARGET})"
    )
    benchmark.extra_info.update(
        epochs=config.epochs, epoch_solved=result.epoch_solved, final_loss=float(result.losses[-1])
    )


def solve_rounds(trainer: backends.Trainer, config: backends.TrainConfig, epochs: int = 20) -> int:
    """Warm the trainer up, and from its warm speed choose how many rounds fit SOLVE_BUDGET_S."""
    trainer.fit(epochs)
    start = time.perf_counter()
    trainer.fit(epochs)
    estimate_s = (time.perf_counter() - start) * config.epochs / epochs
    return max(1, min(MAX_SOLVE_ROUNDS, int(SOLVE_BUDGET_S / estimate_s)))
