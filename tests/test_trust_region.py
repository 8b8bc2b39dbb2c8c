"""Tests of ml_opt.trust_region.trust_region_newton.

References are independent of the code under test: the optimality conditions of the trust-region
subproblem (Nocedal & Wright, Theorem 4.1) checked in NumPy float64; a NumPy float64 transcription
of N&W Algorithm 4.1 whose subproblem is solved by bisection on the multiplier (not by the code's
Newton iteration); scipy.optimize.minimize(method="trust-exact"); closed-form minimisers.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

import ml_opt
from ml_opt.trust_region import TrustRegionState, _trust_region_subproblem, trust_region_newton

TRUST_REGION = trust_region_newton()


def rosen(x):
    return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2


def _subproblem(h, g, radius):
    """Our subproblem solution for a NumPy ``h`` (eigendecomposed by NumPy), as a NumPy ``p``."""
    lam, v = np.linalg.eigh(h)
    sub = _trust_region_subproblem(jnp.asarray(lam), jnp.asarray(v.T @ g), jnp.asarray(radius))
    return v @ np.asarray(sub.p_hat), bool(sub.on_boundary)


def _assert_theorem_4_1(h, g, radius, p):
    """p solves min g^T p + p^T h p / 2 over ||p|| <= radius exactly when, for some lam >= 0,
    (h + lam I) p = -g, lam (radius - ||p||) = 0 and h + lam I is positive semidefinite."""
    n, norm = len(g), np.linalg.norm(p)
    scale = np.abs(np.linalg.eigvalsh(h)).max() + np.linalg.norm(g) / radius
    assert norm <= radius * (1 + 1e-9)
    if norm < radius * (1 - 1e-9):
        lam = 0.0
    else:  # the multiplier that best fits (h + lam I) p = -g
        lam = -(p @ (g + h @ p)) / (p @ p)
    assert lam >= -1e-9 * scale
    np.testing.assert_allclose((h + lam * np.eye(n)) @ p, -g, atol=1e-8 * scale * max(radius, 1.0))
    assert np.linalg.eigvalsh(h + lam * np.eye(n)).min() >= -1e-9 * scale


@pytest.mark.parametrize("case", ["inside", "boundary", "indefinite", "hard", "saddle", "singular"])
def test_subproblem_meets_the_optimality_conditions(case):
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    lam = {"inside": [1.0, 2.0, 3.0, 4.0], "boundary": [1.0, 2.0, 3.0, 4.0], "indefinite": [-2.0, -0.5, 1.0, 3.0],
           "hard": [-2.0, 1.0, 1.0, 3.0], "saddle": [-1.0, 2.0, 2.0, 5.0], "singular": [0.0, 1.0, 2.0, 3.0]}[case]
    h = q @ np.diag(lam) @ q.T
    g = q @ {"inside": [0.1, 0.2, 0.1, 0.3], "boundary": [2.0, -4.0, 1.0, 3.0], "hard": [0.0, 1.0, 0.5, 1.0],
             "saddle": [0.0, 0.0, 0.0, 0.0], "singular": [0.0, 1.0, 1.0, 1.0]}.get(case, [1.0, -2.0, 0.5, 1.5])
    radius = 2.0  # the Newton step of "boundary" has length 2.9
    p, on_boundary = _subproblem(h, g, radius)
    _assert_theorem_4_1(h, g, radius, p)
    assert on_boundary == (case != "inside")
    if case in ("hard", "saddle"):  # the step has a component along the eigenvector of lambda_1
        assert abs(q[:, 0] @ p) > 0.5


def _subproblem_by_bisection(h, g, radius):
    """An independent exact solution: eigendecomposition, then bisection on the multiplier."""
    lam, v = np.linalg.eigh(h)
    g_hat = v.T @ g

    def p_norm(mu):
        return np.linalg.norm(g_hat / (lam + mu))

    if lam[0] > 0 and p_norm(0.0) <= radius:
        return -v @ (g_hat / lam), False
    lo = max(0.0, -lam[0])
    hi = lo + np.linalg.norm(g) / radius + 1.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if p_norm(mid) > radius else (lo, mid)
    return -v @ (g_hat / (lam + hi)), True


def _algorithm_4_1(fun, grad, hess, x0, gtol, initial_radius=1.0, max_radius=1000.0, eta=0.15):
    """N&W Algorithm 4.1 in NumPy float64: the accepted iterates and the number of evaluations of f."""
    x, radius = np.asarray(x0, float), initial_radius
    f, nfev, iterates = fun(x), 1, [np.asarray(x0, float)]
    while np.max(np.abs(grad(x))) > gtol:
        g, h = grad(x), hess(x)
        p, on_boundary = _subproblem_by_bisection(h, g, radius)
        predicted = -(g @ p + 0.5 * p @ h @ p)
        f_new = fun(x + p)
        nfev += 1
        rho = (f - f_new) / predicted
        if rho < 0.25:
            radius *= 0.25
        elif rho > 0.75 and on_boundary:
            radius = min(2.0 * radius, max_radius)
        if rho > eta:
            x, f = x + p, f_new
            iterates.append(x)
    return np.array(iterates), nfev


def _rosen_numpy():
    def fun(x):
        return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2

    def grad(x):
        return np.array([-400.0 * x[0] * (x[1] - x[0] ** 2) - 2.0 * (1.0 - x[0]), 200.0 * (x[1] - x[0] ** 2)])

    def hess(x):
        return np.array([[1200.0 * x[0] ** 2 - 400.0 * x[1] + 2.0, -400.0 * x[0]], [-400.0 * x[0], 200.0]])

    return fun, grad, hess


def test_iterates_follow_algorithm_4_1_on_rosenbrock():
    """Iterate by iterate and evaluation by evaluation, against the NumPy transcription (closed-form
    derivatives, bisection for the subproblem) from the standard start."""
    fun, grad, hess = _rosen_numpy()
    expected, nfev = _algorithm_4_1(fun, grad, hess, [-1.2, 1.0], gtol=1e-8)
    calls = []  # one entry per run of f (its primal) in the compiled updates

    def counted_rosen(x):
        jax.debug.callback(lambda: calls.append(1))
        return rosen(x)

    x, state = jnp.array([-1.2, 1.0]), TRUST_REGION.init(jnp.zeros(2))
    update = jax.jit(lambda x, s: TRUST_REGION.update(jax.grad(rosen)(x), s, x, value=rosen(x), value_fn=counted_rosen))
    iterates = [np.asarray(x)]
    while np.max(np.abs(grad(np.asarray(x)))) > 1e-8:
        updates, state = update(x, state)
        assert not bool(state.stalled)
        x = x + updates
        iterates.append(np.asarray(x))
    assert len(iterates) == len(expected) > 10
    np.testing.assert_allclose(np.array(iterates), expected, rtol=1e-8, atol=1e-12)
    # Algorithm 4.1 rejected some trials here (more evaluations of f than iterates), so the counts
    # check the retries within an update: f at the start plus one per trial, rejected ones included
    # (counting one per update gives 23, not 26). The solver's counter must match the
    # transcription's, and so must the runs of f in the compiled updates, counted by a callback in
    # f: one per trial, plus one per update inside jax.hessian (the Hessian's evaluation, counted
    # apart in num_hvp_evals).
    jax.effects_barrier()
    updates_made = len(iterates) - 1
    assert nfev > len(expected)
    assert 1 + int(state.num_fun_evals) == nfev
    assert len(calls) == (nfev - 1) + updates_made


@pytest.mark.parametrize("scale", [1.0, 10.0, 100.0])
def test_rosenbrock_evaluations_against_scipy_trust_exact(scale):
    """The same algorithm as scipy's trust-exact (whose subproblem solution is approximate): the
    minimum, in about its evaluations. From 100 x0 line-search Newton takes 2.8 times as many."""
    x0 = scale * np.array([-1.2, 1.0])
    res = ml_opt.minimize(rosen, jnp.asarray(x0), TRUST_REGION, gtol=1e-6, max_steps=1000)
    grad, hess = jax.jit(jax.grad(rosen)), jax.jit(jax.hessian(rosen))
    ref = scipy.optimize.minimize(lambda x: float(rosen(x)), x0, jac=lambda x: np.asarray(grad(x)),
                                  hess=lambda x: np.asarray(hess(x)), method="trust-exact", options={"gtol": 1e-6})
    assert bool(res.converged) and ref.success
    np.testing.assert_allclose(np.asarray(res.params), [1.0, 1.0], atol=1e-6)
    assert int(res.num_fun_evals) <= 1.1 * ref.nfev, (int(res.num_fun_evals), ref.nfev)


@pytest.mark.parametrize("key", [
    "powell_badly_scaled",  # lambda_1 > 0 below n eps max|lambda|: positive definite (damped: 7085 evals)
    "brown_dennis",  # f* = 85822: near the minimum rho is rounding noise; the floor rule (else stalled at 40)
])
def test_mgh_problems_against_scipy_trust_exact(key):
    """Two details of the module docstring, each of which the problem fails without."""
    from benchmarks.mgh_vs_scipy import compare
    from ml_opt.problems.mgh import mgh_problem

    (p, ours, theirs), = compare([mgh_problem(key)], ["trust_region_newton"])["trust_region_newton"]
    assert ours.solved and theirs.solved, (ours, theirs)
    assert ours.note == "CONVERGED", ours
    assert ours.nfev <= 1.1 * theirs.nfev, (ours.nfev, theirs.nfev)


@pytest.mark.parametrize("scale", [1.0, 10.0])
def test_quadratic_reaches_the_closed_form_minimiser(scale):
    """On 0.5 x^T A x - b^T x the Newton step is exact: one step when the minimiser is within the first
    radius (||x*|| = 0.77), else steps to the boundary until it is (||x*|| = 7.7)."""
    rng = np.random.default_rng(3)
    m = rng.standard_normal((5, 5))
    a, b = m @ m.T + np.eye(5), scale * rng.standard_normal(5)
    x_star = np.linalg.solve(a, b)
    res = ml_opt.minimize(lambda x, a, b: 0.5 * x @ a @ x - b @ x, jnp.zeros(5), TRUST_REGION,
                          args=(jnp.asarray(a), jnp.asarray(b)), gtol=1e-10)
    assert bool(res.converged)
    np.testing.assert_allclose(np.asarray(res.params), x_star, rtol=1e-10, atol=1e-12)
    assert (int(res.num_steps) == 1) == (np.linalg.norm(x_star) <= 1.0)


@pytest.mark.parametrize("x0, expected", [
    ([0.5, 0.0], "y"),  # on the ridge y = 0 of x^2 - y^2 + y^4/4: H = diag(2, -2), g along x only
    ([1e-3, 2e-3], "uv"),  # next to the saddle of the seed's (uv - 1)^2
])
def test_leaves_saddles(x0, expected):
    """Where H is indefinite the step goes out to the radius along negative curvature (the hard case
    where g has no component there): a minimum, never the saddle."""
    if expected == "y":
        def fun(x):
            return x[0] ** 2 - x[1] ** 2 + 0.25 * x[1] ** 4
    else:
        def fun(x):
            return (x[0] * x[1] - 1.0) ** 2
    res = ml_opt.minimize(fun, jnp.asarray(x0), TRUST_REGION, gtol=1e-8)
    assert bool(res.converged)
    x = np.asarray(res.params)
    if expected == "y":
        np.testing.assert_allclose(np.abs(x), [0.0, np.sqrt(2.0)], atol=1e-8)
    else:
        assert x[0] * x[1] == pytest.approx(1.0, abs=1e-8)
    assert np.linalg.eigvalsh(np.asarray(jax.hessian(fun)(res.params))).min() >= -1e-8


def _log_barrier(x):
    """x - log(x) on x > 0 (minimum at 1), NaN for x < 0: a Newton step from 10 lands at -80."""
    return jnp.sum(x - jnp.log(x))


def test_non_finite_trial_is_rejected_and_the_radius_cut():
    res = ml_opt.minimize(_log_barrier, jnp.array([10.0]), trust_region_newton(initial_radius=1000.0), gtol=1e-10)
    assert bool(res.converged), res.message
    np.testing.assert_allclose(np.asarray(res.params), [1.0], rtol=1e-10)
    assert np.isfinite(float(res.value))


def test_no_accepted_step_says_stalled_and_does_not_move():
    res = ml_opt.minimize(_log_barrier, jnp.array([10.0]),
                          trust_region_newton(initial_radius=1000.0, max_trials=1), gtol=1e-10)
    assert res.status == ml_opt.Status.STALLED
    np.testing.assert_array_equal(np.asarray(res.params), [10.0])
    assert int(res.opt_state.trials) == 1 and bool(res.opt_state.stalled)


def test_vmap_over_starts_compiles_once_and_matches_single_solves():
    starts = jnp.asarray(np.random.default_rng(1).uniform(-2.0, 2.0, size=(16, 2)))
    solve = jax.jit(jax.vmap(lambda x0: ml_opt.minimize(rosen, x0, TRUST_REGION, gtol=1e-8)))
    batched = solve(starts)
    assert solve._cache_size() == 1
    assert bool(jnp.all(batched.converged))
    for k in range(len(starts)):
        single = ml_opt.minimize(rosen, starts[k], TRUST_REGION, gtol=1e-8)
        np.testing.assert_allclose(np.asarray(batched.params[k]), np.asarray(single.params), rtol=1e-10, atol=1e-12)
        assert int(batched.num_fun_evals[k]) == int(single.num_fun_evals)


def test_pytree_and_float32_params():
    def fun(p):
        return 100.0 * (p["b"] - p["a"][0] ** 2) ** 2 + (1.0 - p["a"][0]) ** 2 + jnp.sum((p["a"][1:] - 2.0) ** 2)

    params = {"a": jnp.array([-1.2, 0.0, 5.0], jnp.float32), "b": jnp.array(1.0, jnp.float32)}
    res = ml_opt.minimize(fun, params, TRUST_REGION, gtol=1e-3)
    assert bool(res.converged), res.message
    assert res.params["a"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(res.params["a"]), [1.0, 2.0, 2.0], atol=1e-3)
    assert isinstance(res.opt_state, TrustRegionState)


@pytest.mark.parametrize("kwargs, name", [
    ({"initial_radius": 0.0}, "initial_radius"),
    ({"max_radius": -1.0}, "max_radius"),
    ({"initial_radius": 10.0, "max_radius": 1.0}, "max_radius"),
    ({"eta": 0.25}, "eta"),
    ({"eta": -0.1}, "eta"),
    ({"max_trials": 0}, "max_trials"),
])
def test_bad_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        trust_region_newton(**kwargs)
