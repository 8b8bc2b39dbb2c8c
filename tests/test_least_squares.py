"""Tests of ml_opt.least_squares: gauss_newton and levenberg_marquardt.

References: numpy.linalg.lstsq (linear least squares, minimum-norm), scipy.optimize.least_squares
(method="lm", MINPACK), and a NumPy float64 transcription of the Levenberg-Marquardt box of the
module docstring (Moré's scaling, Nielsen's damping update) written here.

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
    # Levenberg-Marquardt damps the same step and gets there in a few; the residual is not zero, so
    # the last steps are below the rounding level of ||r||^2 and are taken on the gradient test
    assert bool(lm.converged)
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
# Levenberg-Marquardt against a NumPy transcription of its box
# ------------------------------------------------------------------------------------------

T = np.linspace(0.0, 4.0, 15)
Y = 3.0 * np.exp(-0.7 * T) + 0.5 + 0.01 * np.sin(7 * T)  # a three-parameter fit, small residual


def fit_residuals(x, t, y):
    return x[0] * jnp.exp(-x[1] * t) + x[2] - y


def fit_objective(x, t, y):
    return jnp.sum(fit_residuals(x, t, y) ** 2)


def numpy_levenberg_marquardt(x, steps, mu0=1e-3, max_trials=30):
    """The module docstring's box, transcribed: returns the iterates and the trial counts."""

    def r(x):
        return x[0] * np.exp(-x[1] * T) + x[2] - Y

    def jac(x):
        e = np.exp(-x[1] * T)
        return np.stack([e, -x[0] * T * e, np.ones_like(T)], axis=1)

    d, mu, nu = np.zeros(3), mu0, 2.0
    iterates, trials = [x.copy()], []
    for _ in range(steps):
        rx, j = r(x), jac(x)
        d = np.maximum(d, np.linalg.norm(j, axis=0))
        for k in range(1, max_trials + 1):
            p = np.linalg.solve(j.T @ j + mu * np.diag(d ** 2), -j.T @ rx)
            actual = rx @ rx - r(x + p) @ r(x + p)
            predicted = (j @ p) @ (j @ p) + 2 * mu * (d * p) @ (d * p)
            rho = actual / predicted
            if rho > 1e-4:
                x = x + p
                mu, nu = mu * max(1 / 3, 1 - (2 * rho - 1) ** 3), 2.0
                break
            floor = 4 * np.finfo(np.float64).eps * (rx @ rx)
            if predicted <= floor and actual >= -floor and (
                    np.max(np.abs(2 * jac(x + p).T @ r(x + p))) < np.max(np.abs(2 * j.T @ rx))):
                x = x + p
                mu, nu = mu / 3, 2.0
                break
            mu, nu = mu * nu, 2 * nu
        iterates.append(x.copy())
        trials.append(k)
    return np.array(iterates), trials


def test_levenberg_marquardt_equals_numpy_transcription():
    x0 = np.array([1.0, 3.0, -1.0])  # far: the first steps are rejected and damped
    steps = 8
    ref, trials = numpy_levenberg_marquardt(x0.copy(), steps)
    assert max(trials) > 1  # the rejection branch is exercised

    @jax.jit
    def run(x0, t, y):
        opt = levenberg_marquardt(lambda x: fit_residuals(x, t, y))
        f = lambda x: fit_objective(x, t, y)

        def step(carry, _):
            x, state = carry
            value, g = jax.value_and_grad(f)(x)
            updates, state = opt.update(g, state, x, value=value, grad=g, value_fn=f)
            x = x + updates
            return (x, state), (x, state.trials)

        (_, state), (xs, ks) = jax.lax.scan(step, (x0, opt.init(x0)), None, length=steps)
        return xs, ks, state

    xs, ks, state = run(x0, T, Y)
    np.testing.assert_allclose(xs, ref[1:], rtol=1e-9, atol=1e-12)
    assert list(np.asarray(ks)) == trials
    assert int(state.num_residual_evals) == sum(trials)
    assert int(state.num_jac_evals) == steps
    # f and grad f at the new point, for the driver: one of each per accepted update
    assert int(state.num_grad_evals) == steps
    assert int(state.num_fun_evals) == sum(trials) + steps


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


def test_vmap_over_starts_and_initial_damping():
    problem = mgh_problem("box_3d")
    x0 = np.asarray(problem.init(None))
    starts = jnp.stack([x0, x0 * 1.5, x0 * 0.5])
    dampings = jnp.array([1e-3, 1e-1, 10.0])

    @jax.jit
    @jax.vmap
    def run(x, mu):
        return ml_opt.minimize(problem.fun, x, levenberg_marquardt(problem.residuals, initial_damping=mu), gtol=1e-8)

    res = run(starts, dampings)
    assert bool(jnp.all(res.converged))
    assert bool(jnp.all(res.value < 1e-12))
    single = ml_opt.minimize(problem.fun, starts[1], levenberg_marquardt(problem.residuals, initial_damping=0.1), gtol=1e-8)
    np.testing.assert_allclose(res.params[1], single.params, rtol=1e-10)
    assert int(res.num_fun_evals[1]) == int(single.num_fun_evals)


def test_levenberg_marquardt_that_finds_no_acceptable_step_stalls_and_says_so():
    # Rosenbrock's residuals from the standard start: the Gauss-Newton step increases f, and with
    # one trial allowed and almost no damping nothing is accepted
    problem = mgh_problem("rosenbrock")
    opt = levenberg_marquardt(problem.residuals, initial_damping=1e-12, max_trials=1)
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
    with pytest.raises(ValueError, match="initial_damping"):
        levenberg_marquardt(lambda x: x, initial_damping=0.0)
    with pytest.raises(TypeError, match="max_trials"):
        levenberg_marquardt(lambda x: x, max_trials=2.5)
    with pytest.raises(TypeError, match="linesearch"):
        gauss_newton(lambda x: x, linesearch="zoom")
    opt = levenberg_marquardt(lambda x: x)
    x = jnp.ones(2)
    with pytest.raises(TypeError, match="value_fn"):
        opt.update(x, opt.init(x), x)
