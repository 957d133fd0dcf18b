"""PyTorch, used the usual way: an nn.Module, torch.optim, zero_grad/backward/step."""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .base import History, TrainConfig, initial_params, on_the_mse, xor_data


def framework_version() -> str:
    return torch.__version__


def unavailable_reason(device: str) -> str | None:
    if device == "gpu" and not torch.cuda.is_available():
        return f"no CUDA device visible to torch {torch.__version__}"
    return None


def synchronize(device: str) -> None:
    if device == "gpu":
        torch.cuda.synchronize()


def set_threads(n: int) -> None:
    torch.set_num_threads(n)


def device_name(device: str) -> str:
    return torch.cuda.get_device_name(0) if device == "gpu" else "cpu"


class NeuralNet(nn.Module):  # the article's class, with the hidden size configurable
    def __init__(self, hidden: int = 4):
        super().__init__()
        self.fc1 = nn.Linear(2, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def forward(self, x):
        x = torch.sigmoid(self.fc1(x))
        return torch.sigmoid(self.fc2(x))


class TorchTrainer:
    name = "torch"
    mode = "idiomatic"

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.torch_device = torch.device("cuda" if device == "gpu" else "cpu")

    def setup(self, config: TrainConfig) -> None:
        self.config = config
        dtype = getattr(torch, config.dtype)
        torch.manual_seed(config.seed)  # only matters for init="framework"
        model = NeuralNet(config.hidden).to(dtype)
        if config.init != "framework":
            w1, b1, w2, b2 = initial_params(config).astuple()
            with torch.no_grad():  # torch stores Linear weights as (out, in)
                for param, value in zip(model.parameters(), (w1.T, b1, w2.T, b2)):
                    param.copy_(torch.from_numpy(np.ascontiguousarray(value)))
        self.model = model.to(self.torch_device)
        X, y = xor_data(config)
        self.X = torch.from_numpy(X).to(self.torch_device)
        self.y = torch.from_numpy(y).to(self.torch_device)
        self.criterion = nn.MSELoss()  # every objective: the optimizer is rescaled instead (base.on_the_mse)
        self.forward_pass = None  # the last epoch's (loss, worst error), set before its update
        params, c = self.model.parameters(), on_the_mse(config)
        if c.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=c.lr, momentum=c.momentum)
        else:
            self.optimizer = torch.optim.Adam(params, lr=c.lr, betas=(c.beta1, c.beta2), eps=c.eps)

    def train_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        """One epoch; its loss and largest |output - y|, both still on the device."""
        self.forward_pass = None
        self.optimizer.zero_grad()
        output = self.model(self.X)
        loss = self.criterion(output, self.y)
        loss.backward()
        # no .item(): it would wait for the GPU every epoch. Kept before the update, which may overflow.
        self.forward_pass = loss.detach(), (output.detach() - self.y).abs().max()
        self.optimizer.step()
        return self.forward_pass

    def fit(self, epochs: int) -> History:
        losses = torch.empty(epochs, dtype=torch.float64, device=self.torch_device)
        max_errors = torch.empty_like(losses)
        for epoch in range(epochs):
            try:
                losses[epoch], max_errors[epoch] = self.train_step()
            except RuntimeError as error:
                # torch refuses an lr whose bias-corrected step overflows the dtype ("value
                # cannot be converted ... without overflow"): the run has diverged, not crashed.
                if "overflow" not in str(error):
                    raise
                losses[epoch:] = max_errors[epoch:] = float("nan")
                if self.forward_pass is not None:  # this epoch's loss came before the update
                    losses[epoch], max_errors[epoch] = self.forward_pass
                break
        return History(losses.cpu().numpy(), max_errors.cpu().numpy())  # .cpu() waits for the GPU, so timing is real

    def predict(self) -> np.ndarray:
        with torch.no_grad():
            return self.model(self.X).double().cpu().numpy()


class TorchCompiledTrainer(TorchTrainer):
    """The eager loop with torch's documented one-line speed switch: torch.compile(model).

    Forward and backward of the model run as compiled graphs (TorchDynamo + AOTAutograd +
    Inductor); zero_grad, the loss and optimizer.step stay eager, as torch.compile(model)
    leaves them. A new model of the same class and shapes reuses the compiled graphs
    (measured: one graph for 12 seeds), so seeds don't recompile.
    """

    mode = "compiled"

    def setup(self, config: TrainConfig) -> None:
        super().setup(config)
        self.model = torch.compile(self.model)  # shares the parameters the optimizer holds


def _loss(params, X, y):
    """The MSE, and (as torch.func's aux output) the largest |output - y|."""
    w1, b1, w2, b2 = params  # the same ops nn.Linear and torch.sigmoid run in NeuralNet
    output = torch.sigmoid(F.linear(torch.sigmoid(F.linear(X, w1, b1)), w2, b2))
    return F.mse_loss(output, y), (output - y).abs().max()


def autodiff(params, X, y):
    """Gradients of the MSE by torch.func, with (MSE, worst |error|) as its value."""
    return torch.func.grad_and_value(_loss, has_aux=True)(params, X, y)


def hyperparameters(config: TrainConfig, dtype: torch.dtype, device: torch.device) -> dict[str, torch.Tensor]:
    """The optimizer's constants for training on the MSE, as 0-d tensors: inputs of the compiled graph,
    not constants traced into it, so one compile serves every lr, momentum and beta. The betas are float64
    for the bias corrections (NumPy computes 1 - beta**t from Python floats); the rest in the model's dtype,
    as NumPy rounds a Python float meeting a float32 array."""
    c = on_the_mse(config)
    values = dict(lr=c.lr, momentum=c.momentum, eps=c.eps, one_minus_beta1=1 - c.beta1, one_minus_beta2=1 - c.beta2)
    tensors = {k: torch.tensor(v, dtype=dtype, device=device) for k, v in values.items()}
    return tensors | {
        k: torch.tensor(v, dtype=torch.float64, device=device) for k, v in (("beta1", c.beta1), ("beta2", c.beta2))
    }


def sgd(params, grads, state, h):
    """torch.optim.SGD's heavy ball, buf = momentum * buf + grad; p -= lr * buf, from zero buffers. With
    momentum 0 the buffer is the gradient, so plain SGD is the same graph."""
    buffers = [h["momentum"] * buf + g for buf, g in zip(state["momentum_buffers"], grads)]
    return [p - h["lr"] * buf for p, buf in zip(params, buffers)], {**state, "momentum_buffers": buffers}


def adam(params, grads, state, h):
    """Kingma & Ba, Algorithm 1, eps added to sqrt(v_hat) (torch's placement), as the scratch backend writes it."""
    step = state["step"][0] + 1
    correction1 = (1 - h["beta1"] ** step).to(params[0].dtype)
    correction2 = (1 - h["beta2"] ** step).to(params[0].dtype)
    m = [m + h["one_minus_beta1"] * (g - m) for m, g in zip(state["exp_avgs"], grads)]
    v = [v + h["one_minus_beta2"] * (g * g - v) for v, g in zip(state["exp_avg_sqs"], grads)]
    params = [
        p - h["lr"] * (m_ / correction1) / (torch.sqrt(v_ / correction2) + h["eps"]) for p, m_, v_ in zip(params, m, v)
    ]
    return params, {**state, "step": [step], "exp_avgs": m, "exp_avg_sqs": v}


def _train_window(params, state, h, X, y, epochs: int, update, gradients=autodiff):
    """`epochs` steps, unrolled by tracing into one graph; each epoch's [loss, worst |error|] as a row.

    The steps are functional (new tensors, as jax_xla's); the weights and optimizer state are written
    back in place once, at the end, so the caller's tensors (the model's own) hold the result."""
    rows, new_params, new_state = [], list(params), state
    for _ in range(epochs):
        grads, (loss, max_error) = gradients(new_params, X, y)
        rows.append(torch.stack([loss, max_error]))
        new_params, new_state = update(new_params, grads, new_state, h)
    for old, new in zip(params, new_params):
        old.copy_(new)
    for key, tensors in state.items():  # each a list of tensors
        for old, new in zip(tensors, new_state[key]):
            old.copy_(new)
    return torch.stack(rows).to(torch.float64)


@functools.cache
def compiled_window(epochs: int, optimizer: str, gradients=autodiff, options: tuple = ()):
    """One torch.compile'd window of `epochs` steps per optimizer, shared by every trainer, so seeds and
    hyperparameters don't recompile. `options` are Inductor's (e.g. (("cpp_wrapper", True),)), as pairs so
    that the cache can hold them.
    """
    update = sgd if optimizer == "sgd" else adam
    window = functools.partial(_train_window, epochs=epochs, update=update, gradients=gradients)
    return torch.compile(window, fullgraph=True, options=dict(options) or None)


class TorchTunedTrainer(TorchTrainer):
    """WINDOW epochs per call of one torch.compile'd function: forward, backward and update, unrolled.

    Eager torch dispatches ~30 small ops and builds an autograd graph every epoch, and a compiled
    step still pays a Python-to-C++ call per epoch; here torch.func computes the gradients,
    torch.optim's SGD/Adam maths update the weights (as tensor ops whose lr, momentum and betas are
    inputs of the graph, so one compile per optimizer serves every config), and Inductor fuses
    WINDOW such epochs into one call, whose wrapper (the code that calls the kernels) it writes in
    C++ rather than Python (Inductor's documented cpp_wrapper option). docs/TUNING.md has the
    window sizes, hand-written gradients and wrappers tried. Each epoch's loss and worst error stay
    on the device until fit() returns; epochs beyond whole windows run through a one-epoch step.

    On the GPU each compiled function is recorded once as a CUDA graph and replayed, so a
    window is one graph launch. (That path is written but has not run: no GPU was available.)
    """

    mode = "tuned"
    WINDOW = 16  # epochs per compiled call: 32 is faster per epoch but compiles twice as long (docs/TUNING.md)
    GRADIENTS = staticmethod(autodiff)
    COMPILE_OPTIONS: tuple = (("cpp_wrapper", True),)  # on the CPU: the graph's wrapper in C++, not Python

    def setup(self, config: TrainConfig) -> None:
        super().setup(config)
        self.params = tuple(p.detach() for p in self.model.parameters())  # same storage as the model
        zeros = [[torch.zeros_like(p) for p in self.params] for _ in range(3)]
        # Every buffer is allocated here, on the model's device, so that a CUDA graph owns them: SGD's
        # momentum buffers (0 * momentum + grad makes torch.optim.SGD's first step), Adam's moments and its
        # step count (a tensor, so a CUDA graph replays its increments).
        self.state = dict(momentum_buffers=zeros[0], exp_avgs=zeros[1], exp_avg_sqs=zeros[2])
        # (Shape (1,), not (): torch 2.13's compiled graph drops the write-back into a 0-d input, measured.)
        self.state["step"] = [torch.zeros(1, dtype=torch.float64, device=self.torch_device)]
        self.hyper = hyperparameters(config, self.params[0].dtype, self.torch_device)
        options = self.COMPILE_OPTIONS if self.device == "cpu" else ()  # a CUDA graph replays no wrapper at all
        self.runs = {n: compiled_window(n, config.optimizer, self.GRADIENTS, options) for n in {self.WINDOW, 1}}
        if self.device == "gpu":
            self.runs = {n: self._capture(run) for n, run in self.runs.items()}

    def _capture(self, run):
        """Record `run` as a CUDA graph, PyTorch's "whole-network capture" recipe; a function that
        replays it and returns a copy of its output rows (the next replay overwrites them).

        Warm-up calls on a side stream compile `run` and settle the allocator; weights and
        optimizer state are restored afterwards, so training still starts from the initial weights.
        """
        state = [*self.params, *(t for tensors in self.state.values() for t in tensors)]
        saved = [t.clone() for t in state]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                run(*self._step_args())
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            rows = run(*self._step_args())
        for tensor, value in zip(state, saved):
            tensor.copy_(value)

        def replay(*_):
            graph.replay()
            return rows.clone()

        return replay

    def _step_args(self) -> tuple:
        return self.params, self.state, self.hyper, self.X, self.y

    def fit(self, epochs: int) -> History:
        windows, rest = divmod(epochs, self.WINDOW)
        calls = [self.WINDOW] * windows + [1] * rest
        rows = [torch.empty((0, 2), dtype=torch.float64, device=self.torch_device)]
        rows += [self.runs[n](*self._step_args()) for n in calls]
        return History.of_rows(torch.cat(rows).cpu().numpy())  # .cpu() waits for the GPU, so timing is real
