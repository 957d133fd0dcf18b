"""JAX, used the usual way: parameters as a tuple of arrays, jax.grad, a jax.jit step per epoch.

Named jax_xla.py, not jax.py, which would shadow the real package.

Threads. XLA sizes its CPU thread pool once, when jax starts its CPU backend (at the first
op or jax.devices() call, not at `import jax`), from the environment:

    PJRT_NPROC=<n>                                 the pool's size (default: the CPUs we may run on)
    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false"  for n == 1: matmuls use no pool at all

`thread_env(n)` returns exactly these; `set_threads(n)` writes them into os.environ, so
it pins the pool from inside the worker as long as it runs before jax's first op, as
bench/worker.start_backend already does (load, set_threads, then unavailable_reason). A
harness that prefers to set them in the worker's environment before it starts can use
`thread_env(n)`, or, to keep jax out of its own process (importing this module imports
jax, though it starts no backend), the two lines above. Once the backend has started,
`set_threads` raises RuntimeError if the count differs, like keras_tf's.

(The `intra_op_parallelism_threads=1` often quoted with that flag is not an XLA flag:
XLA ignores it without the `--`, and aborts on it with them.)
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import jaxlib
import numpy as np
from jax import lax

from .base import History, TrainConfig, initial_params, on_the_mse, xor_data

# float64 runs need x64. Turning it on leaves float32 runs as they were: every array here
# is created with an explicit dtype, and Python scalars (lr, betas) stay weakly typed.
jax.config.update("jax_enable_x64", True)


def framework_version() -> str:
    return f"jax {jax.__version__} / jaxlib {jaxlib.__version__}"


def unavailable_reason(device: str) -> str | None:
    if device == "gpu":
        try:
            jax.devices("gpu")
        except RuntimeError:  # no GPU plugin (pip install 'jax[cuda12]') or no device it can use
            return f"no GPU visible to jax {jax.__version__}"
    return None


def thread_env(n: int, xla_flags: str = "") -> dict[str, str]:
    """The environment variables that give XLA's CPU backend n threads; `xla_flags` are kept."""
    kept = [flag for flag in xla_flags.split() if not flag.startswith("--xla_cpu_multi_thread_eigen")]
    multi_thread = "false" if n == 1 else "true"
    return {"PJRT_NPROC": str(n), "XLA_FLAGS": " ".join([*kept, f"--xla_cpu_multi_thread_eigen={multi_thread}"])}


def xla_cpu_threads() -> int:
    """The size XLA gives its CPU thread pool: XLA's own rule (DefaultThreadPoolSize in xla/pjrt/utils.cc)."""
    for name in ("PJRT_NPROC", "NPROC"):
        try:
            return max(0, int(os.environ[name]))
        except (KeyError, ValueError):
            pass
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _backend_started() -> bool:
    from jax._src import xla_bridge  # no public way to ask; xla_bridge itself refuses late config this way

    return xla_bridge.backends_are_initialized()


def set_threads(n: int) -> None:
    """Size XLA's CPU thread pool; possible only before jax's first op (see the module docstring)."""
    if not _backend_started():
        os.environ.update(thread_env(n, os.environ.get("XLA_FLAGS", "")))
        return
    current = xla_cpu_threads()
    if current != n:
        raise RuntimeError(f"jax already runs with {current} threads; cannot pin {n}")


def jax_device(device: str) -> jax.Device:
    return jax.devices("gpu" if device == "gpu" else "cpu")[0]


def synchronize(device: str) -> None:
    """Wait for the GPU: one tiny op queued behind its work. Trainers block at the end of
    setup() and fit() returns host arrays, so on the CPU there is nothing left to wait for."""
    if device == "gpu":
        (jax.device_put(np.float32(0), jax_device(device)) + 1).block_until_ready()


def device_name(device: str) -> str:
    return jax_device(device).device_kind if device == "gpu" else "cpu"


# ------------------------------------------------------------------ the maths


@dataclass(frozen=True)
class Rule:
    """What a compiled step depends on besides shapes, dtypes and device: the optimizer's
    constants, for training on the MSE (base.on_the_mse). Compiled functions are cached per rule,
    so a trainer set up again for another seed reuses them (jit keeps one per shape)."""

    optimizer: str
    lr: float
    momentum: float
    beta1: float
    beta2: float
    eps: float

    @classmethod
    def of(cls, config: TrainConfig) -> Rule:
        c = on_the_mse(config)
        return cls(c.optimizer, c.lr, c.momentum, c.beta1, c.beta2, c.eps)


def forward(params, X):
    w1, b1, w2, b2 = params
    # "highest": float32 products in float32 on a GPU too, where XLA would use TF32 (see keras_tf).
    hidden = jax.nn.sigmoid(jnp.dot(X, w1, precision="highest") + b1)
    return jax.nn.sigmoid(jnp.dot(hidden, w2, precision="highest") + b2)


def forward_fused(params, X):
    """forward() with each product written as a broadcast multiply and a sum rather than jnp.dot.

    XLA:CPU runs every dot as a kernel of its own, around which the elementwise maths cannot fuse,
    and at 4 samples each kernel's fixed cost is most of an epoch; written this way the forward and
    backward passes fuse into a few loops (docs/TUNING.md: 0.075x the time of an SGD epoch here).
    This network's products are (n x 2)(2 x H) and (n x H)(H x 1), so the broadcast terms are at
    most twice the hidden activations. For small networks only: past ~1,024 hidden x samples XLA's
    fused sums fall far behind its dot kernels (JaxTunedTrainer.FUSED_MAX)."""
    w1, b1, w2, b2 = params
    hidden = jax.nn.sigmoid(jnp.sum(X[:, :, None] * w1, axis=1) + b1)
    return jax.nn.sigmoid(jnp.sum(hidden[:, :, None] * w2, axis=1) + b2)


def objective(params, X, y, forward=forward):
    """The MSE to differentiate, with (the MSE, the worst |error|) of the same pass as its aux value."""
    error = forward(params, X) - y
    mse = jnp.mean(error * error)
    return mse, (mse, jnp.max(jnp.abs(error)))


def initial_state(rule: Rule, params: tuple[np.ndarray, ...]):
    """The optimizer's state, zeroed: SGD's momentum buffers, or Adam's step count and moments."""
    zeros = tuple(np.zeros_like(p) for p in params)
    if rule.optimizer == "sgd":
        return zeros
    return np.zeros((), np.int32), zeros, tuple(np.zeros_like(p) for p in params)


def sgd(rule: Rule, params, grads, buffers):
    """torch.optim.SGD's form: buf = momentum * buf + grad; p -= lr * buf."""
    if rule.momentum:
        buffers = tuple(rule.momentum * b + g for b, g in zip(buffers, grads))
        grads = buffers
    return tuple(p - rule.lr * g for p, g in zip(params, grads)), buffers


def adam(rule: Rule, params, grads, state):
    """Kingma & Ba, Algorithm 1, with eps added to sqrt(v_hat) (torch's placement), written
    as the scratch backend writes it. (optax.adam with eps_root=0 is the same maths.)"""
    t, m, v = state
    t = t + 1
    # The bias corrections in float64, as NumPy computes 1 - beta**t from Python floats.
    correction1 = (1 - jnp.float64(rule.beta1) ** t).astype(params[0].dtype)
    correction2 = (1 - jnp.float64(rule.beta2) ** t).astype(params[0].dtype)
    m = tuple(m_ + (1 - rule.beta1) * (g - m_) for m_, g in zip(m, grads))
    v = tuple(v_ + (1 - rule.beta2) * (g * g - v_) for v_, g in zip(v, grads))
    params = tuple(
        p - rule.lr * (m_ / correction1) / (jnp.sqrt(v_ / correction2) + rule.eps) for p, m_, v_ in zip(params, m, v)
    )
    return params, (t, m, v)


def train_step(params, state, X, y, rule: Rule, forward=forward):
    """One full-batch epoch: [loss, worst |error|] of the current weights, then their update."""
    grads, (mse, worst) = jax.grad(objective, has_aux=True)(params, X, y, forward)
    params, state = (sgd if rule.optimizer == "sgd" else adam)(rule, params, grads, state)
    return params, state, jnp.stack([mse, worst])


# Epochs per history buffer (and, in the tuned mode, per compiled call at most): every shape is
# static, so one compilation serves every epoch count (as keras_tf's CHUNK does).
CHUNK = 4096


def epoch(i, params, state, history, X, y, rule: Rule, forward=forward):
    """Train epoch i of a chunk and write its [loss, worst |error|] into row i of the history:
    the functional form of torch's `losses[epoch] = loss`, so nothing leaves the device until
    fit() ends."""
    params, state, metrics = train_step(params, state, X, y, rule, forward)
    return params, state, history.at[i].set(metrics)


@functools.cache
def compiled_epoch(rule: Rule):
    """One jitted epoch per rule, shared by every trainer, so set-ups for other seeds don't retrace.
    The history is donated: updated in place rather than copied every epoch."""
    return jax.jit(functools.partial(epoch, rule=rule), donate_argnames="history")


def train_chunk(epochs, params, state, X, y, rule: Rule, size: int, unroll: int, forward):
    """`epochs` (<= size) epochs as one XLA while loop, `unroll` epochs traced into each iteration
    (lax.fori_loop's own unroll= needs a trip count known at trace time); a second loop runs the
    epochs left over."""
    history = jnp.zeros((size, 2), X.dtype)

    def iteration(j, carry):
        for k in range(unroll):
            carry = epoch(j * unroll + k, *carry, X, y, rule, forward)
        return carry

    carry = lax.fori_loop(0, epochs // unroll, iteration, (params, state, history))
    if unroll == 1:
        return carry
    return lax.fori_loop(epochs - epochs % unroll, epochs, lambda i, c: epoch(i, *c, X, y, rule, forward), carry)


@functools.cache
def compiled_chunk(rule: Rule, size: int, unroll: int, forward):
    return jax.jit(functools.partial(train_chunk, rule=rule, size=size, unroll=unroll, forward=forward))


outputs = jax.jit(forward)


# ------------------------------------------------------------------ the trainers


class JaxTrainer:
    name = "jax"
    mode = "idiomatic"
    CHUNK = CHUNK  # epochs per history buffer (the tuned mode: per compiled call at most)

    def __init__(self, device: str = "cpu"):
        self.device = device
        self.jax_device = jax_device(device)

    def setup(self, config: TrainConfig) -> None:
        # JAX has no initialiser of its own for a hand-written model: "framework" means the shared
        # Glorot weights (the scheme Keras uses by default), drawn in NumPy like every other init.
        if config.init == "framework":
            config = config.replace(init="glorot")
        self.config = config
        X, y = xor_data(config)
        params = initial_params(config).astuple()  # w1, b1, w2, b2
        self.rule = Rule.of(config)
        state = jax.device_put((X, y, params, initial_state(self.rule, params)), self.jax_device)
        self.X, self.y, self.params, self.state = jax.block_until_ready(state)  # set-up is not billed to fit()
        self.step = compiled_epoch(self.rule)  # one epoch per call, from a Python loop

    def fit(self, epochs: int) -> History:
        chunks = []
        for start in range(0, epochs, self.CHUNK):
            n = min(self.CHUNK, epochs - start)
            chunks.append((self.train(n), n))
        # The device is waited for here, once per CHUNK epochs, so timing is real. (np.asarray, not
        # jax.device_get: on the CPU it is a view of memory already on the host, ~20 µs faster per call.)
        return History.of_rows(np.concatenate([np.empty((0, 2)), *(np.asarray(h)[:n] for h, n in chunks)]))

    def train(self, epochs: int):
        """Train `epochs` (<= CHUNK) epochs; their history, still on the device."""
        history = jnp.zeros((self.CHUNK, 2), self.X.dtype, device=self.jax_device)
        for i in range(epochs):
            self.params, self.state, history = self.step(i, self.params, self.state, history, self.X, self.y)
        return history

    def predict(self) -> np.ndarray:
        return np.asarray(outputs(self.params, self.X), dtype=np.float64)


class JaxTunedTrainer(JaxTrainer):
    """Every epoch of a fit() in one compiled call: the same epoch, looped by lax.fori_loop, with
    the forward pass written without dots (forward_fused) where the network is small enough.

    The idiomatic trainer pays a Python-to-XLA dispatch per epoch, more than the arithmetic
    of the step itself; here the loop runs inside XLA, carrying weights and optimizer state,
    and each epoch's loss and worst error are still recorded. (fit() calls longer than CHUNK
    epochs take one call per CHUNK.) docs/TUNING.md has the variants tried.
    """

    mode = "tuned"
    UNROLL = 1  # epochs per iteration of XLA's while loop
    # Up to this hidden x samples the dotless forward is faster; beyond it XLA's fused sums fall far
    # behind its dot kernels (measured: 0.05-0.9x the time up to 1,024, 7-39x from 4,096: docs/TUNING.md).
    FUSED_MAX = 1024

    def setup(self, config: TrainConfig) -> None:
        super().setup(config)
        self.forward = forward_fused if config.hidden * len(self.X) <= self.FUSED_MAX else forward
        self.step = compiled_chunk(self.rule, self.CHUNK, self.UNROLL, self.forward)

    def train(self, epochs: int):
        self.params, self.state, history = self.step(epochs, self.params, self.state, self.X, self.y)
        return history
