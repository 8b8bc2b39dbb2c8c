"""The full-batch driver ``minimize``: closed-form optima, exact counts, compile-once, vmap, stops, bad input."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ml_opt
from ml_opt.minimize import Status
from ml_opt.schedules import inverse_time

DIM = 6
L, MU = 10.0, 1.0  # the largest and smallest eigenvalues of the Hessian
KAPPA = L / MU


def make_quadratic(seed=0):
    """f(x) = x^T A x / 2 - b^T x, A symmetric positive definite with spectrum in [MU, L]."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
    a = q @ np.diag(np.linspace(MU, L, DIM)) @ q.T
    b = rng.normal(size=DIM)
    return a, b


A, B = make_quadratic()
X_STAR = np.linalg.solve(A, B)


def quadratic(x, a, b):
    return 0.5 * x @ a @ x - b @ x


ARGS = (jnp.asarray(A), jnp.asarray(B))

# Sensible learning rates: the classical tunings for an L-smooth, MU-strongly convex quadratic
# (GD 1/L; heavy ball 4/(sqrt L + sqrt MU)^2 and ((sqrt k - 1)/(sqrt k + 1))^2; Nesterov 1/L and
# (sqrt k - 1)/(sqrt k + 1)). RMSProp and Adam take a step of size ~lr whatever the gradient, so
# they reach a point to 1e-8 only with a decaying rate.
SQRT_K = np.sqrt(KAPPA)
OPTIMIZERS = {
    "sgd": lambda: ml_opt.sgd(1 / L),
    "momentum": lambda: ml_opt.momentum(4 / (np.sqrt(L) + np.sqrt(MU)) ** 2, ((SQRT_K - 1) / (SQRT_K + 1)) ** 2),
    "nesterov": lambda: ml_opt.nesterov(1 / L, (SQRT_K - 1) / (SQRT_K + 1)),
    "adagrad": lambda: ml_opt.adagrad(1.0),
    "rmsprop": lambda: ml_opt.rmsprop(optax.exponential_decay(0.02, 200, 0.5)),
    "rmsprop_nesterov": lambda: ml_opt.rmsprop_nesterov(optax.exponential_decay(0.01, 200, 0.5)),
    "adam": lambda: ml_opt.adam(inverse_time(1.0, 10.0)),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_reaches_closed_form_minimiser_with_exact_counts(name):
    result = ml_opt.minimize(quadratic, jnp.zeros(DIM), OPTIMIZERS[name](), args=ARGS, max_steps=5000, gtol=1e-8)
    assert int(result.status) == Status.CONVERGED
    assert bool(result.converged)
    assert result.message.startswith("converged")
    # ||A x - b||_inf <= 1e-8 and A >= I: the error is at most sqrt(DIM) * 1e-8.
    np.testing.assert_allclose(result.params, X_STAR, rtol=0, atol=1e-7)
    # value, grad and grad_norm are those at the returned params
    x = np.asarray(result.params)
    np.testing.assert_allclose(result.value, 0.5 * x @ A @ x - B @ x, rtol=1e-13)
    np.testing.assert_allclose(result.grad, A @ x - B, rtol=1e-10, atol=1e-15)
    assert float(result.grad_norm) == pytest.approx(np.max(np.abs(A @ x - B)), rel=1e-10)
    assert float(result.grad_norm) <= 1e-8
    # A first-order rule makes no evaluations of its own: one at x0, one after each update.
    steps = int(result.num_steps)
    assert 0 < steps < 5000
    assert int(result.num_fun_evals) == steps + 1
    assert int(result.num_grad_evals) == steps + 1
    assert int(result.num_hvp_evals) == 0
    assert int(result.opt_state.count) == steps


def test_counts_are_exact_when_fun_counts_its_own_calls():
    """num_fun_evals against a counter kept by the objective itself (jax.debug.callback)."""
    calls = []

    def fun(x):
        jax.debug.callback(lambda: calls.append(1))
        return jnp.sum((x - 3.0) ** 2) + jnp.sum(jnp.cos(x))

    result = ml_opt.minimize(fun, jnp.zeros(3), ml_opt.sgd(0.05), max_steps=37, gtol=0.0)
    jax.effects_barrier()
    assert int(result.num_steps) == 37
    assert int(result.num_fun_evals) == int(result.num_grad_evals) == 38 == len(calls)


def test_optax_optimizer_runs_too():
    result = ml_opt.minimize(quadratic, jnp.zeros(DIM), optax.sgd(1 / L), args=ARGS, max_steps=5000, gtol=1e-8)
    assert bool(result.converged)
    np.testing.assert_allclose(result.params, X_STAR, atol=1e-7)


ROSEN_RESIDUALS = lambda x: jnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])  # noqa: E731
SECOND_ORDER = {
    "bfgs": lambda: ml_opt.bfgs(),
    "lbfgs": lambda: ml_opt.lbfgs(),
    "nonlinear_cg": lambda: ml_opt.nonlinear_cg(),
    "newton": lambda: ml_opt.newton(),
    "newton_cg": lambda: ml_opt.newton_cg(),
    "gauss_newton": lambda: ml_opt.gauss_newton(ROSEN_RESIDUALS),
    "levenberg_marquardt": lambda: ml_opt.levenberg_marquardt(ROSEN_RESIDUALS),
}


@pytest.mark.parametrize("name", list(SECOND_ORDER))
def test_second_order_solver_followed_by_a_scaling_in_a_chain(name):
    """A solver keeps f and its gradient at params + its own update; after optax.scale(0.5) in a
    chain the params are elsewhere, and the driver must evaluate them itself (it used to report the
    solver's: a value that was not f at the returned params). Without a later transformation, or
    after one that passes the update through, the driver evaluates nothing of its own."""
    fun = lambda x: jnp.sum(ROSEN_RESIDUALS(x) ** 2)  # noqa: E731
    x0 = jnp.array([-1.2, 1.0])
    halved = ml_opt.minimize(fun, x0, optax.chain(SECOND_ORDER[name](), optax.scale(0.5)), gtol=1e-6, max_steps=2000)
    # (to rounding: f's residuals cancel near the minimiser, where f ~ 1e-15)
    np.testing.assert_allclose(float(halved.value), float(fun(halved.params)), rtol=1e-6, atol=1e-20)
    np.testing.assert_allclose(halved.grad, jax.grad(fun)(halved.params), rtol=1e-6, atol=1e-9)
    assert bool(halved.converged), halved.message
    np.testing.assert_allclose(halved.params, [1.0, 1.0], atol=1e-5)

    plain = ml_opt.minimize(fun, x0, SECOND_ORDER[name](), gtol=1e-6)
    passed = ml_opt.minimize(fun, x0, optax.chain(optax.identity(), SECOND_ORDER[name](), optax.identity()), gtol=1e-6)
    for r in (plain, passed):
        solver_evals = sum(int(s.num_fun_evals) for s in jax.tree.leaves(
            r.opt_state, is_leaf=lambda t: hasattr(t, "num_fun_evals")) if hasattr(s, "num_fun_evals"))
        assert int(r.num_fun_evals) == solver_evals + 1  # the driver's one evaluation, at x0
    assert int(passed.num_fun_evals) == int(plain.num_fun_evals)


def test_pytree_params():
    """x0 a dict of arrays: the minimiser of sum of per-leaf quadratics, leaf by leaf."""

    def fun(params, a, b):
        return quadratic(params["x"], a, b) + jnp.sum((params["y"] - 2.0) ** 2)

    x0 = {"x": jnp.zeros(DIM), "y": jnp.zeros((2, 2))}
    result = ml_opt.minimize(fun, x0, ml_opt.sgd(1 / L), args=ARGS, max_steps=5000, gtol=1e-9)
    assert bool(result.converged)
    np.testing.assert_allclose(result.params["x"], X_STAR, atol=1e-8)
    np.testing.assert_allclose(result.params["y"], np.full((2, 2), 2.0), atol=1e-9)


def test_compiles_once_for_repeated_calls():
    traces = 0

    def fun(x, a, b):
        nonlocal traces
        traces += 1
        return quadratic(x, a, b)

    opt = ml_opt.momentum(0.05, 0.5)
    first = ml_opt.minimize(fun, jnp.zeros(DIM), opt, args=ARGS, max_steps=100)
    traces_of_one_compilation = traces
    assert traces_of_one_compilation > 0
    # new starting point, new data of the same shapes, new max_steps and gtol: no new trace
    a2, b2 = make_quadratic(seed=1)
    second = ml_opt.minimize(fun, jnp.ones(DIM), opt, args=(jnp.asarray(a2), jnp.asarray(b2)), max_steps=300, gtol=1e-4)
    ml_opt.minimize(fun, jnp.full(DIM, 2.0, jnp.float64), opt, args=ARGS, max_steps=7, gtol=0.5)
    assert traces == traces_of_one_compilation
    assert int(first.num_steps) == 100
    np.testing.assert_allclose(second.params, np.linalg.solve(a2, b2), atol=1e-3)


def test_weakly_typed_x0_of_same_dtype_reuses_the_compiled_program():
    traces = 0

    def fun(x):
        nonlocal traces
        traces += 1
        return jnp.sum((x - 1.0) ** 2)

    opt = ml_opt.sgd(0.1)
    ml_opt.minimize(fun, jnp.zeros(3, jnp.float64), opt, max_steps=3)
    traces_of_one_compilation = traces
    weak = jnp.full(3, 2.0)
    assert weak.dtype == jnp.float64 and weak.weak_type
    ml_opt.minimize(fun, weak, opt, max_steps=3)
    assert traces == traces_of_one_compilation


def _residuals(x):
    return jnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])


# (made again alike, made with another hyperparameter): each factory of the library, and the line
# searches, schedules and inner optimizers passed to them.
_MADE_ALIKE = {
    "sgd": (lambda: ml_opt.sgd(0.1), lambda: ml_opt.sgd(0.2)),
    "adam": (lambda: ml_opt.adam(), lambda: ml_opt.adam(b2=0.99)),
    "sgd int and float": (lambda: ml_opt.sgd(1), lambda: ml_opt.sgd(1.0)),
    "sgd inverse_time": (lambda: ml_opt.sgd(inverse_time(0.1)), lambda: ml_opt.sgd(inverse_time(0.1, 2.0))),
    "sgd inverse_sqrt_time": (lambda: ml_opt.sgd(ml_opt.inverse_sqrt_time(0.1)),
                              lambda: ml_opt.sgd(ml_opt.inverse_sqrt_time(0.2))),
    "sgd cyclical_triangular": (lambda: ml_opt.sgd(ml_opt.cyclical_triangular(0.01, 0.1, 4)),
                                lambda: ml_opt.sgd(ml_opt.cyclical_triangular(0.01, 0.1, 8))),
    "polyak_averaging": (lambda: ml_opt.polyak_averaging(ml_opt.sgd(0.1)),
                         lambda: ml_opt.polyak_averaging(ml_opt.sgd(0.1), "exponential", 0.9)),
    "bfgs": (lambda: ml_opt.bfgs(), lambda: ml_opt.bfgs(initial_scaling=True)),
    "lbfgs": (lambda: ml_opt.lbfgs(), lambda: ml_opt.lbfgs(5)),
    "lbfgs zoom": (lambda: ml_opt.lbfgs(linesearch=ml_opt.linesearch.zoom(c2=0.5)),
                   lambda: ml_opt.lbfgs(linesearch=ml_opt.linesearch.zoom(c2=0.6))),
    "lbfgs backtracking": (lambda: ml_opt.lbfgs(linesearch=ml_opt.linesearch.backtracking()),
                           lambda: ml_opt.lbfgs(linesearch=ml_opt.linesearch.backtracking(shrink=0.3))),
    "nonlinear_cg": (lambda: ml_opt.nonlinear_cg(), lambda: ml_opt.nonlinear_cg("fletcher_reeves")),
    "newton": (lambda: ml_opt.newton(), lambda: ml_opt.newton(damping=1.0)),
    "newton exact_quadratic": (lambda: ml_opt.newton(linesearch=ml_opt.linesearch.exact_quadratic()),
                               lambda: ml_opt.newton(linesearch=ml_opt.linesearch.exact_quadratic("secant"))),
    "saddle_free_newton": (lambda: ml_opt.saddle_free_newton(), lambda: ml_opt.saddle_free_newton(0.5)),
    "newton_cg": (lambda: ml_opt.newton_cg(), lambda: ml_opt.newton_cg(max_cg_steps=1)),
    "gauss_newton": (lambda: ml_opt.gauss_newton(_residuals),
                     lambda: ml_opt.gauss_newton(_residuals, ml_opt.linesearch.backtracking())),
    "levenberg_marquardt": (lambda: ml_opt.levenberg_marquardt(_residuals),
                            lambda: ml_opt.levenberg_marquardt(_residuals, factor=1.0)),
    "trust_region_newton": (lambda: ml_opt.trust_region_newton(), lambda: ml_opt.trust_region_newton(eta=0.1)),
}


@pytest.mark.parametrize("name", list(_MADE_ALIKE))
def test_optimizer_made_anew_alike_reuses_the_compiled_program(name):
    """The same factory and hyperparameters: no new compilation (a loop of solves compiles once);
    another hyperparameter, or one given as a JAX array (not hashable), compiles anew."""
    alike, other = _MADE_ALIKE[name]
    traces = 0

    def fun(x):
        nonlocal traces
        traces += 1
        return jnp.sum(_residuals(x) ** 2)

    def traces_of(opt):
        before = traces
        ml_opt.minimize(fun, jnp.array([-1.2, 1.0]), opt, max_steps=3)
        return traces - before

    assert alike() == alike() and hash(alike()) == hash(alike())
    assert traces_of(alike()) > 0
    assert traces_of(alike()) == 0
    assert alike() != other()
    assert traces_of(other()) > 0


def test_optimizer_made_with_an_array_hyperparameter_equals_only_itself():
    traces = 0

    def fun(x):
        nonlocal traces
        traces += 1
        return jnp.sum(x**2)

    opt = ml_opt.newton(damping=jnp.asarray(1.0))
    assert opt != ml_opt.newton(damping=jnp.asarray(1.0)) and opt == opt
    ml_opt.minimize(fun, jnp.ones(2), opt, max_steps=3)
    first = traces
    ml_opt.minimize(fun, jnp.ones(2), opt, max_steps=3)
    assert traces == first
    ml_opt.minimize(fun, jnp.ones(2), ml_opt.newton(damping=jnp.asarray(1.0)), max_steps=3)
    assert traces > first


def _assert_results_equal(batched, i, single):
    # The gradient where a run stops, A x - b ~ 1e-7, is a difference of terms of size |A| |x| ~ 10;
    # a program that adds them in another order (the batched product on a GPU does) agrees to a few
    # ulps of the terms (~1e-15 each), not of the difference.
    atol = {"grad": 1e-13, "grad_norm": 1e-13}
    for name in ("params", "value", "grad", "grad_norm", "num_steps", "num_fun_evals", "num_grad_evals", "status"):
        for b, s in zip(jax.tree.leaves(getattr(batched, name)), jax.tree.leaves(getattr(single, name))):
            np.testing.assert_allclose(b[i], s, rtol=1e-12, atol=atol.get(name, 1e-15), err_msg=name)


def test_vmap_over_starting_points_equals_separate_runs():
    x0s = jnp.asarray(np.random.default_rng(3).normal(size=(5, DIM)) * 3)
    opt = ml_opt.nesterov(1 / L, 0.5)

    def run(x0):
        return ml_opt.minimize(quadratic, x0, opt, args=ARGS, max_steps=500, gtol=1e-7)

    batched = jax.vmap(run)(x0s)
    steps = set()
    for i in range(5):
        single = run(x0s[i])
        _assert_results_equal(batched, i, single)
        steps.add(int(single.num_steps))
    assert len(steps) > 1  # the runs stop at different steps: the batched loop must freeze finished ones


def test_vmap_over_learning_rates_equals_separate_runs():
    # the last rate is too large (> 2/L): that run diverges and stops non-finite, on its own
    lrs = jnp.asarray([0.02, 0.05, 0.1, 0.15, 0.5])

    def run(lr):
        return ml_opt.minimize(quadratic, jnp.zeros(DIM), ml_opt.sgd(lr), args=ARGS, max_steps=3000, gtol=1e-8)

    batched = jax.jit(jax.vmap(run))(lrs)
    single_run = jax.jit(run)  # the rate traced, as under vmap: one compilation
    for i in range(5):
        _assert_results_equal(batched, i, single_run(lrs[i]))
    np.testing.assert_array_equal(batched.status, [Status.CONVERGED] * 4 + [Status.NONFINITE])
    assert np.all(np.isfinite(batched.params))


def _fun_with_nan_gradient_beyond(threshold):
    """(x - 3)^2 summed, plus sqrt(threshold - x_0): NaN (value and gradient) once x_0 > threshold."""

    def fun(x):
        return jnp.sum((x - 3.0) ** 2) + jnp.sqrt(threshold - x[0])

    return fun


def test_nan_gradient_mid_run_stops_nonfinite_with_last_finite_iterate():
    fun = _fun_with_nan_gradient_beyond(1.5)
    opt = ml_opt.sgd(0.1)
    x0 = jnp.zeros(2)
    result = ml_opt.minimize(fun, x0, opt, max_steps=100, gtol=1e-10)
    assert int(result.status) == Status.NONFINITE
    assert not bool(result.converged)
    assert "non-finite" in result.message
    assert np.all(np.isfinite(result.params)) and np.isfinite(float(result.value))
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(result.grad))

    # The same iteration by hand, in NumPy: x_{k+1} = x_k - 0.1 grad f(x_k), until x_0 > 1.5.
    def grad(x):
        return 2 * (x - 3.0) + np.array([-0.5 / np.sqrt(1.5 - x[0]), 0.0])

    iterates = [np.zeros(2)]
    while iterates[-1][0] <= 1.5:
        iterates.append(iterates[-1] - 0.1 * grad(iterates[-1]))
    last_finite, attempted = iterates[-2], len(iterates) - 1
    assert attempted > 2  # mid-run, not at the start
    np.testing.assert_allclose(result.params, last_finite, rtol=1e-12)
    np.testing.assert_allclose(result.value, np.sum((last_finite - 3.0) ** 2) + np.sqrt(1.5 - last_finite[0]), rtol=1e-12)
    # Counts stay exact: the update that went non-finite was made and its point evaluated.
    assert int(result.num_steps) == attempted
    assert int(result.num_fun_evals) == int(result.num_grad_evals) == attempted + 1
    # A run stopped just before the bad step returns the same point.
    before = ml_opt.minimize(fun, x0, opt, max_steps=attempted - 1, gtol=1e-10)
    assert int(before.status) == Status.MAX_STEPS
    np.testing.assert_array_equal(before.params, result.params)


@pytest.mark.parametrize("bad", ["inf", "nan"])
def test_a_nonfinite_gradient_entry_in_one_leaf_is_reported(bad):
    """f finite, its gradient infinite (cube root at 0) or NaN (sqrt(a^2) at 0: 0 / 0) in one entry of one leaf."""
    singular = jnp.cbrt if bad == "inf" else (lambda a: jnp.sqrt(a ** 2))

    def fun(p):
        return jnp.sum(singular(p["a"])) + jnp.sum((p["b"] - 1.0) ** 2)

    x0 = {"a": jnp.array([0.0, 0.5]), "b": jnp.zeros(3)}
    value, grad = jax.value_and_grad(fun)(x0)
    assert np.isfinite(float(value)) and not np.all(np.isfinite(grad["a"])) and np.all(np.isfinite(grad["b"]))
    result = ml_opt.minimize(fun, x0, ml_opt.sgd(0.1), max_steps=10)
    assert int(result.status) == Status.NONFINITE and int(result.num_steps) == 0
    assert not np.isfinite(float(result.grad_norm))


def test_nonfinite_at_the_start_is_reported():
    result = ml_opt.minimize(_fun_with_nan_gradient_beyond(-1.0), jnp.zeros(2), ml_opt.sgd(0.1), max_steps=10)
    assert int(result.status) == Status.NONFINITE
    assert int(result.num_steps) == 0
    np.testing.assert_array_equal(result.params, np.zeros(2))


@pytest.mark.parametrize("max_steps", [0, 1, 17])
def test_max_steps(max_steps):
    result = ml_opt.minimize(quadratic, jnp.zeros(DIM), ml_opt.sgd(0.01), args=ARGS, max_steps=max_steps, gtol=1e-12)
    assert int(result.status) == Status.MAX_STEPS
    assert "max_steps" in result.message
    assert int(result.num_steps) == max_steps
    assert int(result.num_fun_evals) == max_steps + 1
    # The iterate after max_steps steps of gradient descent, in NumPy.
    x = np.zeros(DIM)
    for _ in range(max_steps):
        x = x - 0.01 * (A @ x - B)
    np.testing.assert_allclose(result.params, x, rtol=1e-12, atol=1e-15)


def test_converged_at_the_start_makes_no_step():
    result = ml_opt.minimize(quadratic, jnp.asarray(X_STAR), ml_opt.sgd(0.1), args=ARGS, gtol=1e-6)
    assert int(result.status) == Status.CONVERGED
    assert int(result.num_steps) == 0 and int(result.num_fun_evals) == 1


def test_gtol_is_the_stopping_rule():
    for gtol in (1e-2, 1e-5):
        result = ml_opt.minimize(quadratic, jnp.zeros(DIM), ml_opt.sgd(1 / L), args=ARGS, gtol=gtol)
        x = np.zeros(DIM)
        steps = 0
        while np.max(np.abs(A @ x - B)) > gtol:
            x = x - (A @ x - B) / L
            steps += 1
        assert int(result.num_steps) == steps
        np.testing.assert_allclose(result.params, x, rtol=1e-12)


# Bad input: an early error naming the argument.


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(fun="not a function"), TypeError, "^fun"),
        (dict(fun=None), TypeError, "^fun"),
        (dict(fun=lambda x: x**2), TypeError, r"^fun must return a floating-point scalar; got shape \(3,\)"),
        (dict(fun=lambda x: (jnp.sum(x**2), x)), TypeError, "^fun must return a floating-point scalar"),
        (dict(fun=lambda x: jnp.sum(x**2).astype(jnp.int32)), TypeError, "^fun must return a floating-point scalar"),
        (dict(args=[1.0]), TypeError, "^args"),
        (dict(args=jnp.ones(2)), TypeError, "^args"),
        (dict(max_steps=-1), ValueError, "^max_steps"),
        (dict(max_steps=10.5), TypeError, "^max_steps"),
        (dict(max_steps=True), TypeError, "^max_steps"),
        (dict(gtol=-1e-6), ValueError, "^gtol"),
        (dict(gtol=float("nan")), ValueError, "^gtol"),
        (dict(x0=jnp.arange(3)), TypeError, "^x0"),
        (dict(x0={"a": jnp.zeros(2), "b": jnp.arange(2)}), TypeError, r"^x0.*\['b'\]"),
        (dict(x0={}), ValueError, "^x0"),
        (dict(optimizer=lambda g: g), TypeError, "^optimizer"),
        (dict(optimizer="adam"), TypeError, "^optimizer"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, error, match):
    call = dict(fun=lambda x: jnp.sum(x**2), x0=jnp.zeros(3), optimizer=ml_opt.sgd(0.1))
    call.update(kwargs)
    fun, x0, optimizer = call.pop("fun"), call.pop("x0"), call.pop("optimizer")
    with pytest.raises(error, match=match):
        ml_opt.minimize(fun, x0, optimizer, **call)
