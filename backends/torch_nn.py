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


def _train_step(params, adam_state, momentum_buffers, X, y, c: TrainConfig):
    grads, (loss, max_error) = torch.func.grad_and_value(_loss, has_aux=True)(params, X, y, c.objective)
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


@functools.cache
def compiled_step():
    """One torch.compile'd step, shared by every trainer, so seeds don't recompile.

    Dynamo guards on the hyperparameters (c.lr == 2.0 ...), so each distinct config compiles
    once per process. A sweep or the test suite runs dozens in one process: past dynamo's
    default limit of 8 recompiles, fullgraph=True turns the next config into a hard error.
    """
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 1024)
    torch._dynamo.config.accumulated_recompile_limit = max(torch._dynamo.config.accumulated_recompile_limit, 4096)
    return torch.compile(_train_step, fullgraph=True)


class TorchTunedTrainer(TorchTrainer):
    """torch.func computes the gradients and torch.compile fuses step and update.

    Eager torch dispatches ~30 small ops and builds an autograd graph every
    epoch; here one compiled call does forward, backward and torch.optim's own
    SGD/Adam maths, and the loss and worst error stay on the device until fit() returns. On
    the GPU that step is also recorded once as a CUDA graph, so an epoch is one
    graph launch instead of one launch per kernel.
    """

    mode = "tuned"

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
        self.step = compiled_step()
        self.graph = self._capture() if self.device == "gpu" else None

    def _capture(self) -> torch.cuda.CUDAGraph:
        """Record one step as a CUDA graph: PyTorch's "whole-network capture" recipe.

        Warm-up steps on a side stream compile the step and settle the allocator; the
        graph then replays on the same tensors. Weights and optimizer state are restored
        afterwards, so training still starts from the initial weights.
        """
        state = [*self.params, *self.momentum_buffers, *(t for group in self.adam_state for t in group)]
        saved = [t.clone() for t in state]
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self.step(*self._step_args())
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self.graph_outputs = self.step(*self._step_args())
        for tensor, value in zip(state, saved):
            tensor.copy_(value)
        return graph

    def _step_args(self) -> tuple:
        return self.params, self.adam_state, self.momentum_buffers, self.X, self.y, self.config

    def train_step(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.graph is not None:
            self.graph.replay()
            return self.graph_outputs  # the graph's own output tensors: fit() copies them before the next replay
        return self.step(*self._step_args())
