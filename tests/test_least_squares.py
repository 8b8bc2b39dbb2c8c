"""Tests of ml_opt.least_squares: gauss_newton and levenberg_marquardt.

References: numpy.linalg.lstsq (linear least squares, minimum-norm) and MINPACK's lmder through
scipy.optimize.least_squares(method="lm"): its results, and its iterates and trial steps one by one
(levenberg_marquardt is Moré's algorithm, which lmder implements).

Compilation dominates the run time: data enter compiled programs as traced arguments, so each
program compiles once per shape.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import ml_opt
from benchmarks.mgh_vs_scipy import known_values
from ml_opt.least_squares import (
    GaussNewtonState,
    LevenbergMarquardtState,
    gauss_newton,
    levenberg_marquardt,
)
from ml_opt.problems.mgh import mgh_problem, mgh_problems

# ------------------------------------------------------------------------------------------
# Linear least squares: the closed form
# ------------------------------------------------------------------------------------------


@jax.jit
def solve_linear(a, b, x0):
    """GN and LM on f = ||A x - b||^2 from x0, in one program (the data are traced)."""
    residual = lambda x: a @ x - b
    f = lambda x, a, b: jnp.sum((a @ x - b) ** 2)
    gn = ml_opt.minimize(f, x0, gauss_newton(residual), args=(a, b), gtol=1e-9)
    lm = ml_opt.minimize(f, x0, levenberg_marquardt(residual), args=(a, b), gtol=1e-9)
    return gn, lm


def test_linear_least_squares_equals_lstsq():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((20, 5)), rng.standard_normal(20)
    x_ls = np.linalg.lstsq(a, b, rcond=None)[0]
    gn, lm = solve_linear(a, b, rng.standard_normal(5))
    # Gauss-Newton is exact on a linear model: one step
    assert bool(gn.converged) and int(gn.num_steps) == 1
    np.testing.assert_allclose(gn.params, x_ls, rtol=1e-10, atol=1e-12)
    assert int(gn.opt_state.num_jac_evals) == 1
    # Levenberg-Marquardt: the first radius, 100 ||D x0||, admits the Gauss-Newton step (mu = 0)
    assert bool(lm.converged) and int(lm.num_steps) == 1
    np.testing.assert_allclose(lm.params, x_ls, rtol=1e-10, atol=1e-12)
    assert isinstance(lm.opt_state, LevenbergMarquardtState) and isinstance(gn.opt_state, GaussNewtonState)


def test_rank_deficient_linear_least_squares():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((20, 5))
    a[:, 4] = a[:, 0] - 2 * a[:, 1]  # rank 4
    b = rng.standard_normal(20)
    x_ls = np.linalg.lstsq(a, b, rcond=None)[0]  # the minimum-norm solution
    f_ls = np.sum((a @ x_ls - b) ** 2)
    gn, lm = solve_linear(a, b, np.zeros(5))
    # From 0, the Gauss-Newton step is the minimum-norm least-squares solution itself
    assert bool(gn.converged)
    np.testing.assert_allclose(gn.params, x_ls, rtol=1e-9, atol=1e-10)
    # Levenberg-Marquardt reaches a minimiser (not necessarily the minimum-norm one)
    assert bool(lm.converged)
    np.testing.assert_allclose(lm.value, f_ls, rtol=1e-10)


# ------------------------------------------------------------------------------------------
# Levenberg-Marquardt on MINPACK's path
# ------------------------------------------------------------------------------------------

T = np.linspace(0.0, 4.0, 15)
Y = 3.0 * np.exp(-0.7 * T) + 0.5 + 0.01 * np.sin(7 * T)  # a three-parameter fit, small residual


def fit_residuals(x, t, y):
    return x[0] * jnp.exp(-x[1] * t) + x[2] - y


def fit_objective(x, t, y):
    return jnp.sum(fit_residuals(x, t, y) ** 2)


def minpack_path(residuals, jacobian, x0):
    """MINPACK's iterates (the points of its Jacobians) and the trial steps it evaluated from each."""
    events = []

    def fun(x):
        events.append(("r", x.copy()))
        return residuals(x)

    def jac(x):
        events.append(("J", x.copy()))
        return jacobian(x)

    scipy.optimize.least_squares(fun, x0, jac=jac, method="lm", x_scale="jac", xtol=1e-15, ftol=1e-15,
                                 gtol=1e-15, max_nfev=1000)
    iterates, trials = [], []
    for kind, x in events:
        if kind == "J" and not (iterates and np.array_equal(x, iterates[-1])):
            iterates.append(x)
            trials.append(0)
        elif kind == "r" and iterates and not np.array_equal(x, iterates[-1]):
            trials[-1] += 1
    return np.array(iterates), trials


def levenberg_marquardt_path(residuals, x0, steps):
    """Our iterates and trial counts over ``steps`` updates, in one compiled scan."""
    opt = levenberg_marquardt(residuals)
    f = lambda x: jnp.sum(residuals(x) ** 2)

    def step(carry, _):
        x, state = carry
        value, g = jax.value_and_grad(f)(x)
        updates, state = opt.update(g, state, x, value=value, grad=g, value_fn=f)
        x = x + updates
        return (x, state), (x, state.trials)

    (_, state), (xs, ks) = jax.jit(lambda x: jax.lax.scan(step, (x, opt.init(x)), None, length=steps))(x0)
    return np.asarray(xs), [int(k) for k in ks], state


def eckerle4_residuals(b, t, y):
    """NIST StRD's Eckerle4 model, a Gaussian peak: b1 / b2 exp(-(t - b3)^2 / (2 b2^2))."""
    return b[0] / b[1] * jnp.exp(-0.5 * ((t - b[2]) / b[1]) ** 2) - y


ECKERLE_T = np.linspace(400.0, 500.0, 35)
ECKERLE_Y = np.asarray(eckerle4_residuals(np.array([1.554, 4.089, 451.5]), ECKERLE_T, 0.0)) + 2e-4 * np.cos(ECKERLE_T)


@pytest.mark.parametrize("case", ["exponential_far", "eckerle4_start1"])
def test_levenberg_marquardt_follows_minpacks_path(case):
    """Iterate by iterate and trial by trial, MINPACK's lmder (Moré's algorithm): rejected steps and
    the radius cut after them (the far start of the exponential fit), and Eckerle4 from NIST's first
    start (1, 10, 500), where the peak lies outside the data and J^T J is nearly singular: an update
    of mu alone (Nielsen's, before this algorithm) took b2 from 33 to 1330 there and ended at a
    stationary point with ||r||^2 = 0.306; MINPACK's radius keeps the steps short and reaches the
    minimum."""
    if case == "exponential_far":
        residuals, x0, steps = (lambda x: fit_residuals(x, T, Y)), np.array([1.0, 3.0, -1.0]), 8
    else:
        residuals, x0, steps = (lambda b: eckerle4_residuals(b, ECKERLE_T, ECKERLE_Y)), np.array([1.0, 10.0, 500.0]), 14
    ref, ref_trials = minpack_path(lambda x: np.asarray(residuals(x)), lambda x: np.asarray(jax.jacfwd(residuals)(x)), x0)
    assert len(ref) > steps
    xs, trials, state = levenberg_marquardt_path(residuals, jnp.asarray(x0), steps)
    np.testing.assert_allclose(xs, ref[1:steps + 1], rtol=1e-8)
    assert trials == ref_trials[:steps]
    assert max(trials) > 1  # steps were rejected and recomputed within an update
    assert int(state.num_residual_evals) == sum(trials)
    assert int(state.num_jac_evals) == steps
    # f and grad f at the new point, for the driver: one of each per accepted update
    assert int(state.num_grad_evals) == steps
    assert int(state.num_fun_evals) == sum(trials) + steps
    if case == "eckerle4_start1":
        res = ml_opt.minimize(lambda b: jnp.sum(residuals(b) ** 2), jnp.asarray(x0), levenberg_marquardt(residuals), gtol=1e-9)
        assert float(res.value) <= 1.001 * float(np.sum(np.asarray(residuals(ref[-1])) ** 2))


def test_nearly_singular_jacobian_is_not_truncated():
    """NIST StRD's BoxBOD model b1 (1 - exp(-b2 t)) on data with no noise, so that the minimum is
    known: b = (213.8, 0.547), ||r|| = 0, from NIST's first start (1, 1). The first step takes b2 to
    about 100, where the column of b2 in J is 1e-42 of b1's: J is singular only below the rounding
    level. MINPACK counts J as rank-deficient only where a pivot of its QR is exactly zero, and so
    does levenberg_marquardt; dropping that column from the Gauss-Newton step (lstsq's default
    cut-off, eps max(m, n) relative) left b2 at 100, on the plateau where exp(-b2 t) = 0 and
    ||grad f|| is 1e-40, and the run "converged" there with f = 11427."""
    t = jnp.array([1.0, 2.0, 3.0, 5.0, 7.0, 10.0])
    y = 213.8 * (1.0 - jnp.exp(-0.547 * t))
    residuals = lambda b: b[0] * (1.0 - jnp.exp(-b[1] * t)) - y
    x0 = np.array([1.0, 1.0])
    res = ml_opt.minimize(lambda b: jnp.sum(residuals(b) ** 2), jnp.asarray(x0), levenberg_marquardt(residuals), gtol=1e-9)
    assert bool(res.converged)
    np.testing.assert_allclose(res.params, [213.8, 0.547], rtol=1e-10)
    jac = jax.jacfwd(residuals)
    ref = scipy.optimize.least_squares(lambda b: np.asarray(residuals(b)), x0, jac=lambda b: np.asarray(jac(b)),
                                       method="lm", x_scale="jac")
    np.testing.assert_allclose(ref.x, [213.8, 0.547], rtol=1e-10)  # MINPACK solves it too


def test_exponential_fit_matches_scipy_least_squares():
    x0 = np.array([1.0, 1.0, 0.0])
    ref = scipy.optimize.least_squares(lambda x: np.asarray(fit_residuals(x, T, Y)), x0, method="lm",
                                       xtol=1e-15, ftol=1e-15, gtol=1e-15)

    @jax.jit
    def run(x0, t, y):
        residual = lambda x: fit_residuals(x, t, y)
        return [ml_opt.minimize(fit_objective, x0, opt, args=(t, y), gtol=1e-10)
                for opt in (gauss_newton(residual), levenberg_marquardt(residual))]

    for res in run(x0, T, Y):
        assert bool(res.converged), res.message
        np.testing.assert_allclose(res.params, ref.x, rtol=1e-7)
        np.testing.assert_allclose(res.value, 2 * ref.cost, rtol=1e-9)


# ------------------------------------------------------------------------------------------
# Moré-Garbow-Hillstrom least-squares problems against MINPACK (scipy, method="lm")
# ------------------------------------------------------------------------------------------

GTOL = 1e-6


def solved(problem, value, grad_norm):
    """At a known minimum value (6 significant digits, as MGH print them) or a stationary point."""
    return grad_norm <= GTOL or any(abs(value - v) <= 1e-5 * abs(v) + 1e-8 for v in known_values(problem))


def scipy_lm(problem):
    x0 = np.asarray(problem.init(jax.random.key(0)))
    jac = jax.jit(jax.jacfwd(problem.residuals))
    res = jax.jit(problem.residuals)
    out = scipy.optimize.least_squares(lambda x: np.asarray(res(x)), x0, jac=lambda x: np.asarray(jac(x)),
                                       method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=10000)
    grad_norm = float(jnp.max(jnp.abs(jax.grad(problem.fun)(jnp.asarray(out.x)))))
    return 2 * out.cost, grad_norm, out.nfev, out.njev  # MGH's f = ||r||^2 = 2 * scipy's cost


def ml_opt_lm(problem):
    x0 = problem.init(jax.random.key(0))
    res = ml_opt.minimize(problem.fun, x0, levenberg_marquardt(problem.residuals), gtol=GTOL, max_steps=2000)
    st = res.opt_state
    return float(res.value), float(res.grad_norm), int(st.num_residual_evals), int(st.num_jac_evals), res


@pytest.mark.parametrize("name", ["rosenbrock", "beale", "jennrich_sampson", "osborne1"])
def test_levenberg_marquardt_on_mgh_matches_minpack(name):
    problem = mgh_problem(name)
    f, g, nfev, njev, res = ml_opt_lm(problem)
    sf, sg, snfev, snjev = scipy_lm(problem)
    assert solved(problem, sf, sg)
    assert solved(problem, f, g), (f, g, res.message)
    assert abs(f - sf) <= 1e-6 * max(1.0, abs(sf))
    assert not bool(jnp.isnan(res.value))
    assert nfev <= 2 * snfev  # residual evaluations (Jacobians are counted apart, as MINPACK's njev)


def test_levenberg_marquardt_at_the_rounding_floor_stops_as_stalled():
    """Jennrich-Sampson with m = 20 residuals: at its minimum (f = 1449.48) the gradient is a sum of
    terms of size ~1e4 and rounding sets its floor: about 1e-4 in float64 on the CPU, out of reach
    of gtol = 1e-6 (on an H200 GPU, whose programs round otherwise, one run reached 2.7e-7). LM must
    reach MINPACK's value and stop there within twice MINPACK's residual evaluations, saying STALLED
    where the gradient test is out of reach. (It used to accept steps that did not move x, on
    gradients evaluated by two programs that rounded differently, and ran to max_steps: 4321
    evaluations against MINPACK's 46.)"""
    problem = mgh_problem("jennrich_sampson", m=20)
    f, g, nfev, njev, res = ml_opt_lm(problem)
    sf, sg, snfev, snjev = scipy_lm(problem)
    assert abs(f - sf) <= 1e-10 * abs(sf), (f, sf)
    expected = ml_opt.Status.CONVERGED if g <= GTOL else ml_opt.Status.STALLED
    assert ml_opt.Status(int(res.status)) is expected, (g, res.message)
    assert nfev <= 2 * snfev, (nfev, snfev)


@pytest.mark.slow
def test_levenberg_marquardt_on_all_mgh_problems():
    lines = ["| problem | f (ml_opt LM) | nfev / njev | f (MINPACK lm) | nfev / njev |", "|---|---|---|---|---|"]
    failures, ratios = [], []
    for problem in mgh_problems():
        f, g, nfev, njev, res = ml_opt_lm(problem)
        sf, sg, snfev, snjev = scipy_lm(problem)
        ok, sok = solved(problem, f, g), solved(problem, sf, sg)
        lines.append(f"| {problem.name} | {f:.6g}{'' if ok else ' (not solved)'} | {nfev} / {njev} | "
                     f"{sf:.6g}{'' if sok else ' (not solved)'} | {snfev} / {snjev} |")
        if sok and not ok:
            failures.append(problem.name)
        if ok and sok:
            ratios.append(nfev / snfev)
    print("\n".join(lines))
    print(f"median nfev ratio {np.median(ratios):.2f}, max {np.max(ratios):.2f}")
    assert not failures


# ------------------------------------------------------------------------------------------
# Pytrees, vmap, failure
# ------------------------------------------------------------------------------------------


def test_pytree_params_and_residuals():
    def residuals(p):  # a dict of params, a tuple of residual arrays
        x = jnp.stack([p["scale"][0], p["rate"], p["offset"]])
        r = fit_residuals(x, T, Y)
        return (r[:7], r[7:].reshape(2, 4))

    def f(p):
        return sum(jnp.sum(r ** 2) for r in residuals(p))

    p0 = {"scale": jnp.array([1.0]), "rate": jnp.array(1.0), "offset": jnp.array(0.0)}
    flat = ml_opt.minimize(lambda x: fit_objective(x, T, Y), jnp.array([1.0, 1.0, 0.0]),
                           levenberg_marquardt(lambda x: fit_residuals(x, T, Y)), gtol=1e-10)
    for opt in [levenberg_marquardt(residuals), gauss_newton(residuals)]:
        res = ml_opt.minimize(f, p0, opt, gtol=1e-10)
        assert bool(res.converged)
        assert jax.tree.structure(res.params) == jax.tree.structure(p0)
        got = np.array([res.params["scale"][0], res.params["rate"], res.params["offset"]])
        np.testing.assert_allclose(got, flat.params, rtol=1e-8)


def test_vmap_over_starts_and_factor():
    problem = mgh_problem("box_3d")
    x0 = np.asarray(problem.init(None))
    starts = jnp.stack([x0, x0 * 1.5, x0 * 0.5])
    factors = jnp.array([100.0, 1.0, 0.1])

    @jax.jit
    @jax.vmap
    def run(x, factor):
        return ml_opt.minimize(problem.fun, x, levenberg_marquardt(problem.residuals, factor=factor), gtol=1e-8)

    res = run(starts, factors)
    assert bool(jnp.all(res.converged))
    assert bool(jnp.all(res.value < 1e-12))
    single = ml_opt.minimize(problem.fun, starts[1], levenberg_marquardt(problem.residuals, factor=1.0), gtol=1e-8)
    np.testing.assert_allclose(res.params[1], single.params, rtol=1e-10)
    assert int(res.num_fun_evals[1]) == int(single.num_fun_evals)


def test_levenberg_marquardt_that_finds_no_acceptable_step_stalls_and_says_so():
    # Rosenbrock's residuals from the standard start: the first radius admits the Gauss-Newton step,
    # which increases f, and with one trial allowed nothing is accepted
    problem = mgh_problem("rosenbrock")
    opt = levenberg_marquardt(problem.residuals, max_trials=1)
    res = ml_opt.minimize(problem.fun, problem.init(None), opt)
    assert int(res.status) == int(ml_opt.Status.STALLED)
    assert "no further progress" in res.message
    assert int(res.num_steps) == 1
    np.testing.assert_array_equal(res.params, problem.init(None))  # did not move
    assert bool(jnp.isfinite(res.value)) and bool(res.opt_state.stalled)


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="residual_fn"):
        gauss_newton(None)
    with pytest.raises(TypeError, match="residual_fn"):
        levenberg_marquardt("not a function")
    with pytest.raises(ValueError, match="factor"):
        levenberg_marquardt(lambda x: x, factor=0.0)
    with pytest.raises(TypeError, match="max_trials"):
        levenberg_marquardt(lambda x: x, max_trials=2.5)
    with pytest.raises(TypeError, match="linesearch"):
        gauss_newton(lambda x: x, linesearch="zoom")
    opt = levenberg_marquardt(lambda x: x)
    x = jnp.ones(2)
    with pytest.raises(TypeError, match="value_fn"):
        opt.update(x, opt.init(x), x)
