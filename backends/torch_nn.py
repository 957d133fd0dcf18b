"""PyTorch, used the usual way: an nn.Module, torch.optim, zero_grad/backward/step."""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.optim.adam import adam
from torch.optim.sgd import sgd

from .base import TrainConfig, initial_params, xor_data

# torch.compile keeps one graph per code object and guard set: here per window length and per
# config (optimizer, lr, objective, dtype, shapes). Past recompile_limit (8) a fullgraph=True
# compile raises, which a process that trains many configs (the test suite, the sweep) reaches;
# the error itself suggests raising the limit. (CI's whole test session runs dozens of configs in one process.)
torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 1024)
torch._dynamo.config.accumulated_recompile_limit = max(torch._dynamo.config.accumulated_recompile_limit, 4096)


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
        self.max_errors = np.empty(0)

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
        if config.objective == "mse":
            self.criterion, self.to_mse = nn.MSELoss(), 1.0
        elif config.objective == "half_mse":  # 1/2 mean of squares; the history still reports the MSE
            self.criterion, self.to_mse = lambda output, y: 0.5 * nn.functional.mse_loss(output, y), 2.0
        else:  # 1/2 sum of squares
            self.criterion = lambda output, y: 0.5 * nn.functional.mse_loss(output, y, reduction="sum")
            self.to_mse = 2 / len(X)
        self.max_errors = np.empty(0)
        self.forward_pass = None  # the last epoch's (loss, worst error), set before its update
        params = self.model.parameters()
        if config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum)
        else:
            self.optimizer = torch.optim.Adam(params, lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps)

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

    def fit(self, epochs: int) -> np.ndarray:
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
        self.max_errors = max_errors.cpu().numpy()
        return losses.cpu().numpy() * self.to_mse  # .cpu() waits for the GPU, so timing is real

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


def _loss(params, X, y, objective: str):
    """The objective, and (as torch.func's aux output) the largest |output - y|."""
    w1, b1, w2, b2 = params  # the same ops nn.Linear and torch.sigmoid run in NeuralNet
    output = torch.sigmoid(F.linear(torch.sigmoid(F.linear(X, w1, b1)), w2, b2))
    max_error = (output - y).abs().max()
    if objective == "mse":
        return F.mse_loss(output, y), max_error
    if objective == "half_mse":
        return 0.5 * F.mse_loss(output, y), max_error
    return 0.5 * F.mse_loss(output, y, reduction="sum"), max_error


def autodiff(params, X, y, objective: str):
    """Gradients of the objective by torch.func, with (objective, worst |error|) as its value."""
    return torch.func.grad_and_value(_loss, has_aux=True)(params, X, y, objective)


def _train_step(params, adam_state, momentum_buffers, X, y, c: TrainConfig, gradients=autodiff):
    grads, (loss, max_error) = gradients(params, X, y, c.objective)
    if c.optimizer == "sgd":  # torch.optim.SGD's own maths, on buffers that start at zero
        # foreach, as on a GPU: compiled (torch 2.13), the CPU default's per-tensor p.add_(grad, alpha=-lr)
        # after torch.func.grad stepped the weight matrices by +grad instead (measured; eager is right).
        sgd(
            list(params), list(grads), momentum_buffers, foreach=True, weight_decay=0.0, momentum=c.momentum,
            lr=c.lr, dampening=0.0, nesterov=False, maximize=False,
        )  # fmt: skip
    else:
        exp_avgs, exp_avg_sqs, steps = adam_state
        adam(
            list(params), list(grads), exp_avgs, exp_avg_sqs, [], steps, amsgrad=False, beta1=c.beta1,
            beta2=c.beta2, lr=c.lr, weight_decay=0.0, eps=c.eps, maximize=False, capturable=X.is_cuda,
        )  # fmt: skip
    return loss, max_error


def _train_window(params, adam_state, momentum_buffers, X, y, c: TrainConfig, epochs: int, gradients=autodiff):
    """`epochs` steps, unrolled by tracing into one graph; each epoch's [loss, worst |error|] as a row."""
    rows = [torch.stack(_train_step(params, adam_state, momentum_buffers, X, y, c, gradients)) for _ in range(epochs)]
    return torch.stack(rows).to(torch.float64)


@functools.cache
def compiled_window(epochs: int, gradients=autodiff, options: tuple = ()):
    """One torch.compile'd window of `epochs` steps, shared by every trainer, so seeds don't recompile.
    `options` are Inductor's (e.g. (("cpp_wrapper", True),)), as pairs so that the cache can hold them.
    """
    window = functools.partial(_train_window, epochs=epochs, gradients=gradients)
    return torch.compile(window, fullgraph=True, options=dict(options) or None)


class TorchTunedTrainer(TorchTrainer):
    """WINDOW epochs per call of one torch.compile'd function: forward, backward and update, unrolled.

    Eager torch dispatches ~30 small ops and builds an autograd graph every epoch, and a
    compiled step still pays a Python-to-C++ call per epoch; here torch.func computes the
    gradients, torch.optim's own SGD/Adam maths update the weights, and Inductor fuses WINDOW
    such epochs into one call, whose wrapper (the code that calls the kernels) it writes in C++
    rather than Python (Inductor's documented cpp_wrapper option). docs/TUNING.md has the window
    sizes, hand-written gradients and wrappers tried. Each epoch's loss and worst error stay on
    the device until fit() returns; epochs beyond whole windows run through a one-epoch step.

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
        zeros = [torch.zeros_like(p) for p in self.params]
        # Adam's step counts live on the model's device, so a CUDA graph replays their increments.
        steps = [torch.zeros((), device=self.torch_device) for _ in zeros]
        self.adam_state = (zeros, [torch.zeros_like(p) for p in self.params], steps)
        # SGD's momentum buffers, allocated here rather than on the first step (as torch.optim.SGD
        # does) so that a CUDA graph owns them; 0 * momentum + grad makes the same first step.
        self.momentum_buffers = [torch.zeros_like(p) for p in self.params]
        options = self.COMPILE_OPTIONS if self.device == "cpu" else ()  # a CUDA graph replays no wrapper at all
        self.runs = {n: compiled_window(n, self.GRADIENTS, options) for n in {self.WINDOW, 1}}
        if self.device == "gpu":
            self.runs = {n: self._capture(run) for n, run in self.runs.items()}

    def _capture(self, run):
        """Record `run` as a CUDA graph, PyTorch's "whole-network capture" recipe; a function that
        replays it and returns a copy of its output rows (the next replay overwrites them).

        Warm-up calls on a side stream compile `run` and settle the allocator; weights and
        optimizer state are restored afterwards, so training still starts from the initial weights.
        """
        state = [*self.params, *self.momentum_buffers, *(t for group in self.adam_state for t in group)]
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
        return self.params, self.adam_state, self.momentum_buffers, self.X, self.y, self.config

    def fit(self, epochs: int) -> np.ndarray:
        windows, rest = divmod(epochs, self.WINDOW)
        calls = [self.WINDOW] * windows + [1] * rest
        rows = [torch.empty((0, 2), dtype=torch.float64, device=self.torch_device)]
        rows += [self.runs[n](*self._step_args()) for n in calls]
        history = torch.cat(rows).cpu().numpy()  # .cpu() waits for the GPU, so timing is real
        self.max_errors = np.ascontiguousarray(history[:, 1])
        return np.ascontiguousarray(history[:, 0]) * self.to_mse
