"""Tests of ml_opt.problems.analytic against independent references.

References: scipy.optimize.rosen / rosen_der / rosen_hess; published values (gonum's test values
for Beale; Goldstein & Price's minima; Himmelblau's four minima and maximum; the six-hump camel's
and Styblinski-Tang's minimum values); numpy.roots for Styblinski-Tang's minimiser; closed forms
written out here; scipy.optimize.minimize; central differences (ml_opt.gradcheck).
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from ml_opt.gradcheck import check_grad
from ml_opt.problems import analytic
from ml_opt.problems.base import Problem

NAMES = ["rosenbrock", "beale", "himmelblau", "rastrigin", "ackley", "styblinski_tang",
         "goldstein_price", "six_hump_camel", "saddle", "monkey_saddle"]


def _get(name: str) -> Problem:
    return getattr(analytic, name)()


@functools.cache
def _compiled(problem: Problem):
    return jax.jit(problem.fun), jax.jit(jax.grad(problem.fun))


def _f(problem: Problem, x) -> float:
    return float(_compiled(problem)[0](jnp.asarray(x, jnp.float64)))


def _g(problem: Problem, x) -> np.ndarray:
    return np.asarray(_compiled(problem)[1](jnp.asarray(x, jnp.float64)))


def _bfgs(problem: Problem, x0):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scipy.optimize.minimize(lambda x: _f(problem, x), np.asarray(x0, np.float64),
                                       jac=lambda x: _g(problem, x), method="BFGS",
                                       options={"gtol": 1e-10, "maxiter": 2000})


# ------------------------------------------------------------------------------------------
# Catalogue and metadata
# ------------------------------------------------------------------------------------------


def test_analytic_problems_catalogue():
    problems = analytic.analytic_problems()
    assert [p.name for p in problems] == NAMES
    assert analytic.analytic_problems()[0] is problems[0] is analytic.rosenbrock()
    for p in problems:
        assert isinstance(p, Problem) and p.dim == 2 and not p.convex
        assert "2d" in p.tags
        (x_min, x_max), (y_min, y_max) = p.domain
        assert x_min < x_max and y_min < y_max
        x0 = p.init(jax.random.key(0))
        assert x0.shape == (2,) and x0.dtype == jnp.float64
        np.testing.assert_array_equal(x0, p.init(jax.random.key(1)))
        assert x_min <= x0[0] <= x_max and y_min <= x0[1] <= y_max
        assert p.source


def test_customary_starts():
    assert tuple(analytic.rosenbrock().init(None)) == (-1.2, 1.0)  # Rosenbrock (1960)
    assert tuple(analytic.beale().init(None)) == (1.0, 1.0)  # MGH problem 5
    for name in ("saddle", "monkey_saddle"):
        assert np.max(np.abs(np.asarray(_get(name).init(None)))) <= 1e-2  # next to the saddle


def test_saddles_have_no_minimum():
    for name in ("saddle", "monkey_saddle"):
        p = _get(name)
        assert p.f_opt is None and p.x_opt is None
        assert {"saddle", "unbounded"} <= p.tags
        np.testing.assert_array_equal(_g(p, [0.0, 0.0]), [0.0, 0.0])  # the origin is stationary
        # unbounded below along a ray
        values = [_f(p, [-t, 0.0]) if name == "monkey_saddle" else _f(p, [0.0, t]) for t in (1, 10, 100)]
        assert values == [-1.0, -100.0, -10000.0] if name == "saddle" else values == [-1.0, -1e3, -1e6]
    # Hessians at the origin in closed form: diag(2, -2) and 0
    np.testing.assert_allclose(jax.hessian(analytic.saddle().fun)(jnp.zeros(2)), np.diag([2.0, -2.0]))
    np.testing.assert_allclose(jax.hessian(analytic.monkey_saddle().fun)(jnp.zeros(2)), np.zeros((2, 2)))


def test_bad_input():
    with pytest.raises(ValueError, match="shape \\(2,\\)"):
        analytic.beale().fun(jnp.ones(3))
    assert _f(analytic.rosenbrock(), np.array([1, 1])) == 0.0
    assert float(analytic.rosenbrock().fun(jnp.array([1, 1]))) == 0.0  # integers are promoted


# ------------------------------------------------------------------------------------------
# Values against independent references
# ------------------------------------------------------------------------------------------


def test_rosenbrock_matches_scipy():
    p = analytic.rosenbrock()
    rng = np.random.default_rng(0)
    points = [np.array([-1.2, 1.0]), np.array([1.0, 1.0])] + list(rng.uniform(-2, 2, (8, 2)))
    hessian = jax.jit(jax.hessian(p.fun))
    for x in points:
        assert _f(p, x) == pytest.approx(scipy.optimize.rosen(x), rel=1e-14, abs=1e-14)
        np.testing.assert_allclose(_g(p, x), scipy.optimize.rosen_der(x), rtol=1e-13, atol=1e-12)
        np.testing.assert_allclose(hessian(jnp.asarray(x)), scipy.optimize.rosen_hess(x),
                                   rtol=1e-13, atol=1e-12)


def test_beale_matches_gonum():
    p = analytic.beale()
    assert _f(p, [1, 1]) == 14.203125
    np.testing.assert_allclose(_g(p, [1, 1]), [0.0, 27.75], atol=1e-12)
    assert _f(p, [1, 4]) == 4624.453125
    np.testing.assert_allclose(_g(p, [1, 4]), [8813.25, 6585.0], rtol=1e-14)


def test_himmelblau_published_stationary_points():
    p = analytic.himmelblau()
    minima = [(3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126)]
    for x in minima:  # the published minimisers, to 6 decimals
        assert _f(p, x) < 1e-9
    # the local maximum, published as 181.617 at (-0.270845, -0.923039): half a unit in the last digit
    assert _f(p, (-0.270845, -0.923039)) == pytest.approx(181.617, abs=5e-4)


def test_goldstein_price_published_minima():
    p = analytic.goldstein_price()
    angles = np.linspace(0.0, 2.0 * np.pi, 16, endpoint=False)
    ring = 1e-3 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    for x, value in [((0.0, -1.0), 3.0), ((-0.6, -0.4), 30.0), ((1.8, 0.2), 84.0), ((1.2, 0.8), 840.0)]:
        assert _f(p, x) == pytest.approx(value, rel=1e-12)
        # each is a local minimum: f is larger all around it
        assert min(_f(p, np.asarray(x) + d) for d in ring) > value


def test_closed_form_values():
    rastrigin, ackley = analytic.rastrigin(), analytic.ackley()
    assert _f(rastrigin, [1.0, 1.0]) == pytest.approx(2.0, abs=1e-12)
    # 20 + (0.25 - 10 cos(pi)) + (0 - 10 cos(0))
    assert _f(rastrigin, [0.5, 0.0]) == pytest.approx(20.0 + 0.25 + 10.0 - 10.0, abs=1e-12)
    # Ackley at (1, 0): -20 exp(-0.2 sqrt(1/2)) - exp(1) + 20 + e
    assert _f(ackley, [1.0, 0.0]) == pytest.approx(20.0 - 20.0 * math.exp(-0.2 * math.sqrt(0.5)),
                                                   rel=1e-13)
    np.testing.assert_array_equal(_g(ackley, [0.0, 0.0]), [0.0, 0.0])  # a subgradient, not nan
    camel = analytic.six_hump_camel()
    assert _f(camel, [0.0, 0.0]) == 0.0
    assert _f(camel, [1.0, 1.0]) == pytest.approx((4 - 2.1 + 1 / 3) + 1 + 0, rel=1e-14)
    monkey = analytic.monkey_saddle()
    assert _f(monkey, [2.0, 1.0]) == pytest.approx(8.0 - 6.0, rel=1e-14)


def test_styblinski_tang_minimum():
    p = analytic.styblinski_tang()
    roots = np.roots([4.0, 0.0, -32.0, 5.0])  # stationary points of t^4 - 16 t^2 + 5 t
    t_star = float(np.min(roots.real))
    np.testing.assert_allclose(p.x_opt, [t_star, t_star], rtol=1e-12)
    one_d = scipy.optimize.minimize_scalar(lambda t: 0.5 * (t ** 4 - 16 * t ** 2 + 5 * t),
                                           bounds=(-5, 0), method="bounded",
                                           options={"xatol": 1e-12})
    assert p.f_opt == pytest.approx(2 * one_d.fun, rel=1e-12)
    assert p.f_opt == pytest.approx(-78.33233, rel=1e-7)  # -39.16617 per coordinate


def test_six_hump_camel_minimum():
    p = analytic.six_hump_camel()
    assert p.f_opt == pytest.approx(-1.031628453, rel=1e-9)  # the published -1.0316284534...
    np.testing.assert_allclose(p.x_opt, [0.0898, -0.7126], atol=1e-4)  # the published minimiser
    mirror = -np.asarray(p.x_opt)
    assert _f(p, mirror) == pytest.approx(p.f_opt, rel=1e-14)
    result = _bfgs(p, np.asarray(p.x_opt) + [0.05, -0.05])
    np.testing.assert_allclose(result.x, p.x_opt, atol=1e-7)


def test_f_at_x_opt_is_f_opt():
    for p in analytic.analytic_problems():
        if p.x_opt is not None:
            assert _f(p, p.x_opt) == pytest.approx(p.f_opt, rel=1e-14, abs=1e-14), p.name


# ------------------------------------------------------------------------------------------
# Gradients and dtypes
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_gradient_passes_check_grad(name):
    p = _get(name)
    (x_min, x_max), (y_min, y_max) = p.domain
    random = np.random.default_rng(len(name)).uniform([x_min, y_min], [x_max, y_max])
    for x in (p.init(None), random):
        x = jnp.asarray(x, jnp.float64)
        # next to the saddles (|x| = 1e-3) the default step, 6e-6, is not small: the cubic's
        # truncation error h^2 would rival the 6e-6 gradient. A step of 1e-8 is small there.
        step = 1e-8 if float(jnp.max(jnp.abs(x))) < 1e-2 else None
        result = check_grad(p.fun, x, step=step)
        assert result.relative_error < 1e-6, (name, x, result.relative_error)


def test_float32_in_float32_out():
    for p in analytic.analytic_problems():
        x = jax.ShapeDtypeStruct((2,), jnp.float32)
        assert jax.eval_shape(p.fun, x).dtype == jnp.float32, p.name
        assert jax.eval_shape(jax.grad(p.fun), x).dtype == jnp.float32, p.name
    p = analytic.goldstein_price()
    value = jax.jit(p.fun)(jnp.asarray([0.3, -0.2], jnp.float32))
    assert value.dtype == jnp.float32
    assert float(value) == pytest.approx(_f(p, [0.3, -0.2]), rel=1e-5)


def test_vmap_over_starts():
    p = analytic.himmelblau()
    starts = analytic.sample_starts(p, jax.random.key(3), 5)
    values = jax.jit(jax.vmap(p.fun))(starts)
    np.testing.assert_allclose(values, [_f(p, x) for x in np.asarray(starts)], rtol=1e-14)


# ------------------------------------------------------------------------------------------
# sample_starts
# ------------------------------------------------------------------------------------------


def test_sample_starts():
    p = analytic.six_hump_camel()
    starts = analytic.sample_starts(p, jax.random.key(0), 4000)
    assert starts.shape == (4000, 2) and starts.dtype == jnp.float64
    (x_min, x_max), (y_min, y_max) = p.domain
    s = np.asarray(starts)
    assert np.all((s[:, 0] >= x_min) & (s[:, 0] <= x_max) & (s[:, 1] >= y_min) & (s[:, 1] <= y_max))
    # uniform: mean and variance of U(a, b) are (a + b)/2 and (b - a)^2 / 12
    np.testing.assert_allclose(s.mean(axis=0), [(x_min + x_max) / 2, (y_min + y_max) / 2], atol=0.1)
    np.testing.assert_allclose(s.var(axis=0), [(x_max - x_min) ** 2 / 12, (y_max - y_min) ** 2 / 12],
                               rtol=0.1)
    np.testing.assert_array_equal(starts, analytic.sample_starts(p, jax.random.key(0), 4000))
    assert not np.array_equal(starts, analytic.sample_starts(p, jax.random.key(1), 4000))


def test_sample_starts_errors():
    with pytest.raises(ValueError, match="num"):
        analytic.sample_starts(analytic.beale(), jax.random.key(0), 0)
    with pytest.raises(TypeError, match="Problem"):
        analytic.sample_starts("beale", jax.random.key(0), 3)
    no_domain = Problem(name="x", dim=2, fun=lambda x: x @ x, init=lambda k: jnp.zeros(2), convex=True)
    with pytest.raises(ValueError, match="no domain"):
        analytic.sample_starts(no_domain, jax.random.key(0), 3)


# ------------------------------------------------------------------------------------------
# scipy.optimize reaches f_opt
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rosenbrock", "beale", "himmelblau", "styblinski_tang",
                                  "six_hump_camel"])
def test_scipy_bfgs_from_the_start_reaches_f_opt(name):
    p = _get(name)
    result = _bfgs(p, p.init(None))
    assert result.fun == pytest.approx(p.f_opt, abs=1e-10)


def test_scipy_from_the_start_of_multimodal_problems_reaches_a_local_minimum():
    # Goldstein-Price from (0, 0) stops at its published local minimum 30; Rastrigin and Ackley
    # at one of their many local minima: a stationary point with a positive definite Hessian.
    assert _bfgs(analytic.goldstein_price(), [0.0, 0.0]).fun == pytest.approx(30.0, rel=1e-9)
    for p in (analytic.rastrigin(), analytic.ackley()):
        result = _bfgs(p, p.init(None))
        assert np.max(np.abs(_g(p, result.x))) < 1e-6
        assert np.linalg.eigvalsh(np.asarray(jax.hessian(p.fun)(jnp.asarray(result.x)))).min() > 0


@pytest.mark.slow
@pytest.mark.parametrize("name, num", [("rastrigin", 400), ("ackley", 100), ("goldstein_price", 50),
                                       ("himmelblau", 20), ("six_hump_camel", 50),
                                       ("styblinski_tang", 50)])
def test_multistart_scipy_reaches_f_opt(name, num):
    p = _get(name)
    starts = np.asarray(analytic.sample_starts(p, jax.random.key(0), num))
    best = min(_bfgs(p, x).fun for x in starts)
    assert best == pytest.approx(p.f_opt, abs=1e-9)
