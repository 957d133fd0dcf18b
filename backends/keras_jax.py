"""Keras 3 on JAX: the same Sequential model, compile and model.fit as keras_tf.py (keras_common.py).

Keras reads KERAS_BACKEND at its first import, so this module sets it before importing Keras;
a process that already imported Keras on another backend cannot run this one, and
unavailable_reason says so. Threads, float64 and the device are jax_xla.py's: XLA's CPU pool
is pinned through the environment before jax starts (see its docstring), and x64 is on so
that float64 models stay float64.

Keras' compile() defaults to jit_compile="auto", which on JAX already means XLA: model.fit's
train step is a jax.jit function. compile(jit_compile=True) would change nothing, so this
backend has no `compiled` mode. The tuned mode runs the whole fit() as one jitted
lax.fori_loop over Keras' own stateless_call and optimizer.stateless_apply.
"""

from __future__ import annotations

import functools
import os
import sys

if "keras" not in sys.modules:  # Keras reads it at its first import only; later, unavailable_reason says so
    os.environ["KERAS_BACKEND"] = "jax"

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

from . import jax_xla, keras_common  # noqa: E402  (jax_xla: x64 on, the thread and device functions)
from .base import History, TrainConfig  # noqa: E402
from .keras_common import largest_error, mse_loss  # noqa: E402

set_threads = jax_xla.set_threads
synchronize = jax_xla.synchronize
device_name = jax_xla.device_name


def framework_version() -> str:
    return f"keras {keras.__version__} / jax {jax.__version__}"


def unavailable_reason(device: str) -> str | None:
    return keras_common.wrong_backend("jax") or jax_xla.unavailable_reason(device)


class KerasJaxTrainer(keras_common.KerasTrainer):
    name = "keras-jax"


def train_chunk(model: keras.Model, loss_fn, chunk: int, unroll: int, epochs, state, X, y):
    """`epochs` (<= chunk) epochs as one XLA while loop, the recipe of Keras' guide "Writing a
    training loop from scratch in JAX": jax.value_and_grad of model.stateless_call and the loss,
    then optimizer.stateless_apply. Each epoch's [loss, worst |error|] goes into the history.
    `unroll` epochs run per loop iteration, the remainder one per iteration (as jax_xla's)."""

    def objective(trainable, non_trainable):
        output, non_trainable = model.stateless_call(trainable, non_trainable, X, training=True)
        return loss_fn(y, output), (output, non_trainable)

    def epoch(i, carry):
        trainable, non_trainable, optimizer_variables, history = carry
        (loss, (output, non_trainable)), grads = jax.value_and_grad(objective, has_aux=True)(trainable, non_trainable)
        trainable, optimizer_variables = model.optimizer.stateless_apply(optimizer_variables, grads, trainable)
        metrics = jnp.stack([loss.astype(jnp.float64), largest_error(y, output)])
        return trainable, non_trainable, optimizer_variables, history.at[i].set(metrics)

    def unrolled(i, carry):
        for k in range(unroll):  # traced `unroll` times: one loop iteration, `unroll` epochs
            carry = epoch(i * unroll + k, carry)
        return carry

    carry = lax.fori_loop(0, epochs // unroll, unrolled, (*state, jnp.zeros((chunk, 2), jnp.float64)))
    return lax.fori_loop(epochs - epochs % unroll, epochs, epoch, carry)


class KerasJaxTunedTrainer(KerasJaxTrainer):
    """Every epoch of a fit() in one jax.jit call: Keras' model, loss and optimizer, stateless.

    model.fit returns to Python every epoch (callbacks, history, one jitted step per call);
    here lax.fori_loop carries the model's and the optimizer's variables through the epochs
    inside XLA, and they are written back into the Keras variables when fit() returns.
    """

    mode = "tuned"
    # Epochs per compiled call at most, and the size of its history buffer: the shapes are static,
    # so one compilation serves every epoch count (as keras_tf's CHUNK and jax_xla's CHUNK do).
    CHUNK = 4096
    UNROLL = 4  # epochs per iteration of XLA's while loop: docs/TUNING.md

    def _build(self, config: TrainConfig) -> None:
        super()._build(config)
        self.model.optimizer.build(self.model.trainable_variables)
        self.loop = jax.jit(functools.partial(train_chunk, self.model, mse_loss(config), self.CHUNK, self.UNROLL))
        self.forward = jax.jit(functools.partial(self.model.stateless_call, training=False))
        self.data = jax.device_put((self.X, self.y))  # under setup()'s keras.device: on the trainer's device

    def _variables(self) -> tuple[list, list, list]:
        model = self.model
        return model.trainable_variables, model.non_trainable_variables, model.optimizer.variables

    def fit(self, epochs: int) -> History:
        variables = self._variables()
        state = tuple([v.value for v in group] for group in variables)
        histories = []
        with keras.device(self.keras_device):
            for start in range(0, epochs, self.CHUNK):
                n = min(self.CHUNK, epochs - start)
                *state, history = self.loop(n, state, *self.data)
                state = tuple(state)  # the same pytree as the first call's: no retrace
                histories.append((history, n))
        for group, values in zip(variables, state):
            for variable, value in zip(group, values):
                variable.assign(value)
        return History.of_rows(np.concatenate([np.empty((0, 2)), *(np.asarray(h)[:n] for h, n in histories)]))

    def predict(self) -> np.ndarray:
        trainable, non_trainable, _ = self._variables()
        with keras.device(self.keras_device):
            output, _ = self.forward([v.value for v in trainable], [v.value for v in non_trainable], self.data[0])
        return np.asarray(output, dtype=np.float64)
