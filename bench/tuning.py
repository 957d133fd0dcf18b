"""Time each framework's candidate tuned loops side by side: the tables of docs/TUNING.md.

    python -m xorbench.bench.tuning [numpy torch jax keras keras-jax keras-torch] [--rounds 9]

Each framework runs in a process of its own (one Keras backend per process), pinned to one thread
before its first op. There every variant is built on the matched preset (SGD, seed 0), its first
fit (where compilation happens) timed, and its curve over CURVE_EPOCHS compared with NumPy's
idiomatic one. Then the variants are timed round-robin: `rounds` rounds, in each one fit(n) per
variant from a fresh setup(), n the matched run's 2,000 epochs (or, where that takes over a second,
as many as take about CALL_S). Printed: a markdown table per framework, with the median µs per epoch and the
fastest and slowest round, so the noise of the machine shows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .. import backends
from ..backends.base import output_scale

CURVE_EPOCHS = 300
RUN_EPOCHS, MAX_CALL_S = 2000, 1.0  # a timed call is one whole matched run where that takes at most MAX_CALL_S,
CALL_S = 0.2  # else (model.fit) as many epochs as take about CALL_S
CPP = (("cpp_wrapper", True),)  # Inductor's option: the compiled graph's wrapper in C++, not Python


@dataclass(frozen=True)
class Variant:
    label: str
    make: Callable[[], backends.Trainer]
    config: backends.TrainConfig
    window: int = 1  # n is a multiple of this


def variant(label: str, name: str, mode: str, window: int = 1, config=None, **knobs) -> Variant:
    """The registered trainer of `name` and `mode`, with class attributes (knobs) overridden."""

    def make() -> backends.Trainer:
        cls = type(backends.get_trainer(name, "cpu", mode))
        return (type(cls.__name__, (cls,), knobs) if knobs else cls)()

    return Variant(label, make, config or backends.preset("matched", name), window)


def numpy_variants() -> list[Variant]:
    float64 = backends.preset("matched", "numpy", dtype="float64")
    return [
        variant("idiomatic: the article's loop", "numpy", "idiomatic"),
        variant("packed biases, expit, out= everywhere, matmul (tuned)", "numpy", "tuned"),
        variant("the same with einsum('ij,jk->ik', out=)", "numpy", "tuned", PRODUCTS="einsum"),
        variant("the same allocating every array (no out=)", "numpy", "tuned", fit=allocating_fit),
        variant("tuned in float64 (informative: matched is float32)", "numpy", "tuned", config=float64),
    ]


def allocating_fit(self, epochs: int) -> backends.History:
    """NumpyTunedTrainer's SGD maths, every intermediate a new array."""
    from scipy.special import expit

    X1, W1, W2, y, n = self.X1, self.W1, self.W2, self.y, len(self.X1)
    step, ones = self.X.dtype.type(self.config.lr * self.scale), np.ones((n, 1), self.X.dtype)
    losses, max_errors = np.empty(epochs), np.empty(epochs)
    for epoch in range(epochs):
        hidden = expit(X1 @ W1)
        H1 = np.hstack([hidden, ones])
        out = expit(H1 @ W2)
        err = out - y
        losses[epoch], max_errors[epoch] = np.vdot(err, err) / n, np.abs(err).max()
        d_out = err * (out - out * out) * step
        d_hid = (d_out @ W2[:-1].T) * (hidden - hidden * hidden)
        W2 -= H1.T @ d_out
        W1 -= X1.T @ d_hid
    self._sync_params()
    return backends.History(losses, max_errors)


def hand_gradients(params, X, y):
    """torch_nn.autodiff's result, written out: the scratch backend's backward pass in torch ops."""
    import torch
    from torch.nn import functional as F

    w1, b1, w2, b2 = params
    hidden = torch.sigmoid(F.linear(X, w1, b1))
    output = torch.sigmoid(F.linear(hidden, w2, b2))
    error = output - y
    d_out = error * output_scale("mse", len(X)) * output * (1 - output)  # the tuned loop trains on the MSE
    d_hid = (d_out @ w2) * hidden * (1 - hidden)
    return (d_hid.T @ X, d_hid.sum(0), d_out.T @ hidden, d_out.sum(0)), ((error * error).mean(), error.abs().max())


def torch_variants() -> list[Variant]:
    python = (("cpp_wrapper", False),)
    windows = [variant(f"{w} epochs per compiled call, Python wrapper", "torch", "tuned", w, WINDOW=w,
                       COMPILE_OPTIONS=python) for w in (1, 8, 16, 32, 64)]  # fmt: skip
    windows += [variant(f"{w} epochs per compiled call, C++ wrapper{' (tuned)' * (w == 32)}", "torch", "tuned", w,
                        WINDOW=w, COMPILE_OPTIONS=CPP) for w in (1, 16, 32, 64)]  # fmt: skip
    by_hand = staticmethod(hand_gradients)
    return [
        variant("idiomatic: eager loop, torch.optim", "torch", "idiomatic"),
        variant("compiled: torch.compile(model), eager optimizer", "torch", "compiled"),
        *windows,
        variant("32 per call, C++ wrapper, hand-written gradients", "torch", "tuned", 32, WINDOW=32, GRADIENTS=by_hand),
    ]


def chunk_variants(name: str, chunks: tuple[int, ...], modes: tuple[str, ...]) -> list[Variant]:
    """The registered idiomatic (and compiled) modes, then the tuned loop at several epochs per compiled
    call (CHUNK) and per iteration of its while loop (UNROLL)."""
    first = [variant(f"{mode}: {'model.fit' if 'keras' in name else 'one jitted epoch per call'}", name, mode)
             for mode in modes]  # fmt: skip
    tuned = type(backends.get_trainer(name, "cpu", "tuned"))

    def label(chunk: int, unroll: int) -> str:
        mark = " (tuned)" * ((chunk, unroll) == (tuned.CHUNK, tuned.UNROLL))
        return f"up to {chunk} epochs per compiled call, {unroll} per loop iteration{mark}"

    chunked = [variant(label(c, 1), name, "tuned", CHUNK=c, UNROLL=1) for c in chunks]
    unrolled = [variant(label(tuned.CHUNK, u), name, "tuned", UNROLL=u) for u in (2, 4, 8)]
    return first + chunked + unrolled


def jax_variants() -> list[Variant]:
    """Idiomatic; the tuned loop over the idiomatic epoch (jnp.dot), then over forward_fused's dotless
    epoch, at several epochs per compiled call (CHUNK) and per iteration of its while loop (UNROLL)."""
    tuned = type(backends.get_trainer("jax", "cpu", "tuned"))

    def loop(chunk: int, unroll: int, fused: bool) -> Variant:
        fused_max = tuned.FUSED_MAX if fused else 0  # 0: jnp.dot's forward at every size
        mark = " (tuned)" * ((chunk, unroll, fused_max) == (tuned.CHUNK, tuned.UNROLL, tuned.FUSED_MAX))
        kind = "dotless" if fused else "jnp.dot"
        label = f"{kind} forward, up to {chunk} epochs per call, {unroll} per iteration"
        return variant(label + mark, "jax", "tuned", CHUNK=chunk, UNROLL=unroll, FUSED_MAX=fused_max)

    return [
        variant("idiomatic: one jitted epoch per call", "jax", "idiomatic"),
        *(loop(4096, unroll, False) for unroll in (1, 4)),
        *(loop(chunk, 1, True) for chunk in (1024, 4096, 16384)),
        *(loop(4096, unroll, True) for unroll in (2, 4)),
    ]


VARIANTS: dict[str, Callable[[], list[Variant]]] = {
    "numpy": numpy_variants,
    "torch": torch_variants,
    "jax": jax_variants,
    "keras": lambda: chunk_variants("keras", (256, 1024, 4096), ("idiomatic", "compiled")),
    "keras-jax": lambda: chunk_variants("keras-jax", (256, 1024, 4096, 16384), ("idiomatic",)),
    "keras-torch": lambda: [
        variant("idiomatic: model.fit", "keras-torch", "idiomatic"),
        variant("compiled: model.fit, jit_compile=True", "keras-torch", "compiled"),
        *(keras_torch_window(w, cpp) for cpp in (False, True) for w in (1, 4, 8) if (w, cpp) != (1, True)),
        keras_torch_window(16, True),
    ],
}


def keras_torch_window(window: int, cpp: bool) -> Variant:
    tuned = " (tuned)" if window == backends.load("keras-torch").KerasTorchTunedTrainer.WINDOW and cpp else ""
    return variant(f"{window} epochs per compiled call, {'C++' if cpp else 'Python'} wrapper{tuned}", "keras-torch",
                   "tuned", window, WINDOW=window, COMPILE_OPTIONS=(("cpp_wrapper", cpp),))  # fmt: skip


def prepared(v: Variant, reference: np.ndarray) -> tuple[backends.Trainer, float, float]:
    """The variant's trainer after its first fit; that fit's seconds and its curve's largest relative
    difference from NumPy's."""
    trainer = v.make()
    trainer.setup(v.config.replace(epochs=CURVE_EPOCHS))
    start = time.perf_counter()
    losses = trainer.fit(CURVE_EPOCHS).losses
    first_s = time.perf_counter() - start
    return trainer, first_s, float(np.max(np.abs(losses - reference) / reference))


def timed(trainer: backends.Trainer, v: Variant, epochs: int) -> float:
    trainer.setup(v.config)  # a fresh run each round: the same weights, the same work
    start = time.perf_counter()
    trainer.fit(epochs)
    return (time.perf_counter() - start) / epochs * 1e6


def call_epochs(trainer: backends.Trainer, v: Variant) -> int:
    """Epochs per timed call: the matched run's RUN_EPOCHS if that takes at most MAX_CALL_S, else about
    CALL_S worth. The cost per epoch is the slope between a 4- and a 12-window call, so a slow call
    (a 4096-epoch buffer copied back) does not pass for slow epochs."""
    short, long = (timed(trainer, v, k * v.window) * k * v.window for k in (4, 12))
    per_epoch = max(long - short, 1e-3) / (8 * v.window) * 1e-6
    if RUN_EPOCHS * per_epoch <= MAX_CALL_S:
        return RUN_EPOCHS
    return max(1, round(CALL_S / per_epoch / v.window)) * v.window


def measure(name: str, rounds: int) -> str:
    """One framework's table, measured in this process."""
    backends.set_threads(name, 1)
    variants = VARIANTS[name]()
    numpy_config = variants[0].config.replace(epochs=CURVE_EPOCHS)
    reference = backends.train(backends.get_trainer("numpy"), numpy_config).losses
    trainers, epochs, lines = [], [], []
    for v in variants:
        trainer, first_s, difference = prepared(v, reference)
        epochs.append(call_epochs(trainer, v))
        trainers.append(trainer)
        lines.append([v.label, first_s, difference])
    times = [[] for _ in variants]
    for _ in range(rounds):  # round-robin: a slow spell of the machine hits every variant alike
        for i, (trainer, v) in enumerate(zip(trainers, variants)):
            times[i].append(timed(trainer, v, epochs[i]))
    return table(name, lines, times, epochs, rounds)


def table(name: str, lines: list, times: list[list[float]], epochs: list[int], rounds: int) -> str:
    base = np.median(times[0])
    rows = [f"### {name}\n", f"{rounds} rounds; µs per epoch: median (fastest-slowest round)",
            f"| variant | µs/epoch | range | × first row | epochs per timed call | first fit s ({CURVE_EPOCHS} epochs) "
            "| vs NumPy |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for (label, first_s, difference), t, n in zip(lines, times, epochs):
        median = np.median(t)
        rows.append(f"| {label} | {median:,.3g} | {min(t):,.3g}-{max(t):,.3g} | {median / base:.3g} | {n} "
                    f"| {first_s:.2f} | {difference:.1e} |")  # fmt: skip
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xorbench.bench.tuning", description=__doc__.splitlines()[0])
    parser.add_argument("frameworks", nargs="*", help=f"any of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.frameworks) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown framework {', '.join(sorted(unknown))}; choose from {', '.join(VARIANTS)}")
    for name in args.frameworks or VARIANTS:
        if args.in_process:
            print(measure(name, args.rounds), flush=True)
        else:  # a fresh interpreter per framework
            command = [sys.executable, "-m", "xorbench.bench.tuning", name, "--rounds", str(args.rounds)]
            subprocess.run([*command, "--in-process"], check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
