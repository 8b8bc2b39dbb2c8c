"""Nonlinear conjugate gradients against independent references: a NumPy float64 transcription of
N&W Algorithm 5.4 with each beta formula (N&W eqs. 5.41-5.49, Dai & Yuan 1999) and exact line
searches on a quadratic (where FR, PR, HS and DY coincide with linear CG and terminate in n steps),
closed-form optima and the Rosenbrock minimiser. The Moré-Garbow-Hillstrom comparison with
scipy.optimize.minimize(method="CG") is in test_mgh_vs_scipy.py."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ml_opt
from ml_opt.conjugate_gradient import (
    CgState,
    dai_yuan,
    fletcher_reeves,
    hestenes_stiefel,
    nonlinear_cg,
    polak_ribiere,
    polak_ribiere_plus,
)
from ml_opt.linesearch import backtracking, exact_quadratic, zoom

METHODS = ["fletcher_reeves", "polak_ribiere", "polak_ribiere_plus", "hestenes_stiefel", "dai_yuan"]


def rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _quadratic(n, seed, cond=50.0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    A = q @ np.diag(np.geomspace(1.0, cond, n)) @ q.T
    A = 0.5 * (A + A.T)
    b = rng.normal(size=n)
    return A, b, (lambda x: 0.5 * x @ jnp.asarray(A) @ x - jnp.asarray(b) @ x)


# The beta formulas, transcribed independently (N&W eqs. 5.41a, 5.44, 5.45, 5.46, 5.49).
BETA_NUMPY = {
    "fletcher_reeves": lambda g, gp, d: (g @ g) / (gp @ gp),
    "polak_ribiere": lambda g, gp, d: g @ (g - gp) / (gp @ gp),
    "polak_ribiere_plus": lambda g, gp, d: max(0.0, g @ (g - gp) / (gp @ gp)),
    "hestenes_stiefel": lambda g, gp, d: g @ (g - gp) / ((g - gp) @ d),
    "dai_yuan": lambda g, gp, d: (g @ g) / ((g - gp) @ d),
}


def test_beta_functions_match_formulas():
    rng = np.random.default_rng(0)
    fns = dict(fletcher_reeves=fletcher_reeves, polak_ribiere=polak_ribiere, polak_ribiere_plus=polak_ribiere_plus,
               hestenes_stiefel=hestenes_stiefel, dai_yuan=dai_yuan)
    for _ in range(5):
        g, gp, d = rng.normal(size=(3, 6))
        for name, fn in fns.items():
            beta, valid = fn(jnp.asarray(g), jnp.asarray(gp), jnp.asarray(d))
            assert bool(valid)
            np.testing.assert_allclose(float(beta), BETA_NUMPY[name](g, gp, d), rtol=1e-12)
    # A vanishing denominator is reported, not turned into inf.
    beta, valid = fletcher_reeves(jnp.ones(2), jnp.zeros(2), jnp.ones(2))
    assert not bool(valid) and np.isfinite(float(beta))


def _algorithm_5_4_numpy(A, b, x, method, steps):
    """N&W Algorithm 5.4 with exact line searches on f = x'Ax/2 - b'x, in NumPy float64."""
    g = A @ x - b
    d = -g
    xs = [x.copy()]
    for _ in range(steps):
        alpha = -(g @ d) / (d @ A @ d)
        x = x + alpha * d
        g_new = A @ x - b
        beta = BETA_NUMPY[method](g_new, g, d)
        d = -g_new + beta * d
        g = g_new
        xs.append(x.copy())
    return xs


@pytest.mark.parametrize("method", METHODS)
def test_iterates_match_numpy_algorithm_5_4_with_exact_line_search(method):
    n = 6
    A, b, fun = _quadratic(n, seed=1)
    x0 = np.random.default_rng(2).normal(size=n)
    ref = _algorithm_5_4_numpy(A, b, x0, method, n)
    opt = nonlinear_cg(method, linesearch=exact_quadratic())
    state = opt.init(jnp.asarray(x0))
    update = jax.jit(lambda g, s, p, v: opt.update(g, s, p, value=v, grad=g, value_fn=fun))
    x = jnp.asarray(x0)
    value, grad = jax.value_and_grad(fun)(x)
    for k in range(1, n + 1):
        updates, state = update(grad, state, x, value)
        x = optax.apply_updates(x, updates)
        value, grad = state.value, state.grad
        np.testing.assert_allclose(np.asarray(x), ref[k], rtol=1e-7, atol=1e-9)
    # Quadratic termination: n exact steps reach A^{-1} b (linear CG, N&W Theorem 5.2).
    np.testing.assert_allclose(np.asarray(x), np.linalg.solve(A, b), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_strongly_convex_quadratic_reaches_closed_form(method):
    A, b, fun = _quadratic(8, seed=3)
    opt = nonlinear_cg(method, linesearch=zoom(c2=0.1), restart_every=8)
    res = ml_opt.minimize(fun, jnp.zeros(8), opt, gtol=1e-9, max_steps=500)
    assert bool(res.converged), res.message
    np.testing.assert_allclose(np.asarray(res.params), np.linalg.solve(A, b), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_rosenbrock_from_standard_start(method):
    res = ml_opt.minimize(rosenbrock, jnp.array([-1.2, 1.0]), nonlinear_cg(method, linesearch=zoom(c2=0.1)),
                          gtol=1e-6, max_steps=2000)
    assert bool(res.converged), (method, res.message)
    np.testing.assert_allclose(np.asarray(res.params), [1.0, 1.0], atol=1e-5)


def test_default_reaches_rosenbrock_with_exact_counts():
    res = ml_opt.minimize(rosenbrock, jnp.array([-1.2, 1.0]), nonlinear_cg(), gtol=1e-6)
    assert bool(res.converged)
    assert int(res.num_fun_evals) == 1 + int(res.opt_state.num_fun_evals)


def test_restart_on_non_descent_direction():
    """A state whose previous direction would make the new one an ascent direction: reset to -g."""
    fun = lambda x: 0.5 * jnp.sum(x**2)
    x = jnp.array([1.0, 0.0])
    g = x
    opt = nonlinear_cg("fletcher_reeves")
    state = opt.init(x)._replace(
        direction=jnp.array([10.0, 0.0]), prev_grad=jnp.array([0.1, 0.0]), restart=jnp.array(False)
    )  # beta = 100: d = -g + 100 d_prev points uphill
    updates, st = opt.update(g, state, x, value=fun(x), grad=g, value_fn=fun)
    u = np.asarray(updates)
    np.testing.assert_allclose(u / np.linalg.norm(u), [-1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(np.asarray(st.direction), -np.asarray(g))
    assert int(st.since_restart) == 1 and float(st.value) < float(fun(x))


def test_restart_every():
    A, b, fun = _quadratic(4, seed=4)
    x, g = jnp.zeros(4), jax.grad(fun)(jnp.zeros(4))
    opt = nonlinear_cg("polak_ribiere", restart_every=2)
    state = opt.init(x)
    update = jax.jit(lambda g, s, p, v: opt.update(g, s, p, value=v, grad=g, value_fn=fun))
    value = fun(x)
    since = []
    for _ in range(5):
        updates, state = update(g, state, x, value)
        x, value, g = optax.apply_updates(x, updates), state.value, state.grad
        since.append(int(state.since_restart))
    assert since == [1, 2, 1, 2, 1]


def test_after_failed_search_first_trial_is_unit_move():
    """After a failed search the restart along -g starts from min(1, 1.01/||g||), as the first
    iteration does, not from a prediction out of the failed search's step."""
    fun = lambda x: 0.5 * jnp.sum(x**2)
    x = jnp.array([30.0, 40.0])  # ||g|| = 50: the unit move is 1.01 / 50
    opt = nonlinear_cg(linesearch=backtracking())  # accepts its first trial here (Armijo)
    state = opt.init(x)._replace(count=jnp.array(7, jnp.int32), restart=jnp.array(True), prev_value=fun(x),
                                 prev_step=jnp.array(1e-13), prev_slope=jnp.array(-1.0))
    updates, st = opt.update(x, state, x, value=fun(x), grad=x, value_fn=fun)
    np.testing.assert_allclose(np.asarray(updates), -1.01 * np.asarray(x) / 50.0, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(st.direction), -np.asarray(x))


def test_failed_search_restarts_then_stalls():
    fun = lambda x: jnp.where(jnp.all(x == 0.0), 0.0, jnp.nan) + jnp.sum(x)
    res = ml_opt.minimize(fun, jnp.zeros(3), nonlinear_cg(), gtol=1e-8, max_steps=5)
    assert int(res.status) == ml_opt.Status.STALLED and int(res.num_steps) == 1
    assert np.all(np.isfinite(np.asarray(res.params)))


def test_pytree_float32():
    A, b, _ = _quadratic(3, seed=5, cond=5.0)
    params = {"w": jnp.zeros((1, 2), jnp.float32), "b": jnp.zeros((), jnp.float32)}

    def fun(p):
        x = jnp.concatenate([p["w"].ravel(), p["b"][None]])
        return 0.5 * x @ jnp.asarray(A, jnp.float32) @ x - jnp.asarray(b, jnp.float32) @ x

    res = ml_opt.minimize(fun, params, nonlinear_cg(), gtol=1e-4, max_steps=300)
    assert bool(res.converged), res.message
    assert jax.tree.map(lambda a: a.dtype, res.params) == {"w": jnp.float32, "b": jnp.float32}
    x = np.concatenate([np.asarray(res.params["w"]).ravel(), [float(res.params["b"])]])
    np.testing.assert_allclose(x, np.linalg.solve(A, b), atol=1e-3)


def test_backtracking_line_search():
    """Armijo steps only (no curvature condition): the non-descent restart keeps it going."""
    A, b, fun = _quadratic(3, seed=5, cond=5.0)
    res = ml_opt.minimize(fun, jnp.zeros(3), nonlinear_cg(linesearch=backtracking()), gtol=1e-6, max_steps=500)
    assert bool(res.converged), res.message
    np.testing.assert_allclose(np.asarray(res.params), np.linalg.solve(A, b), atol=1e-5)


def test_vmap_many_starts_compiles_once_and_matches_single_solves():
    traces = []

    def fun(x):
        traces.append(1)
        return rosenbrock(x)

    opt = nonlinear_cg()
    starts = jax.random.uniform(jax.random.key(0), (64, 2), minval=-2.0, maxval=2.0, dtype=jnp.float64)
    solve = jax.jit(jax.vmap(lambda x0: ml_opt.minimize(fun, x0, opt, gtol=1e-6, max_steps=2000)))
    batched = solve(starts)
    n_traces = len(traces)
    solve(starts * 0.9)
    assert len(traces) == n_traces
    assert bool(jnp.all(batched.converged))
    for i in range(0, 64, 8):
        single = ml_opt.minimize(fun, starts[i], opt, gtol=1e-6, max_steps=2000)
        np.testing.assert_allclose(np.asarray(batched.params[i]), np.asarray(single.params), atol=1e-6)
        assert int(batched.num_fun_evals[i]) == int(single.num_fun_evals)


def test_vmap_over_hyperparameters():
    c2s = jnp.array([0.1, 0.4])

    def solve(c2, every):
        return ml_opt.minimize(rosenbrock, jnp.array([-1.2, 1.0]), nonlinear_cg(linesearch=zoom(c2=c2), restart_every=every),
                               gtol=1e-6, max_steps=2000)

    batched = jax.jit(jax.vmap(solve, in_axes=(0, None)))(c2s, jnp.int32(5))
    assert bool(jnp.all(batched.converged))
    single = solve(0.4, 5)
    assert int(batched.num_fun_evals[1]) == int(single.num_fun_evals)


def test_bad_input():
    with pytest.raises(ValueError, match="method"):
        nonlinear_cg("fr")
    with pytest.raises(ValueError, match="restart_every"):
        nonlinear_cg(restart_every=0)
    with pytest.raises(TypeError, match="restart_every"):
        nonlinear_cg(restart_every=2.5)
    with pytest.raises(TypeError, match="linesearch"):
        nonlinear_cg(linesearch=0.1)
    x = jnp.ones(2)
    with pytest.raises(TypeError, match="value_fn"):
        nonlinear_cg().update(x, nonlinear_cg().init(x), x, value=1.0, grad=x)
    assert isinstance(nonlinear_cg().init(x), CgState)


# --------------------------------------------------------------------------------------------
# Many starts under jax.vmap (slow: 1000 starts; the CI version above uses fewer)
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_vmap_1000_rosenbrock_starts():
    starts = jax.random.uniform(jax.random.key(1), (1000, 2), minval=-2.0, maxval=2.0, dtype=jnp.float64)
    opt = nonlinear_cg()
    batched = jax.jit(jax.vmap(lambda x0: ml_opt.minimize(rosenbrock, x0, opt, gtol=1e-6, max_steps=2000)))(starts)
    assert bool(jnp.all(batched.converged))
    for i in range(0, 1000, 50):
        single = ml_opt.minimize(rosenbrock, starts[i], opt, gtol=1e-6, max_steps=2000)
        np.testing.assert_allclose(np.asarray(batched.params[i]), np.asarray(single.params), atol=1e-6)
