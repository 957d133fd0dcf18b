"""The `article` preset: each backend as the article's snippet, and what each snippet really does.

A finding the report shows, pinned as a fact: the scratch NumPy and torch snippets solve
XOR, while the Keras snippet (Adam at its default 0.001 for 500 epochs) has barely moved
off 0.5 when it stops.
"""

from __future__ import annotations

import numpy as np
import pytest

from xorbench import backends

ARTICLE_SEED = 0  # the documented seed; numpy and torch also solve XOR at seeds 1 and 2

# The Keras finding is not one lucky draw: at seeds 0-3 it ended with accuracy 0.5, max
# |output - 0.5| between 0.015 and 0.057 and final MSE 0.239-0.248 (a constant 0.5 scores
# 0.25). The suite checks the documented seed only (500 model.fit epochs take ~20 s here);
# the bounds leave room for other draws.
KERAS_MAX_DISTANCE_FROM_HALF = 0.15
KERAS_MIN_FINAL_LOSS = 0.2


def test_article_presets_are_the_snippets_as_written():
    numpy_, keras, torch = (backends.preset("article", name) for name in ("numpy", "keras", "torch"))
    assert (numpy_.init, numpy_.optimizer, numpy_.lr, numpy_.epochs) == ("uniform01", "sgd", 0.1, 10_000)
    assert (numpy_.dtype, numpy_.objective) == ("float64", "half_sse")  # error * derivative, no 1/N
    assert (keras.init, keras.optimizer, keras.lr, keras.epochs) == ("framework", "adam", 0.001, 500)
    assert (torch.init, torch.optimizer, torch.lr, torch.epochs) == ("framework", "adam", 0.1, 5000)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ("numpy", "torch"))
def test_article_numpy_and_torch_solve_xor(trained, name):
    result = trained(name, backends.preset("article", name, seed=ARTICLE_SEED))
    assert result.status == "ok"
    assert result.accuracy == 1.0
    assert result.solved, f"final loss {result.losses[-1]:.4g}"


# model.fit's 500 epochs take 20-40 s here, so that instance is slow. CI checks the finding on Keras' tuned
# mode: the same model, seeded Keras initialisers, loss and Adam (keras_common's _build), trained in one XLA
# loop whose curves are model.fit's (tests/test_modes.py).
@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", [pytest.param("idiomatic", marks=pytest.mark.slow), "tuned"])
def test_article_keras_does_not_solve_xor_in_500_epochs(new_trainer, mode):
    result = backends.train(new_trainer("keras", mode), backends.preset("article", "keras", seed=ARTICLE_SEED))
    assert result.status == "ok"
    assert len(result.losses) == 500
    assert result.accuracy < 1.0
    assert not result.solved
    assert np.max(np.abs(result.predictions - 0.5)) < KERAS_MAX_DISTANCE_FROM_HALF
    assert result.losses[-1] > KERAS_MIN_FINAL_LOSS
