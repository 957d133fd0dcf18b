"""Bad input is refused at the edge with a ValueError naming the field and what it allows;
a run that blows up numerically comes back marked diverged, not as a crash."""

from __future__ import annotations

import math

import pytest

from xorbench import backends
from xorbench.backends import TrainConfig

# (field, bad value, words the message must contain besides the field's name)
BAD_CONFIG = [
    ("epochs", 0, (">= 1",)),
    ("epochs", -5, (">= 1",)),
    ("epochs", 2.5, ("integer",)),
    ("hidden", 0, (">= 1",)),
    ("lr", 0.0, ("finite", "> 0")),
    ("lr", -0.1, ("finite", "> 0")),
    ("lr", math.nan, ("finite", "> 0")),
    ("lr", math.inf, ("finite", "> 0")),
    ("lr", "0.1", ("number",)),
    ("optimizer", "rmsprop", ("sgd", "adam")),
    ("optimizer", "SGD", ("sgd", "adam")),
    ("dtype", "float16", ("float32", "float64")),
    ("init", "he", ("glorot", "uniform01", "framework")),
    ("objective", "mae", ("mse", "half_sse")),
    ("eps", 0.0, ("> 0",)),
    ("beta1", 1.0, ("[0, 1)",)),
    ("momentum", -0.1, ("[0, 1)",)),
    ("momentum", 1, ("[0, 1)",)),
    ("momentum", 1.5, ("[0, 1)",)),
    ("momentum", "0.9", ("number",)),
    ("init_range", -0.5, ("finite", "> 0")),
    ("init_range", 0.0, ("finite", "> 0")),
    ("init_range", math.inf, ("finite", "> 0")),
    ("objective", "sse", ("mse", "half_sse", "half_mse")),
    ("init", "normal", ("uniform", "glorot")),
]


def assert_names(error: pytest.ExceptionInfo, field: str, allowed: tuple[str, ...]) -> None:
    message = str(error.value)
    assert field in message, message
    for word in allowed:
        assert word in message, message


@pytest.mark.parametrize("field, value, allowed", BAD_CONFIG, ids=[f"{f}={v!r}" for f, v, _ in BAD_CONFIG])
def test_bad_config_raises_value_error_naming_field_and_allowed_values(field, value, allowed):
    with pytest.raises(ValueError) as error:
        TrainConfig(**{field: value})
    assert_names(error, field, allowed)


@pytest.mark.parametrize("field, value, allowed", BAD_CONFIG[:4], ids=[f"{f}={v!r}" for f, v, _ in BAD_CONFIG[:4]])
def test_replace_validates_like_the_constructor(field, value, allowed):
    with pytest.raises(ValueError) as error:
        TrainConfig().replace(**{field: value})
    assert_names(error, field, allowed)


def test_default_config_is_valid_and_frozen():
    config = TrainConfig()
    with pytest.raises(AttributeError):
        config.lr = 1.0  # type: ignore[misc]
    assert hash(config) == hash(TrainConfig())


BAD_TRAINER = [
    (dict(name="mxnet"), "backend", tuple(backends.BACKENDS)),
    (dict(name="numpy", device="tpu"), "device", ("cpu", "gpu")),
    (dict(name="numpy", mode="fast"), "mode", ("idiomatic", "compiled", "tuned")),
]


@pytest.mark.parametrize("kwargs, field, allowed", BAD_TRAINER, ids=[f for _, f, _ in BAD_TRAINER])
def test_get_trainer_rejects_unknown_names(kwargs, field, allowed):
    with pytest.raises(ValueError) as error:
        backends.get_trainer(**kwargs)
    assert_names(error, field, allowed)


def test_get_trainer_on_an_unavailable_device_says_why():
    unavailable = [row for row in backends.available() if not row.ok]
    if not unavailable:
        pytest.skip("every backend runs on every device here")
    row = unavailable[0]
    with pytest.raises(RuntimeError) as error:
        backends.get_trainer(row.backend, row.device)
    assert str(error.value) == f"{row.backend} on {row.device} is unavailable: {row.reason}"


BAD_PRESET = [
    (("fast", "numpy"), {}, "preset", ("matched", "article")),
    (("article", "jax"), {}, "backend", ("numpy", "keras", "torch")),
    (("matched", "numpy"), dict(optimizer="rmsprop"), "optimizer", ("sgd", "adam")),
    (("matched", "numpy"), dict(epochs=0), "epochs", (">= 1",)),
    (("article", "torch"), dict(lr=-1.0), "lr", ("> 0",)),
    (("article", "keras"), dict(dtype="int8"), "dtype", ("float32", "float64")),
]


@pytest.mark.parametrize(
    "args, overrides, field, allowed", BAD_PRESET, ids=[f"{a[0]}-{f}" for a, _, f, _ in BAD_PRESET]
)
def test_preset_rejects_bad_names_and_overrides(args, overrides, field, allowed):
    with pytest.raises(ValueError) as error:
        backends.preset(*args, **overrides)
    assert_names(error, field, allowed)


def test_preset_names_every_preset_when_refusing_one():
    with pytest.raises(ValueError) as error:
        backends.preset("1986", "numpy")
    assert_names(error, "preset", backends.PRESETS)
    assert "classic" in backends.PRESETS


MOMENTUM_WITH_ADAM = {
    "constructor": lambda: TrainConfig(optimizer="adam", momentum=0.9),
    "replace": lambda: TrainConfig(momentum=0.5).replace(optimizer="adam"),
    "classic-preset": lambda: backends.preset("classic", "torch", optimizer="adam"),
}


@pytest.mark.parametrize("make", MOMENTUM_WITH_ADAM.values(), ids=MOMENTUM_WITH_ADAM.keys())
def test_momentum_with_adam_is_refused_naming_the_field(make):
    with pytest.raises(ValueError) as error:
        make()
    assert_names(error, "momentum", ("sgd only",))


def test_momentum_zero_with_adam_is_fine():
    assert TrainConfig(optimizer="adam", momentum=0.0).momentum == 0.0
    assert backends.preset("matched", "numpy", optimizer="adam").momentum == 0.0


def test_matched_preset_rejects_an_unknown_backend():
    with pytest.raises(ValueError, match="backend"):
        backends.preset("matched", "mxnet")


# Diverging runs. A huge learning rate in float32 mostly *saturates* the sigmoids (loss stuck
# at 0.5, gradients exactly 0) instead of overflowing: SGD at lr=1e38 stays finite everywhere.
# Adam takes steps of about lr whatever the gradient, so at lr=1e308 in float64 the weights
# overflow to inf within 1-3 epochs and inf - inf gives NaN, in every backend (measured).
@pytest.mark.parametrize("name", ("numpy", "keras", "numba", "jax"))
def test_float32_adam_overflow_is_reported_as_diverged(new_trainer, name):
    # lr=1e38 fits in float32 but a few steps of it do not.
    config = backends.preset("matched", name, optimizer="adam", lr=1e38, epochs=20)
    result = backends.train(new_trainer(name), config)
    assert result.status == "diverged"


def test_torch_float32_adam_overflow_is_reported_as_diverged(new_trainer):
    result = backends.train(
        new_trainer("torch"), backends.preset("matched", "torch", optimizer="adam", lr=1e38, epochs=20)
    )
    assert result.status == "diverged"


@pytest.mark.parametrize("field", ["epochs", "hidden", "lr"])
def test_a_bool_is_not_a_number_of_epochs_units_or_a_learning_rate(field):
    with pytest.raises(ValueError, match=field):
        backends.TrainConfig(**{field: True})


# ------------------------------------------------------------------ run and sweep options


def test_run_and_sweep_options_are_separate_frozen_types_with_their_own_defaults_and_quick_values():
    import dataclasses

    from xorbench.bench.options import SWEEP_HIDDEN, RunOptions, SweepOptions, make

    run, sweep = make("run", False, {}, "xorbench run"), make("sweep", False, {}, "xorbench sweep")
    assert type(run) is RunOptions and type(sweep) is SweepOptions
    assert (run.command, run.timeout_s, run.repeats, run.hidden) == ("run", 300.0, 8, None)
    assert (sweep.command, sweep.timeout_s, sweep.repeats, sweep.hidden) == ("sweep", 240.0, 3, SWEEP_HIDDEN)
    assert not {"seeds", "preset", "init_range"} & {f.name for f in dataclasses.fields(SweepOptions)}
    assert not {"batch", "cell_cap_s"} & {f.name for f in dataclasses.fields(RunOptions)}
    quick = make("run", True, {"seeds": 7}, "xorbench run --quick --seeds 7")
    assert (quick.epochs, quick.seeds, quick.processes) == (200, 7, 1)  # what the user gave wins over --quick
    assert run.processes is None and run.budget_s == 280.0  # planned within the budget
    assert make("sweep", True, {}, "xorbench sweep --quick").batch == (4, 4096)
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.seeds = 1  # type: ignore[misc]


def test_imports_run_one_way_cli_runner_plan_options():
    """No module imports one before it in cli -> runner -> plan -> options, not even inside a function."""
    import ast
    from pathlib import Path

    order = ["cli", "runner", "plan", "options"]
    bench = Path(__file__).resolve().parent.parent / "bench"
    for i, name in enumerate(order):
        tree = ast.parse((bench / f"{name}.py").read_text())
        imported = {
            node.module.lstrip(".") for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
        }
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level
                     and not node.module for alias in node.names}  # fmt: skip
        assert not imported & set(order[:i]), f"bench/{name}.py imports {sorted(imported & set(order[:i]))}"
