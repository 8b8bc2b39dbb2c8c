"""Tests of ml_opt.newton: newton (damped, modified), saddle_free_newton, newton_cg.

References are independent of the code under test: closed-form gradients and Hessians written
here in NumPy float64, NumPy transcriptions of the algorithm boxes (Algorithm 8.8, N&W Algorithm 3.3,
N&W Algorithm 7.1), numpy.linalg solves and eigendecompositions, scipy.sparse.linalg.cg and
scipy.optimize.minimize.

Compilation dominates the run time, so problem data are passed as traced arguments (``args=`` of
``minimize``, arguments of a jitted update) and optimizers are built once: each program compiles once.
"""

import functools

import jax
import jax.extend.core
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import scipy.optimize
import scipy.sparse.linalg

import ml_opt
from ml_opt.linesearch import backtracking
from ml_opt.newton import NewtonCGState, NewtonState, newton, newton_cg, saddle_free_newton

X0_ROSEN = np.array([-1.2, 1.0])

NEWTON = newton()
NEWTON_SHIFT = newton(modification="shift")
NEWTON_FULL_STEP = newton(linesearch="none")
SADDLE_FREE = saddle_free_newton()
NEWTON_CG = newton_cg()


def rosen(x):
    return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2


def quad(x, a, b):
    return 0.5 * x @ a @ x - b @ x


def spd_quadratic(n, seed, shift):
    rng = np.random.default_rng(seed)
    m = rng.standard_normal((n, n))
    return m @ m.T + shift * np.eye(n), rng.standard_normal(n)


# A smooth nonconvex test function with closed-form derivatives written here:
#   f(x) = sum_i exp(c_i^T x) + 0.5 x^T Q x,  Q symmetric (indefinite for some Q)
#   grad = C^T exp(C x) + Q x,  Hess = C^T diag(exp(C x)) C + Q
def exp_fun(x, c, q):
    return jnp.sum(jnp.exp(c @ x)) + 0.5 * x @ q @ x


def exp_data(n, seed=1):
    return 0.3 * np.random.default_rng(seed).standard_normal((n + 2, n))


def exp_grad(x, c, q):
    return c.T @ np.exp(c @ x) + q @ x


def exp_hess(x, c, q):
    return c.T @ np.diag(np.exp(c @ x)) @ c + q


@functools.lru_cache(maxsize=None)
def update_at(opt, fun):
    """A compiled single update at x, as minimize calls it: ``run(x, *args) -> (updates, state)``."""

    @jax.jit
    def run(x, *args):
        f = lambda p: fun(p, *args)
        value, g = jax.value_and_grad(f)(x)
        return opt.update(g, opt.init(x), x, value=value, grad=g, value_fn=f)

    return run


# ------------------------------------------------------------------------------------------
# Directions against NumPy
# ------------------------------------------------------------------------------------------


def test_newton_reaches_quadratic_minimiser_in_one_step():
    a, b = spd_quadratic(5, 0, 5.0)
    x_star = np.linalg.solve(a, b)
    for opt in [NEWTON, NEWTON_FULL_STEP]:
        res = ml_opt.minimize(quad, jnp.zeros(5), opt, args=(a, b), gtol=1e-9)
        assert bool(res.converged)
        assert int(res.num_steps) == 1
        np.testing.assert_allclose(res.params, x_star, rtol=1e-12, atol=1e-12)


def test_damped_newton_step_equals_numpy_solve():
    q = np.diag([2.0, 1.0, 3.0, 0.5])
    c = exp_data(4)
    x = np.array([0.3, -0.2, 0.1, 0.4])
    dampings = np.array([0.0, 0.5, 3.0])

    @jax.jit
    @jax.vmap
    def steps(alpha):
        f = lambda p: exp_fun(p, c, q)
        value, g = jax.value_and_grad(f)(x)
        full = newton(alpha, linesearch="none")
        searched = newton(alpha)  # zoom from step 1, which it accepts here (convex, short step)
        u1, s1 = full.update(g, full.init(x), x, value=value, grad=g, value_fn=f)
        u2, s2 = searched.update(g, searched.init(x), x, value=value, grad=g, value_fn=f)
        return u1, u2, s1.modified | s2.modified, s2.num_hvp_evals

    u_full, u_searched, modified, hvps = steps(jnp.asarray(dampings))
    for i, alpha in enumerate(dampings):  # the seed's theta* = theta_0 - [H + alpha I]^{-1} g
        expected = np.linalg.solve(exp_hess(x, c, q) + alpha * np.eye(4), -exp_grad(x, c, q))
        np.testing.assert_allclose(u_full[i], expected, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(u_searched[i], expected, rtol=1e-10, atol=1e-12)
    assert not bool(jnp.any(modified))
    assert list(np.asarray(hvps)) == [4, 4, 4]  # a dense Hessian counts n products


def test_newton_absolute_modification_equals_numpy_eigendecomposition():
    q = np.diag([2.0, -3.0, 1.0])  # indefinite: H is not positive definite
    c = exp_data(3)
    x = np.array([0.1, 0.2, -0.3])
    lam, v = np.linalg.eigh(exp_hess(x, c, q))
    assert lam.min() < 0
    expected = -v @ np.diag(1.0 / np.abs(lam)) @ v.T @ exp_grad(x, c, q)
    updates, state = update_at(NEWTON_FULL_STEP, exp_fun)(x, c, q)
    np.testing.assert_allclose(updates, expected, rtol=1e-10)
    assert bool(state.modified)
    assert float(exp_grad(x, c, q) @ np.asarray(updates)) < 0  # a descent direction


def numpy_cholesky_added_identity(a, beta=1e-3):
    """N&W Algorithm 3.3, transcribed: returns (L, tau)."""
    min_diag = np.min(np.diag(a))
    tau = 0.0 if min_diag > 0 else -min_diag + beta
    while True:
        try:
            return np.linalg.cholesky(a + tau * np.eye(a.shape[0])), tau
        except np.linalg.LinAlgError:
            tau = max(2 * tau, beta)


@pytest.mark.parametrize(
        "q",
        [np.diag([2.0, -3.0, 1.0]), np.diag([-1.0, -0.5, -2.0]),
         np.array([[1.0, 1.5, 0.0], [1.5, 1.0, 0.0], [0.0, 0.0, 1.0]])],  # positive diagonal, indefinite
        ids=["one_negative", "negative_definite", "positive_diagonal"],
)
def test_newton_shift_modification_equals_numpy_algorithm_3_3(q):
    c = exp_data(3)
    x = np.array([0.1, 0.2, -0.3])
    l, tau = numpy_cholesky_added_identity(exp_hess(x, c, q))
    assert tau > 0
    expected = -np.linalg.solve(l @ l.T, exp_grad(x, c, q))
    updates, state = update_at(newton_shift_full_step(), exp_fun)(x, c, q)
    np.testing.assert_allclose(updates, expected, rtol=1e-9)
    np.testing.assert_allclose(float(state.shift), tau, rtol=1e-12)
    assert bool(state.modified)


def quartic_minus_linear(x):
    return jnp.sum(x ** 4 / 4 - x)  # Hessian 0 at x = 0, where the gradient is -1


@functools.lru_cache(maxsize=None)
def newton_backtracking():
    return newton(linesearch=backtracking(c1=1e-4, shrink=0.5, max_steps=30))


def test_newton_first_trial_is_bounded_by_the_maximum_step():
    # At x = 0 the Hessian of x^4/4 - x is 0: the modified Newton direction is 1 / (smallest normal
    # number) ~ 4.5e307. Dennis & Schnabel's maximum step makes the first trial 1e3 max(||x||, 1) = 1e3
    # long; halving from there, Armijo's test t^4/4 - t <= -1e-4 t holds first at t = 1000 / 2^10
    # (t^3 <= 4 (1 - 1e-4)), after 11 evaluations. From the unbounded trial, 30 halvings cannot get
    # below 4e298 and the search fails.
    updates, state = update_at(newton_backtracking(), lambda x: quartic_minus_linear(x))(np.zeros(1))
    assert bool(state.modified)
    np.testing.assert_array_equal(np.asarray(updates), [1000.0 / 2 ** 10])
    assert int(state.num_fun_evals) == 11


def test_bounded_direction_equals_closed_form_without_overflow():
    from ml_opt._solver import bounded_direction

    # ||d||_2 = sqrt(2) 1e308 overflows float64 as a sum of squares (and as a number: > 1.8e308);
    # the bound is 1e3 max(||x||_2, 1) = 5e3 for ||x||_2 = 5, so d becomes 5e3 d / ||d||.
    d, x = np.array([1e308, -1e308]), np.array([3.0, 4.0])
    np.testing.assert_allclose(bounded_direction(d, 1.0, x, jnp.float64), [5e3 / np.sqrt(2.0), -5e3 / np.sqrt(2.0)],
                               rtol=1e-14)
    # With a first trial of 0.5 the direction may be twice as long.
    np.testing.assert_allclose(bounded_direction(np.array([0.0, 1e5]), 0.5, np.zeros(2), jnp.float64), [0.0, 2e3],
                               rtol=1e-15)
    # A trial within the bound (0.5 ||d|| = 50 <= 1e3) and a zero direction are left as they are.
    np.testing.assert_array_equal(bounded_direction(np.array([60.0, 80.0]), 0.5, np.zeros(2), jnp.float64), [60.0, 80.0])
    np.testing.assert_array_equal(bounded_direction(np.zeros(2), 1.0, np.zeros(2), jnp.float64), [0.0, 0.0])


@functools.lru_cache(maxsize=None)
def newton_shift_full_step():
    return newton(linesearch="none", modification="shift")


def test_saddle_free_direction_equals_numpy_formula():
    q = np.array([[1.0, 2.0, 0.0], [2.0, -1.0, 0.5], [0.0, 0.5, -2.0]])  # indefinite
    c = exp_data(3)
    x = np.array([0.2, -0.1, 0.3])
    lam, v = np.linalg.eigh(exp_hess(x, c, q))
    assert lam.min() < 0 < lam.max()
    dampings = np.array([0.0, 0.25, 2.0])

    @jax.jit
    @jax.vmap
    def directions(alpha):
        # backtracking with c1 ~ 0 accepts step 1 wherever f decreases (asserted below), so the
        # update is the direction itself
        opt = saddle_free_newton(alpha, linesearch=backtracking(c1=1e-12))
        f = lambda p: exp_fun(p, c, q)
        value, g = jax.value_and_grad(f)(x)
        return opt.update(g, opt.init(x), x, value=value, grad=g, value_fn=f)[0]

    updates = directions(jnp.asarray(dampings))
    for i, alpha in enumerate(dampings):
        expected = -v @ np.diag(1.0 / (np.abs(lam) + alpha)) @ v.T @ exp_grad(x, c, q)
        assert float(exp_fun(x + expected, c, q)) < float(exp_fun(x, c, q))
        np.testing.assert_allclose(updates[i], expected, rtol=1e-10)


def numpy_truncated_cg(a, g, tol, max_steps):
    """The inner loop of N&W Algorithm 7.1, transcribed, with newton_cg's rule on negative curvature
    (the last step taken with |p^T a p|): ``(direction, iterations, the last CG iterate z)``."""
    z, r, p = np.zeros_like(g), g.copy(), -g.copy()
    for j in range(max_steps):
        ap = a @ p
        curvature = p @ ap
        alpha = (r @ r) / abs(curvature)
        if curvature < 0:
            return z + alpha * p, j + 1, z
        z = z + alpha * p
        r_new = r + alpha * ap
        if np.linalg.norm(r_new) <= tol:
            return z, j + 1, z
        p = -r_new + (r_new @ r_new) / (r @ r) * p
        r = r_new
    return z, max_steps, z


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_newton_cg_direction_equals_cg_solution_on_spd_quadratic(seed):
    n = 12
    a, b = spd_quadratic(n, seed, 0.5)  # SPD, moderately ill-conditioned
    x = 0.1 * np.random.default_rng(seed + 10).standard_normal(n)
    g = a @ x - b
    g_norm = np.linalg.norm(g)
    tol = min(0.5, np.sqrt(g_norm)) * g_norm  # the forcing sequence
    expected, iterations, _ = numpy_truncated_cg(a, g, tol, 10 * n)
    # the CG iterate z has z^T (A z + g) = 0: step 1 is the exact line minimum, and zoom takes it
    updates, state = update_at(NEWTON_CG, quad)(x, a, b)
    np.testing.assert_allclose(updates, expected, rtol=1e-9, atol=1e-12)
    assert int(state.cg_steps) == iterations
    assert int(state.num_hvp_evals) == iterations
    assert not bool(state.negative_curvature)
    # scipy's CG from 0 with the same relative tolerance gives the same iterate
    sp, info = scipy.sparse.linalg.cg(a, -g, rtol=tol / g_norm, atol=0.0, maxiter=10 * n)
    assert info == 0
    np.testing.assert_allclose(updates, sp, rtol=1e-8, atol=1e-12)


def test_newton_cg_runs_to_the_newton_solution_with_transcribed_counts():
    # The whole outer loop transcribed: CG iterates are exact line minima on a quadratic, so every
    # step has length 1 (one evaluation); the HVPs are the CG iterations, summed over the steps.
    n = 12
    a, b = spd_quadratic(n, 5, 0.1)
    gtol = 1e-10
    x, steps, hvps = np.zeros(n), 0, 0
    while np.max(np.abs(a @ x - b)) > gtol:
        g = a @ x - b
        g_norm = np.linalg.norm(g)
        z, iterations, _ = numpy_truncated_cg(a, g, min(0.5, np.sqrt(g_norm)) * g_norm, 10 * n)
        x, steps, hvps = x + z, steps + 1, hvps + iterations
    res = ml_opt.minimize(quad, jnp.zeros(n), NEWTON_CG, args=(a, b), gtol=gtol)
    assert bool(res.converged)
    assert int(res.num_steps) == steps
    assert int(res.num_hvp_evals) == hvps
    assert int(res.num_fun_evals) == 1 + steps
    np.testing.assert_allclose(res.params, x, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(res.params, np.linalg.solve(a, b), rtol=1e-7, atol=1e-9)


def test_newton_cg_first_trial_is_eq_3_60_when_shorter_than_the_newton_step():
    """Along newton_cg's path on Rosenbrock, from recorded trial points: the first update tries the
    (truncated) Newton step; every later search whose first trial is shorter than the Newton step starts from
    N&W eq. 3.60, a0 = 1.01 * 2 (f_k - f_{k-1}) / g_k^T d_k, that is g_k^T (x_trial - x_k) =
    2.02 (f_k - f_{k-1}) (the direction's scale drops out); otherwise eq. 3.60 asks for at least
    the Newton step, which is tried."""
    trials = []

    def fun(x):
        jax.debug.callback(lambda v: trials.append(np.asarray(v)), x, ordered=True)
        return rosen(x)

    opt = newton_cg()
    update = jax.jit(lambda g, s, x, f: opt.update(g, s, x, value=f, grad=g, value_fn=fun))
    x, state = jnp.asarray(X0_ROSEN), opt.init(jnp.asarray(X0_ROSEN))
    f, g = jax.value_and_grad(rosen)(x)
    prev_f, short_trials = None, 0
    for _ in range(40):
        trials.clear()
        u, state = update(g, state, x, f)
        jax.effects_barrier()
        first = next(t for t in trials if not np.array_equal(t, np.asarray(x)))  # (HVPs evaluate at x)
        step_change = float(np.dot(np.asarray(g), first - np.asarray(x)))  # g^T (a0 d) = a0 g^T d
        if prev_f is None:  # the unit step along the truncated-CG direction (NumPy transcription)
            g_norm = float(jnp.linalg.norm(g))
            z, _, _ = numpy_truncated_cg(np.asarray(jax.hessian(rosen)(x)), np.asarray(g),
                                         min(0.5, np.sqrt(g_norm)) * g_norm, 20)
            np.testing.assert_allclose(first, np.asarray(x) + z, rtol=1e-12)
        elif abs(f - prev_f) > 1e-8 * abs(f):
            predicted = 2.02 * float(f - prev_f)  # eq. 3.60 times g^T d
            if predicted > step_change:  # eq. 3.60 shorter than the Newton step (both negative)
                np.testing.assert_allclose(step_change, predicted, rtol=1e-9)
                short_trials += 1
        prev_f, x, f, g = f, x + u, state.value, state.grad
        if float(jnp.max(jnp.abs(g))) <= 1e-8:
            break
    assert float(jnp.max(jnp.abs(g))) <= 1e-8 and short_trials >= 3


def test_newton_cg_negative_curvature_at_first_iteration_goes_along_minus_gradient():
    # f = sum(x^4 - x^2) near the origin: H = diag(12 x^2 - 2) < 0
    f = lambda x, s: jnp.sum(x ** 4 - x ** 2) * s
    x = np.array([0.1, 0.05])
    g = np.array([4 * x[0] ** 3 - 2 * x[0], 4 * x[1] ** 3 - 2 * x[1]])
    updates, state = update_at(NEWTON_CG, f)(x, 1.0)
    assert bool(state.negative_curvature) and int(state.cg_steps) == 1
    u = np.asarray(updates)
    np.testing.assert_allclose(u / np.linalg.norm(u), -g / np.linalg.norm(g), rtol=1e-12)
    assert float(state.value) < float(f(x, 1.0))


@pytest.mark.parametrize("seed", [15, 18])
def test_newton_cg_negative_curvature_later_takes_the_last_cg_step_with_its_absolute_value(seed):
    # f = 1/2 x^T A x + c^T x + sum(x^4) at x = 0: g = c, H = A with eigenvalues 4, 1, -1; for these
    # seeds CG meets p^T A p < 0 at its second iteration, where Algorithm 7.1 would return z.
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((3, 3)))
    a = q @ np.diag([4.0, 1.0, -1.0]) @ q.T
    c = rng.standard_normal(3)
    f = lambda x, a, c: 0.5 * x @ a @ x + c @ x + jnp.sum(x ** 4)
    c_norm = np.linalg.norm(c)
    expected, iterations, z = numpy_truncated_cg(a, c, min(0.5, np.sqrt(c_norm)) * c_norm, 30)
    assert iterations == 2 and z @ expected / np.linalg.norm(z) / np.linalg.norm(expected) < 0.9
    updates, state = update_at(NEWTON_CG, f)(np.zeros(3), a, c)
    assert bool(state.negative_curvature) and int(state.cg_steps) == 2
    u = np.asarray(updates)
    np.testing.assert_allclose(u / np.linalg.norm(u), expected / np.linalg.norm(expected), rtol=1e-12)
    assert float(state.value) < 0.0


def test_newton_cg_never_forms_the_hessian():
    n = 1000  # a dense Hessian would have 1e6 entries; newton_cg's program holds only vectors
    w = 1.0 + np.arange(n) / n

    def f(x, w):
        return jnp.sum(w * (x - 1.0) ** 2) + 0.1 * jnp.sum(x[1:] * x[:-1]) + 0.1 * jnp.sum(x ** 4)

    jaxpr = jax.make_jaxpr(lambda x: ml_opt.minimize(f, x, NEWTON_CG, args=(w,), gtol=1e-8))(jnp.zeros(n))

    def sub_jaxprs(value):
        if isinstance(value, jax.extend.core.ClosedJaxpr):
            yield value.jaxpr
        elif isinstance(value, jax.extend.core.Jaxpr):
            yield value
        elif isinstance(value, (tuple, list)):
            for v in value:
                yield from sub_jaxprs(v)

    def all_sizes(jaxpr):
        for eqn in jaxpr.eqns:
            for v in eqn.outvars:
                yield int(np.prod(getattr(v.aval, "shape", ())))
            for param in eqn.params.values():
                for sub in sub_jaxprs(param):
                    yield from all_sizes(sub)

    sizes = list(all_sizes(jaxpr.jaxpr))
    assert n in sizes  # the vectors are there (the traversal reached into the loops)
    assert max(sizes) < n * n


# ------------------------------------------------------------------------------------------
# Algorithm 8.8 verbatim, and convergence
# ------------------------------------------------------------------------------------------


def test_full_step_newton_equals_numpy_transcription_of_algorithm_8_8():
    q = np.diag([1.0, 2.0, 0.5])
    c = exp_data(3, seed=3)
    x = np.array([1.0, -1.0, 0.5])
    xj = jnp.asarray(x)
    step = update_at(NEWTON_FULL_STEP, exp_fun)
    for _ in range(4):
        # Algorithm 8.8: g, H, H^{-1}, delta = -H^{-1} g, theta <- theta + delta
        x = x - np.linalg.inv(exp_hess(x, c, q)) @ exp_grad(x, c, q)
        updates, _ = step(xj, c, q)
        xj = optax.apply_updates(xj, updates)
        np.testing.assert_allclose(xj, x, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
        "opt", [NEWTON, NEWTON_SHIFT, SADDLE_FREE, NEWTON_CG], ids=["newton", "newton_shift", "saddle_free", "newton_cg"]
)
def test_rosenbrock_from_standard_start(opt):
    res = ml_opt.minimize(rosen, jnp.asarray(X0_ROSEN), opt, gtol=1e-8, max_steps=500)
    assert bool(res.converged), res.message
    np.testing.assert_allclose(res.params, [1.0, 1.0], atol=1e-7)
    assert int(res.num_hvp_evals) > 0
    assert res.num_fun_evals >= res.num_steps


def test_newton_matches_scipy_trust_exact_minimiser():
    q = np.array([[1.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 1.0]])
    c = exp_data(3, seed=4)
    x0 = np.array([1.0, 2.0, -1.0])
    ref = scipy.optimize.minimize(lambda x: float(exp_fun(x, c, q)), x0, jac=lambda x: exp_grad(x, c, q),
                                  hess=lambda x: exp_hess(x, c, q), method="trust-exact", options={"gtol": 1e-10})
    assert ref.success
    for opt in [NEWTON, NEWTON_CG]:
        res = ml_opt.minimize(exp_fun, jnp.asarray(x0), opt, args=(c, q), gtol=1e-10)
        assert bool(res.converged)
        np.testing.assert_allclose(res.params, ref.x, rtol=1e-7, atol=1e-9)


# ------------------------------------------------------------------------------------------
# Pytrees, dtypes, vmap, compile once
# ------------------------------------------------------------------------------------------


def f_tree(p):
    return rosen(jnp.stack([p["a"][0], p["b"][0, 0]])) + jnp.sum((p["b"][1:] - 0.5) ** 2)


def f_flat(x):
    return rosen(x[:2]) + jnp.sum((x[2:] - 0.5) ** 2)


@pytest.mark.parametrize("opt", [NEWTON, NEWTON_CG], ids=["newton", "newton_cg"])
def test_pytree_params_match_flat_params(opt):
    tree0 = {"a": jnp.array([-1.2]), "b": jnp.array([[1.0], [2.0], [0.0]])}
    flat0 = jnp.array([-1.2, 1.0, 2.0, 0.0])
    r_tree = ml_opt.minimize(f_tree, tree0, opt, gtol=1e-8)
    r_flat = ml_opt.minimize(f_flat, flat0, opt, gtol=1e-8)
    assert bool(r_tree.converged) and bool(r_flat.converged)
    assert jax.tree.structure(r_tree.params) == jax.tree.structure(tree0)
    assert jax.tree.structure(r_tree.opt_state.grad) == jax.tree.structure(tree0)
    np.testing.assert_allclose(jax.flatten_util.ravel_pytree(r_tree.params)[0], r_flat.params, rtol=1e-10)
    assert int(r_tree.num_fun_evals) == int(r_flat.num_fun_evals)


@pytest.mark.parametrize("opt", [NEWTON, NEWTON_CG], ids=["newton", "newton_cg"])
def test_float32_params(opt):
    res = ml_opt.minimize(rosen, jnp.asarray(X0_ROSEN, jnp.float32), opt, gtol=1e-3)
    assert res.params.dtype == jnp.float32 and res.opt_state.value.dtype == jnp.float32
    assert bool(res.converged), res.message
    np.testing.assert_allclose(res.params, [1.0, 1.0], atol=1e-2)


def test_vmap_over_starts_and_over_damping():
    starts = jnp.array([[-1.2, 1.0], [2.0, 2.0], [0.0, -1.0]])
    res = jax.jit(jax.vmap(lambda x0: ml_opt.minimize(rosen, x0, NEWTON, gtol=1e-8)))(starts)
    assert bool(jnp.all(res.converged))
    np.testing.assert_allclose(res.params, np.ones((3, 2)), atol=1e-7)
    single = ml_opt.minimize(rosen, starts[0], NEWTON, gtol=1e-8)  # each lane is the unbatched run
    np.testing.assert_allclose(res.params[0], single.params, rtol=1e-12)
    assert int(res.num_fun_evals[0]) == int(single.num_fun_evals)

    # damping given as a JAX scalar, vmapped: heavier damping, shorter steps, more of them
    dampings = jnp.array([0.0, 0.1, 1.0])
    sweep = jax.jit(jax.vmap(lambda a: ml_opt.minimize(rosen, jnp.asarray(X0_ROSEN), newton(a), gtol=1e-8)))(dampings)
    assert bool(jnp.all(sweep.converged))
    steps = np.asarray(sweep.num_steps)
    assert steps[2] > steps[0]
    assert int(steps[0]) == int(single.num_steps)  # damping 0 is plain newton


def test_minimize_traces_once_for_repeated_calls():
    traces = []

    def f(x):
        traces.append(1)  # runs when traced, not when evaluated
        return jnp.sum((x - 2.0) ** 2) + jnp.sum(x ** 4)

    ml_opt.minimize(f, jnp.zeros(3), NEWTON_CG)
    n = len(traces)
    res = ml_opt.minimize(f, jnp.ones(3), NEWTON_CG)
    ml_opt.minimize(f, -jnp.ones(3), NEWTON_CG, gtol=1e-9, max_steps=50)
    assert len(traces) == n
    assert bool(res.converged)


# ------------------------------------------------------------------------------------------
# Counts and state
# ------------------------------------------------------------------------------------------


def test_counts_on_a_quadratic():
    # On a strongly convex quadratic the Newton step has length 1 and zoom accepts it at its first
    # trial: one value-and-gradient per step, plus the driver's at the start; n HVPs per Hessian.
    a, b = spd_quadratic(5, 0, 5.0)
    for opt in [NEWTON, SADDLE_FREE]:
        res = ml_opt.minimize(quad, jnp.zeros(5), opt, args=(a, b), gtol=1e-9)
        counts = (int(res.num_steps), int(res.num_fun_evals), int(res.num_grad_evals), int(res.num_hvp_evals))
        assert counts == (1, 2, 2, 5)
        assert isinstance(res.opt_state, NewtonState)


def test_update_without_value_evaluates_and_counts_it():
    a, b = spd_quadratic(3, 0, 3.0)
    x = jnp.ones(3)

    @jax.jit
    def both(x):
        f = lambda p: quad(p, a, b)
        g = jax.grad(f)(x)
        opt = NEWTON_FULL_STEP
        _, s1 = opt.update(g, opt.init(x), x, value_fn=f)  # no value: evaluated (and counted)
        _, s2 = opt.update(g, opt.init(x), x, value=f(x), grad=g, value_fn=f)
        _, s3 = NEWTON_CG.update(g, NEWTON_CG.init(x), x, value_fn=f)
        return s1.num_fun_evals, s2.num_fun_evals, s3

    n1, n2, s3 = both(x)
    assert int(n1) == int(n2) + 1
    assert isinstance(s3, NewtonCGState)


# ------------------------------------------------------------------------------------------
# Bad input
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("opt", [NEWTON, SADDLE_FREE, NEWTON_CG], ids=["newton", "saddle_free", "newton_cg"])
def test_missing_value_fn_is_a_clear_error(opt):
    x = jnp.ones(2)
    with pytest.raises(TypeError, match="value_fn"):
        opt.update(x, opt.init(x), x)


def test_bad_hyperparameters_raise_early_naming_them():
    with pytest.raises(ValueError, match="damping"):
        newton(-1.0)
    with pytest.raises(ValueError, match="damping"):
        saddle_free_newton(float("nan"))
    with pytest.raises(ValueError, match="modification"):
        newton(modification="levenberg")
    with pytest.raises(TypeError, match="linesearch"):
        newton(linesearch="zoom")
    with pytest.raises(TypeError, match="linesearch"):
        newton_cg(linesearch=optax.scale_by_zoom_linesearch(10))
    with pytest.raises(TypeError, match="linesearch"):
        saddle_free_newton(linesearch="none")  # the full step is newton's alone
    with pytest.raises(TypeError, match="max_cg_steps"):
        newton_cg(max_cg_steps=2.5)
    with pytest.raises(ValueError, match="max_cg_steps"):
        newton_cg(max_cg_steps=0)
    with pytest.raises(TypeError, match="params"):
        NEWTON.init({"w": jnp.arange(3)})  # integer params
    x = jnp.ones(2)
    with pytest.raises(ValueError, match="grads"):
        NEWTON.update(jnp.ones(3), NEWTON.init(x), x, value_fn=lambda p: jnp.sum(p ** 2))
