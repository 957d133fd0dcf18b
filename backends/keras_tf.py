"""Keras 3 on TensorFlow, used the usual way: Sequential, compile, model.fit (keras_common.py).

Keras' own trainer code is shared with keras_jax.py and keras_torch.py; what is TensorFlow's
here is the backend module's functions and the tuned loop, a tf.function XLA compiles.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # silence TensorFlow's start-up log
if "keras" not in sys.modules:  # Keras reads it at its first import only; later, unavailable_reason says so
    os.environ["KERAS_BACKEND"] = "tensorflow"  # this backend is Keras *on TensorFlow*

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from . import keras_common  # noqa: E402
from .base import History, TrainConfig  # noqa: E402
from .keras_common import largest_error, mse_loss  # noqa: E402

# TensorFlow multiplies float32 matrices in TF32 on recent NVIDIA GPUs unless told not to;
# torch and CuPy keep float32. The matched preset means float32 on every backend.
tf.config.experimental.enable_tensor_float_32_execution(False)


def framework_version() -> str:
    return f"keras {keras.__version__} / tensorflow {tf.__version__}"


def unavailable_reason(device: str) -> str | None:
    wrong = keras_common.wrong_backend("tensorflow")
    if wrong:
        return wrong
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


class KerasTrainer(keras_common.KerasTrainer):
    name = "keras"


class KerasCompiledTrainer(keras_common.KerasCompiledTrainer):
    name = "keras"


class KerasTunedTrainer(KerasTrainer):
    """The whole training loop in one XLA-compiled tf.function.

    model.fit pays Python, callback and dispatch overhead every epoch; here
    the same model, loss and optimizer run as one tf.while_loop that XLA fuses
    and compiles, and the host sees the device once per fit() call (per CHUNK
    epochs). XLA compiles once per trainer.
    """

    mode = "tuned"
    CHUNK = 4096  # epochs per compiled call at most: docs/TUNING.md
    UNROLL = 1  # epochs per iteration of the while loop: docs/TUNING.md

    def _build(self, config: TrainConfig) -> None:
        super()._build(config)
        model, optimizer = self.model, self.model.optimizer
        loss_fn = mse_loss(config)
        optimizer.build(model.trainable_variables)  # setup() builds under the trainer's device
        X, y = tf.constant(self.X), tf.constant(self.y)

        def epoch(i, losses, max_errors):
            with tf.GradientTape() as tape:
                output = model(X, training=True)
                loss = loss_fn(y, output)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables))
            losses = tf.tensor_scatter_nd_update(losses, [[i]], [tf.cast(loss, tf.float64)])
            return i + 1, losses, tf.tensor_scatter_nd_update(max_errors, [[i]], [largest_error(y, output)])

        def unrolled(i, losses, max_errors):
            for _ in range(self.UNROLL):  # traced UNROLL times: one loop iteration, UNROLL epochs
                i, losses, max_errors = epoch(i, losses, max_errors)
            return i, losses, max_errors

        @tf.function(jit_compile=True)
        def loop(epochs):
            # Plain while loops into fixed-size buffers: every shape is static, so XLA
            # compiles once, whatever the epoch count (a TensorArray of `epochs` would not).
            start = (tf.constant(0), tf.zeros(self.CHUNK, tf.float64), tf.zeros(self.CHUNK, tf.float64))
            whole = epochs - epochs % self.UNROLL
            carry = tf.while_loop(lambda i, *_: i < whole, unrolled, start)
            return tf.while_loop(lambda i, *_: i < epochs, epoch, carry)[1:]

        self.loop = loop
        self.forward = tf.function(lambda: model(X, training=False), jit_compile=True)

    def fit(self, epochs: int) -> History:
        histories = []
        with keras.device(self.keras_device):
            for start in range(0, epochs, self.CHUNK):
                n = min(self.CHUNK, epochs - start)
                chunk_losses, chunk_max_errors = self.loop(tf.constant(n))
                # .numpy() waits for the device
                histories.append(History(chunk_losses.numpy()[:n], chunk_max_errors.numpy()[:n]))
        return History.join(histories)

    def predict(self) -> np.ndarray:
        with keras.device(self.keras_device):
            return self.forward().numpy().astype(np.float64)
