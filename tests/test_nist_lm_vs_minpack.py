"""Levenberg-Marquardt on NIST StRD models against MINPACK (:mod:`benchmarks.nist_lm_vs_minpack`), CI-sized.

* The generated data: at the generating parameters the residuals are the noise, so their root mean
  square is about the noise's standard deviation.
* Live, on Eckerle4 and BoxBOD from NIST's two starts each (the two models where a nearly singular
  J^T J or a column of J far below the others' once misled levenberg_marquardt): ml_opt solves
  wherever MINPACK (scipy.optimize.least_squares, method="lm") does, in at most twice MINPACK's
  residual evaluations (the issue's yardstick). The nine models are ``python -m
  benchmarks.nist_lm_vs_minpack``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.nist_lm_vs_minpack import MODELS, compare, markdown, residual_function

BY_NAME = {model.name: model for model in MODELS}


@pytest.mark.parametrize("name", list(BY_NAME))
def test_data_are_the_model_plus_noise_of_the_stated_size(name):
    model = BY_NAME[name]
    r = np.asarray(residual_function(model)(jnp.asarray(model.params)))
    rms = np.sqrt(np.mean(r ** 2))
    # the sample standard deviation of m normal draws is within 4 / sqrt(2m) of sigma (relative) but
    # for a chance of about 1e-4
    assert abs(rms / model.noise - 1.0) <= 4.0 / np.sqrt(2 * r.size), (rms, model.noise)


@pytest.mark.parametrize("name", ["eckerle4", "boxbod"])
def test_solves_where_minpack_does_within_twice_its_evaluations(name):
    rows = compare([BY_NAME[name]])
    print(markdown(rows))
    assert len(rows) == 2
    for row in rows:
        assert row.solved or not row.minpack_solved, row
        if row.solved and row.minpack_solved:
            assert row.ours.nfev <= 2 * row.tight.nfev, row
