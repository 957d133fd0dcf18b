"""PyTorch, used the usual way: an nn.Module, torch.optim, zero_grad/backward/step."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .base import TrainConfig, initial_params, xor_data


def framework_version() -> str:
    return torch.__version__


def unavailable_reason(device: str) -> str | None:
    if device == "gpu" and not torch.cuda.is_available():
        return f"no CUDA device visible to torch {torch.__version__}"
    return None


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

    def __init__(self, device: str = "cpu", mode: str = "idiomatic"):
        self.device, self.mode = device, mode
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
        if config.objective == "mse":
            self.criterion, self.to_mse = nn.MSELoss(), 1.0
        else:  # 1/2 sum of squares; the history still reports the MSE
            self.criterion = lambda output, y: 0.5 * nn.functional.mse_loss(output, y, reduction="sum")
            self.to_mse = 2 / len(X)
        params = self.model.parameters()
        if config.optimizer == "sgd":
            self.optimizer = torch.optim.SGD(params, lr=config.lr)
        else:
            self.optimizer = torch.optim.Adam(params, lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps)

    def fit(self, epochs: int) -> np.ndarray:
        losses = torch.empty(epochs, dtype=torch.float64, device=self.torch_device)
        for epoch in range(epochs):
            self.optimizer.zero_grad()
            output = self.model(self.X)
            loss = self.criterion(output, self.y)
            loss.backward()
            self.optimizer.step()
            losses[epoch] = loss.detach()  # no .item(): it would wait for the GPU every epoch
        return losses.cpu().numpy() * self.to_mse  # .cpu() waits for the GPU, so timing is real

    def predict(self) -> np.ndarray:
        with torch.no_grad():
            return self.model(self.X).double().cpu().numpy()
