"""bench/tuning.py, the script behind docs/TUNING.md: its variants still match the backends' knobs.

Timing them is the script's job (minutes); here each framework's variants are only built, so a
renamed or lost knob (a class attribute the trainers no longer have) fails in CI, not in the
next tuning run.
"""

from __future__ import annotations

import pytest
from selection import HERE

from xorbench import backends
from xorbench.bench.tuning import VARIANTS


# The other Keras backends: tests/test_keras_backends.py runs this file in a process of their own.
@pytest.mark.parametrize("name", [name for name in VARIANTS if name in HERE])
def test_every_variant_builds_its_backend_s_trainer_and_one_is_marked_tuned(new_trainer, name):
    new_trainer(name)  # pins threads; skips, with the install command, where the framework is missing
    variants = VARIANTS[name]()
    assert sum("(tuned)" in v.label for v in variants) == 1, [v.label for v in variants]
    registered = {mode: type(backends.get_trainer(name, "cpu", mode)) for mode in backends.modes_of(name)}
    for v in variants:
        trainer = v.make()
        assert isinstance(trainer, tuple(registered.values())), v.label
        for knob, value in vars(type(trainer)).items():
            if knob.isupper():  # a knob the variant sets must be one the trainer has
                assert any(hasattr(cls, knob) for cls in registered.values()), (v.label, knob, value)
