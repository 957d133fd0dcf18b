"""The JAX backend beyond the battery: its tuned loop against its idiomatic epoch, compiling once,
x64, threads, and a missing jax. (Both modes' curves against NumPy's: tests/test_equivalence.py.)

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

from xorbench import backends

REPO = Path(__file__).resolve().parents[1]
MODES = ("idiomatic", "tuned")
MOMENTUM = dict(optimizer="sgd", lr=0.5, momentum=0.9)


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


def matched(epochs: int = 200, **overrides) -> backends.TrainConfig:
    return backends.preset("matched", "jax", epochs=epochs, **overrides)


@pytest.mark.parametrize("unroll", (1, 3))
def test_the_tuned_loop_over_the_idiomatic_epoch_trains_its_curve_bit_for_bit(jax_backend, unroll):
    """The same epoch function (jnp.dot's forward), called from Python or looped by XLA, `unroll`
    epochs per loop iteration (3: 299 epochs leave 2 for the remainder loop): on the CPU XLA
    compiles the same arithmetic for both (measured: identical for SGD, Adam and momentum, float32 and 64)."""
    config = matched(299, seed=1, **MOMENTUM)
    looped = type("Looped", (jax_backend.JaxTunedTrainer,), {"FUSED_MAX": 0, "UNROLL": unroll})()
    looped.setup(config)
    idiomatic = jax_trainer("idiomatic", config)
    a, b = looped.fit(299), idiomatic.fit(299)
    np.testing.assert_array_equal(a.losses, b.losses)
    np.testing.assert_array_equal(a.max_errors, b.max_errors)
    np.testing.assert_array_equal(looped.predict(), idiomatic.predict())


def test_the_tuned_mode_writes_its_forward_without_dots_only_for_a_small_network(jax_backend):
    """forward_fused is 0.05-0.9x jnp.dot's time up to FUSED_MAX hidden x samples, 7-39x beyond."""
    small, large = backends.TrainConfig(), backends.TrainConfig(hidden=256, samples=16)  # 16 and 4,096
    assert jax_trainer("tuned", small).forward is jax_backend.forward_fused
    assert jax_trainer("tuned", large).forward is jax_backend.forward


@pytest.mark.parametrize("mode", MODES)
def test_a_fit_longer_than_one_chunk_continues_seamlessly(jax_backend, mode):
    epochs = jax_backend.CHUNK + 100
    config = matched(epochs, optimizer="adam")
    whole, split = jax_trainer(mode, config), jax_trainer(mode, config)
    joined = backends.History.join([split.fit(1), split.fit(epochs - 1)])
    np.testing.assert_array_equal(whole.fit(epochs).losses, joined.losses)


@pytest.mark.parametrize("mode", MODES)
def test_the_framework_init_is_the_shared_glorot_weights(jax_backend, mode):
    """JAX has no initialiser of its own for a hand-written model: init="framework" means Glorot."""
    config = matched(1).replace(init="framework")
    w1, b1, w2, b2 = (p.astype(np.float64) for p in backends.initial_params(config.replace(init="glorot")).astuple())
    X, y = (a.astype(np.float64) for a in backends.xor_data(config))
    error = 1 / (1 + np.exp(-((1 / (1 + np.exp(-(X @ w1 + b1)))) @ w2 + b2))) - y
    history = jax_trainer(mode, config).fit(1)
    np.testing.assert_allclose(history.losses[0], np.mean(error**2), rtol=1e-6)
    np.testing.assert_allclose(history.max_errors[0], np.max(np.abs(error)), rtol=1e-6)


def test_float64_support_leaves_float32_runs_in_float32(jax_backend):
    """x64 is on for the float64 runs; a float32 run must not be promoted by it."""
    trainer = jax_trainer("tuned", matched(optimizer="adam"))
    trainer.fit(3)
    assert {str(p.dtype) for p in trainer.params} == {"float32"}
    assert trainer.state[1][0].dtype == np.float32  # Adam's first moment
    history = trainer.fit(2)
    assert history.losses.dtype == history.max_errors.dtype == np.float64  # the history, on the host


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
    config = matched(20, optimizer="adam")
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
