"""Every backend keeps the Trainer protocol's promises (scikit-learn's parametrize_with_checks idea).

Parametrised over the registry, so a new backend is checked the moment it is registered.
"""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pytest
from selection import HERE, MODES_HERE, mode_params

from xorbench import backends

NAMES = HERE  # the other Keras backends: tests/test_keras_backends.py runs this file in their own process
SMALL = backends.TrainConfig(epochs=5, optimizer="adam", lr=0.01)


@pytest.fixture(params=NAMES)
def name(request) -> str:
    return request.param


@pytest.fixture
def trainer(new_trainer, name) -> backends.Trainer:
    return new_trainer(name)


def test_get_trainer_returns_a_trainer(trainer, name):
    assert isinstance(trainer, backends.Trainer)
    assert (trainer.name, trainer.device, trainer.mode) == (name, "cpu", "idiomatic")


def test_fit_returns_the_history_of_its_own_epochs(trainer):
    """One float64 loss and one worst |output - y| per epoch of that call, and nothing else left behind."""
    trainer.setup(SMALL)
    for epochs in (3, 2):
        history = trainer.fit(epochs)
        assert isinstance(history, backends.History) and len(history) == epochs
        for values in (history.losses, history.max_errors):
            assert isinstance(values, np.ndarray) and values.shape == (epochs,) and values.dtype == np.float64
        assert np.all(np.isfinite(history.losses))
        assert np.all((history.max_errors > 0) & (history.max_errors < 1))
    assert not hasattr(trainer, "max_errors")  # the history is the one place they are


def test_a_history_pairs_losses_with_worst_errors():
    rows = np.array([[0.3, 0.7], [0.2, 0.4]], dtype=np.float32)
    history = backends.History.of_rows(rows)
    np.testing.assert_array_equal(history.losses, rows[:, 0].astype(np.float64))
    assert history.losses.dtype == history.max_errors.dtype == np.float64
    np.testing.assert_array_equal(history.max_errors, rows[:, 1].astype(np.float64))
    joined = backends.History.join([history, backends.History([0.1], [0.3])])
    np.testing.assert_array_equal(joined.losses, [*rows[:, 0].astype(np.float64), 0.1])
    assert len(backends.History.join([])) == 0
    with pytest.raises(ValueError, match="max_errors"):
        backends.History([0.1, 0.2], [0.3])


def test_first_loss_is_the_loss_of_the_initial_weights(trainer):
    """losses[i] is the loss *before* epoch i's update, in every backend."""
    trainer.setup(SMALL)
    w1, b1, w2, b2 = (p.astype(np.float64) for p in backends.initial_params(SMALL).astuple())
    X, y = (a.astype(np.float64) for a in backends.xor_data(SMALL))
    output = 1 / (1 + np.exp(-((1 / (1 + np.exp(-(X @ w1 + b1)))) @ w2 + b2)))
    history = trainer.fit(1)
    np.testing.assert_allclose(history.losses[0], np.mean((y - output) ** 2), rtol=1e-6)
    np.testing.assert_allclose(history.max_errors[0], np.max(np.abs(y - output)), rtol=1e-6)


@pytest.mark.parametrize("dtype", ("float32", "float64"))
def test_predict_returns_a_float64_column_of_probabilities(trainer, dtype):
    trainer.setup(SMALL.replace(dtype=dtype))
    trainer.fit(2)
    predictions = trainer.predict()
    assert predictions.shape == (4, 1)
    assert predictions.dtype == np.float64
    assert np.all((predictions > 0) & (predictions < 1))


@pytest.mark.parametrize("optimizer", ("sgd", "adam"))
def test_fit_continues_training(trainer, optimizer):
    """fit(3) then fit(2) is fit(5): weights and optimizer state (Adam's step count) carry over."""
    config = SMALL.replace(optimizer=optimizer)
    trainer.setup(config)
    in_two = backends.History.join([trainer.fit(3), trainer.fit(2)])
    trainer.setup(config)
    in_one = trainer.fit(5)
    np.testing.assert_array_equal(in_two.losses, in_one.losses)
    np.testing.assert_array_equal(in_two.max_errors, in_one.max_errors)


def test_train_returns_a_complete_result(trainer, name):
    result = backends.train(trainer, SMALL)
    assert isinstance(result, backends.TrainResult)
    assert (result.backend, result.device, result.mode, result.config) == (name, "cpu", "idiomatic", SMALL)
    assert result.losses.shape == (SMALL.epochs,)
    assert result.predictions.shape == (4, 1)
    assert 0.0 <= result.accuracy <= 1.0
    assert result.train_s >= 0.0
    assert (result.status, result.reason) == ("ok", "")
    assert result.max_errors.shape == (SMALL.epochs,) and np.all(np.isfinite(result.max_errors))


def test_available_has_one_row_per_backend_and_device():
    rows = backends.available()
    assert [(r.backend, r.device) for r in rows] == [(b, d) for b in backends.BACKENDS for d in backends.DEVICES]
    for row in rows:
        if row.ok:
            assert row.reason == "" and row.version
        else:
            assert row.reason.strip() and "\n" not in row.reason, row
        installed = importlib.util.find_spec(backends.REGISTRY[row.backend].packages[0]) is not None
        if row.device == "cpu" and installed:  # the one reason left: Keras already runs on another backend here
            assert row.ok or "one process holds one Keras backend" in row.reason, row


def test_gpu_rows_match_what_the_frameworks_see():
    rows = {(r.backend, r.device): r for r in backends.available()}
    if importlib.util.find_spec("torch"):
        import torch

        assert rows["torch", "gpu"].ok == torch.cuda.is_available()
        assert rows["torch", "gpu"].ok or "CUDA" in rows["torch", "gpu"].reason
    if "keras" in HERE and importlib.util.find_spec("tensorflow"):  # Keras on TensorFlow runs in this process
        import tensorflow as tf

        assert rows["keras", "gpu"].ok == bool(tf.config.list_physical_devices("GPU"))
        assert rows["keras", "gpu"].ok or "GPU" in rows["keras", "gpu"].reason


def test_a_missing_framework_is_reported_with_the_install_command(monkeypatch):
    missing = dataclasses.replace(backends.REGISTRY["torch"], packages=("xorbench_no_such_package",))
    monkeypatch.setitem(backends.REGISTRY, "torch", missing)
    row = backends.availability("torch", "cpu")
    assert not row.ok
    assert row.reason == "xorbench_no_such_package is not installed: pip install 'xorbench[torch]'"
    with pytest.raises(RuntimeError, match="pip install"):
        backends.get_trainer("torch")


# Tuned modes that compile a 16-epoch window and a one-epoch step: 16 epochs compile only the window,
# which their other tests compile too.
WINDOWED = {("torch", "tuned"), ("keras-torch", "tuned")}


@pytest.mark.parametrize("set_up", [dict(optimizer="adam"), dict(momentum=0.9, lr=0.5)], ids=["adam", "momentum"])
@pytest.mark.parametrize("name, mode", mode_params(MODES_HERE))
def test_setting_a_trainer_up_again_starts_the_new_run_afresh(new_trainer, name, mode, set_up):
    """setup() after training is a fresh start: weights and optimizer state of the old run (Adam's moments
    and step count, SGD's velocity) are gone. (Keras keeps its model and zeroes its optimizer.)"""
    epochs = 16 if (name, mode) in WINDOWED else 4
    first = backends.preset("matched", "numpy", seed=0, epochs=epochs, **set_up)
    assert_set_up_again_trains_bit_identically(new_trainer, name, mode, first)


def assert_set_up_again_trains_bit_identically(new_trainer, name: str, mode: str, first: backends.TrainConfig):
    """A few epochs leave every kind of state: one Adam step sets its moments and count."""
    second = first.replace(seed=1)
    reused = new_trainer(name, mode)
    reused.setup(first)
    reused.fit(first.epochs)
    reused.setup(second)
    fresh = new_trainer(name, mode)
    fresh.setup(second)
    again, new = reused.fit(first.epochs), fresh.fit(first.epochs)
    np.testing.assert_array_equal(again.losses, new.losses)
    np.testing.assert_array_equal(again.max_errors, new.max_errors)
    np.testing.assert_array_equal(reused.predict(), fresh.predict())


KERAS_MODES = [(n, m) for n, m in MODES_HERE if "keras" in backends.REGISTRY[n].packages and m != "compiled"]


@pytest.mark.parametrize("name, mode", KERAS_MODES, ids=[f"{n}-{m}" for n, m in KERAS_MODES])
def test_keras_set_up_again_for_the_same_shape_keeps_its_model_and_traced_functions(new_trainer, name, mode):
    trainer = new_trainer(name, mode)
    config = backends.preset("matched", name, epochs=5)
    trainer.setup(config)
    model = trainer.model
    trainer.fit(5)
    trainer.setup(config.replace(seed=7, epochs=9))  # another seed: other initial weights, same shapes
    assert trainer.model is model
    trainer.setup(config.replace(hidden=8))  # another shape: a new model
    assert trainer.model is not model


DIVERGING = dict(optimizer="adam", lr=1e308, dtype="float64", epochs=30)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", NAMES)
def test_non_finite_loss_is_reported_as_diverged_not_raised(new_trainer, name):
    config = backends.preset("matched", name, **DIVERGING)
    result = backends.train(new_trainer(name), config)
    assert result.status == "diverged"
    assert "non-finite" in result.reason and "lr=1e+308" in result.reason
    assert len(result.losses) == config.epochs
    assert not np.all(np.isfinite(result.losses))
    assert result.accuracy == 0.0
    assert not result.solved
