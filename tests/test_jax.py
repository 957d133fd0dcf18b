"""The JAX backend: the matched curves, its two modes, compiling once, threads, and a missing jax.

Tests that train need jax and skip with the install command without it; the missing-package
test simulates the absence in a fresh interpreter, so it runs wherever the repository does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_equivalence import CURVE_RTOL, EPOCHS, SEEDS

from xorbench import backends
from xorbench.backends.numpy_scratch import NumpyTrainer

REPO = Path(__file__).resolve().parents[1]
MODES = ("idiomatic", "tuned")

# The matched grid, plus heavy-ball momentum. Tolerances are test_equivalence's, capped at
# 1e-4: measured jax against numpy over its 200 epochs, seeds 0-2, float32: 8e-7 (SGD), 5e-7
# (Adam), 2.3e-6 (momentum) relative; float64: 2.4e-15 at most, so float64 gets 1e-12.
CASES = {
    "sgd": dict(optimizer="sgd"),
    "adam": dict(optimizer="adam"),  # matched: lr 0.01
    "momentum": dict(optimizer="sgd", lr=0.5, momentum=0.9),
}
RTOL = {
    "float32": {case: min(CURVE_RTOL[c["optimizer"]], 1e-4) for case, c in CASES.items()},
    "float64": {case: 1e-12 for case in CASES},
}


@pytest.fixture
def jax_backend(new_trainer):
    """The backend module, its threads pinned as conftest pins every backend's; skips with the
    reason when jax is not installed."""
    new_trainer("jax")
    return backends.load("jax")


def jax_trainer(mode: str, config: backends.TrainConfig):
    trainer = backends.get_trainer("jax", "cpu", mode)
    trainer.setup(config)
    return trainer


def numpy_run(config: backends.TrainConfig):
    """NumPy idiomatic, epoch by epoch as its fit() runs them, also recording each epoch's worst
    |error|. Momentum, which the scratch backend may not have yet, is torch.optim.SGD's update
    written here on the scratch backend's gradients."""
    trainer = NumpyTrainer()
    trainer.setup(config)
    X, y = trainer.X, trainer.y
    lr, momentum = X.dtype.type(config.lr), X.dtype.type(config.momentum)
    buffers = [np.zeros_like(p) for p in trainer.params]
    losses, worst = [], []
    for _ in range(config.epochs):
        error = trainer.forward(X) - y
        losses.append(np.vdot(error, error) / len(X))
        worst.append(np.max(np.abs(error)))
        grads = trainer.backward(X, y)
        if config.momentum:
            for p, buffer, g in zip(trainer.params, buffers, grads):
                buffer *= momentum
                buffer += g
                p -= lr * buffer
        else:
            trainer.update(grads)
    return np.array(losses, np.float64), np.array(worst, np.float64), trainer.predict()


def matched(case: str, dtype: str = "float32", seed: int = 0, epochs: int = EPOCHS) -> backends.TrainConfig:
    return backends.preset("matched", "jax", seed=seed, epochs=epochs, dtype=dtype, **CASES[case])


def test_the_numpy_reference_is_numpy_idiomatic():
    config = matched("adam")
    losses, _, predictions = numpy_run(config)
    result = backends.train(backends.get_trainer("numpy"), config)
    np.testing.assert_array_equal(losses, result.losses)
    np.testing.assert_array_equal(predictions, result.predictions)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", MODES)
def test_matched_curves_agree_with_numpy_idiomatic(jax_backend, mode, case, dtype, seed):
    config = matched(case, dtype, seed)
    losses, worst, predictions = numpy_run(config)
    trainer = jax_trainer(mode, config)
    rtol = RTOL[dtype][case]
    np.testing.assert_allclose(trainer.fit(config.epochs), losses, rtol=rtol, atol=0)
    np.testing.assert_allclose(trainer.max_errors, worst, rtol=rtol, atol=0)
    np.testing.assert_allclose(trainer.predict(), predictions, rtol=0, atol=1e-6)
    assert (losses[0] - losses[-1]) / losses[0] > 100 * rtol  # the curves move far more than the tolerance


@pytest.mark.parametrize("mode", MODES)
def test_half_sse_trains_on_half_the_sum_and_reports_the_mse(jax_backend, mode):
    """At 4 samples 1/2 sum = 2 * mean, so lr 1 on half_sse is lr 2 on mse: the same curve."""
    config = matched("sgd").replace(objective="half_sse", lr=1.0)
    losses, _, _ = numpy_run(config)
    curve = jax_trainer(mode, config).fit(config.epochs)
    np.testing.assert_allclose(curve, losses, rtol=RTOL["float32"]["sgd"], atol=0)
    np.testing.assert_allclose(curve, jax_trainer(mode, matched("sgd")).fit(config.epochs), rtol=1e-6)


def test_every_objective_is_a_factor_of_the_mse(jax_backend):
    assert set(backends.base.OBJECTIVES) <= set(jax_backend.OBJECTIVE_FACTOR)


@pytest.mark.parametrize("unroll", (1, 3))
@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("case", CASES)
def test_the_tuned_loop_over_the_idiomatic_epoch_trains_its_curve_bit_for_bit(jax_backend, case, dtype, unroll):
    """The same epoch function (jnp.dot's forward), called from Python or looped by XLA, `unroll`
    epochs per loop iteration (3: 299 epochs leave 2 for the remainder loop): on the CPU XLA
    compiles the same arithmetic for both (measured: identical for every case here)."""
    config = matched(case, dtype, seed=1, epochs=299)
    looped = type("Looped", (jax_backend.JaxTunedTrainer,), {"FUSED_MAX": 0, "UNROLL": unroll})()
    looped.setup(config)
    idiomatic = jax_trainer("idiomatic", config)
    np.testing.assert_array_equal(looped.fit(299), idiomatic.fit(299))
    np.testing.assert_array_equal(looped.max_errors, idiomatic.max_errors)
    np.testing.assert_array_equal(looped.predict(), idiomatic.predict())


def test_the_tuned_mode_writes_its_forward_without_dots_only_for_a_small_network(jax_backend):
    """forward_fused is 0.05-0.9x jnp.dot's time up to FUSED_MAX hidden x samples, 7-39x beyond."""
    small, large = backends.TrainConfig(), backends.TrainConfig(hidden=256, samples=16)  # 16 and 4,096
    assert jax_trainer("tuned", small).forward is jax_backend.forward_fused
    assert jax_trainer("tuned", large).forward is jax_backend.forward


@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("case", CASES)
def test_the_tuned_mode_s_dotless_forward_trains_the_idiomatic_curve(jax_backend, case, dtype):
    """forward_fused sums the products in another order than jnp.dot: the same curve to rounding."""
    config = matched(case, dtype, seed=1, epochs=300)
    idiomatic, tuned = jax_trainer("idiomatic", config), jax_trainer("tuned", config)
    np.testing.assert_allclose(tuned.fit(300), idiomatic.fit(300), rtol=RTOL[dtype][case], atol=0)
    np.testing.assert_allclose(tuned.max_errors, idiomatic.max_errors, rtol=RTOL[dtype][case], atol=0)
    np.testing.assert_allclose(tuned.predict(), idiomatic.predict(), rtol=1e-5, atol=0)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("mode", MODES)
def test_split_fit_calls_continue_like_one_long_fit(jax_backend, mode, case):
    config = matched(case, epochs=1000)
    whole, split = jax_trainer(mode, config), jax_trainer(mode, config)
    losses = whole.fit(1000)
    first = split.fit(300)
    first_errors = split.max_errors
    np.testing.assert_array_equal(np.concatenate([first, split.fit(700)]), losses)
    assert split.max_errors.shape == (700,)  # max_errors holds the last fit()'s epochs
    np.testing.assert_array_equal(np.concatenate([first_errors, split.max_errors]), whole.max_errors)


@pytest.mark.parametrize("mode", MODES)
def test_a_fit_longer_than_one_chunk_continues_seamlessly(jax_backend, mode):
    epochs = jax_backend.CHUNK + 100
    config = matched("adam", epochs=epochs)
    whole, split = jax_trainer(mode, config), jax_trainer(mode, config)
    np.testing.assert_array_equal(whole.fit(epochs), np.concatenate([split.fit(1), split.fit(epochs - 1)]))


@pytest.mark.parametrize("mode", MODES)
def test_setting_up_again_trains_bit_identically(jax_backend, mode):
    config = matched("adam", epochs=50)
    fresh = jax_trainer(mode, config)
    reused = jax_trainer(mode, matched("momentum", "float64", seed=5))
    reused.fit(30)
    reused.setup(config)
    np.testing.assert_array_equal(reused.fit(50), fresh.fit(50))
    np.testing.assert_array_equal(reused.max_errors, fresh.max_errors)
    np.testing.assert_array_equal(reused.predict(), fresh.predict())


@pytest.mark.parametrize("init", ("glorot", "uniform01", "framework"))
@pytest.mark.parametrize("dtype", ("float32", "float64"))
@pytest.mark.parametrize("mode", MODES)
def test_first_loss_is_the_mse_at_the_shared_initial_weights(jax_backend, mode, dtype, init):
    """init="framework" means the shared Glorot weights: JAX has no initialiser of its own."""
    config = matched("sgd", dtype).replace(init=init)
    weights = config.replace(init="glorot") if init == "framework" else config
    w1, b1, w2, b2 = (p.astype(np.float64) for p in backends.initial_params(weights).astuple())
    X, y = (a.astype(np.float64) for a in backends.xor_data(config))
    error = 1 / (1 + np.exp(-((1 / (1 + np.exp(-(X @ w1 + b1)))) @ w2 + b2))) - y
    trainer = jax_trainer(mode, config)
    rtol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(trainer.fit(1)[0], np.mean(error**2), rtol=rtol)
    np.testing.assert_allclose(trainer.max_errors[0], np.max(np.abs(error)), rtol=rtol)


def test_float64_support_leaves_float32_runs_in_float32(jax_backend):
    """x64 is on for the float64 runs; a float32 run must not be promoted by it."""
    trainer = jax_trainer("tuned", matched("adam"))
    trainer.fit(3)
    assert {str(p.dtype) for p in trainer.params} == {"float32"}
    assert trainer.state[1][0].dtype == np.float32  # Adam's first moment
    assert trainer.fit(2).dtype == trainer.max_errors.dtype == np.float64  # the history, on the host


@pytest.mark.parametrize("mode", MODES)
def test_a_diverging_run_reports_nan_not_an_error(jax_backend, mode):
    config = backends.preset("matched", "jax", optimizer="adam", lr=1e308, dtype="float64", epochs=30)
    trainer = backends.get_trainer("jax", "cpu", mode)
    result = backends.train(trainer, config)
    assert result.status == "diverged" and "non-finite" in result.reason
    assert np.isnan(result.losses[-1]) and np.isnan(trainer.max_errors[-1])
    assert result.losses.shape == trainer.max_errors.shape == (30,)


class CompileCounter:
    """Counts jax's compile-time events (traces to jaxprs, XLA compilations) while active."""

    EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/backend_compile_duration")

    def __init__(self):
        import jax.monitoring

        self.monitoring = jax.monitoring
        self.count = 0

    def listener(self, event: str, duration: float, **kwargs) -> None:
        self.count += event in self.EVENTS

    def __enter__(self):
        self.monitoring.register_event_duration_secs_listener(self.listener)
        return self

    def __exit__(self, *exc) -> None:
        self.monitoring.unregister_event_duration_listener(self.listener)


@pytest.mark.parametrize("mode", MODES)
def test_set_up_again_for_the_same_shape_does_not_recompile(jax_backend, mode):
    config = matched("adam", epochs=20)
    trainer = jax_trainer(mode, config)
    trainer.fit(20)
    trainer.predict()
    with CompileCounter() as same_shape:
        for seed in (1, 2):
            jax_trainer(mode, config.replace(seed=seed)).fit(7)  # a new trainer, too
            trainer.setup(config.replace(seed=seed, epochs=99))
            trainer.fit(33)
            trainer.predict()
    assert same_shape.count == 0
    with CompileCounter() as other_shape:  # the counter has teeth
        jax_trainer(mode, config.replace(hidden=5)).fit(3)
    assert other_shape.count > 0


# ------------------------------------------------------------------ a fresh interpreter each


def run_python(code: str, unset: tuple[str, ...] = ()) -> dict:
    """Run `code` in a fresh interpreter at the repository root, without the environment variables
    `unset`; the JSON it printed last."""
    env = {name: value for name, value in os.environ.items() if name not in unset}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_missing_jax_is_skipped_with_the_install_command():
    """Simulated: sys.modules["jax"] = None is how Python marks a module that cannot be imported."""
    code = """if True:
        import json, sys
        sys.modules["jax"] = None
        from xorbench import backends
        rows = [r for r in backends.available(("jax",)) if r.backend == "jax"]
        try:
            backends.get_trainer("jax")
            error = ""
        except RuntimeError as e:
            error = str(e)
        print(json.dumps({"rows": [[r.device, r.ok, r.reason, r.version] for r in rows], "error": error}))
    """
    out = run_python(code)
    reason = "jax is not installed: pip install 'xorbench[jax]'"
    assert out["rows"] == [["cpu", False, reason, ""], ["gpu", False, reason, ""]]
    assert out["error"] == f"jax on cpu is unavailable: {reason}"


THREADS_PROBE = """if True:
    import json, os, time
    from xorbench import backends
    module = backends.load("jax")
    {before}
    import jax, jax.numpy as jnp
    x = jnp.ones((512, 512), jnp.float32)
    matmul = jax.jit(lambda x: jnp.tanh(x @ x))
    matmul(x).block_until_ready()
    # XLA names its CPU compute pool's threads "XLAEigen" (Linux shows "tf_XLAEigen").
    pool = sum("XLAEigen" in open(f"/proc/self/task/{{t}}/comm").read() for t in os.listdir("/proc/self/task"))
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < 0.5:
        matmul(x).block_until_ready()
    ratio = (time.process_time() - cpu) / (time.perf_counter() - wall)
    try:
        module.set_threads(1)
        late = ""
    except RuntimeError as error:
        late = str(error)
    print(json.dumps({{"pool": pool, "ratio": ratio, "late": late, "flags": os.environ.get("XLA_FLAGS", "")}}))
"""


@pytest.mark.timeout(240)
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="counts threads in /proc (Linux)")
def test_set_threads_1_leaves_xla_one_compute_thread(require_backend):
    """Pinned before jax starts, XLA's CPU pool has one thread and a matmul-heavy loop uses one
    core (CPU time / wall time <= 1.2: contention only lowers it). Unpinned, the pool has one
    thread per core, and pinning once jax has started is refused."""
    require_backend("jax")
    unset = ("PJRT_NPROC", "NPROC", "XLA_FLAGS")
    pinned = run_python(THREADS_PROBE.format(before='backends.set_threads("jax", 1)'), unset)
    assert pinned["pool"] == 1, pinned
    assert pinned["ratio"] <= 1.2, pinned
    assert pinned["late"] == "" and "--xla_cpu_multi_thread_eigen=false" in pinned["flags"]
    cores = len(os.sched_getaffinity(0))
    if cores == 1:
        pytest.skip("one core: an unpinned pool has one thread too")
    unpinned = run_python(THREADS_PROBE.format(before="pass"), unset)
    assert unpinned["pool"] == cores, unpinned
    assert unpinned["late"] == f"jax already runs with {cores} threads; cannot pin 1"


def test_thread_env_keeps_other_xla_flags(jax_backend):
    env = jax_backend.thread_env(1, "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=true")
    assert env == {"PJRT_NPROC": "1", "XLA_FLAGS": "--xla_dump_to=/tmp/x --xla_cpu_multi_thread_eigen=false"}
    assert jax_backend.thread_env(4)["PJRT_NPROC"] == "4"
