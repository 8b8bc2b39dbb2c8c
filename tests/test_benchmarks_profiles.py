"""The profile maths and the success test of the benchmark harness, against hand computations."""

import math

import numpy as np
import pytest

from benchmarks import profiles
from benchmarks import records as rec

INF = math.inf

# Four problems, two solvers A and B; cost (evaluations) to pass the convergence test, inf = never.
COSTS = np.array([
    [10.0, 20.0],  # p1: A best
    [30.0, 15.0],  # p2: B best
    [INF, 40.0],  # p3: only B solves it
    [INF, INF],  # p4: nobody solves it (still counts in |P| = 4)
])
DIMS = [1, 4, 9, 2]


def test_performance_ratios_by_hand():
    # r = t / min over solvers: p1 (1, 2); p2 (2, 1); p3 (inf, 1); p4 (inf, inf).
    expected = np.array([[1.0, 2.0], [2.0, 1.0], [INF, 1.0], [INF, INF]])
    np.testing.assert_array_equal(profiles.performance_ratios(COSTS), expected)


def test_performance_profile_by_hand():
    taus = [1.0, 1.5, 2.0, 100.0]
    # rho_A: tau=1 -> {p1} = 1/4; tau=1.5 -> 1/4; tau=2 -> {p1, p2} = 2/4; tau=100 -> still 2/4.
    # rho_B: tau=1 -> {p2, p3} = 2/4; tau=1.5 -> 2/4; tau=2 -> {p1, p2, p3} = 3/4; tau=100 -> 3/4.
    expected = np.array([[0.25, 0.50], [0.25, 0.50], [0.50, 0.75], [0.50, 0.75]])
    np.testing.assert_allclose(profiles.performance_profile(COSTS, taus), expected)


def test_data_profile_by_hand():
    # Units t / (n_p + 1): p1 (n=1): A 10/2 = 5, B 20/2 = 10; p2 (n=4): A 30/5 = 6, B 15/5 = 3;
    # p3 (n=9): A inf, B 40/10 = 4; p4: inf, inf.
    alphas = [3.0, 4.0, 5.0, 6.0, 10.0]
    # d_A: alpha 3 -> 0; 4 -> 0; 5 -> {p1} 1/4; 6 -> {p1, p2} 2/4; 10 -> 2/4.
    # d_B: alpha 3 -> {p2} 1/4; 4 -> {p2, p3} 2/4; 5 -> 2/4; 6 -> 2/4; 10 -> {p1, p2, p3} 3/4.
    expected = np.array([[0.0, 0.25], [0.0, 0.5], [0.25, 0.5], [0.5, 0.5], [0.5, 0.75]])
    np.testing.assert_allclose(profiles.data_profile(COSTS, DIMS, alphas), expected)


def test_cost_to_pass_by_hand():
    values = [10.0, 6.0, 3.0, 1.5, 1.05, 1.0]
    costs = [2, 4, 7, 9, 12, 15]
    # f0 = 10, f_L = 1. tau = 0.1: threshold 1 + 0.1 * 9 = 1.9; first value <= 1.9 is 1.5 (cost 9).
    assert profiles.cost_to_pass(values, costs, 10.0, 1.0, 0.1) == 9.0
    # tau = 1e-3: threshold 1.009; only the last value 1.0 passes (cost 15).
    assert profiles.cost_to_pass(values, costs, 10.0, 1.0, 1e-3) == 15.0
    # f_L = 0.5, tau = 1e-3: threshold 0.5095; nothing passes.
    assert profiles.cost_to_pass(values, costs, 10.0, 0.5, 1e-3) == INF
    # A NaN on the way never passes, and does not hide a later pass.
    assert profiles.cost_to_pass([10.0, float("nan"), 1.0], [1, 2, 3], 10.0, 1.0, 0.1) == 3.0


def test_profile_input_checks():
    with pytest.raises(ValueError, match="positive"):
        profiles.performance_ratios(np.array([[0.0, 1.0]]))
    with pytest.raises(ValueError, match="matrix"):
        profiles.performance_ratios(np.array([1.0, 2.0]))
    # NaN is a failure, like inf.
    np.testing.assert_array_equal(profiles.performance_ratios(np.array([[np.nan, 2.0]])), [[INF, 1.0]])


def test_success_test_by_hand():
    # f_opt = 0: absolute tolerance tol * max(1, 0) = 1e-5.
    assert rec.is_success(5e-6, 0.0, 1e-5) == (True, "global")
    assert rec.is_success(2e-5, 0.0, 1e-5) == (False, None)
    # f_opt = -100: relative, threshold 1e-5 * 100 = 1e-3 above f_opt.
    assert rec.is_success(-99.9995, -100.0, 1e-5) == (True, "global")
    assert rec.is_success(-99.99, -100.0, 1e-5) == (False, None)
    # A documented local minimum (MGH Freudenstein-Roth: 48.9842...) counts, marked local.
    assert rec.is_success(48.98425, 0.0, 1e-5, (48.98425368,)) == (True, "local")
    # No known optimum: unknown; a non-finite end: failure.
    assert rec.is_success(1.0, None, 1e-5) == (None, None)
    assert rec.is_success(float("nan"), 0.0, 1e-5) == (False, None)


def test_subsample_keeps_ends():
    idx = rec.subsample_indices(10_001, max_points=100)
    assert idx[0] == 0 and idx[-1] == 10_000 and len(idx) <= 100
    assert np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(rec.subsample_indices(5, max_points=100), np.arange(5))
