"""Keras 3 on TensorFlow, used the usual way: Sequential, compile, model.fit."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # silence TensorFlow's start-up log
os.environ["KERAS_BACKEND"] = "tensorflow"  # this backend is Keras *on TensorFlow*

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from .base import TrainConfig, initial_params, xor_data  # noqa: E402

# TensorFlow multiplies float32 matrices in TF32 on recent NVIDIA GPUs unless told not to;
# torch and CuPy keep float32. The matched preset means float32 on every backend.
tf.config.experimental.enable_tensor_float_32_execution(False)


def framework_version() -> str:
    return f"keras {keras.__version__} / tensorflow {tf.__version__}"


def unavailable_reason(device: str) -> str | None:
    if keras.backend.backend() != "tensorflow":
        return f"keras was already imported with the {keras.backend.backend()!r} backend"
    if device == "gpu" and not tf.config.list_physical_devices("GPU"):
        return f"no GPU visible to tensorflow {tf.__version__}"
    return None


def set_threads(n: int) -> None:
    """Pin TensorFlow's thread pools; possible only before its first op runs."""
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current != n:
            raise RuntimeError(f"tensorflow already runs with {current} threads; cannot pin {n}") from None


def synchronize(device: str) -> None:
    if device == "gpu":
        tf.test.experimental.sync_devices()


def device_name(device: str) -> str:
    if device == "gpu":
        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        return details.get("device_name", "GPU")
    return "cpu"


class HalfSumSquaredError(keras.losses.Loss):
    """1/2 sum of squared errors over the batch: the loss whose gradient the article's scratch code uses."""

    def __init__(self, dtype: str | None = None):
        super().__init__(name="half_sse", reduction="sum", dtype=dtype)

    def call(self, y_true, y_pred):
        return 0.5 * keras.ops.sum(keras.ops.square(y_true - y_pred), axis=-1)


class HalfMeanSquaredError(keras.losses.Loss):
    """1/2 mean of squared errors over the batch: the 1986 paper's 1/2 sum of squares, per sample."""

    def __init__(self, dtype: str | None = None):
        super().__init__(name="half_mse", reduction="sum_over_batch_size", dtype=dtype)

    def call(self, y_true, y_pred):
        return 0.5 * keras.ops.mean(keras.ops.square(y_true - y_pred), axis=-1)


LOSSES = {"mse": keras.losses.MeanSquaredError, "half_sse": HalfSumSquaredError, "half_mse": HalfMeanSquaredError}


def objective_loss(config: TrainConfig) -> keras.losses.Loss:
    # In the model's dtype: a Keras loss casts the outputs to its own, float32 unless told, so a
    # float64 model would otherwise take float32-rounded gradients (measured: ~1e-8 off per step).
    return LOSSES[config.objective](dtype=config.dtype)


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
        return self.worst

    def reset_state(self):
        self.worst.assign(0.0)


def same_shape(config: TrainConfig) -> TrainConfig | None:
    """What a built model, its optimizer and its traced functions depend on: the config but for epochs,
    and but for the seed where that only picks the initial weights. None: always build afresh
    (the framework's own initialisers draw from the seed inside Keras)."""
    if config.init == "framework":
        return None
    return config.replace(epochs=1, seed=config.seed if config.samples > 4 else 0)  # > 4: the seed draws the data


class KerasTrainer:
    name = "keras"
    mode = "idiomatic"

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.tf_device = "/GPU:0" if device == "gpu" else "/CPU:0"
        self.built_for: TrainConfig | None = None
        self.max_errors = np.empty(0)

    def setup(self, config: TrainConfig) -> None:
        """Build the model, or, set up again for a config of the same shape, only reset it.

        Keras traces (model.fit) or compiles (the tuned loop) per model; a fresh model would pay that
        again. Loading the initial weights and zeroing the optimizer's state gives the same run.
        """
        key = same_shape(config)
        self.max_errors = np.empty(0)
        if key is not None and key == self.built_for:
            self.config = config
            w1, b1, w2, b2 = initial_params(config).astuple()
            self.model.layers[0].set_weights([w1, b1])
            self.model.layers[1].set_weights([w2, b2])
            optimizer = self.model.optimizer
            for variable in optimizer.variables:  # the step count, Adam's moments or SGD's momentums; lr is in the key
                if variable is not optimizer.learning_rate:
                    variable.assign(np.zeros(variable.shape, variable.dtype))
            return
        self.built_for = key
        self._build(config)

    def _build(self, config: TrainConfig) -> None:
        self.config = config
        self.X, self.y = xor_data(config)
        keras.utils.set_random_seed(config.seed)  # only matters for init="framework"
        with tf.device(self.tf_device):
            self.model = keras.Sequential(
                [
                    keras.Input((2,), dtype=config.dtype),
                    keras.layers.Dense(config.hidden, activation="sigmoid", dtype=config.dtype),
                    keras.layers.Dense(1, activation="sigmoid", dtype=config.dtype),
                ]
            )
            if config.init != "framework":
                w1, b1, w2, b2 = initial_params(config).astuple()
                self.model.layers[0].set_weights([w1, b1])
                self.model.layers[1].set_weights([w2, b2])
            if config.optimizer == "sgd":  # Keras' momentum: m = momentum * m - lr * g; p += m (torch's, times -lr)
                optimizer = keras.optimizers.SGD(learning_rate=config.lr, momentum=config.momentum)
            else:
                optimizer = keras.optimizers.Adam(
                    learning_rate=config.lr, beta_1=config.beta1, beta_2=config.beta2, epsilon=config.eps
                )
            self.model.compile(optimizer=optimizer, loss=objective_loss(config), metrics=[MaxError()])
        self.to_mse = {"mse": 1.0, "half_sse": 2 / len(self.X), "half_mse": 2.0}[config.objective]

    def fit(self, epochs: int) -> np.ndarray:
        # One batch of all samples (the article's default batch size of 32 holds all 4);
        # shuffling a single batch would only reorder a sum, so it is off.
        with tf.device(self.tf_device):
            history = self.model.fit(self.X, self.y, epochs=epochs, batch_size=len(self.X), shuffle=False, verbose=0)
        self.max_errors = np.asarray(history.history["max_error"], dtype=np.float64)
        return np.asarray(history.history["loss"], dtype=np.float64) * self.to_mse

    def predict(self) -> np.ndarray:
        with tf.device(self.tf_device):
            return np.asarray(self.model.predict(self.X, batch_size=len(self.X), verbose=0), dtype=np.float64)


class KerasTunedTrainer(KerasTrainer):
    """The whole training loop in one XLA-compiled tf.function.

    model.fit pays Python, callback and dispatch overhead every epoch; here
    the same model, loss and optimizer run as one tf.while_loop that XLA fuses
    and compiles, and the host sees the device once per fit() call (per 1024
    epochs). XLA compiles once per trainer.
    """

    mode = "tuned"
    CHUNK = 1024  # epochs per compiled call at most

    def _build(self, config: TrainConfig) -> None:
        super()._build(config)
        model, optimizer = self.model, self.model.optimizer
        loss_fn = objective_loss(config)
        with tf.device(self.tf_device):
            optimizer.build(model.trainable_variables)
            X, y = tf.constant(self.X), tf.constant(self.y)

        def epoch(i, losses, max_errors):
            with tf.GradientTape() as tape:
                output = model(X, training=True)
                loss = loss_fn(y, output)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            losses = tf.tensor_scatter_nd_update(losses, [[i]], [tf.cast(loss, tf.float64)])
            return i + 1, losses, tf.tensor_scatter_nd_update(max_errors, [[i]], [largest_error(y, output)])

        @tf.function(jit_compile=True)
        def loop(epochs):
            # A plain while loop into fixed-size buffers: every shape is static, so XLA
            # compiles once, whatever the epoch count (a TensorArray of `epochs` would not).
            start = (tf.constant(0), tf.zeros(self.CHUNK, tf.float64), tf.zeros(self.CHUNK, tf.float64))
            return tf.while_loop(lambda i, *_: i < epochs, epoch, start)[1:]

        self.loop = loop
        self.forward = tf.function(lambda: model(X, training=False), jit_compile=True)

    def fit(self, epochs: int) -> np.ndarray:
        losses, max_errors = [], []
        with tf.device(self.tf_device):
            for start in range(0, epochs, self.CHUNK):
                n = min(self.CHUNK, epochs - start)
                chunk_losses, chunk_max_errors = self.loop(tf.constant(n))
                losses.append(chunk_losses.numpy()[:n])  # .numpy() waits for the device
                max_errors.append(chunk_max_errors.numpy()[:n])
        self.max_errors = np.concatenate(max_errors)
        return np.concatenate(losses) * self.to_mse

    def predict(self) -> np.ndarray:
        with tf.device(self.tf_device):
            return self.forward().numpy().astype(np.float64)
