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
  the targets for every pair. Also from the perturbed starts of ``--perturbed-starts 1 2 3``: ml_opt
  passes the gradient test wherever scipy's counterpart does, except the runs of ``PERTURBED_MISSES``.

Every pair of the issue reaches the targets over the 35 problems but for one problem each of
``bfgs`` and ``nonlinear_cg`` (``FULL_SWEEP_MISSES``); ``trust_region_newton``, added since, misses
one problem (``FULL_SWEEP_SHORTFALLS``). A pair that does not reach them on the CI
subset is listed in ``SUBSET_SHORTFALLS`` with what was measured. Their tests are strict xfails:
each fails as soon as the solver reaches the targets there, so that the entry is removed then.
"""

from __future__ import annotations

import os
import types

import jax.numpy as jnp
import numpy as np
import pytest

from benchmarks.mgh_vs_scipy import (GTOL, OTHER_SIZES, PAIR_NAMES, Outcome, compare, markdown, markdown_perturbed,
                                      other_size_problems, perturbed_start, summarize, summarize_perturbed)
from ml_opt.problems.mgh import mgh_info, mgh_problem, mgh_problems

CI_SUBSET = [1, 13, 25]


def assert_targets(rows, name, misses=frozenset()):
    """The issue's targets; ``misses``: the problems scipy solves and ml_opt is known not to (exactly)."""
    s = summarize(rows)
    assert set(s["missed"]) == set(misses), f"{name}: scipy solves {s['missed']}, ml_opt does not"
    assert s["median"] <= 1.0, f"{name}: median evaluation ratio {s['median']:.2f} > 1"
    assert s["max"] <= 2.0, f"{name}: evaluation ratio {s['max']:.2f} > 2 on {s['worst']}"


# ------------------------------------------------------------------------------------------
# Targets not reached on the CI subset (measured; strict: the marker must go when they are)
# ------------------------------------------------------------------------------------------

SUBSET_SHORTFALLS: dict[str, str] = {
    # (Empty since minimize's loop became a small call, whose code rounds differently: nonlinear_cg's
    # count on Powell's singular function, which decides its median on this subset and hangs on
    # rounding, 99 to 256 evaluations from 30 starts within 1e-10 of the standard one, now meets
    # the target from the standard start.)
}


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


def test_perturbed_starts_are_seeded_moves_of_the_standard_starts():
    """``--perturbed-starts``: every coordinate moves, by at most half its size (or 0.5); a seed
    gives one start per problem, whatever else was drawn before, and another seed another; every
    start has a finite value."""
    for p in mgh_problems():
        x0 = np.asarray(p.init(None))
        start = np.asarray(perturbed_start(p, 1).init(None))
        assert np.all((start != x0) & (np.abs(start - x0) <= 0.5 * np.maximum(np.abs(x0), 1.0))), p.name
        assert not np.array_equal(start, np.asarray(perturbed_start(p, 2).init(None))), p.name
        assert np.isfinite(float(p.fun(jnp.asarray(start)))), p.name
    first = np.asarray(perturbed_start(mgh_problem(7), 3).init(None))
    perturbed_start(mgh_problem(8), 3)
    np.testing.assert_array_equal(np.asarray(perturbed_start(mgh_problem(7), 3).init(None)), first)
    assert perturbed_start(mgh_problem(7), 3).name == f"{mgh_problem(7).name} (seed 3)"


def test_perturbed_runs_are_judged_against_each_other():
    """Five made-up pairs of runs, one of each kind, and what the summary must say of them."""
    def outcome(value, nfev, grad_norm=GTOL / 2):
        return Outcome(value, grad_norm, nfev, solved=False)

    rows = [
        (types.SimpleNamespace(name="same"), outcome(1.0, 30), outcome(1.0 + 1e-7, 20)),  # ratio 1.5
        (types.SimpleNamespace(name="slow"), outcome(0.0, 50), outcome(1e-9, 20)),  # ratio 2.5
        (types.SimpleNamespace(name="lower"), outcome(0.0, 10), outcome(1.0, 10)),
        (types.SimpleNamespace(name="missed"), outcome(2.0, 99, grad_norm=1e-3), outcome(1.0, 10)),
        (types.SimpleNamespace(name="theirs nan"), outcome(1.0, 10), outcome(float("nan"), 10, float("nan"))),
    ]
    s = summarize_perturbed(rows)
    assert (s["runs"], s["passed"], s["scipy_passed"], s["missed"]) == (5, 4, 4, ["missed"])
    assert (s["same"], s["median"], s["max"], s["above_2x"]) == (2, 2.0, (2.5, "slow"), ["slow"])
    assert (s["lower"], s["higher"]) == (1, 0)


def test_perturbed_start_table_on_rosenbrock():
    results = compare([perturbed_start(mgh_problem(1), 1)], ["lbfgs"])
    (p, ours, theirs), = results["lbfgs"]
    assert ours.grad_norm <= GTOL and theirs.grad_norm <= GTOL
    assert abs(ours.value) < 1e-10 and abs(theirs.value) < 1e-10  # both at Rosenbrock's minimum, 0
    row = f"| lbfgs (L-BFGS-B) | 1 | 1 | 1 | - | 1, {ours.nfev / theirs.nfev:.2f}, {ours.nfev / theirs.nfev:.2f} ("
    assert row in markdown_perturbed(results, [1])


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


# Pairs that miss the targets over the 35 problems (measured; strict: the marker must go when they
# do not).
FULL_SWEEP_SHORTFALLS: dict[str, str] = {
    # Its first step on Biggs EXP6, the exact minimiser of the model within the radius (model value
    # -0.556 against -0.530 for trust-exact's approximate one), leads into a valley where x3, x4 and
    # x6 grow without bound and f falls towards 0.2427: 5088 evaluations, where trust-exact reaches
    # the minimum, 0, in 39. Median ratio 1.00 over the other 34.
    "trust_region_newton": "biggs_exp6 not solved (a valley to infinity, f -> 0.2427; trust-exact: 0 in 39)",
}


# Problems that scipy's counterpart solves and the pair does not, the targets met over the others
# (measured; the test fails on any other miss, and on a listed problem solved, so that it goes then).
FULL_SWEEP_MISSES: dict[str, set[str]] = {
    # Both since minimize runs each solve as a small call (ml_opt.small_call), whose code rounds a
    # little differently. Both runs stop at gtol short of the paper's six digits: Penalty II at
    # f = 2.936792e-4 (f* = 2.93660e-4: 1.9e-8 over it, the test's tolerance 1.3e-8; 3e-11 before),
    # Osborne 1 at 5.466532e-5 (f* = 5.46489e-5: 1.6e-8 over, tolerance 1.05e-8; 1.2e-9 before). At
    # LLVM's optimisation level 3 the same; at level 1 bfgs solves Penalty II, and nonlinear_cg misses
    # Gulf research and development too.
    "bfgs": {"mgh/penalty2"},
    "nonlinear_cg": {"mgh/osborne1"},
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(reason=FULL_SWEEP_SHORTFALLS[name], strict=True))
    if name in FULL_SWEEP_SHORTFALLS else name for name in PAIR_NAMES])
def test_mgh_full_sweep(full_sweep, name):
    assert_targets(full_sweep[name], name, FULL_SWEEP_MISSES.get(name, frozenset()))


# ------------------------------------------------------------------------------------------
# The sweep from perturbed starts
# ------------------------------------------------------------------------------------------

PERTURBED_SEEDS = [1, 2, 3]

# Runs that scipy's counterpart ends with a passed gradient test and ml_opt does not (measured).
# The test fails on any other, and on an entry that ml_opt passes, so that it is removed then.
PERTURBED_MISSES = {
    # newton follows a valley that runs off to infinity: one Gaussian term's coefficient falls to
    # 1e-14 (1e-26) as the rate in its exponent turns negative, and f is below trust-exact's
    # stationary values (0.38 against 0.48, 0.16 against 0.31) when its 5000 steps run out.
    "newton": {"mgh/osborne2 (seed 1)", "mgh/osborne2 (seed 3)"},
}


@pytest.fixture(scope="module")
def perturbed_sweep():
    """Every pair on the 35 problems from the starts of ``--perturbed-starts 1 2 3``; prints the table."""
    problems = [perturbed_start(p, seed) for seed in PERTURBED_SEEDS for p in mgh_problems()]
    results = compare(problems, PAIR_NAMES)
    print("\n" + markdown_perturbed(results, PERTURBED_SEEDS))
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", PAIR_NAMES)
def test_mgh_perturbed_starts_pass_where_scipy_does(perturbed_sweep, name):
    rows = perturbed_sweep[name]
    for p, ours, _ in rows:
        assert np.isfinite(ours.value) and np.isfinite(ours.grad_norm), p.name
    assert set(summarize_perturbed(rows)["missed"]) == PERTURBED_MISSES.get(name, set())
