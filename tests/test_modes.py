"""Tuned modes and the numba floor train the same curve as the idiomatic mode of their backend."""

import numpy as np
import pytest

from xorbench import backends

# Same tolerance argument as tests/test_equivalence.py: float32 rounding differs with the order
# of operations (packed biases, XLA fusion, compiled kernels). Measured here over the epochs
# below: at most ~5e-6 relative (SGD) and ~2e-5 (Adam); the bounds leave a 5x margin.
RTOL = {"sgd": 2e-5, "adam": 1e-4}
EPOCHS = {"numpy": 1000, "torch": 500, "keras": 150, "numba": 1000, "jax": 1000}
MOMENTUM = dict(momentum=0.9, lr=0.5)  # heavy-ball SGD; momentum applies to sgd only


def curve(name: str, mode: str, optimizer: str, seed: int = 1, **overrides) -> backends.TrainResult:
    config = backends.preset("matched", name, optimizer=optimizer, seed=seed, epochs=EPOCHS[name], **overrides)
    return backends.train(backends.get_trainer(name, mode=mode), config)


def max_relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b) / np.abs(a)))


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("name", ["numpy", "torch", "keras", "jax"])
def test_tuned_mode_gives_the_idiomatic_curve(name, optimizer):
    pytest.importorskip(backends.REGISTRY[name].packages[0])
    idiomatic, tuned = curve(name, "idiomatic", optimizer), curve(name, "tuned", optimizer)
    assert tuned.mode == "tuned" and tuned.status == "ok"
    assert max_relative_difference(idiomatic.losses, tuned.losses) < RTOL[optimizer]
    np.testing.assert_allclose(tuned.predictions, idiomatic.predictions, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_numba_floor_gives_the_numpy_curve(optimizer):
    pytest.importorskip("numba")
    reference, floor = curve("numpy", "idiomatic", optimizer), curve("numba", "idiomatic", optimizer)
    assert max_relative_difference(reference.losses, floor.losses) < RTOL[optimizer]
    np.testing.assert_allclose(floor.predictions, reference.predictions, atol=1e-5)


@pytest.mark.parametrize("name", ["numpy", "torch", "keras"])
def test_tuned_mode_gives_the_idiomatic_curve_with_momentum(name):
    pytest.importorskip(backends.REGISTRY[name].packages[0])
    idiomatic, tuned = curve(name, "idiomatic", "sgd", **MOMENTUM), curve(name, "tuned", "sgd", **MOMENTUM)
    assert tuned.status == "ok" and tuned.config.momentum == 0.9
    assert max_relative_difference(idiomatic.losses, tuned.losses) < RTOL["sgd"]
    assert max_relative_difference(idiomatic.max_errors, tuned.max_errors) < RTOL["sgd"]
    np.testing.assert_allclose(tuned.predictions, idiomatic.predictions, atol=1e-5)


def test_numba_floor_gives_the_numpy_curve_with_momentum():
    pytest.importorskip("numba")
    reference, floor = curve("numpy", "idiomatic", "sgd", **MOMENTUM), curve("numba", "idiomatic", "sgd", **MOMENTUM)
    assert max_relative_difference(reference.losses, floor.losses) < RTOL["sgd"]
    assert max_relative_difference(reference.max_errors, floor.max_errors) < RTOL["sgd"]
    np.testing.assert_allclose(floor.predictions, reference.predictions, atol=1e-5)


def test_momentum_changes_the_curve_by_far_more_than_the_tolerance():
    """The two tests above would notice a mode that dropped momentum."""
    plain, heavy_ball = curve("numpy", "tuned", "sgd", lr=0.5), curve("numpy", "tuned", "sgd", **MOMENTUM)
    assert max_relative_difference(plain.losses, heavy_ball.losses) > 100 * RTOL["sgd"]


ALL_MODES = [(n, m) for n in backends.BACKENDS for m in backends.modes_of(n)]


@pytest.mark.parametrize("name, mode", ALL_MODES, ids=[f"{n}-{m}" for n, m in ALL_MODES])
def test_fit_continues_with_the_momentum_it_built_up(name, mode):
    """fit(12) then fit(8) is fit(20): the velocity carries over from one call to the next."""
    pytest.importorskip(backends.REGISTRY[name].packages[0])
    config = backends.preset("matched", name, seed=3, epochs=20, **MOMENTUM)
    whole, split = (backends.get_trainer(name, mode=mode) for _ in range(2))
    whole.setup(config)
    split.setup(config)
    np.testing.assert_allclose(np.concatenate([split.fit(12), split.fit(8)]), whole.fit(20), rtol=1e-6)
    np.testing.assert_array_equal(split.max_errors.shape, (8,))


def test_numba_floor_offers_only_its_idiomatic_mode():
    assert backends.modes_of("numba") == ("idiomatic",)
    with pytest.raises(ValueError, match="mode of the numba backend must be one of idiomatic"):
        backends.get_trainer("numba", mode="tuned")


@pytest.mark.parametrize("name", ["numpy", "torch", "keras", "jax"])
def test_tuned_fit_continues_training_like_one_long_fit(name):
    pytest.importorskip(backends.REGISTRY[name].packages[0])
    config = backends.preset("matched", name, seed=3, epochs=20)
    whole = backends.get_trainer(name, mode="tuned")
    whole.setup(config)
    split = backends.get_trainer(name, mode="tuned")
    split.setup(config)
    np.testing.assert_allclose(np.concatenate([split.fit(12), split.fit(8)]), whole.fit(20), rtol=1e-6)


def test_keras_tuned_fit_longer_than_one_compiled_chunk_continues_seamlessly():
    pytest.importorskip("tensorflow")
    config = backends.preset("matched", "keras", seed=4)
    long, short = (backends.get_trainer("keras", mode="tuned") for _ in range(2))
    long.setup(config)
    short.setup(config)
    epochs = long.CHUNK + 100
    whole = long.fit(epochs)
    assert whole.shape == (epochs,) and np.all(whole > 0)
    np.testing.assert_allclose(whole, np.concatenate([short.fit(300), short.fit(epochs - 300)]), rtol=1e-6)
