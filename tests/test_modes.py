"""Every mode of every backend, and the numba floor, train the same curve as their idiomatic
mode and as NumPy's scratch code."""

import functools

import numpy as np
import pytest

from xorbench import backends

# Same tolerance argument as tests/test_equivalence.py: float32 rounding differs with the order
# of operations (packed biases, XLA fusion, compiled kernels). Measured here over the epochs
# below: at most ~5e-6 relative (SGD) and ~2e-5 (Adam); the bounds leave a 5x margin.
RTOL = {"sgd": 2e-5, "adam": 1e-4}
# Against NumPy's scratch code every mode must stay within 1e-4 relative, SGD and Adam alike
# (the bound). Measured over the epochs below: 5.5e-7 (SGD), 1.6e-5 (Adam, Keras on any
# backend: it adds eps outside the bias correction).
NUMPY_RTOL = 1e-4
# Keras on TensorFlow's model.fit costs 35-70 ms an epoch here: 50 epochs keep CI's time in bounds.
# torch: 32 of torch tuned's 16-epoch windows, so these curves compile its window and no one-epoch function.
EPOCHS = {"numpy": 1000, "torch": 512, "keras": 50, "numba": 1000, "jax": 1000, "keras-jax": 300, "keras-torch": 150}
MOMENTUM = dict(momentum=0.9, lr=0.5)  # heavy-ball SGD; momentum applies to sgd only

ALL_MODES = [(n, m) for n in backends.BACKENDS for m in backends.modes_of(n)]
OTHER_MODES = [(n, m) for n, m in ALL_MODES if m != "idiomatic"]
every_mode = pytest.mark.parametrize("name, mode", ALL_MODES, ids=[f"{n}-{m}" for n, m in ALL_MODES])
every_other_mode = pytest.mark.parametrize("name, mode", OTHER_MODES, ids=[f"{n}-{m}" for n, m in OTHER_MODES])


@pytest.fixture
def curve(new_trainer):
    """curve(name, mode, optimizer, seed=1, epochs=EPOCHS[name], **overrides): a matched run, once per
    session (trainers come from conftest's new_trainer: threads pinned, skipped when absent)."""
    return functools.partial(_curve, new_trainer)


@functools.cache
def _cached_curve(new_trainer, name: str, mode: str, config: backends.TrainConfig) -> backends.TrainResult:
    return backends.train(new_trainer(name, mode), config)


def _curve(new_trainer, name: str, mode: str, optimizer: str, seed: int = 1, epochs: int = 0, **overrides):
    epochs = epochs or EPOCHS[name]
    config = backends.preset("matched", name, optimizer=optimizer, seed=seed, epochs=epochs, **overrides)
    new_trainer(name, mode)  # skips here, not inside the cache, when the backend cannot run
    return _cached_curve(new_trainer, name, mode, config)


def max_relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(a)))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@every_other_mode
def test_every_mode_gives_the_idiomatic_curve(curve, name, mode, optimizer):
    idiomatic, other = curve(name, "idiomatic", optimizer), curve(name, mode, optimizer)
    assert other.mode == mode and other.status == "ok"
    assert max_relative_difference(idiomatic.losses, other.losses) < RTOL[optimizer]
    np.testing.assert_allclose(other.predictions, idiomatic.predictions, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@every_mode
def test_every_mode_gives_the_numpy_curve(curve, name, mode, optimizer):
    result = curve(name, mode, optimizer)
    reference = curve("numpy", "idiomatic", optimizer, epochs=EPOCHS[name])
    assert max_relative_difference(reference.losses, result.losses) <= NUMPY_RTOL
    assert max_relative_difference(reference.max_errors, result.max_errors) <= NUMPY_RTOL
    np.testing.assert_allclose(result.predictions, reference.predictions, atol=1e-5)
    assert max_relative_difference(reference.losses[:1], reference.losses[-1:]) > 100 * NUMPY_RTOL  # it learns


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_numba_floor_gives_the_numpy_curve(curve, optimizer):
    reference, floor = curve("numpy", "idiomatic", optimizer), curve("numba", "idiomatic", optimizer)
    assert max_relative_difference(reference.losses, floor.losses) < RTOL[optimizer]
    np.testing.assert_allclose(floor.predictions, reference.predictions, atol=1e-5)


@every_other_mode
def test_every_mode_gives_the_idiomatic_curve_with_momentum(curve, name, mode):
    idiomatic, other = curve(name, "idiomatic", "sgd", **MOMENTUM), curve(name, mode, "sgd", **MOMENTUM)
    assert other.status == "ok" and other.config.momentum == 0.9
    assert max_relative_difference(idiomatic.losses, other.losses) < RTOL["sgd"]
    assert max_relative_difference(idiomatic.max_errors, other.max_errors) < RTOL["sgd"]
    np.testing.assert_allclose(other.predictions, idiomatic.predictions, atol=1e-5)


def test_numba_floor_gives_the_numpy_curve_with_momentum(curve):
    reference, floor = curve("numpy", "idiomatic", "sgd", **MOMENTUM), curve("numba", "idiomatic", "sgd", **MOMENTUM)
    assert max_relative_difference(reference.losses, floor.losses) < RTOL["sgd"]
    assert max_relative_difference(reference.max_errors, floor.max_errors) < RTOL["sgd"]
    np.testing.assert_allclose(floor.predictions, reference.predictions, atol=1e-5)


def test_momentum_changes_the_curve_by_far_more_than_the_tolerance(curve):
    """The two tests above would notice a mode that dropped momentum."""
    plain, heavy_ball = curve("numpy", "tuned", "sgd", lr=0.5), curve("numpy", "tuned", "sgd", **MOMENTUM)
    assert max_relative_difference(plain.losses, heavy_ball.losses) > 100 * RTOL["sgd"]


def set_up_twice(new_trainer, name: str, mode: str, config: backends.TrainConfig):
    whole, split = new_trainer(name, mode), new_trainer(name, mode)
    whole.setup(config)
    split.setup(config)
    return whole, split


@every_mode
def test_fit_continues_with_the_momentum_it_built_up(new_trainer, name, mode):
    """fit(12) then fit(8) is fit(20): the velocity carries over from one call to the next."""
    config = backends.preset("matched", name, seed=3, epochs=20, **MOMENTUM)
    whole, split = set_up_twice(new_trainer, name, mode, config)
    np.testing.assert_allclose(np.concatenate([split.fit(12), split.fit(8)]), whole.fit(20), rtol=1e-6)
    np.testing.assert_array_equal(split.max_errors.shape, (8,))


def test_numba_floor_offers_only_its_idiomatic_mode():
    assert backends.modes_of("numba") == ("idiomatic",)
    with pytest.raises(ValueError, match="mode of the numba backend must be one of idiomatic"):
        backends.get_trainer("numba", mode="tuned")


def test_backends_without_a_documented_speed_switch_offer_no_compiled_mode():
    """NumPy and numba have no switch; JAX's idiomatic step, and Keras' on JAX, are jit-compiled already."""
    for name in ("numpy", "numba", "jax", "keras-jax"):
        assert "compiled" not in backends.modes_of(name), name
    for name in ("torch", "keras", "keras-torch"):
        assert backends.modes_of(name)[:2] == ("idiomatic", "compiled"), name


@every_other_mode
def test_fit_continues_training_like_one_long_fit(new_trainer, name, mode):
    config = backends.preset("matched", name, seed=3, epochs=20)
    whole, split = set_up_twice(new_trainer, name, mode, config)
    np.testing.assert_allclose(np.concatenate([split.fit(12), split.fit(8)]), whole.fit(20), rtol=1e-6)


@pytest.mark.parametrize("name", ["keras", "keras-jax"])
def test_keras_tuned_fit_longer_than_one_compiled_chunk_continues_seamlessly(new_trainer, name):
    config = backends.preset("matched", name, seed=4)
    long, short = set_up_twice(new_trainer, name, "tuned", config)
    epochs = long.CHUNK + 100
    whole = long.fit(epochs)
    assert whole.shape == (epochs,) and np.all(whole > 0)
    np.testing.assert_allclose(whole, np.concatenate([short.fit(300), short.fit(epochs - 300)]), rtol=1e-6)
