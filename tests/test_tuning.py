"""bench/tuning.py, the script behind docs/TUNING.md: its variants still match the backends' knobs.

Timing them is the script's job (minutes); here each framework's variants are only built, so a
renamed or lost knob (a class attribute the trainers no longer have) fails in CI, not in the
next tuning run.
"""

from __future__ import annotations

import pytest

from xorbench import backends
from xorbench.bench.tuning import VARIANTS


@pytest.mark.parametrize("name", ["numpy", "torch", "jax", "keras", "keras-jax", "keras-torch"])
def test_every_variant_builds_its_backend_s_trainer_and_one_is_marked_tuned(new_trainer, name):
    new_trainer(name)  # skips, with the reason, where the framework is missing or another Keras backend runs
    variants = VARIANTS[name]()
    assert sum("(tuned)" in v.label for v in variants) == 1, [v.label for v in variants]
    registered = {mode: type(backends.get_trainer(name, "cpu", mode)) for mode in backends.modes_of(name)}
    for v in variants:
        trainer = v.make()
        assert isinstance(trainer, tuple(registered.values())), v.label
        for knob, value in vars(type(trainer)).items():
            if knob.isupper():  # a knob the variant sets must be one the trainer has
                assert any(hasattr(cls, knob) for cls in registered.values()), (v.label, knob, value)
