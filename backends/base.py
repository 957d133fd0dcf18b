"""The framework-free parts every backend shares.

The network is the article's 2-H-1 sigmoid net. Everything a fair comparison
must hold fixed lives here, once: the data, the configuration, the initial
weights (drawn in NumPy, so all backends start bit-identical), the result and
the one place that times a training run.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

DTYPES = ("float32", "float64")
OPTIMIZERS = ("sgd", "adam")
INITS = ("glorot", "uniform01", "uniform", "framework")
OBJECTIVES = ("mse", "half_sse", "half_mse")
DEVICES = ("cpu", "gpu")
# idiomatic: the framework used the usual way; compiled: that code plus the framework's documented
# one-line speed switch (torch.compile(model), Keras' jit_compile=True); tuned: the fastest correct
# way the framework offers for this workload. Backends without such a switch offer no compiled mode.
MODES = ("idiomatic", "compiled", "tuned")

# Every framework is pinned to this many threads unless told otherwise: at 4 samples a
# second thread buys nothing (measured on the 2-core dev VM: torch eager 224 vs 221 µs per
# epoch with 2 threads vs 1) and 1 thread keeps runs repeatable on a shared machine.
DEFAULT_THREADS = 1

# Any mean squared error below 1/16 forces every |error| < 0.5, i.e. 100% XOR
# accuracy at threshold 0.5; 0.01 asks for a confident solution on top of that.
LOSS_TARGET = 0.01

# An output is on the right side of 0.5 exactly when |output - target| < 0.5 (targets are 0 or 1):
# the 1986 paper's sense of "solved" (every output nearer its target than the other value).
ACCURATE_ERROR = 0.5


def check_choice(name: str, value: object, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(map(str, allowed))}; got {value!r}")


def _is_number(value: object, types) -> bool:
    return isinstance(value, types) and not isinstance(value, bool)  # True is an int to Python


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run. Defaults are the `matched` preset."""

    hidden: int = 4
    epochs: int = 2000
    optimizer: str = "sgd"  # "sgd" or "adam"
    lr: float = 2.0  # solves seeds 0-49 (docs/PRESETS.md); preset() uses MATCHED_LR for Adam
    momentum: float = 0.0  # SGD only: classical heavy ball, buf = momentum*buf + grad; p -= lr*buf (torch, Keras)
    beta1: float = 0.9  # Adam only
    beta2: float = 0.999
    eps: float = 1e-10  # tiny on purpose: Keras and torch put eps in slightly different places
    seed: int = 0
    dtype: str = "float32"
    init: str = "glorot"  # glorot: Glorot-uniform weights, zero biases, drawn in NumPy
    #                       uniform01: the article's np.random.rand for weights and biases
    #                       uniform: weights and biases uniform in [-init_range, init_range] (1986 style)
    #                       framework: each framework's own default initialisers (not shared)
    init_range: float = 0.5  # init="uniform" only
    objective: str = "mse"  # mse: mean over samples; half_sse: 1/2 sum, the article's scratch update;
    #                         half_mse: 1/2 mean (the 1986 paper's 1/2 sum, divided by the number of samples)
    samples: int = 4  # 4: the XOR truth table; more: noisy clusters around the corners

    def __post_init__(self) -> None:
        for name, minimum in (("hidden", 1), ("epochs", 1), ("samples", 4)):
            value = getattr(self, name)
            if not _is_number(value, int) or value < minimum:
                raise ValueError(f"{name} must be an integer >= {minimum}; got {value!r}")
        for name in ("lr", "eps", "init_range"):
            value = getattr(self, name)
            if not _is_number(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
        for name in ("beta1", "beta2", "momentum"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise ValueError(f"{name} must be a number in [0, 1); got {value!r}")
        check_choice("optimizer", self.optimizer, OPTIMIZERS)
        check_choice("dtype", self.dtype, DTYPES)
        check_choice("init", self.init, INITS)
        check_choice("objective", self.objective, OBJECTIVES)
        if self.momentum and self.optimizer != "sgd":  # Adam has its own first moment (beta1)
            raise ValueError(
                f"momentum applies to sgd only; got momentum={self.momentum!r} with optimizer={self.optimizer!r}"
            )

    def replace(self, **changes) -> TrainConfig:
        return dataclasses.replace(self, **changes)


# The article's three snippets, each as written (docs/PRESETS.md).
_ARTICLE = {
    "numpy": TrainConfig(
        init="uniform01", optimizer="sgd", lr=0.1, epochs=10_000, dtype="float64", objective="half_sse"
    ),
    "keras": TrainConfig(init="framework", optimizer="adam", lr=0.001, eps=1e-7, epochs=500, dtype="float32"),
    "torch": TrainConfig(init="framework", optimizer="adam", lr=0.1, eps=1e-8, epochs=5000, dtype="float32"),
}
# The 1986 set-up: Rumelhart, Hinton & Williams, "Learning internal representations by error propagation",
# PDP vol. 1 ch. 8 (1986), pp. 318-362, and their Nature letter, 323:533-536 (page numbers: the chapter).
_CLASSIC = TrainConfig(
    hidden=2,  # the chapter's 2-2-1 XOR net (its 558-sweep run used 1 hidden unit plus direct input-output
    #            connections, which a 2-H-1 net cannot express)
    init="uniform",  # "small random weights" break the symmetry; no range is given for XOR
    init_range=0.5,  # so an assumption: [-0.5, 0.5] (the Nature letter's symmetry net started within +-0.3)
    optimizer="sgd",  # full-batch gradient descent: one weight change per sweep through the 4 patterns
    lr=0.5,  # eta = 0.5 of the 558-sweep run (p. 331); but the paper's E is 1/2 * SUM over patterns, so on
    #          half_mse the same step needs lr = 0.5 * 4 = 2.0: this lr steps 4x shorter than the paper's
    momentum=0.9,  # alpha: "in most of our simulations alpha was about 0.9" (p. 330)
    objective="half_mse",  # the paper's E = 1/2 sum of squares, per sample (so lr means the same for any N)
    epochs=5000,  # ~10x the reported 558 sweeps
    dtype="float32",
)
PRESETS = ("matched", "article", "classic")
MATCHED_LR = {"sgd": 2.0, "adam": 0.01}


def preset(name: str, backend: str, **overrides) -> TrainConfig:
    """The configuration of preset `name` for `backend`, with optional overrides.

    `backend` is checked against the registry by backends.preset, which callers use."""
    check_choice("preset", name, PRESETS)
    if name == "matched":
        optimizer = overrides.get("optimizer", "sgd")
        base = TrainConfig(optimizer="sgd", lr=MATCHED_LR.get(optimizer, 2.0))
    elif name == "classic":
        base = _CLASSIC
    else:
        check_choice("backend with an article snippet", backend, tuple(_ARTICLE))
        base = _ARTICLE[backend]
    return base.replace(**overrides)


def xor_data(config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Inputs (n, 2) and targets (n, 1) in the config's dtype.

    With 4 samples this is the XOR truth table. With more (the scaling sweep)
    it is Gaussian clusters (sd 0.1) around the four corners, XOR-labelled,
    drawn from the seed.
    """
    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    if config.samples > 4:
        rng = np.random.default_rng([config.seed, 1])
        X = X[np.arange(config.samples) % 4] + rng.normal(0.0, 0.1, (config.samples, 2))
    y = np.logical_xor(X[:, :1] > 0.5, X[:, 1:] > 0.5).astype(np.float64)
    return X.astype(config.dtype), y.astype(config.dtype)


@dataclass(frozen=True)
class Params:
    """Weights in the article's layout: x @ w1 + b1 -> sigmoid -> @ w2 + b2 -> sigmoid."""

    w1: np.ndarray  # (2, hidden)
    b1: np.ndarray  # (hidden,)
    w2: np.ndarray  # (hidden, 1)
    b2: np.ndarray  # (1,)

    def astuple(self) -> tuple[np.ndarray, ...]:
        return (self.w1, self.b1, self.w2, self.b2)


def initial_params(config: TrainConfig) -> Params:
    """The one place initial weights are drawn; every backend loads these."""
    if config.init == "framework":
        raise ValueError("init='framework' uses each framework's own initialisers; there are no shared weights")
    rng = np.random.default_rng(config.seed)
    h = config.hidden
    if config.init == "uniform01":  # the article's order of draws: w_ih, w_ho, b_h, b_o
        w1, w2, b1, b2 = rng.random((2, h)), rng.random((h, 1)), rng.random(h), rng.random(1)
    elif config.init == "uniform":  # layer by layer, weights before biases: w1, b1, w2, b2
        r = config.init_range
        w1, b1, w2, b2 = (rng.uniform(-r, r, shape) for shape in ((2, h), h, (h, 1), 1))
    else:  # glorot
        w1 = rng.uniform(-1, 1, (2, h)) * math.sqrt(6 / (2 + h))
        w2 = rng.uniform(-1, 1, (h, 1)) * math.sqrt(6 / (h + 1))
        b1, b2 = np.zeros(h), np.zeros(1)
    return Params(*(a.astype(config.dtype) for a in (w1, b1, w2, b2)))


# The objective is OBJECTIVE_FACTOR * the MSE at n samples; histories always report the MSE.
# mse: the mean of squares; half_sse: 1/2 sum, the article's scratch update; half_mse: 1/2 mean (1986).
OBJECTIVE_FACTOR = {"mse": lambda n: 1.0, "half_sse": lambda n: n / 2, "half_mse": lambda n: 0.5}


def objective_factor(objective: str, samples: int) -> float:
    check_choice("objective", objective, OBJECTIVES)
    return float(OBJECTIVE_FACTOR[objective](samples))


def output_scale(objective: str, samples: int) -> float:
    """d(objective)/d(output) = (output - y) * output_scale: mse 2/N, half_mse 1/N, half_sse 1."""
    return 2 * objective_factor(objective, samples) / samples


def on_the_mse(config: TrainConfig) -> TrainConfig:
    """The config that takes `config`'s steps by training on the plain MSE, which is what every
    framework backend differentiates (one loss, no custom loss classes).

    The objective is factor * MSE, so its gradients are factor * the MSE's. SGD, with or without
    momentum, is linear in the gradient: lr * factor on the MSE is the same step. Adam divides the
    gradient's scale out but for eps: m/(sqrt(v) + eps) at factor * g is m/(sqrt(v) + eps/factor).
    Every factor the presets use is a power of two, so the rescale is exact in floating point and
    the curves stay bit-comparable with the scratch backend, which scales its gradient instead.
    """
    factor = objective_factor(config.objective, config.samples)
    if factor == 1.0:
        return config.replace(objective="mse")
    if config.optimizer == "sgd":
        return config.replace(objective="mse", lr=config.lr * factor)
    return config.replace(objective="mse", eps=config.eps / factor)


@dataclass(frozen=True, eq=False)
class History:
    """What fit(n) returns: per epoch, float64 (n,), the MSE of its forward pass (the loss *before*
    that epoch's update) and the largest |output - target| of the same pass (NaN where it diverged)."""

    losses: np.ndarray
    max_errors: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "losses", np.ascontiguousarray(self.losses, dtype=np.float64))
        object.__setattr__(self, "max_errors", np.ascontiguousarray(self.max_errors, dtype=np.float64))
        if self.losses.shape != self.max_errors.shape or self.losses.ndim != 1:
            raise ValueError(f"losses {self.losses.shape} and max_errors {self.max_errors.shape} must be one (n,)")

    @classmethod
    def of_rows(cls, rows) -> History:
        """From (n, 2) rows of [loss, max_error], as the compiled loops record each epoch."""
        rows = np.asarray(rows, dtype=np.float64).reshape(-1, 2)
        return cls(rows[:, 0], rows[:, 1])

    @classmethod
    def join(cls, histories) -> History:
        """Several fit() calls' histories as one run's."""
        histories = list(histories)
        return cls(
            np.concatenate([np.empty(0), *(h.losses for h in histories)]),
            np.concatenate([np.empty(0), *(h.max_errors for h in histories)]),
        )

    def __len__(self) -> int:
        return len(self.losses)


@dataclass(frozen=True)
class TrainResult:
    """One training run.

    `losses[i]` is the mean squared error of epoch i's forward pass, i.e. the
    loss *before* that epoch's update (what Keras' history and the usual torch
    loop report); `max_errors[i]` is the largest |output - target| of that same
    forward pass (NaN where it is unknown or the run diverged). `predictions`
    are the outputs after the last update.
    """

    backend: str
    device: str
    mode: str
    config: TrainConfig
    losses: np.ndarray
    predictions: np.ndarray
    accuracy: float
    train_s: float  # wall time of the training loop alone (model already built)
    status: str  # "ok" or "diverged" (run_status)
    reason: str = ""
    extra: dict = field(default_factory=dict)
    max_errors: np.ndarray = field(default_factory=lambda: np.empty(0))

    @property
    def epoch_accurate(self) -> int | None:
        """First epoch whose outputs are all on the right side of 0.5 (100% accuracy), or None."""
        return epoch_accurate(self.max_errors)

    @property
    def epoch_solved(self) -> int | None:
        """First epoch whose loss is below LOSS_TARGET (implies 100% accuracy), or None."""
        return epoch_solved(self.losses)

    @property
    def solved(self) -> bool:
        return self.status == "ok" and self.accuracy == 1.0 and self.losses[-1] < LOSS_TARGET


def epoch_solved(losses: np.ndarray) -> int | None:
    below = np.flatnonzero(np.asarray(losses) < LOSS_TARGET)
    return int(below[0]) if below.size else None


def epoch_accurate(max_errors: np.ndarray) -> int | None:
    """First epoch whose worst |output - target| is below 0.5, or None (NaN never is)."""
    below = np.flatnonzero(np.asarray(max_errors) < ACCURATE_ERROR)
    return int(below[0]) if below.size else None


@runtime_checkable
class Trainer(Protocol):
    """What every backend offers. `setup` builds, `fit` trains, `predict` reads the outputs."""

    name: str
    device: str
    mode: str

    def setup(self, config: TrainConfig) -> None:
        """Build model and optimizer for `config` and load its initial weights.

        Called again, it starts a fresh run: nothing of the previous one survives.
        """

    def fit(self, epochs: int) -> History:
        """Train `epochs` full-batch epochs; their losses (before each update) and worst errors.

        On a GPU it returns only once the device has finished, so it can be timed.
        """

    def predict(self) -> np.ndarray:
        """Outputs (n, 1) for the training inputs, as float64."""


def train(trainer: Trainer, config: TrainConfig) -> TrainResult:
    """Build, then train for config.epochs, timing the training loop alone."""
    trainer.setup(config)
    start = time.perf_counter()
    history = trainer.fit(config.epochs)
    train_s = time.perf_counter() - start
    return make_result(trainer, config, history, train_s)


def make_result(trainer: Trainer, config: TrainConfig, history: History, train_s: float) -> TrainResult:
    """The result of a run whose fit() calls returned `history` (History.join of several calls);
    its status says the same on every backend (`run_status`)."""
    predictions = np.asarray(trainer.predict(), dtype=np.float64)
    _, y = xor_data(config)
    accuracy = float(np.mean((predictions > 0.5) == (y > 0.5)))
    status, reason = run_status(history.losses, predictions, y, config.lr)
    if not (np.all(np.isfinite(history.losses)) and np.all(np.isfinite(predictions))):  # no outputs to trust
        accuracy = 0.0
    return TrainResult(
        trainer.name, trainer.device, trainer.mode, config, history.losses, predictions, accuracy, train_s, status,
        reason, max_errors=history.max_errors,
    )  # fmt: skip


# An output this close to 0 or 1 is saturated: the sigmoid's slope there is below SATURATED, so
# the gradient through it has all but vanished and training cannot move it back.
SATURATED = 1e-3


def run_status(losses: np.ndarray, outputs: np.ndarray, y: np.ndarray, lr: float) -> tuple[str, str]:
    """("ok", "") for a run that trained with finite losses, else ("diverged", why): the one definition.

    Diverged means the loss became non-finite (at any epoch, or in the final outputs), or training
    blew up: every final output saturated (within SATURATED of 0 or 1) with at least one on the wrong
    side of 0.5, so the loss is stuck at >= (1 - SATURATED)^2 / n, near where a run starts (about
    0.25 on XOR), and cannot come down. Backends that overflow to NaN and backends whose sigmoids
    saturate first (float32 numba at lr 1e39, every backend at lr 1000) thus agree.
    """
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size or not np.all(np.isfinite(outputs)):
        where = f"at epoch {bad[0]}" if bad.size else "in the final outputs"
        return "diverged", f"loss became non-finite {where} (lr={lr:g})"
    saturated = np.all(np.minimum(outputs, 1 - outputs) < SATURATED)
    wrong = int(np.sum((outputs > 0.5) != (y > 0.5)))
    if saturated and wrong:
        final = float(np.mean((outputs - y) ** 2))
        start = f" from {losses[0]:.4g} at epoch 0" if len(losses) else ""
        return "diverged", (
            f"training blew up: every output saturated (within {SATURATED:g} of 0 or 1), {wrong} of "
            f"{outputs.size} on the wrong side; loss {final:.4g}{start} (lr={lr:g})"
        )
    return "ok", ""
