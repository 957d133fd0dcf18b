"""What each backend's modes are, and that every mode carries a run over fit() calls like one long fit.

Their curves against NumPy's are the battery's (tests/test_equivalence.py).
"""

import numpy as np
import pytest
from selection import HERE, MODES_HERE, mode_params

from xorbench import backends

MOMENTUM = dict(momentum=0.9, lr=0.5)  # heavy-ball SGD: the velocity must carry over too


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


def set_up_twice(new_trainer, name: str, mode: str, config: backends.TrainConfig):
    whole, split = new_trainer(name, mode), new_trainer(name, mode)
    whole.setup(config)
    split.setup(config)
    return whole, split


@pytest.mark.parametrize("name, mode", mode_params(MODES_HERE))
def test_fit_continues_with_the_momentum_it_built_up(new_trainer, name, mode):
    """fit(12) then fit(8) is fit(20), losses and worst errors: weights and velocity carry over from one
    call to the next, and each call's history holds its own epochs. (torch tuned: its 16-epoch window and
    its one-epoch function for the rest, both on the battery's SGD graph.)"""
    config = backends.preset("matched", "numpy", epochs=20, **MOMENTUM)
    whole, split = set_up_twice(new_trainer, name, mode, config)
    first, second = split.fit(12), split.fit(8)
    assert (len(first), len(second)) == (12, 8)
    joined, one = backends.History.join([first, second]), whole.fit(20)
    np.testing.assert_allclose(joined.losses, one.losses, rtol=1e-6)
    np.testing.assert_allclose(joined.max_errors, one.max_errors, rtol=1e-6)


KERAS_HERE = [name for name in HERE if "keras" in backends.REGISTRY[name].packages]
TUNED_KERAS = [name for name in KERAS_HERE if "tuned" in backends.modes_of(name)]


@pytest.mark.parametrize("name", TUNED_KERAS)
def test_a_tuned_keras_fit_longer_than_one_compiled_call_continues_seamlessly(new_trainer, name):
    """Past one compiled call (CHUNK epochs at most on TensorFlow and JAX, WINDOW on torch) and its remainder."""
    config = backends.preset("matched", name, seed=4)
    long, short = set_up_twice(new_trainer, name, "tuned", config)
    epochs = getattr(long, "CHUNK", None) or long.WINDOW
    epochs += 100
    whole = long.fit(epochs).losses
    assert whole.shape == (epochs,) and np.all(whole > 0)
    split = backends.History.join([short.fit(epochs // 3), short.fit(epochs - epochs // 3)]).losses
    np.testing.assert_allclose(whole, split, rtol=1e-6)


@pytest.mark.parametrize("name", TUNED_KERAS)
def test_a_tuned_keras_fit_leaves_its_weights_in_the_keras_model(new_trainer, name):
    """The tuned loops carry weights outside Keras' variables; fit() writes them back, so
    Keras' own model.predict sees the trained network."""
    trainer = new_trainer(name, "tuned")
    trainer.setup(backends.preset("matched", name, epochs=400))
    trainer.fit(400)  # seed 0 solves XOR at epoch 363
    keras_outputs = trainer.model.predict(trainer.X, verbose=0)
    np.testing.assert_allclose(trainer.predict(), keras_outputs, rtol=1e-6)
    np.testing.assert_array_less(np.abs(keras_outputs - trainer.y), 0.5)


@pytest.mark.parametrize("name", KERAS_HERE)
def test_the_idiomatic_keras_mode_is_kerass_default_compile(new_trainer, name):
    """jit_compile="auto": XLA on JAX; eager on torch and, on a CPU, on TensorFlow."""
    trainer = new_trainer(name)
    trainer.setup(backends.preset("matched", name, epochs=2))
    trainer.fit(1)
    assert trainer.model.jit_compile == (name == "keras-jax")
