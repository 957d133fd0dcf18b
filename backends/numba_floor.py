"""The compiled reference floor: the same network as plain loops, compiled by numba.

Not a framework anyone would pick for this job; it shows how far each one is
from what the machine can do when nothing but the arithmetic is left.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from .base import History, TrainConfig, initial_params, output_scale, xor_data
from .numpy_scratch import sigmoid


def framework_version() -> str:
    return f"numba {numba.__version__}"


def set_threads(n: int) -> None:
    numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))  # the loops below are serial anyway


def synchronize(device: str) -> None:
    pass  # the CPU only: nothing runs asynchronously


def device_name(device: str) -> str:
    return "cpu"


def unavailable_reason(device: str) -> str | None:
    return None if device == "cpu" else "the numba floor runs on the CPU only"


@numba.njit
def _sigmoid(x):
    return 1 / (1 + math.exp(-x))


@numba.njit
def train_loop(X, y, p, m, v, t, velocity, epochs, lr, momentum, scale, adam, beta1, beta2, eps):
    """Train `epochs` full-batch epochs in place; return their losses and largest |output - y|.

    p holds every parameter, flattened: w1[r, j] = p[r*h + j], b1[j] = p[2h + j],
    w2[j] = p[3h + j], b2 = p[4h]; m and v are Adam's moments, velocity SGD's momentum
    buffer, in the same layout.
    """
    n, h = X.shape[0], (p.shape[0] - 1) // 4
    losses = np.empty(epochs)
    max_errors = np.empty(epochs)
    hidden = np.empty((n, h), p.dtype)
    out = np.empty(n, p.dtype)
    grad = np.empty_like(p)
    for epoch in range(epochs):
        loss = 0.0
        worst = 0.0
        for i in range(n):
            z = p[4 * h]
            for j in range(h):
                hidden[i, j] = _sigmoid(X[i, 0] * p[j] + X[i, 1] * p[h + j] + p[2 * h + j])
                z += hidden[i, j] * p[3 * h + j]
            out[i] = _sigmoid(z)
            loss += (out[i] - y[i, 0]) ** 2
            worst = max(worst, abs(out[i] - y[i, 0]))
        losses[epoch] = loss / n
        max_errors[epoch] = math.nan if math.isnan(loss) else worst  # max() would skip a NaN
        grad[:] = 0
        for i in range(n):
            d_out = (out[i] - y[i, 0]) * scale * out[i] * (1 - out[i])
            grad[4 * h] += d_out
            for j in range(h):
                grad[3 * h + j] += hidden[i, j] * d_out
                d_hid = d_out * p[3 * h + j] * hidden[i, j] * (1 - hidden[i, j])
                grad[j] += X[i, 0] * d_hid
                grad[h + j] += X[i, 1] * d_hid
                grad[2 * h + j] += d_hid
        if adam:  # Kingma & Ba, eps added to sqrt(v_hat), as in the scratch backend and torch
            t += 1
            for k in range(p.shape[0]):
                m[k] += (1 - beta1) * (grad[k] - m[k])
                v[k] += (1 - beta2) * (grad[k] * grad[k] - v[k])
                p[k] -= lr * (m[k] / (1 - beta1**t)) / (math.sqrt(v[k] / (1 - beta2**t)) + eps)
        elif momentum != 0:  # heavy ball, as torch.optim.SGD: velocity starts at 0
            for k in range(p.shape[0]):
                velocity[k] = momentum * velocity[k] + grad[k]
                p[k] -= lr * velocity[k]
        else:
            for k in range(p.shape[0]):
                p[k] -= lr * grad[k]
    return losses, max_errors


class NumbaTrainer:
    name = "numba"
    mode = "idiomatic"  # plain loops under @njit is how numba is meant to be used

    def __init__(self, device: str = "cpu"):
        self.device = device

    def setup(self, config: TrainConfig) -> None:
        if config.init == "framework":
            config = config.replace(init="uniform01")
        self.config = config
        self.X, self.y = xor_data(config)
        w1, b1, w2, b2 = initial_params(config).astuple()
        self.p = np.concatenate([w1[0], w1[1], b1, w2[:, 0], b2])
        self.m, self.v, self.velocity = np.zeros_like(self.p), np.zeros_like(self.p), np.zeros_like(self.p)
        self.t = 0
        self.scale = output_scale(config.objective, len(self.X))

    def fit(self, epochs: int) -> History:
        c = self.config
        losses, max_errors = train_loop(
            self.X, self.y, self.p, self.m, self.v, self.t, self.velocity, epochs, c.lr, float(c.momentum), self.scale,
            c.optimizer == "adam", c.beta1, c.beta2, c.eps,
        )  # fmt: skip
        self.t += epochs
        return History(losses, max_errors)

    def predict(self) -> np.ndarray:
        h = self.config.hidden
        p = self.p.astype(np.float64)
        w1, b1, w2, b2 = p[: 2 * h].reshape(2, h), p[2 * h : 3 * h], p[3 * h : 4 * h, None], p[4 * h :]
        return sigmoid(sigmoid(self.X @ w1 + b1) @ w2 + b2)
