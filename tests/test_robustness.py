"""Robustness of the second-order solvers: saddles, indefinite Hessians, directions that are not
descent directions, line searches that cannot meet their conditions, params of mixed precision.

Every second-order solver of the library runs every scenario through ml_opt.minimize (jit-compiled,
vmapped over the scenario's starting points): nothing returned is NaN or infinite, the objective
never increases, and the Result's status (and message) says what happened. The scenarios are
checked to be what they claim with NumPy (e.g. that the plain Newton direction is an ascent
direction there).

Test functions: ``x^2 - y^2`` (a saddle, unbounded below), the seed's ``(u v - 1)^2`` (a saddle at
the origin, minimisers on ``u v = 1``; seeds 000/001), a double well ``(x^2 - 1)^2 + y^2``
(indefinite Hessian for ``|x| < 1/sqrt(3)``), Rosenbrock, and ``1e4 ||x||^2``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ml_opt
from ml_opt.least_squares import gauss_newton, levenberg_marquardt
from ml_opt.linesearch import zoom
from ml_opt.minimize import Status
from ml_opt.newton import newton, newton_cg, saddle_free_newton
from ml_opt.trust_region import trust_region_newton


def _quasi_newton():
    return pytest.importorskip("ml_opt.quasi_newton")


def _conjugate_gradient():
    return pytest.importorskip("ml_opt.conjugate_gradient")


# name -> make(linesearch, residual_fn) -> optimizer; linesearch None means the solver's default
SOLVERS = {
    "newton": lambda ls, r: newton(linesearch=ls),
    "newton_shift": lambda ls, r: newton(linesearch=ls, modification="shift"),
    "saddle_free_newton": lambda ls, r: saddle_free_newton(linesearch=ls),
    "newton_cg": lambda ls, r: newton_cg(linesearch=ls),
    "bfgs": lambda ls, r: _quasi_newton().bfgs(linesearch=ls),
    "lbfgs": lambda ls, r: _quasi_newton().lbfgs(linesearch=ls),
    "nonlinear_cg": lambda ls, r: _conjugate_gradient().nonlinear_cg("polak_ribiere_plus", linesearch=ls),
    "gauss_newton": lambda ls, r: gauss_newton(r, linesearch=ls),
    "levenberg_marquardt": lambda ls, r: levenberg_marquardt(r),
    "trust_region_newton": lambda ls, r: trust_region_newton(),
}
GENERAL = [name for name in SOLVERS if name not in ("gauss_newton", "levenberg_marquardt")]
NEWTON_FAMILY = ["newton", "newton_shift", "saddle_free_newton", "newton_cg"]


def run_batch(name, fun, residuals, starts, weights, max_steps, *, linesearch=None, gtol=1e-8):
    """``minimize(fun, x0, solver, args=(w,), max_steps=m)`` for each (x0, w, m), in one compiled,
    vmapped program."""

    @jax.jit
    @jax.vmap
    def run(x0, w, m):
        opt = SOLVERS[name](linesearch, lambda x: residuals(x, w))
        return ml_opt.minimize(fun, x0, opt, args=(w,), max_steps=m, gtol=gtol)

    return run(jnp.asarray(starts, jnp.float64), jnp.asarray(weights, jnp.float64), jnp.asarray(max_steps, jnp.int32))


def assert_all_finite(result):
    for path, leaf in jax.tree_util.tree_leaves_with_path(result):
        if jnp.issubdtype(jnp.result_type(leaf), jnp.floating):
            assert bool(jnp.all(jnp.isfinite(leaf))), f"non-finite value at {jax.tree_util.keystr(path)}"


def lane(result, i):
    return jax.tree.map(lambda leaf: leaf[i], result)


# ------------------------------------------------------------------------------------------
# Saddles and indefinite Hessians: x^2 - y^2, the seed's (uv - 1)^2, a double well
# ------------------------------------------------------------------------------------------


def scenario(x, w):
    """``w`` picks the function: x^2 - y^2, (uv - 1)^2, or the double well (x^2 - 1)^2 + y^2."""
    u, v = x[0], x[1]
    return w[0] * (u ** 2 - v ** 2) + w[1] * (u * v - 1.0) ** 2 + w[2] * ((u ** 2 - 1.0) ** 2 + v ** 2)


def scenario_residuals(x, w):  # x^2 - y^2 is not a sum of squares: the least-squares solvers skip it
    u, v = x[0], x[1]
    return jnp.stack([jnp.sqrt(w[1]) * (u * v - 1.0), jnp.sqrt(w[2]) * (u ** 2 - 1.0), jnp.sqrt(w[2]) * v])


SADDLE, UV, WELL = [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]
# (start, weights, what is expected); x^2 - y^2 is unbounded below: its runs are cut at 4 steps
CASES = [
    ([0.0, 0.0], SADDLE, "stationary"),  # exactly at the saddle
    ([1e-3, 1e-3], SADDLE, "escapes"),
    ([1.0, 1e-8], SADDLE, "escapes"),
    ([0.0, 0.0], UV, "stationary"),  # exactly at the saddle of (uv - 1)^2
    ([1e-3, 2e-3], UV, "minimum"),  # next to it, where plain Newton heads for the saddle
    ([-1e-2, 2e-2], UV, "minimum"),
    ([0.1, 0.01], WELL, "minimum"),  # indefinite Hessian; the Newton direction is an ascent direction
    ([0.3, -2.0], WELL, "minimum"),
]


def numpy_newton_direction(x, w):
    u, v = x
    g = w[1] * 2 * (u * v - 1) * np.array([v, u]) + w[2] * np.array([4 * u * (u ** 2 - 1), 2 * v])
    h = w[1] * np.array([[2 * v * v, 4 * u * v - 2], [4 * u * v - 2, 2 * u * u]]) + w[2] * np.diag([12 * u * u - 4, 2])
    return g, h, -np.linalg.solve(h, g)


def test_scenarios_are_what_they_claim():
    # Plain Newton (Algorithm 8.8 without modification) from next to the saddle of (uv - 1)^2
    # moves towards the saddle...
    x = np.array([1e-3, 2e-3])
    _, _, d = numpy_newton_direction(x, UV)
    assert np.linalg.norm(x + d) < np.linalg.norm(x)
    # ...and at (0.1, 0.01) on the double well its direction goes uphill.
    g, h, d = numpy_newton_direction(np.array([0.1, 0.01]), WELL)
    assert np.linalg.eigvalsh(h).min() < 0 and g @ d > 0


@pytest.mark.parametrize("name", list(SOLVERS))
def test_saddles_and_indefinite_hessians(name):
    cases = CASES if name in GENERAL else [c for c in CASES if c[1] != SADDLE]
    starts, weights, expected = zip(*cases)
    max_steps = [4 if w == SADDLE else 500 for w in weights]
    res = run_batch(name, scenario, scenario_residuals, starts, weights, max_steps)
    assert_all_finite(res)
    for i, what in enumerate(expected):
        r, x0, w = lane(res, i), jnp.asarray(starts[i]), jnp.asarray(weights[i])
        if what == "stationary":
            # The gradient is 0 at a saddle: a stationary point, which is what the status says (the
            # driver's test is first order; it cannot tell a saddle from a minimum).
            assert int(r.status) == Status.CONVERGED and int(r.num_steps) == 0, (i, r.message)
            np.testing.assert_array_equal(r.params, x0)
        elif what == "escapes":
            # Downhill, away from the saddle of a function unbounded below: stopped by max_steps, by
            # the objective leaving the floating-point range, or by a line search that cannot meet
            # the curvature condition on a line where f has no minimum; the status says which.
            assert float(r.value) < float(scenario(x0, w))
            assert abs(float(r.params[1])) > abs(float(x0[1]))
            assert int(r.status) in (Status.MAX_STEPS, Status.NONFINITE, Status.STALLED), (i, r.message)
            assert int(r.num_steps) >= 1
        else:
            assert int(r.status) == Status.CONVERGED, (i, r.message)
            assert float(r.value) <= float(scenario(x0, w))
            if name in GENERAL or weights[i] != UV:
                assert float(r.value) < 1e-10, i  # a global minimiser (value 0), not the saddle (value 1)
            # else: Gauss-Newton and Levenberg-Marquardt model the Hessian by J^T J, which is blind to
            # the negative curvature of (uv - 1)^2 at its saddle (where J = 0 and r = -1); started on
            # the side where f > 1 they may converge to that stationary point, and say "converged".


# ------------------------------------------------------------------------------------------
# Directions that are not descent directions
# ------------------------------------------------------------------------------------------


def kinked(x):  # finite value and gradient at x[1] = 0, but an infinite / NaN Hessian there
    return x[0] ** 2 + jnp.abs(x[1]) ** 1.5 + 0.1 * x[1]


@pytest.mark.parametrize("name", NEWTON_FAMILY)
def test_non_finite_hessian_falls_back_to_steepest_descent(name):
    opt = SOLVERS[name](None, None)
    x = jnp.array([1.0, 0.0])

    @jax.jit
    def step(x):
        value, g = jax.value_and_grad(kinked)(x)
        return opt.update(g, opt.init(x), x, value=value, grad=g, value_fn=kinked), g, jax.hessian(kinked)(x)

    (updates, state), g, h = step(x)
    assert not bool(jnp.all(jnp.isfinite(h)))  # the scenario: a non-finite Hessian
    assert_all_finite((updates, state))
    u = np.asarray(updates)
    np.testing.assert_allclose(u / np.linalg.norm(u), -g / np.linalg.norm(g), rtol=1e-12)  # along -g
    assert float(state.value) < float(kinked(x))
    assert not bool(state.stalled)


def test_quasi_newton_and_cg_reset_a_non_descent_direction():
    """A state whose next direction would go uphill (a corrupted inverse Hessian, a bad pair, a
    conjugate direction pointing uphill): each solver steps along -g instead and decreases f."""
    qn, cg = _quasi_newton(), _conjugate_gradient()
    f = lambda x: jnp.sum((x - 1.0) ** 2 * jnp.array([1.0, 10.0]))
    x = jnp.array([3.0, -2.0])
    g = jax.grad(f)(x)
    cases = []
    bfgs = qn.bfgs()
    cases.append((bfgs, bfgs.init(x)._replace(inv_hessian=-jnp.eye(2), is_identity=jnp.array(False))))
    lbfgs = qn.lbfgs(memory_size=1)
    s, y = -g, g  # s^T y < 0: the two-loop recursion then returns +gamma g, uphill
    st = lbfgs.init(x)
    cases.append((lbfgs, st._replace(s_history=s[None], y_history=y[None], rho_history=(1.0 / (s @ y))[None])))
    ncg = cg.nonlinear_cg("polak_ribiere_plus")
    st = ncg.init(x)  # beta = g^T (g - g/2) / (g/2)^T (g/2) = 2, d = -g + 2 g = g: uphill
    cases.append((ncg, st._replace(direction=g, prev_grad=0.5 * g, restart=jnp.array(False))))
    for opt, state in cases:
        updates, new_state = jax.jit(
                lambda s: opt.update(g, s, x, value=f(x), grad=g, value_fn=f)
        )(state)
        assert_all_finite((updates, new_state))
        assert float(g @ updates) < 0
        assert float(new_state.value) < float(f(x))


# ------------------------------------------------------------------------------------------
# Line searches that cannot meet their conditions
# ------------------------------------------------------------------------------------------


def hard(x, w):
    """Rosenbrock (``w = (1, 0)``) or ``sqrt(1 + 1e4 |x|^2)`` (``w = (0, 1)``)."""
    return w[0] * (100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2) + w[1] * jnp.sqrt(1.0 + 1e4 * jnp.sum(x ** 2))


def hard_residuals(x, w):
    return jnp.concatenate([jnp.sqrt(w[0]) * jnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]]),
                            jnp.sqrt(w[1]) * (1.0 + 1e4 * jnp.sum(x ** 2))[None] ** 0.25])


@pytest.mark.parametrize("name", [n for n in SOLVERS if n not in ("levenberg_marquardt", "trust_region_newton")])
def test_line_search_that_cannot_meet_its_conditions(name):
    # One trial, and sufficient decrease asking for 90% of the linear prediction. On the second lane
    # a Newton (or Gauss-Newton) step from radius r lands near radius 1e4 r^3 (or r) on the other
    # side, no lower, and the unit steepest-descent moves soon overshoot the same way: every search
    # ends with a trial that is not below f(x).
    ls = zoom(c1=0.9, c2=0.9, max_steps=1)
    starts, weights = [[-1.2, 1.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]
    res = run_batch(name, hard, hard_residuals, starts, weights, [200, 200], linesearch=ls)
    assert_all_finite(res)
    for i in range(2):
        r = lane(res, i)
        assert float(r.value) <= float(hard(jnp.asarray(starts[i]), jnp.asarray(weights[i])))  # never uphill
        assert int(r.status) in (Status.CONVERGED, Status.MAX_STEPS, Status.STALLED)
    stuck = lane(res, 1)
    assert int(stuck.status) == Status.STALLED
    assert "line search failed" in stuck.message
    assert bool(stuck.opt_state.stalled)


def test_levenberg_marquardt_that_cannot_find_a_step_stalls():
    def run(x0, w):
        opt = levenberg_marquardt(lambda x: hard_residuals(x, w), max_trials=1)
        return ml_opt.minimize(hard, x0, opt, args=(w,))

    res = jax.jit(run)(jnp.array([-1.2, 1.0]), jnp.array([1.0, 0.0]))
    assert_all_finite(res)
    assert int(res.status) == Status.STALLED and int(res.num_steps) == 1
    assert "no further progress" in res.message
    np.testing.assert_array_equal(res.params, [-1.2, 1.0])


# ------------------------------------------------------------------------------------------
# Params of mixed precision: a float32 leaf among float64 ones, a scalar and an empty leaf
# ------------------------------------------------------------------------------------------


def mixed_residuals(p):
    """Zero at a = (1, 2, 3), b = (a_1^2, a_2^2) = (1, 4), c = 1/2 (closed form); ``z`` is empty."""
    a = p["a"].astype(jnp.float64)
    return jnp.concatenate([a - jnp.array([1.0, 2.0, 3.0]), 10.0 * (p["b"] - a[:2] ** 2),
                            jnp.atleast_1d(p["c"] - 0.5), p["z"]])


def mixed_objective(p):
    return jnp.sum(mixed_residuals(p) ** 2)


@pytest.mark.parametrize("name", list(SOLVERS))
def test_params_of_mixed_precision(name):
    """Every leaf keeps its dtype through the solver (newton_cg's inner CG once promoted the float32
    leaf and failed to trace), and the run reaches the closed-form minimiser to float32 accuracy.

    Except ``nonlinear_cg``, which only gets into the valley floor (f = 0 at the minimiser, 32.4 at
    the start): in the valley b_2 = a_2^2 a move of one ulp u of a_2 alone changes f by about
    1600 u^2 - 2 e u (e = a_2 - 2), and with u = 2.4e-7 no such move decreases f once e < 1.9e-4.
    Along -g, where each of its failed searches restarts, its searches then keep failing: from this
    start and 11 moved ones it ends 5e-6 to 1.6e-4 from a (the largest error over a's entries;
    11 runs at max_steps; 2e-5 to 1.6e-4 before 56b2bc3), where lbfgs, with the valley's curvature
    in its pairs, converges within 2e-6."""
    p0 = {"a": jnp.zeros(3, jnp.float32), "b": jnp.ones(2, jnp.float64), "c": jnp.float64(2.0),
          "z": jnp.zeros((0,), jnp.float64)}
    res = ml_opt.minimize(mixed_objective, p0, SOLVERS[name](None, mixed_residuals), gtol=1e-5)
    assert_all_finite(res)
    for tree in (res.params, res.grad, res.opt_state.grad):
        assert jax.tree.map(lambda leaf: leaf.dtype, tree) == jax.tree.map(lambda leaf: leaf.dtype, p0)
    assert int(res.status) in (Status.CONVERGED, Status.STALLED, Status.MAX_STEPS), res.message
    if name == "nonlinear_cg":
        assert float(res.value) < (2e-4) ** 2, float(res.value)  # the valley floor at e < 2e-4
        return
    np.testing.assert_allclose(res.params["a"], [1.0, 2.0, 3.0], atol=1e-4)
    np.testing.assert_allclose(res.params["b"], [1.0, 4.0], atol=1e-3)
    np.testing.assert_allclose(res.params["c"], 0.5, atol=1e-4)


@pytest.mark.parametrize("value_dtype, params_dtype", [(jnp.float32, jnp.float64), (jnp.float64, jnp.float32)],
                         ids=["float32-objective", "float64-objective"])
@pytest.mark.parametrize("name", list(SOLVERS))
def test_objective_in_another_precision_than_the_params(name, value_dtype, params_dtype):
    """``fun`` may compute in another precision than ``x0`` holds: the result keeps fun's dtype for the
    value and x0's for the params. (A float32 objective of float64 params once failed to trace: the
    solvers keep f in the params' dtype, and the value they passed back did not match the loop's.)
    Rosenbrock's residuals, zero at (1, 1), reached to float32 accuracy."""
    residuals = lambda x: jnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]]).astype(value_dtype)
    res = ml_opt.minimize(lambda x: jnp.sum(residuals(x) ** 2), jnp.array([-1.2, 1.0], params_dtype),
                          SOLVERS[name](None, residuals), gtol=1e-3)
    assert_all_finite(res)
    assert res.value.dtype == value_dtype and res.params.dtype == params_dtype and res.grad.dtype == params_dtype
    assert int(res.status) in (Status.CONVERGED, Status.STALLED), res.message
    np.testing.assert_allclose(res.params, [1.0, 1.0], atol=1e-3)


@pytest.mark.parametrize("name", list(SOLVERS))
def test_params_with_no_entries_converge_at_once(name):
    """x0 = an array of size 0: the gradient is empty, its norm 0, so the run has converged at x0
    (the dense solvers' eigenvalue floor and Cholesky shift once raised on the empty max/min)."""
    residuals = lambda x: x - 1.0
    res = ml_opt.minimize(lambda x: jnp.sum(residuals(x) ** 2) + 2.0, jnp.zeros(0), SOLVERS[name](None, residuals))
    assert int(res.status) == Status.CONVERGED and int(res.num_steps) == 0
    assert float(res.value) == 2.0 and res.params.shape == (0,)


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16], ids=["float16", "bfloat16"])
@pytest.mark.parametrize("name", ["newton", "newton_shift", "saddle_free_newton", "gauss_newton", "levenberg_marquardt"])
def test_dense_factorisations_with_half_precision_params(name, dtype):
    """LAPACK has no half-precision Cholesky, eigh, QR or SVD (they raised NotImplementedError from
    deep inside): the solvers factorise in float32 and step in the params' dtype. Rosenbrock from
    (-1.2, 1) ends near its minimiser (1, 1): along the valley x_2 = x_1^2, ||grad f||_inf <= 0.1
    bounds |1 - x_1| by about 0.05 and |1 - x_2| by about 0.1. In bfloat16 (8 significant bits) the
    gradient there is rounding noise: 10 (x_2 - x_1^2) is a difference of two numbers near 1 known
    to about 0.004, so the gradient is known to about 1. Whether it passes the gradient test or the
    line search stops, having no decrease left to find, depends on where XLA keeps intermediates in
    float32 within a fused kernel (its default excess precision), that is on how the program is
    fused; both end near the minimiser."""
    residuals = lambda x: jnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])
    fun = lambda x: jnp.sum(residuals(x) ** 2)
    res = ml_opt.minimize(fun, jnp.array([-1.2, 1.0], dtype), SOLVERS[name](None, residuals), gtol=0.1, max_steps=200)
    assert res.params.dtype == dtype and res.value.dtype == dtype
    ends = (Status.CONVERGED, Status.STALLED) if dtype == jnp.bfloat16 else (Status.CONVERGED,)
    assert int(res.status) in ends, res.message
    x1, x2 = np.asarray(res.params, np.float32)
    assert abs(x1 - 1.0) <= 0.06 and abs(x2 - 1.0) <= 0.11, (x1, x2)
    assert float(res.value) <= 0.01
