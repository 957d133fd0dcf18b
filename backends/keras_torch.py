"""Keras 3 on PyTorch: the same Sequential model, compile and model.fit as keras_tf.py (keras_common.py).

Keras reads KERAS_BACKEND at its first import, so this module sets it before importing Keras;
a process that already imported Keras on another backend cannot run this one, and
unavailable_reason says so. Threads and the device are torch_nn.py's.

compiled: compile(jit_compile=True), which on torch wraps Keras' train step in torch.compile.
tuned: WINDOW epochs per torch.compile'd call of Keras' stateless model and optimizer, with
torch.func for the gradients (KerasTorchTunedTrainer).
"""

from __future__ import annotations

import os
import sys

if "keras" not in sys.modules:  # Keras reads it at its first import only; later, unavailable_reason says so
    os.environ["KERAS_BACKEND"] = "torch"

import functools  # noqa: E402

import keras  # noqa: E402
import torch  # noqa: E402

from . import keras_common, torch_nn  # noqa: E402
from .base import History, TrainConfig  # noqa: E402
from .keras_common import mse_loss  # noqa: E402

set_threads = torch_nn.set_threads
synchronize = torch_nn.synchronize
device_name = torch_nn.device_name


def framework_version() -> str:
    return f"keras {keras.__version__} / torch {torch.__version__}"


def unavailable_reason(device: str) -> str | None:
    return keras_common.wrong_backend("torch") or torch_nn.unavailable_reason(device)


# Keras' torch backend names its devices as torch does. (Not "cpu:0": Keras creates each weight as
# Parameter(...).to(device), and torch copies a "cpu" tensor to "cpu:0", which leaves a non-leaf
# tensor that backward() gives no gradient.)
DEVICE_NAMES = {"cpu": "cpu", "gpu": "cuda"}


class KerasTorchTrainer(keras_common.KerasTrainer):
    name = "keras-torch"
    DEVICE_NAMES = DEVICE_NAMES


class KerasTorchCompiledTrainer(keras_common.KerasCompiledTrainer):
    name = "keras-torch"
    DEVICE_NAMES = DEVICE_NAMES


def train_window(model: keras.Model, loss_fn, epochs: int, state, X, y):
    """`epochs` epochs unrolled into one graph: torch.func.grad_and_value of Keras' model.stateless_call
    and loss (torch's jax.grad), then Keras' optimizer.stateless_apply, as Keras' JAX guide writes a
    training loop ("Writing a training loop from scratch in JAX"), with torch's autodiff in jax's place.
    Returns the new state and each epoch's [loss, worst |error|]."""
    trainable, non_trainable, optimizer_variables = state

    def objective(trainable):
        output, _ = model.stateless_call(trainable, non_trainable, X, training=True)
        return loss_fn(y, output), output

    rows = []
    for _ in range(epochs):
        grads, (loss, output) = torch.func.grad_and_value(objective, has_aux=True)(trainable)
        trainable, optimizer_variables = model.optimizer.stateless_apply(optimizer_variables, grads, trainable)
        # The worst error in torch: Keras' ops.max reads a tensor attribute TorchDynamo cannot trace.
        # (torch's max propagates NaN, as largest_error makes XLA's do.)
        worst = (output - y).abs().max()
        rows.append(torch.stack([loss, worst]).to(torch.float64))
    return (trainable, non_trainable, optimizer_variables), torch.stack(rows)


_windows: dict[tuple, object] = {}


def compiled_window(key: TrainConfig, epochs: int, model: keras.Model, loss_fn, options: tuple = ()):
    """One torch.compile'd window per shape (same_shape's key) and length, shared by every trainer:
    the model and optimizer it was built with lend only their structure, since stateless_call and
    stateless_apply take every value as an argument. (Per trainer, each new model would trace
    Keras' Python again: tens of seconds.) `options` are Inductor's, as torch_nn.compiled_window's."""
    if (key, epochs, options) not in _windows:
        window = functools.partial(train_window, model, loss_fn, epochs)
        _windows[key, epochs, options] = torch.compile(window, fullgraph=True, options=dict(options) or None)
    return _windows[key, epochs, options]


class KerasTorchTunedTrainer(KerasTorchTrainer):
    """WINDOW epochs per compiled call: Keras' model, loss and optimizer, stateless, under torch.compile.

    model.fit returns to Python every epoch and runs Keras' train step eagerly (or, compiled, as
    one torch.compile'd step per epoch); here WINDOW epochs of forward, backward and update are one
    compiled graph (its wrapper in C++ on the CPU: Inductor's cpp_wrapper), the weights and optimizer
    state stay torch tensors between calls, and they are written back into the Keras variables when
    fit() returns. Epochs beyond a whole number of windows run one per call (a second compiled
    graph). No CUDA graph: on a GPU this runs as compiled, untested.
    """

    mode = "tuned"
    WINDOW = 16  # epochs per compiled call: docs/TUNING.md
    COMPILE_OPTIONS: tuple = (("cpp_wrapper", True),)  # on the CPU, as torch_nn's tuned loop

    def _build(self, config: TrainConfig) -> None:
        super()._build(config)
        self.model.optimizer.build(self.model.trainable_variables)
        key, loss_fn = self.built_for or config, mse_loss(config)
        options = self.COMPILE_OPTIONS if self.device == "cpu" else ()  # untried on a GPU: none
        self.window = compiled_window(key, self.WINDOW, self.model, loss_fn, options)
        self.step = compiled_window(key, 1, self.model, loss_fn, options)
        device = torch.device(self.DEVICE_NAMES[self.device])
        self.data = (torch.from_numpy(self.X).to(device), torch.from_numpy(self.y).to(device))

    def _variables(self) -> tuple[list, list, list]:
        model = self.model
        return model.trainable_variables, model.non_trainable_variables, model.optimizer.variables

    def fit(self, epochs: int) -> History:
        variables = self._variables()
        state = tuple([v.value.detach() for v in group] for group in variables)
        windows, rest = divmod(epochs, self.WINDOW)
        histories = [torch.empty((0, 2), dtype=torch.float64)]
        # no_grad: torch.func computes the gradients itself, and nothing outside needs a graph.
        with keras.device(self.keras_device), torch.no_grad():
            for run, calls in ((self.window, windows), (self.step, rest)):
                for _ in range(calls):
                    state, history = run(state, *self.data)
                    histories.append(history.cpu())  # .cpu() waits for the GPU
            for group, values in zip(variables, state):
                for variable, value in zip(group, values):
                    variable.assign(value)
        return History.of_rows(torch.cat(histories).numpy())
