"""Performance profiles (Dolan & Moré, 2002) and data profiles (Moré & Wild, 2009).

Both compare a set of solvers ``S`` on a set of problems ``P`` through a cost ``t[p, s] > 0``: what
solver ``s`` spent on problem ``p`` until it passed a convergence test (``inf`` if it never did).

Performance profile
    The ratio to the best solver on each problem, ``r[p, s] = t[p, s] / min_s t[p, s]``, and for each
    solver the fraction of problems it solves within a factor ``tau`` of the best::

        rho_s(tau) = |{p : r[p, s] <= tau}| / |P|

    ``rho_s(1)`` is the fraction of problems on which ``s`` is (one of) the cheapest; ``rho_s`` at
    large ``tau`` is the fraction it solves at all. A problem no solver passes counts in ``|P|`` but
    is solved by none.

Data profile
    The cost in units of the problem's size, ``n_p + 1`` evaluations (one "simplex gradient" in the
    derivative-free setting where the profile was introduced), and for each solver the fraction of
    problems it solves within a budget of ``alpha`` such units::

        d_s(alpha) = |{p : t[p, s] / (n_p + 1) <= alpha}| / |P|

Convergence test (Moré & Wild, 2009, eq. 2.2)
    A point ``x`` reached by a solver passes at tolerance ``tau`` when

        f(x) <= f_L + tau * (f(x_0) - f_L)

    i.e. it achieved ``1 - tau`` of the best reduction, where ``f_L`` is the smallest value any solver
    found on the problem (here also the known optimum, when it is lower). The cost of a run is the
    cost spent when its trajectory first passes the test: :func:`cost_to_pass`.

References:
    E. D. Dolan and J. J. Moré, "Benchmarking optimization software with performance profiles",
    Mathematical Programming 91, 2002.
    J. J. Moré and S. M. Wild, "Benchmarking derivative-free optimization algorithms",
    SIAM Journal on Optimization 20(1), 2009.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def performance_ratios(costs: np.ndarray) -> np.ndarray:
    """``r[p, s] = t[p, s] / min_s t[p, s]``; ``inf`` where ``s`` failed or no solver passed ``p``.

    Args:
      costs: ``(num_problems, num_solvers)``, positive, ``inf`` (or NaN) for a failure.

    Returns:
      The ratios, same shape, each ``>= 1`` or ``inf``.
    """
    t = np.asarray(costs, dtype=float)
    if t.ndim != 2:
        raise ValueError(f"costs must be a (problems, solvers) matrix, got shape {t.shape}")
    t = np.where(np.isnan(t), np.inf, t)
    if np.any(t <= 0):
        raise ValueError("costs must be positive (use inf for a failure)")
    best = t.min(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        ratios = t / best
    return np.where(np.isfinite(best), ratios, np.inf)


def performance_profile(costs: np.ndarray, taus: Sequence[float]) -> np.ndarray:
    """``rho[i, s]``: the fraction of problems solver ``s`` solves within ``taus[i]`` times the best cost."""
    ratios = performance_ratios(costs)
    taus = np.asarray(taus, dtype=float)
    return (ratios[None, :, :] <= taus[:, None, None]).mean(axis=1)


def data_profile(costs: np.ndarray, dims: Sequence[int], alphas: Sequence[float]) -> np.ndarray:
    """``d[i, s]``: the fraction of problems solver ``s`` solves within ``alphas[i] * (n_p + 1)`` of cost.

    Args:
      costs: ``(num_problems, num_solvers)``, ``inf`` (or NaN) for a failure.
      dims: ``n_p``, the number of variables of each problem.
      alphas: budgets in units of ``n_p + 1``.
    """
    t = np.asarray(costs, dtype=float)
    t = np.where(np.isnan(t), np.inf, t)
    scale = np.asarray(dims, dtype=float)[:, None] + 1.0
    if scale.shape[0] != t.shape[0]:
        raise ValueError(f"dims has {scale.shape[0]} entries for {t.shape[0]} problems")
    units = t / scale
    alphas = np.asarray(alphas, dtype=float)
    return (units[None, :, :] <= alphas[:, None, None]).mean(axis=1)


def passes_test(values: np.ndarray, f0: float, f_low: float, tau: float) -> np.ndarray:
    """Whether each value passes the convergence test ``f <= f_L + tau (f(x_0) - f_L)``."""
    values = np.asarray(values, dtype=float)
    threshold = f_low + tau * (f0 - f_low)
    with np.errstate(invalid="ignore"):
        return np.isfinite(values) & (values <= threshold)


def cost_to_pass(values: Sequence[float], costs: Sequence[float], f0: float, f_low: float, tau: float) -> float:
    """The cost at the first point of a trajectory that passes the test; ``inf`` if none does.

    Args:
      values: the objective along the trajectory (``values[0] = f(x_0)``).
      costs: the cumulative cost spent when each value was known (same length, non-decreasing).
      f0: ``f(x_0)``, the value at the starting point shared by all solvers.
      f_low: ``f_L``.
      tau: the tolerance, in ``(0, 1)``.
    """
    values = np.asarray(values, dtype=float)
    costs = np.asarray(costs, dtype=float)
    if values.shape != costs.shape:
        raise ValueError(f"values and costs differ in length: {values.shape} vs {costs.shape}")
    ok = np.flatnonzero(passes_test(values, f0, f_low, tau))
    return float(costs[ok[0]]) if ok.size else float("inf")
