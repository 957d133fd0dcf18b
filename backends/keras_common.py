"""Keras 3 trainer code that runs on any of its backends: the model, compile and model.fit.

keras_tf.py, keras_jax.py and keras_torch.py each set KERAS_BACKEND and then import this
module, so the three `keras*` backends train the same Sequential model with the same loss,
optimizer and metric; only the backend under Keras differs. Keras reads KERAS_BACKEND once,
at its first import, so one process holds one Keras backend: `wrong_backend` says so.
"""

from __future__ import annotations

import keras
import numpy as np

from .base import History, TrainConfig, initial_params, on_the_mse, xor_data


def wrong_backend(wanted: str) -> str | None:
    """Why Keras cannot run on `wanted` in this process, or None when it can."""
    loaded = keras.backend.backend()
    if loaded == wanted:
        return None
    return (
        f"keras was already imported with the {loaded!r} backend in this process, and one process "
        f"holds one Keras backend: run it in a process of its own"
    )


def mse_loss(config: TrainConfig) -> keras.losses.Loss:
    """The MSE, which every objective trains on (base.on_the_mse rescales the optimizer instead).

    In the model's dtype: a Keras loss casts the outputs to its own, float32 unless told, so a
    float64 model would otherwise take float32-rounded gradients (measured: ~1e-8 off per step)."""
    return keras.losses.MeanSquaredError(dtype=config.dtype)


def largest_error(y_true, y_pred):
    """max |y_pred - y_true| over the batch, in float64; NaN if any output is (XLA's max would skip it)."""
    errors = keras.ops.abs(y_pred - keras.ops.cast(y_true, y_pred.dtype))
    worst = keras.ops.where(keras.ops.any(keras.ops.isnan(errors)), np.nan, keras.ops.max(errors))
    return keras.ops.cast(worst, "float64")


class MaxError(keras.metrics.Metric):
    """The batch's largest |output - target|; with one batch per epoch, model.fit's history holds it per epoch."""

    def __init__(self, name: str = "max_error", **kwargs):
        super().__init__(name=name, **kwargs)
        self.worst = self.add_variable(shape=(), initializer="zeros", dtype="float64", name="worst")

    def update_state(self, y_true, y_pred, sample_weight=None):
        self.worst.assign(largest_error(y_true, y_pred))

    def result(self):
        return keras.ops.convert_to_tensor(self.worst)  # a tensor: JAX refuses the Variable itself

    def reset_state(self):
        self.worst.assign(0.0)


def same_shape(config: TrainConfig) -> TrainConfig | None:
    """What a built model, its optimizer and its traced functions depend on: the config but for epochs,
    and but for the seed where that only picks the initial weights. None: always build afresh
    (the framework's own initialisers draw from the seed inside Keras)."""
    if config.init == "framework":
        return None
    return config.replace(epochs=1, seed=config.seed if config.samples > 4 else 0)  # > 4: the seed draws the data


def make_optimizer(config: TrainConfig) -> keras.optimizers.Optimizer:
    config = on_the_mse(config)
    if config.optimizer == "sgd":  # Keras' momentum: m = momentum * m - lr * g; p += m (torch's, times -lr)
        return keras.optimizers.SGD(learning_rate=config.lr, momentum=config.momentum)
    return keras.optimizers.Adam(learning_rate=config.lr, beta_1=config.beta1, beta_2=config.beta2, epsilon=config.eps)


def load_initial_weights(model: keras.Model, config: TrainConfig) -> None:
    w1, b1, w2, b2 = initial_params(config).astuple()
    model.layers[0].set_weights([w1, b1])
    model.layers[1].set_weights([w2, b2])


class KerasTrainer:
    """Sequential, compile, model.fit: the article's Keras code, on whichever backend Keras runs.

    A backend module subclasses it with its `name`; `jit_compile` is what compile() is given.
    """

    name: str
    mode = "idiomatic"
    jit_compile: bool | str = "auto"  # Keras' default: XLA on JAX; eager on torch, and on TensorFlow on a CPU
    DEVICE_NAMES = {"cpu": "cpu:0", "gpu": "gpu:0"}  # what keras.device() is given for each of our devices

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.keras_device = self.DEVICE_NAMES[device]
        self.built_for: TrainConfig | None = None

    def setup(self, config: TrainConfig) -> None:
        """Build the model, or, set up again for a config of the same shape, only reset it.

        Keras traces (model.fit) or compiles (the tuned loops) per model; a fresh model would pay that
        again. Loading the initial weights and zeroing the optimizer's state gives the same run.
        """
        key = same_shape(config)
        if key is not None and key == self.built_for:
            self.config = config
            with keras.device(self.keras_device):
                load_initial_weights(self.model, config)
                optimizer = self.model.optimizer
                for variable in optimizer.variables:  # the step count, Adam's moments or SGD's momentums
                    if variable is not optimizer.learning_rate:  # lr is in the key
                        variable.assign(np.zeros(variable.shape, variable.dtype))
            return
        self.built_for = key
        with keras.device(self.keras_device):
            self._build(config)

    def _build(self, config: TrainConfig) -> None:
        self.config = config
        self.X, self.y = xor_data(config)
        if config.init == "framework":  # Keras' own initializers draw; the others are overwritten below.
            keras.utils.set_random_seed(config.seed)  # (it also imports TensorFlow to seed it, on any backend)
        self.model = keras.Sequential(
            [
                keras.Input((2,), dtype=config.dtype),
                keras.layers.Dense(config.hidden, activation="sigmoid", dtype=config.dtype),
                keras.layers.Dense(1, activation="sigmoid", dtype=config.dtype),
            ]
        )
        if config.init != "framework":
            load_initial_weights(self.model, config)
        self.model.compile(
            optimizer=make_optimizer(config),
            loss=mse_loss(config),
            metrics=[MaxError()],
            jit_compile=self.jit_compile,
        )

    def fit(self, epochs: int) -> History:
        # One batch of all samples (the article's default batch size of 32 holds all 4);
        # shuffling a single batch would only reorder a sum, so it is off.
        with keras.device(self.keras_device):
            history = self.model.fit(self.X, self.y, epochs=epochs, batch_size=len(self.X), shuffle=False, verbose=0)
        return History(history.history["loss"], history.history["max_error"])

    def predict(self) -> np.ndarray:
        with keras.device(self.keras_device):
            return np.asarray(self.model.predict(self.X, batch_size=len(self.X), verbose=0), dtype=np.float64)


class KerasCompiledTrainer(KerasTrainer):
    """The idiomatic code plus Keras' documented speed switch: compile(jit_compile=True).

    That is XLA on TensorFlow and torch.compile on torch. (compile's other switch,
    steps_per_execution, runs "at most one full epoch" per call, and an epoch here is one
    batch: it cannot group epochs, so it is left at 1.)
    """

    mode = "compiled"
    jit_compile = True
