"""The same configuration trains to bit-identical curves, run after run, on the CPU."""

from __future__ import annotations

import numpy as np
import pytest

from xorbench import backends

# The battery's seed 0 (tests/test_equivalence.py).
EPOCHS = 200
EAGER = ("numpy", "torch", "numba")  # deterministic on the CPU without any switch
# model.fit costs 35-70 ms an epoch here, and an op that is not deterministic shows from the first epoch
KERAS_EPOCHS = 16


def config(optimizer: str, epochs: int = EPOCHS) -> backends.TrainConfig:
    return backends.preset("matched", "numpy", optimizer=optimizer, seed=0, epochs=epochs)


def assert_identical(first: backends.TrainResult, second: backends.TrainResult) -> None:
    np.testing.assert_array_equal(first.losses, second.losses)
    np.testing.assert_array_equal(first.predictions, second.predictions)


@pytest.mark.parametrize("optimizer", ("sgd", "adam"))
@pytest.mark.parametrize("name", EAGER)
def test_same_config_gives_bit_identical_curves(new_trainer, name, optimizer):
    first = backends.train(new_trainer(name), config(optimizer))
    second = backends.train(new_trainer(name), config(optimizer))
    assert_identical(first, second)


@pytest.mark.parametrize("name", EAGER)
def test_setup_again_on_the_same_trainer_starts_afresh(new_trainer, name):
    """A trainer reused for a second run carries nothing over (Adam moments, step count, weights)."""
    trainer = new_trainer(name)
    first = backends.train(trainer, config("adam"))
    second = backends.train(trainer, config("adam"))
    assert_identical(first, second)


@pytest.mark.timeout(300)
def test_keras_is_bit_identical_with_op_determinism(new_trainer, trained):
    # new_trainer("keras") calls tf.config.experimental.enable_op_determinism() (see conftest).
    first = trained("keras", config("adam", KERAS_EPOCHS))
    second = backends.train(new_trainer("keras"), config("adam", KERAS_EPOCHS))
    assert_identical(first, second)


def test_initial_weights_depend_on_the_seed_alone():
    same = [backends.initial_params(backends.TrainConfig(seed=7)).astuple() for _ in range(2)]
    other = backends.initial_params(backends.TrainConfig(seed=8)).astuple()
    for a, b in zip(*same):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(same[0][0], other[0])  # w1
