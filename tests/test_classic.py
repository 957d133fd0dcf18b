"""The classic (1986) experiment in every backend and mode: SGD momentum, the uniform init,
the half_mse objective, the `classic` preset, and time-to-accuracy (each epoch's worst error,
epoch_accurate).

Momentum is checked against two steps computed here by hand: plain NumPy, gradients by
central differences of a loss written here, so nothing is shared with any backend.
"""

from __future__ import annotations

import numpy as np
import pytest
from selection import CHEAP_MODES, mode_ids

from xorbench import backends
from xorbench.backends.base import History, epoch_accurate, make_result

# Every mode but those that compile per shape and dtype (conftest.COSTLY): the battery
# (tests/test_equivalence.py) holds those to NumPy's classic curve, and NumPy is held to these.
every_cheap_mode = pytest.mark.parametrize("name, mode", CHEAP_MODES, ids=mode_ids(CHEAP_MODES))

# ------------------------------------------------------------------ the preset


@pytest.mark.parametrize("name", backends.BACKENDS)
def test_classic_preset_is_the_1986_set_up_for_every_backend(name):
    config = backends.preset("classic", name)
    assert (config.hidden, config.init, config.init_range) == (2, "uniform", 0.5)
    assert (config.optimizer, config.lr, config.momentum, config.objective) == ("sgd", 0.5, 0.9, "half_mse")
    assert (config.epochs, config.dtype, config.seed) == (5000, "float32", 0)


def test_classic_preset_takes_overrides_and_is_one_set_up_for_all_backends():
    config = backends.preset("classic", "keras", seed=7, hidden=4)
    assert (config.seed, config.hidden, config.momentum, config.lr, config.init) == (7, 4, 0.9, 0.5, "uniform")
    assert len({backends.preset("classic", name) for name in backends.BACKENDS}) == 1


# ------------------------------------------------------------------ the uniform init


def test_uniform_init_draws_w1_b1_w2_b2_in_that_order_from_the_seed():
    config = backends.TrainConfig(init="uniform", init_range=0.3, hidden=3, seed=5, dtype="float64")
    rng = np.random.default_rng(5)
    shapes = {"w1": (2, 3), "b1": (3,), "w2": (3, 1), "b2": (1,)}
    for (name, shape), got in zip(shapes.items(), backends.initial_params(config).astuple()):
        np.testing.assert_array_equal(got, rng.uniform(-0.3, 0.3, shape), err_msg=name)


@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_uniform_init_fills_the_whole_range_for_weights_and_biases(dtype):
    config = backends.TrainConfig(init="uniform", init_range=2.0, hidden=2000, seed=1, dtype=dtype)
    for name, values in zip(("w1", "b1", "w2"), backends.initial_params(config).astuple()):
        assert values.dtype == dtype, name
        assert -2.0 <= values.min() < -1.9 and 1.9 < values.max() <= 2.0, name


@every_cheap_mode
def test_every_backend_starts_from_the_shared_uniform_weights(new_trainer, name, mode):
    config = backends.TrainConfig(init="uniform", init_range=1.5, hidden=3, seed=2, epochs=1, lr=0.5)
    trainer = new_trainer(name, mode)
    trainer.setup(config)
    history = trainer.fit(1)
    X, y = (a.astype(np.float64) for a in backends.xor_data(config))
    error = outputs([p.astype(np.float64) for p in backends.initial_params(config).astuple()], X) - y
    np.testing.assert_allclose(history.losses[0], np.mean(error**2), rtol=1e-6)
    np.testing.assert_allclose(history.max_errors[0], np.max(np.abs(error)), rtol=1e-6)


# ------------------------------------------------------------------ momentum, two steps by hand

TWO_STEPS = backends.TrainConfig(
    hidden=2, init="uniform", init_range=1.0, seed=3, dtype="float64", lr=0.5, momentum=0.9, epochs=2
)
STEP = 1e-6  # central differences: error ~1e-10 in float64, far below what momentum changes


def outputs(params: list[np.ndarray], X: np.ndarray) -> np.ndarray:
    w1, b1, w2, b2 = params
    hidden = 1 / (1 + np.exp(-(X @ w1 + b1)))
    return 1 / (1 + np.exp(-(hidden @ w2 + b2)))


def objective(params: list[np.ndarray], X: np.ndarray, y: np.ndarray, name: str) -> float:
    squared = (outputs(params, X) - y) ** 2
    return float({"mse": squared.mean(), "half_mse": 0.5 * squared.mean(), "half_sse": 0.5 * squared.sum()}[name])


def central_differences(params: list[np.ndarray], X: np.ndarray, y: np.ndarray, name: str) -> list[np.ndarray]:
    grads = []
    for p in params:
        grad = np.empty_like(p)
        for i in np.ndindex(p.shape):
            original = p[i]
            p[i] = original + STEP
            up = objective(params, X, y, name)
            p[i] = original - STEP
            down = objective(params, X, y, name)
            p[i] = original
            grad[i] = (up - down) / (2 * STEP)
        grads.append(grad)
    return grads


def by_hand(config: backends.TrainConfig, momentum: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Losses and worst errors of each epoch, and the outputs after the last, for heavy-ball SGD."""
    params = [p.copy() for p in backends.initial_params(config).astuple()]
    X, y = backends.xor_data(config)
    velocity = [np.zeros_like(p) for p in params]
    losses, max_errors = [], []
    for _ in range(config.epochs):
        error = outputs(params, X) - y
        losses.append(np.mean(error**2))
        max_errors.append(np.max(np.abs(error)))
        for p, v, g in zip(params, velocity, central_differences(params, X, y, config.objective)):
            v[...] = momentum * v + g  # the velocity starts at 0: the first step is plain SGD
            p -= config.lr * v
    return np.array(losses), np.array(max_errors), outputs(params, X)


@pytest.mark.parametrize("objective_name", ("mse", "half_mse"))
@every_cheap_mode
def test_two_momentum_steps_match_the_hand_computed_ones(new_trainer, name, mode, objective_name):
    """buf = 0.9 * buf + grad, p -= lr * buf (torch); Keras' m = 0.9 * m - lr * g, p += m is the same."""
    config = TWO_STEPS.replace(objective=objective_name)
    losses, max_errors, after = by_hand(config, config.momentum)
    plain = by_hand(config, 0.0)[2]
    assert np.max(np.abs(after - plain)) > 1e-4  # the second step is where momentum shows, by far
    trainer = new_trainer(name, mode)
    trainer.setup(config)
    history = trainer.fit(config.epochs)
    # 1e-7: model.fit's history keeps the loss in a float32 metric even for a float64 model, and on torch
    # the worst error too (measured: 1.3e-8 off at epoch 0, half a float32 ulp)
    np.testing.assert_allclose(history.losses, losses, rtol=1e-7)
    np.testing.assert_allclose(history.max_errors, max_errors, rtol=1e-7 if "keras" in name else 1e-9)
    np.testing.assert_allclose(trainer.predict(), after, rtol=0, atol=1e-8)


# ------------------------------------------------------------------ time to accuracy

ACCURATE = [
    ([0.9, 0.7, 0.49, 0.6, 0.1], 2),  # the first epoch below 0.5, even if a later one is not
    ([0.5, 0.500001, 0.5], None),  # strictly below: an output at exactly 0.5 is on neither side
    ([np.nan, 0.4], 1),
    ([np.nan, np.nan], None),
    ([], None),
    ([0.2], 0),
]


@pytest.mark.parametrize("max_errors, expected", ACCURATE)
def test_epoch_accurate_is_the_first_epoch_whose_worst_error_is_below_half(max_errors, expected):
    assert epoch_accurate(np.array(max_errors, dtype=np.float64)) == expected


class FakeTrainer:
    name, device, mode = "numpy", "cpu", "idiomatic"

    def predict(self) -> np.ndarray:
        return np.array([[0.1], [0.9], [0.9], [0.1]])


def test_a_result_takes_its_worst_errors_from_the_history_of_its_fit_calls():
    """The harness joins the histories of several fit() calls; the result holds every epoch of them."""
    history = History.join([History([0.3, 0.2], [0.7, 0.6]), History([0.1], [0.2])])
    result = make_result(FakeTrainer(), backends.TrainConfig(epochs=3), history, 0.0)
    assert result.max_errors.dtype == np.float64
    np.testing.assert_array_equal(result.max_errors, [0.7, 0.6, 0.2])
    assert result.epoch_accurate == 2 and result.status == "ok"


def test_a_solved_run_is_accurate_no_later_than_solved():
    """Loss < 0.01 (< 1/16) forces every |error| below 0.5: accurate comes first, or together.
    (Every mode's worst errors bound its losses epoch by epoch: the battery checks it.)"""
    config = backends.preset("matched", "numpy", epochs=192, momentum=0.9, lr=0.5)  # solved at epoch 159
    result = backends.train(backends.get_trainer("numpy"), config)
    assert result.solved and result.epoch_solved is not None
    assert result.epoch_accurate is not None and result.epoch_accurate <= result.epoch_solved
    assert np.all(result.max_errors[result.losses < 1 / 16] < 0.5)


@pytest.mark.timeout(180)
@every_cheap_mode
def test_a_diverged_run_has_nan_worst_errors_where_its_losses_are_nan(new_trainer, name, mode):
    config = backends.preset("matched", name, optimizer="adam", lr=1e308, dtype="float64", epochs=30)
    result = backends.train(new_trainer(name, mode), config)
    assert result.status == "diverged"
    bad = ~np.isfinite(result.losses)
    assert bad.any() and np.isnan(result.max_errors[bad]).all()
    assert np.isfinite(result.max_errors[~bad]).all()
