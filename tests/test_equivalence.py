"""The battery: every (backend, mode) trains NumPy's curve, on the set-ups that tell optimizers apart.

Same initial weights (drawn once in NumPy), data, objective, optimizer and float32: each mode's losses
and worst errors may differ from the scratch NumPy backend's only by float32 rounding, and they end at
the same predictions. One seed each of SGD, Adam, heavy-ball momentum and the 1986 `classic` preset
(uniform init, half_mse, momentum). NumPy's own backward pass is checked against finite differences in
tests/test_gradients.py, so agreeing with it is agreeing with the maths.

Each (backend, mode, set-up) trains once per session (session_curve); compiled modes pay their
compiles here: every set-up has the same shapes and dtype, so torch's tuned loop compiles one graph
for SGD (its lr and momentum are graph inputs) and one for Adam.
"""

from __future__ import annotations

import functools
import os

import numpy as np
import pytest
from selection import BACKENDS_VARIABLE, COSTLY, HERE, MODES_HERE, mode_ids, require

from xorbench import backends

SEED = 0
# Epochs per backend: enough for the curves to leave the flat start, so that the tolerances have
# teeth (test_the_tolerance_rejects_a_slightly_different_run), few enough for Keras' model.fit (35-70 ms
# an epoch here). Multiples of 16, torch tuned's window: its one-epoch function is not compiled here.
EPOCHS = {"keras": 48, "keras-torch": 48, "keras-jax": 48}
DEFAULT_EPOCHS = 256
SHORTEST = min(EPOCHS.values())

# Against NumPy's scratch code, measured here over these epochs (float32, seed 0): at most 5.5e-7
# relative for the SGD family, 1.6e-5 for Adam (Keras adds eps outside the bias correction, and Adam's
# division by sqrt(v_hat) amplifies rounding where gradients are small). The bounds leave a 5x margin
# and still fail a learning rate or momentum 0.1% off (the teeth test).
RTOL = {"sgd": 2e-5, "adam": 1e-4}
PREDICTION_ATOL = 1e-5

SET_UPS = {
    "sgd": lambda epochs: backends.preset("matched", "numpy", seed=SEED, epochs=epochs),
    "adam": lambda epochs: backends.preset("matched", "numpy", optimizer="adam", seed=SEED, epochs=epochs),
    # torch.optim's buf = 0.9 buf + g, p -= lr buf against Keras' m = 0.9 m - lr g, p += m
    "momentum": lambda epochs: backends.preset("matched", "numpy", seed=SEED, epochs=epochs, momentum=0.9, lr=0.5),
    # at the matched preset's 4 hidden units, so that compiled modes see no new shape (the preset's own
    # 2 hidden units are checked in tests/test_classic.py)
    "classic": lambda epochs: backends.preset("classic", "numpy", seed=SEED, epochs=epochs, hidden=4),
}
# Keras' compiled mode on TensorFlow traces a new XLA program for every config (10-35 s each here): CI
# compiles its first two set-ups, the slow tier the rest.
SLOW = {("keras", "compiled", "momentum"), ("keras", "compiled", "classic")}


def rows():
    for (name, mode), id_ in zip(MODES_HERE, mode_ids(MODES_HERE)):
        for set_up in SET_UPS:
            marks = [pytest.mark.slow] if (name, mode, set_up) in SLOW else []
            yield pytest.param(name, mode, set_up, id=f"{id_}-{set_up}", marks=marks)


def config_of(name: str, set_up: str) -> backends.TrainConfig:
    return SET_UPS[set_up](EPOCHS.get(name, DEFAULT_EPOCHS))


@pytest.fixture(scope="session")
def session_curve(new_trainer):
    """session_curve(name, mode, config): the run, trained once per session."""

    @functools.cache
    def run(name: str, mode: str, config: backends.TrainConfig) -> backends.TrainResult:
        return backends.train(new_trainer(name, mode), config)

    return run


def assert_same_curve(result: backends.TrainResult, reference: backends.TrainResult) -> None:
    """The one agreement check: losses and worst errors epoch by epoch, and the final predictions."""
    rtol = RTOL[result.config.optimizer]
    assert result.losses.shape == reference.losses.shape == (result.config.epochs,)
    np.testing.assert_allclose(result.losses, reference.losses, rtol=rtol, atol=0, err_msg="losses")
    np.testing.assert_allclose(result.max_errors, reference.max_errors, rtol=rtol, atol=0, err_msg="max errors")
    np.testing.assert_allclose(result.predictions, reference.predictions, rtol=0, atol=PREDICTION_ATOL)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name, mode, set_up", list(rows()))
def test_every_mode_trains_numpys_curve(session_curve, name, mode, set_up):
    config = config_of(name, set_up)
    result = session_curve(name, mode, config)
    reference = session_curve("numpy", "idiomatic", config)
    assert (result.backend, result.mode, result.status) == (name, mode, "ok")
    assert_same_curve(result, reference)
    # Each epoch's worst error bounds its loss: mean of the squares <= largest square <= their sum.
    squared = result.max_errors**2
    assert np.all(result.losses <= squared * (1 + 1e-5)) and np.all(squared <= 4 * result.losses * (1 + 1e-5))


@pytest.mark.parametrize("set_up", SET_UPS)
def test_the_tolerance_rejects_a_slightly_different_run(session_curve, set_up):
    """The check has teeth at the shortest battery run: 0.1% more learning rate (or momentum, where the
    set-up has it) fails it, and the compared curves fall by far more than the tolerance."""
    config = config_of("keras", set_up)
    assert config.epochs == SHORTEST
    reference = session_curve("numpy", "idiomatic", config)
    assert (reference.losses[0] - reference.losses[-1]) / reference.losses[0] > 100 * RTOL[config.optimizer]
    knob = "momentum" if config.momentum else "lr"
    perturbed = session_curve("numpy", "idiomatic", config.replace(**{knob: getattr(config, knob) * 1.001}))
    with pytest.raises(AssertionError):
        assert_same_curve(perturbed, reference)


def test_every_backend_is_in_the_battery_here_or_in_a_process_of_its_own():
    """Nothing is left out: each registered backend's every mode is a battery row in this session, or its
    Keras runs on another framework and tests/test_keras_backends.py runs the battery in a process of its own."""
    from test_keras_backends import OTHERS

    asked = os.environ.get(BACKENDS_VARIABLE)
    expected = set(asked.split(",")) if asked else set(backends.BACKENDS)
    assert expected <= set(HERE) | set(OTHERS)
    covered = {(p.values[0], p.values[1]) for p in rows()}
    assert covered == {(n, m) for n in HERE for m in backends.modes_of(n)}
    assert COSTLY <= {(n, m) for n in backends.BACKENDS for m in backends.modes_of(n)}  # no stale names


@pytest.mark.parametrize("set_up", ("sgd", "momentum", "adam"))
def test_an_objective_is_the_mse_with_its_optimizer_rescaled(set_up):
    """base.on_the_mse, which every framework backend trains through, takes the steps the scratch
    backend takes on the objective itself (its gradient scaled by output_scale): the same curve, exactly."""
    config = SET_UPS[set_up](DEFAULT_EPOCHS).replace(objective="half_mse")
    literal = backends.train(backends.get_trainer("numpy"), config)
    rescaled = backends.train(backends.get_trainer("numpy"), backends.base.on_the_mse(config))
    np.testing.assert_array_equal(literal.losses, rescaled.losses)
    mse = backends.train(backends.get_trainer("numpy"), config.replace(objective="mse"))
    assert not np.array_equal(literal.losses, mse.losses)  # the objective matters: the rescale is not a no-op


FLOAT64 = [row for row in MODES_HERE if row not in COSTLY]


@pytest.mark.parametrize("name, mode", FLOAT64, ids=mode_ids(FLOAT64))
def test_the_articles_float64_half_sse_run_agrees_to_float64_rounding(session_curve, name, mode):
    """The numpy `article` preset (float64, U[0,1) init, half_sse, SGD at 0.1) on every mode that does not
    compile per dtype: float64 all the way through, the half_sse objective rescaled right. (Keras keeps
    model.fit's loss in a float32 metric and its optimizer's learning rate in a float32 variable: measured
    3e-9 relative over these epochs.)"""
    require(name)
    config = backends.preset("article", "numpy", epochs=64)
    result, reference = session_curve(name, mode, config), session_curve("numpy", "idiomatic", config)
    rtol = 1e-7 if "keras" in backends.REGISTRY[name].packages else 1e-12
    np.testing.assert_allclose(result.losses, reference.losses, rtol=rtol, atol=0)
    np.testing.assert_allclose(result.predictions, reference.predictions, rtol=rtol, atol=0)
