"""The Moré-Garbow-Hillstrom set: the issue's targets for ml_opt's second-order solvers against scipy.

The comparison itself (pairs of solvers, the same stopping rule on both sides, what "solved" means,
what is counted) is :mod:`benchmarks.mgh_vs_scipy`; ``python -m benchmarks.mgh_vs_scipy`` prints its
tables (``--start-scale 10`` from MGH's harder starts). Here, at the standard starts:

Targets: solve every problem scipy's counterpart solves; over the problems both solve, the median
of (ml_opt evaluations / scipy evaluations) at most 1, and no ratio above 2.

* ``pytest tests/test_mgh_vs_scipy.py`` (CI): the targets on a fixed subset, every 12th problem
  (MGH numbers 1, 13, 25: rosenbrock, powell_singular, variably_dimensioned), chosen by that rule,
  not by results.
* ``pytest tests/test_mgh_vs_scipy.py -m slow -s``: all 35 problems; prints the Markdown tables (and
  writes them to the file named by the environment variable ``ML_OPT_MGH_TABLE``, if set) and asserts
  the targets for every pair.

Every pair reaches the targets over all 35 problems. A pair that does not reach them on the CI
subset is listed in ``SUBSET_SHORTFALLS`` with what was measured, and its test is a strict xfail:
it fails as soon as the solver reaches the targets there, so that the entry is removed then.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from benchmarks.mgh_vs_scipy import OTHER_SIZES, PAIR_NAMES, compare, markdown, other_size_problems, summarize
from ml_opt.problems.mgh import mgh_info, mgh_problem, mgh_problems

CI_SUBSET = [1, 13, 25]


def assert_targets(rows, name):
    s = summarize(rows)
    assert not s["missed"], f"{name}: scipy solves {s['missed']}, ml_opt does not"
    assert s["median"] <= 1.0, f"{name}: median evaluation ratio {s['median']:.2f} > 1"
    assert s["max"] <= 2.0, f"{name}: evaluation ratio {s['max']:.2f} > 2 on {s['worst']}"


# ------------------------------------------------------------------------------------------
# Targets not reached on the CI subset (measured; strict: the marker must go when they are)
# ------------------------------------------------------------------------------------------

SUBSET_SHORTFALLS: dict[str, str] = {}  # none at present


def subset_params():
    return [pytest.param(name, marks=pytest.mark.xfail(reason=SUBSET_SHORTFALLS[name], strict=True))
            if name in SUBSET_SHORTFALLS else name for name in PAIR_NAMES]


# ------------------------------------------------------------------------------------------
# CI: the subset
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", subset_params())
def test_mgh_subset_targets(name):
    problems = [mgh_problem(number) for number in CI_SUBSET]
    rows = compare(problems, [name])[name]
    for p, ours, theirs in rows:
        assert np.isfinite(ours.value) and np.isfinite(ours.grad_norm), p.name
    assert_targets(rows, name)


def test_other_sizes_are_other_sizes():
    """``--other-sizes``: every entry the problem asked for, at the sizes asked for, none standard."""
    problems = other_size_problems()
    asked = [(key, size) for key, sizes in OTHER_SIZES.items() for size in sizes]
    assert len(problems) == len(asked)
    for p, (key, size) in zip(problems, asked):
        info = mgh_info(p)
        assert info.key == key and not info.standard, p.name
        assert all(getattr(info, k) == v for k, v in size.items()), (p.name, size)
        assert np.isfinite(float(p.fun(p.init(None)))), p.name


# ------------------------------------------------------------------------------------------
# The full sweep
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_sweep():
    """Every available pair on all 35 problems; prints the Markdown table (and writes it to the
    file named by ``ML_OPT_MGH_TABLE``)."""
    results = compare(mgh_problems(), PAIR_NAMES)
    table = markdown(results)
    print("\n" + table)
    path = os.environ.get("ML_OPT_MGH_TABLE")
    if path:
        with open(path, "w") as f:
            f.write(table + "\n")
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", PAIR_NAMES)
def test_mgh_full_sweep(full_sweep, name):
    assert_targets(full_sweep[name], name)
