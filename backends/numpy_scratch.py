"""The article's network from scratch: forward and backward by hand, no autodiff.

Written against an array namespace `xp`: NumPy on the CPU, CuPy on the GPU,
which offers the same functions (with `out=`) on device arrays. Every array the
trainers hold lives in `xp`; only `to_host` brings results back to NumPy.
"""

from __future__ import annotations

import functools

import numpy as np

from .base import History, TrainConfig, initial_params, output_scale, xor_data


def sigmoid(x, xp=np):
    return 1 / (1 + xp.exp(-x))


def sigmoid_derivative(s):
    return s * (1 - s)  # in terms of the sigmoid's output, as in the article


def array_namespace(device: str):
    """NumPy on the CPU, CuPy on the GPU."""
    if device == "gpu":
        import cupy

        return cupy
    return np


def expit_for(device: str):
    """The sigmoid as one ufunc that can write in place: scipy's expit, or CuPy's copy of it."""
    if device == "gpu":
        from cupyx.scipy.special import expit
    else:
        from scipy.special import expit
    return expit


def to_host(a) -> np.ndarray:
    return a.get() if hasattr(a, "get") else a  # cupy's .get() also waits for the device


def synchronize(device: str) -> None:
    """Wait for the device's queued work (CuPy runs asynchronously); the CPU has none."""
    if device == "gpu":
        import cupy

        cupy.cuda.Device().synchronize()


def framework_version() -> str:
    return np.__version__


def set_threads(n: int) -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(n)  # the BLAS under NumPy's matmul


def device_name(device: str) -> str:
    if device == "gpu":
        import cupy

        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        return name.decode() if isinstance(name, bytes) else name
    return "cpu"


def unavailable_reason(device: str) -> str | None:
    if device == "cpu":
        return None
    try:
        import cupy
    except ImportError:
        return "the scratch backend needs CuPy on the GPU: pip install cupy-cuda12x"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as error:  # CUDA driver missing or broken
        return f"no CUDA device visible to cupy ({type(error).__name__})"
    return None if count else "no CUDA device visible to cupy"


class NumpyTrainer:
    name = "numpy"
    mode = "idiomatic"

    def __init__(self, device: str = "cpu"):
        self.device = device

    def setup(self, config: TrainConfig) -> None:
        if config.init == "framework":  # NumPy has no initialiser of its own: the article's is it
            config = config.replace(init="uniform01")
        self.config = config
        self.xp = xp = array_namespace(self.device)
        self.X, self.y = (xp.asarray(a) for a in xor_data(config))
        self.params = [xp.asarray(p).copy() for p in initial_params(config).astuple()]  # w1, b1, w2, b2
        self.scale = self.X.dtype.type(output_scale(config.objective, len(self.X)))
        self.t = 0
        self.m = [xp.zeros_like(p) for p in self.params]
        self.v = [xp.zeros_like(p) for p in self.params]
        self.velocity = [xp.zeros_like(p) for p in self.params]  # SGD's momentum buffers

    def forward(self, X):
        w1, b1, w2, b2 = self.params
        self.hidden = sigmoid(X @ w1 + b1, self.xp)
        self.output = sigmoid(self.hidden @ w2 + b2, self.xp)
        return self.output

    def backward(self, X, y):
        """Gradients of the objective: the article's backward pass with the error's sign flipped
        (it adds error * derivative to the weights; we subtract the gradient)."""
        w1, b1, w2, b2 = self.params
        output_error = self.output - y
        if self.scale != 1:  # mse's 2/N, half_mse's 1/N; the article's own update has no such factor
            output_error = output_error * self.scale
        output_delta = output_error * sigmoid_derivative(self.output)
        hidden_error = output_delta @ w2.T
        hidden_delta = hidden_error * sigmoid_derivative(self.hidden)
        return [X.T @ hidden_delta, hidden_delta.sum(0), self.hidden.T @ output_delta, output_delta.sum(0)]

    def update(self, grads) -> None:
        c = self.config
        lr = self.X.dtype.type(c.lr)
        if c.optimizer == "sgd":
            momentum = self.X.dtype.type(c.momentum)
            for p, g, velocity in zip(self.params, grads, self.velocity):
                if momentum:  # heavy ball, as torch.optim.SGD: velocity = momentum * velocity + g, from 0
                    velocity *= momentum
                    velocity += g
                    g = velocity
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
            p -= lr * m_hat / (self.xp.sqrt(v_hat) + c.eps)

    def fit(self, epochs: int) -> History:
        xp = self.xp
        losses, max_errors = xp.empty(epochs), xp.empty(epochs)  # on the device: no host sync per epoch
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported, not raised
            for epoch in range(epochs):
                error = self.forward(self.X) - self.y
                losses[epoch] = xp.vdot(error, error)  # sum of squares: one call, / n below
                max_errors[epoch] = xp.abs(error).max()  # NaN if any output is
                self.update(self.backward(self.X, self.y))
        return History(to_host(losses) / len(self.X), to_host(max_errors))

    def predict(self) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            return to_host(self.forward(self.X)).astype(np.float64)


class NumpyTunedTrainer(NumpyTrainer):
    """The same maths with NumPy used for speed: every call counts at 4 samples.

    Biases ride inside the weight matrices (a column of ones on the inputs and
    on the hidden layer), the sigmoid is one ufunc (scipy's expit), the
    learning rate is folded into the output delta, and every buffer is
    allocated once and written in place. Momentum keeps its velocity in the
    packed layout with the learning rate folded in, lr * buf: the same steps
    for a constant lr. Adam falls back to the shared update.
    """

    mode = "tuned"
    PRODUCTS = "matmul"  # or "einsum" ("ij,jk->ik"): slower here, docs/TUNING.md

    def setup(self, config: TrainConfig) -> None:
        super().setup(config)
        xp, n, h, dtype = self.xp, len(self.X), config.hidden, self.X.dtype
        w1, b1, w2, b2 = self.params
        self.X1 = xp.hstack([self.X, xp.ones((n, 1), dtype)])  # (n, 3)
        self.W1 = xp.vstack([w1, b1])  # (3, h)
        self.W2 = xp.vstack([w2, b2])  # (h + 1, 1)
        self.H1 = xp.ones((n, h + 1), dtype)  # hidden outputs, last column stays 1
        self.out = xp.empty((n, 1), dtype)
        self.err, self.d_out, self.tmp_out = (xp.empty((n, 1), dtype) for _ in range(3))
        self.d_hid, self.tmp_hid = xp.empty((n, h), dtype), xp.empty((n, h), dtype)
        self.g1, self.g2 = xp.empty_like(self.W1), xp.empty_like(self.W2)
        self.V1, self.V2 = xp.zeros_like(self.W1), xp.zeros_like(self.W2)  # lr * momentum buffers

    def fit(self, epochs: int) -> History:
        if self.config.optimizer != "sgd":
            return self._fit_adam(epochs)
        xp, expit = self.xp, expit_for(self.device)
        matmul = xp.matmul if self.PRODUCTS == "matmul" else functools.partial(xp.einsum, "ij,jk->ik")
        X1, W1, W2, H1, y = self.X1, self.W1, self.W2, self.H1, self.y
        hidden, out, err, d_out, t_out = H1[:, :-1], self.out, self.err, self.d_out, self.tmp_out
        d_hid, t_hid, g1, g2, V1, V2 = self.d_hid, self.tmp_hid, self.g1, self.g2, self.V1, self.V2
        w2_t = W2[:-1].T  # a view: sees every in-place update of W2
        step = self.X.dtype.type(self.config.lr * self.scale)
        momentum = self.X.dtype.type(self.config.momentum)
        step1, step2 = (V1, V2) if momentum else (g1, g2)  # what each epoch subtracts from the weights
        n = len(X1)
        losses, max_errors = xp.empty(epochs), xp.empty(epochs)
        with np.errstate(over="ignore", invalid="ignore"):
            for epoch in range(epochs):
                matmul(X1, W1, out=hidden)
                expit(hidden, out=hidden)
                matmul(H1, W2, out=out)
                expit(out, out=out)
                xp.subtract(out, y, out=err)
                losses[epoch] = xp.vdot(err, err) / n
                max_errors[epoch] = xp.abs(err, out=t_out).max()
                xp.multiply(out, out, out=t_out)  # out * (1 - out) = out - out**2
                xp.subtract(out, t_out, out=t_out)
                xp.multiply(err, t_out, out=d_out)
                d_out *= step  # lr * d(loss)/d(pre-activation of the output)
                matmul(d_out, w2_t, out=d_hid)
                xp.multiply(hidden, hidden, out=t_hid)
                xp.subtract(hidden, t_hid, out=t_hid)
                d_hid *= t_hid
                matmul(H1.T, d_out, out=g2)
                matmul(X1.T, d_hid, out=g1)
                if momentum:  # V = momentum * V + lr * grad
                    V2 *= momentum
                    V2 += g2
                    V1 *= momentum
                    V1 += g1
                W2 -= step2
                W1 -= step1
        self._sync_params()
        return History(to_host(losses), to_host(max_errors))

    def _fit_adam(self, epochs: int) -> History:
        history = super().fit(epochs)
        w1, b1, w2, b2 = self.params
        self.W1[:] = self.xp.vstack([w1, b1])
        self.W2[:] = self.xp.vstack([w2, b2])
        return history

    def _sync_params(self) -> None:
        """Copy the packed weights back to the article's layout, so predict() reads them."""
        w1, b1, w2, b2 = self.params
        w1[:], b1[:] = self.W1[:-1], self.W1[-1]
        w2[:], b2[:] = self.W2[:-1], self.W2[-1]
