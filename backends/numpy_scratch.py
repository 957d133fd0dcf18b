"""The article's network from scratch: forward and backward by hand, no autodiff."""

from __future__ import annotations

import numpy as np

from .base import TrainConfig, initial_params, xor_data


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_derivative(s):
    return s * (1 - s)  # in terms of the sigmoid's output, as in the article


def framework_version() -> str:
    return np.__version__


def set_threads(n: int) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)  # the BLAS under NumPy's matmul


def device_name(device: str) -> str:
    return "cpu"


def unavailable_reason(device: str) -> str | None:
    return None if device == "cpu" else "the scratch NumPy backend runs on the CPU only"


class NumpyTrainer:
    name = "numpy"

    def __init__(self, device: str = "cpu", mode: str = "idiomatic"):
        self.device, self.mode = device, mode

    def setup(self, config: TrainConfig) -> None:
        if config.init == "framework":  # NumPy has no initialiser of its own: the article's is it
            config = config.replace(init="uniform01")
        self.config = config
        self.X, self.y = xor_data(config)
        self.params = [p.copy() for p in initial_params(config).astuple()]  # w1, b1, w2, b2
        # d(loss)/d(output) = -(y - output) * scale
        self.scale = self.X.dtype.type(2 / len(self.X) if config.objective == "mse" else 1)
        self.t = 0
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]

    def forward(self, X):
        w1, b1, w2, b2 = self.params
        self.hidden = sigmoid(X @ w1 + b1)
        self.output = sigmoid(self.hidden @ w2 + b2)
        return self.output

    def backward(self, X, y):
        """Gradients of the objective, as the article derives them (with its sign flipped)."""
        w1, b1, w2, b2 = self.params
        output_error = (y - self.output) * self.scale
        output_delta = output_error * sigmoid_derivative(self.output)
        hidden_error = output_delta @ w2.T
        hidden_delta = hidden_error * sigmoid_derivative(self.hidden)
        return [-(X.T @ hidden_delta), -hidden_delta.sum(0), -(self.hidden.T @ output_delta), -output_delta.sum(0)]

    def update(self, grads) -> None:
        c = self.config
        lr = self.X.dtype.type(c.lr)
        if c.optimizer == "sgd":
            for p, g in zip(self.params, grads):
                p -= lr * g
            return
        # Adam as in Kingma & Ba, Algorithm 1, with eps added to sqrt(v_hat) (torch's placement)
        self.t += 1
        b1, b2 = c.beta1, c.beta2
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m += (1 - b1) * (g - m)
            v += (1 - b2) * (g * g - v)
            m_hat = m / (1 - b1**self.t)
            v_hat = v / (1 - b2**self.t)
            p -= lr * m_hat / (np.sqrt(v_hat) + c.eps)

    def fit(self, epochs: int) -> np.ndarray:
        losses = np.empty(epochs)
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported, not raised
            for epoch in range(epochs):
                output = self.forward(self.X)
                losses[epoch] = np.mean(np.square(self.y - output))
                self.update(self.backward(self.X, self.y))
        return losses

    def predict(self) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return self.forward(self.X).astype(np.float64)
