"""The scratch backend's hand-written backward pass is the true gradient of its objective.

Checked in float64 against central finite differences of a loss written here from scratch. Every
other backend is held to the scratch backend's curves (tests/test_equivalence.py), so this is where
the battery's reference is held to the maths.
"""

from __future__ import annotations

import numpy as np
import pytest

from xorbench import backends
from xorbench.backends.numpy_scratch import NumpyTrainer

OBJECTIVES = ("mse", "half_sse", "half_mse")
# Gradients are checked at the initial weights and again after this many epochs of
# training, where the sigmoids are no longer near their linear middle.
TRAINED_EPOCHS = 200
# Central differences have truncation error ~STEP**2 and rounding error ~1e-16 / STEP;
# at STEP = 1e-6 both are far below 1e-8 for this smooth, O(1) loss.
STEP = 1e-6
FD_RTOL, FD_ATOL = 1e-6, 1e-9


def objective(params: list[np.ndarray], X: np.ndarray, y: np.ndarray, name: str) -> float:
    """The loss, written independently of the backend: mse = mean squared error, half_sse = 1/2 sum,
    half_mse = 1/2 mean."""
    w1, b1, w2, b2 = params
    hidden = 1 / (1 + np.exp(-(X @ w1 + b1)))
    output = 1 / (1 + np.exp(-(hidden @ w2 + b2)))
    squared = np.square(y - output)
    return float({"mse": squared.mean(), "half_sse": 0.5 * squared.sum(), "half_mse": 0.5 * squared.mean()}[name])


def scratch_trainer(
    objective_name: str, seed: int, init: str, trained_epochs: int, momentum: float = 0.0
) -> NumpyTrainer:
    config = backends.TrainConfig(
        dtype="float64", objective=objective_name, seed=seed, init=init, lr=0.5, momentum=momentum
    )
    trainer = NumpyTrainer()
    trainer.setup(config)
    if trained_epochs:
        trainer.fit(trained_epochs)
    return trainer


def hand_written_gradients(trainer: NumpyTrainer) -> list[np.ndarray]:
    trainer.forward(trainer.X)
    return trainer.backward(trainer.X, trainer.y)


def central_differences(trainer: NumpyTrainer) -> list[np.ndarray]:
    params = [p.copy() for p in trainer.params]
    grads = []
    for p in params:
        grad = np.empty_like(p)
        for i in np.ndindex(p.shape):
            original = p[i]
            p[i] = original + STEP
            up = objective(params, trainer.X, trainer.y, trainer.config.objective)
            p[i] = original - STEP
            down = objective(params, trainer.X, trainer.y, trainer.config.objective)
            p[i] = original
            grad[i] = (up - down) / (2 * STEP)
        grads.append(grad)
    return grads


# Momentum changes only where the gradient is taken (the weights it leads to), so it is
# checked at a point that momentum training reached, from the 1986-style uniform init.
point = pytest.mark.parametrize(
    "seed, init, trained_epochs, momentum",
    [(0, "glorot", 0, 0.0), (0, "uniform01", 0, 0.0), (0, "glorot", TRAINED_EPOCHS, 0.0)]
    + [(1, "uniform", TRAINED_EPOCHS, 0.9)],
)


@pytest.mark.parametrize("objective_name", OBJECTIVES)
@point
def test_scratch_gradients_equal_central_finite_differences(objective_name, seed, init, trained_epochs, momentum):
    trainer = scratch_trainer(objective_name, seed, init, trained_epochs, momentum)
    expected = central_differences(trainer)
    for name, got, want in zip(("w1", "b1", "w2", "b2"), hand_written_gradients(trainer), expected):
        assert got.shape == want.shape, name
        np.testing.assert_allclose(got, want, rtol=FD_RTOL, atol=FD_ATOL, err_msg=name)


def test_finite_difference_check_detects_a_wrong_gradient():
    """The check above has teeth: a gradient off by a factor of two fails it."""
    trainer = scratch_trainer("mse", 0, "glorot", 0)
    wrong = [2 * g for g in hand_written_gradients(trainer)]
    with pytest.raises(AssertionError):
        for got, want in zip(wrong, central_differences(trainer)):
            np.testing.assert_allclose(got, want, rtol=FD_RTOL, atol=FD_ATOL)
