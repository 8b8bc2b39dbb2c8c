"""Tests for ml_opt.training.fit: the minibatch driver.

References are independent of the driver: the normal-equation solution of least squares, a plain
Python loop of optax steps over the same permutations, and per-run calls compared with vmapped ones.
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import ml_opt
from ml_opt.problems.networks import MLP, digits_data
from ml_opt.training import compile_fit, fit

# --------------------------------------------------------------------------------------------
# Fixtures: a least-squares problem
# --------------------------------------------------------------------------------------------

N, D = 96, 4


def _least_squares_data(noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, D))
    w = rng.normal(size=D)
    y = x @ w + noise * rng.normal(size=N)
    return {"x": jnp.asarray(x), "y": jnp.asarray(y)}


def squared_error(w, batch):
    return 0.5 * jnp.mean((batch["x"] @ w - batch["y"]) ** 2)


def _normal_equations(data):
    x, y = np.asarray(data["x"]), np.asarray(data["y"])
    return np.linalg.solve(x.T @ x, x.T @ y)


def _reference_loop(loss, params, tx, data, *, epochs, batch_size, key, start_epoch=0):
    """A plain Python loop of optax steps over fit's documented permutations."""
    n = jax.tree.leaves(data)[0].shape[0]
    state = tx.init(params)
    losses = []

    @jax.jit
    def step(params, state, batch):
        value, grad = jax.value_and_grad(loss)(params, batch)
        updates, state = tx.update(grad, state, params)
        return optax.apply_updates(params, updates), state, value

    for e in range(epochs):
        perm = np.asarray(jax.random.permutation(jax.random.fold_in(key, start_epoch + e), n))
        for s in range(n // batch_size):
            idx = perm[s * batch_size:(s + 1) * batch_size]
            batch = jax.tree.map(lambda a: a[idx], data)
            params, state, value = step(params, state, batch)
            losses.append(value)
    return params, state, np.asarray(losses)


# --------------------------------------------------------------------------------------------
# Correctness
# --------------------------------------------------------------------------------------------


def test_full_batch_gradient_descent_reaches_normal_equation_solution():
    data = _least_squares_data()
    x = np.asarray(data["x"])
    lipschitz = np.linalg.eigvalsh(x.T @ x / N).max()
    w, _, history = fit(squared_error, jnp.zeros(D), ml_opt.sgd(1.0 / lipschitz), data,
                        epochs=400, batch_size=N, key=jax.random.key(0))
    np.testing.assert_allclose(w, _normal_equations(data), rtol=0, atol=1e-9)
    assert history.loss.shape == (400, 1)
    assert int(history.nonfinite_step) == -1 and int(history.num_updates) == 400


def test_minibatch_sgd_reaches_interpolating_solution():
    # Noise-free targets: the normal-equation solution fits every minibatch exactly, so
    # constant-step minibatch SGD converges to it (no noise floor).
    data = _least_squares_data(noise=0.0)
    w, _, _ = fit(squared_error, jnp.zeros(D), ml_opt.sgd(0.2), data, epochs=150, batch_size=8,
                  key=jax.random.key(1))
    np.testing.assert_allclose(w, _normal_equations(data), rtol=0, atol=1e-8)


def _second_order(name):
    if name == "optax.lbfgs":
        return optax.lbfgs()
    module, factory = name.rsplit(".", 1)
    return getattr(importlib.import_module(f"ml_opt.{module}"), factory)()


@pytest.mark.parametrize("name", ["optax.lbfgs", "quasi_newton.lbfgs", "newton.newton_cg"])
def test_second_order_rule_gets_value_fn_and_solves_least_squares(name):
    data = _least_squares_data()
    w, _, history = fit(squared_error, jnp.zeros(D), _second_order(name), data, epochs=12, batch_size=N,
                        key=jax.random.key(0))
    np.testing.assert_allclose(w, _normal_equations(data), rtol=0, atol=1e-8)
    assert int(history.nonfinite_step) == -1


@pytest.mark.parametrize("batch_size", [4, 10])  # 96 % 10 != 0: a partial batch is dropped
def test_trajectory_equals_python_loop_over_documented_permutations(batch_size):
    data = _least_squares_data()
    key = jax.random.key(3)
    tx = optax.adam(0.05)
    w, state, history = fit(squared_error, jnp.ones(D), tx, data, epochs=3, batch_size=batch_size, key=key)
    w_ref, state_ref, losses_ref = _reference_loop(squared_error, jnp.ones(D), tx, data, epochs=3,
                                                   batch_size=batch_size, key=key)
    assert history.loss.shape == (3, N // batch_size)
    np.testing.assert_allclose(w, w_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(history.loss.ravel(), losses_ref, rtol=1e-12, atol=1e-15)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14), state, state_ref)


def test_resume_with_start_epoch_continues_the_same_trajectory():
    data = _least_squares_data()
    tx, key = optax.adam(0.05), jax.random.key(5)
    w_all, s_all, h_all = fit(squared_error, jnp.ones(D), tx, data, epochs=5, batch_size=16, key=key)
    w_a, s_a, h_a = fit(squared_error, jnp.ones(D), tx, data, epochs=2, batch_size=16, key=key)
    w_b, s_b, h_b = fit(squared_error, w_a, tx, data, epochs=3, batch_size=16, key=key, opt_state=s_a,
                        start_epoch=2)
    np.testing.assert_array_equal(w_b, w_all)
    np.testing.assert_array_equal(np.concatenate([h_a.loss, h_b.loss]), h_all.loss)
    jax.tree.map(np.testing.assert_array_equal, s_b, s_all)


def test_plain_gradient_transformation_is_accepted():
    data = _least_squares_data()
    plain = optax.GradientTransformation(optax.sgd(0.1).init, optax.sgd(0.1).update)
    w, _, _ = fit(squared_error, jnp.zeros(D), plain, data, epochs=2, batch_size=16, key=jax.random.key(0))
    w_ref, _, _ = fit(squared_error, jnp.zeros(D), optax.sgd(0.1), data, epochs=2, batch_size=16,
                      key=jax.random.key(0))
    np.testing.assert_allclose(w, w_ref, rtol=1e-13)


# --------------------------------------------------------------------------------------------
# Compilation: traced and compiled once
# --------------------------------------------------------------------------------------------


def test_same_call_reuses_the_compiled_program():
    traces = []

    def loss(w, batch):
        traces.append(1)
        return squared_error(w, batch)

    tx = ml_opt.adam(0.01)
    data = _least_squares_data()
    fit(loss, jnp.zeros(D), tx, data, epochs=2, batch_size=16, key=jax.random.key(0))
    after_first = len(traces)
    assert after_first >= 1
    other = _least_squares_data(seed=7)  # new values, same shapes
    fit(loss, jnp.ones(D), tx, other, epochs=2, batch_size=16, key=jax.random.key(9))
    compiled = compile_fit(loss, jnp.ones(D), tx, other, epochs=2, batch_size=16, key=jax.random.key(2))
    assert len(traces) == after_first
    assert compiled.from_cache and compiled.compile_seconds == 0.0 and compiled.steps_per_epoch == 6
    # A different static configuration compiles a new program.
    fit(loss, jnp.zeros(D), tx, data, epochs=3, batch_size=16, key=jax.random.key(0))
    assert len(traces) > after_first


@pytest.mark.parametrize("make", [lambda: ml_opt.lbfgs(), lambda: ml_opt.newton_cg(), lambda: ml_opt.adam(0.01)],
                         ids=["lbfgs", "newton_cg", "adam"])
def test_optimizer_made_anew_alike_reuses_the_compiled_program(make):
    """DESIGN: a second call with the same function, optimizer *value* and shapes does not compile
    again, also when the optimizer is made anew in the loop (second-order solvers compiled anew
    each time before)."""
    traces = []

    def loss(w, batch):
        traces.append(1)
        return squared_error(w, batch)

    data = _least_squares_data()
    fit(loss, jnp.zeros(D), make(), data, epochs=1, batch_size=16, key=jax.random.key(0))
    after_first = len(traces)
    fit(loss, jnp.ones(D), make(), data, epochs=1, batch_size=16, key=jax.random.key(1))
    assert after_first >= 1 and len(traces) == after_first


def test_compile_fit_separates_compile_time_and_runs_like_fit():
    data = _least_squares_data()
    tx = optax.sgd(0.05)

    def loss(w, batch):  # a fresh function: not in the cache
        return squared_error(w, batch)

    compiled = compile_fit(loss, jnp.zeros(D), tx, data, epochs=2, batch_size=32, key=jax.random.key(0))
    assert not compiled.from_cache and compiled.compile_seconds > 0
    w, _, h = compiled(jnp.zeros(D), data, key=jax.random.key(4))
    w_ref, _, h_ref = fit(loss, jnp.zeros(D), tx, data, epochs=2, batch_size=32, key=jax.random.key(4))
    np.testing.assert_array_equal(w, w_ref)
    np.testing.assert_array_equal(h.loss, h_ref.loss)
    with pytest.raises(ValueError, match="compiled for"):
        compiled(jnp.zeros(D, jnp.float32), data, key=jax.random.key(4))


# --------------------------------------------------------------------------------------------
# Non-finite values
# --------------------------------------------------------------------------------------------


def _data_with_nan_example(bad=17):
    data = _least_squares_data()
    return {"x": data["x"], "y": data["y"].at[bad].set(jnp.nan)}, bad


def test_nonfinite_step_is_reported_and_updates_stop():
    data, bad = _data_with_nan_example()
    key, tx = jax.random.key(2), optax.sgd(0.1)
    w, state, history = fit(squared_error, jnp.zeros(D), tx, data, epochs=2, batch_size=1, key=key)
    position = int(np.flatnonzero(np.asarray(jax.random.permutation(jax.random.fold_in(key, 0), N)) == bad)[0])
    assert int(history.nonfinite_step) == position
    assert int(history.num_updates) == position
    flat = np.asarray(history.loss).ravel()
    assert np.all(np.isfinite(flat[:position])) and np.isnan(flat[position])
    assert np.all(np.isnan(flat[position + 1:]))  # later steps are not run: recorded as NaN
    # The returned params are the iterate at which the non-finite value appeared.
    clean = {k: v[np.asarray(jax.random.permutation(jax.random.fold_in(key, 0), N))[:position]]
             for k, v in data.items()}
    w_ref = jnp.zeros(D)
    for i in range(position):
        w_ref = w_ref - 0.1 * jax.grad(squared_error)(w_ref, jax.tree.map(lambda a: a[i:i + 1], clean))
    np.testing.assert_allclose(w, w_ref, rtol=1e-12, atol=1e-14)
    assert np.all(np.isfinite(w))


def test_nonfinite_without_stopping_is_still_reported():
    data, bad = _data_with_nan_example()
    key = jax.random.key(2)
    w, _, history = fit(squared_error, jnp.zeros(D), optax.sgd(0.1), data, epochs=1, batch_size=1, key=key,
                        stop_on_nonfinite=False)
    position = int(np.flatnonzero(np.asarray(jax.random.permutation(jax.random.fold_in(key, 0), N)) == bad)[0])
    assert int(history.nonfinite_step) == position
    assert int(history.num_updates) == N
    assert np.all(np.isnan(w))  # what a plain optax loop does


def test_nonfinite_update_from_finite_gradient_is_reported_and_stops_the_run():
    # An optimizer that overflows at its fourth step (count == 3): the update is applied, seen, and
    # the run stops right after it (documented: it is not taken back).
    def init(params):
        return jnp.zeros([], jnp.int32)

    def update(grads, count, params=None, **extra):
        step = jax.tree.map(lambda g: jnp.where(count == 3, jnp.inf, -0.1 * g), grads)
        return step, count + 1

    data = _least_squares_data()
    w, count, history = fit(squared_error, jnp.zeros(D), optax.GradientTransformationExtraArgs(init, update), data,
                            epochs=2, batch_size=16, key=jax.random.key(0))
    assert int(history.nonfinite_step) == 3
    assert int(history.num_updates) == 4 and int(count) == 4
    assert np.all(np.isinf(w))
    flat = np.asarray(history.loss).ravel()
    assert np.all(np.isfinite(flat[:4])) and np.all(np.isnan(flat[4:]))


def test_divergence_is_reported():
    data = _least_squares_data()
    x = {"x": data["x"].astype(jnp.float32), "y": data["y"].astype(jnp.float32)}
    w, _, history = fit(squared_error, jnp.zeros(D, jnp.float32), optax.sgd(1e3), x, epochs=20, batch_size=16,
                        key=jax.random.key(0))
    assert int(history.nonfinite_step) >= 0
    assert int(history.num_updates) <= int(history.nonfinite_step) + 1


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=N + 1), ValueError, "batch_size"),
        (dict(batch_size=2.0), TypeError, "batch_size"),
        (dict(epochs=0), ValueError, "epochs"),
        (dict(epochs=True), TypeError, "epochs"),
        (dict(params=jnp.zeros(D, jnp.int32)), TypeError, "params"),
        (dict(optimizer=optax.adam), TypeError, "optimizer"),
        (dict(optimizer="adam"), TypeError, "optimizer"),
        (dict(key=0), TypeError, "key"),
        (dict(key=jax.random.split(jax.random.key(0), 2)), ValueError, "key"),
        (dict(data={"x": jnp.zeros((N, D)), "y": jnp.zeros(N - 1)}), ValueError, "data"),
        (dict(data={"x": jnp.zeros((N, D)), "y": jnp.zeros(())}), ValueError, "data"),
        (dict(loss=lambda w, b: b["x"] @ w), TypeError, "loss"),
        (dict(opt_state=(jnp.zeros(D),)), ValueError, "opt_state"),
    ],
)
def test_bad_input_raises_naming_the_argument(kwargs, error, match):
    args = dict(loss=squared_error, params=jnp.zeros(D), optimizer=optax.sgd(0.1), data=_least_squares_data(),
                epochs=1, batch_size=8, key=jax.random.key(0))
    args.update(kwargs)
    with pytest.raises(error, match=match):
        fit(args.pop("loss"), args.pop("params"), args.pop("optimizer"), args.pop("data"), **args)


def test_integer_nnx_params_are_rejected():
    model = nnx.Linear(D, 1, kernel_init=nnx.initializers.zeros, param_dtype=jnp.int32, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="params"):
        fit(lambda m, b: jnp.mean(m(b["x"])), model, optax.sgd(0.1), _least_squares_data(), epochs=1,
            batch_size=8, key=jax.random.key(0))


def test_nnx_optimizer_passed_as_optimizer_is_explained():
    model = nnx.Linear(D, 1, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="nnx.Optimizer"):
        fit(squared_error, jnp.zeros(D), nnx.Optimizer(model, optax.sgd(0.1), wrt=nnx.Param),
            _least_squares_data(), epochs=1, batch_size=8, key=jax.random.key(0))


# --------------------------------------------------------------------------------------------
# vmap over seeds and learning rates
# --------------------------------------------------------------------------------------------


def test_vmap_over_seeds_equals_separate_runs():
    data = _least_squares_data()
    tx = optax.adam(0.05)
    keys = jax.random.split(jax.random.key(0), 3)
    inits = jax.random.normal(jax.random.key(1), (3, D))
    ws, _, hs = jax.vmap(lambda w0, k: fit(squared_error, w0, tx, data, epochs=2, batch_size=16, key=k))(inits, keys)
    assert hs.loss.shape == (3, 2, N // 16)
    for i in range(3):
        w, _, h = fit(squared_error, inits[i], tx, data, epochs=2, batch_size=16, key=keys[i])
        np.testing.assert_allclose(ws[i], w, rtol=1e-12)
        np.testing.assert_allclose(hs.loss[i], h.loss, rtol=1e-12)


def test_vmap_over_learning_rates_equals_separate_runs():
    data = _least_squares_data()
    rates = jnp.array([0.01, 0.5])

    def run(lr):
        return fit(squared_error, jnp.zeros(D), ml_opt.momentum(lr), data, epochs=2, batch_size=16,
                   key=jax.random.key(0))

    ws, _, hs = jax.vmap(run)(rates)
    for i, lr in enumerate([0.01, 0.5]):
        w, _, h = run(lr)
        np.testing.assert_allclose(ws[i], w, rtol=1e-12)
        assert int(hs.nonfinite_step[i]) == int(h.nonfinite_step)


def test_vmap_reports_nonfinite_per_run():
    data = _least_squares_data()
    ws, _, hs = jax.vmap(lambda lr: fit(squared_error, jnp.zeros(D), optax.sgd(lr), data, epochs=20, batch_size=16,
                                        key=jax.random.key(0)))(jnp.array([0.1, 1e4]))
    assert int(hs.nonfinite_step[0]) == -1 and int(hs.nonfinite_step[1]) >= 0
    assert np.all(np.isfinite(ws[0]))


def test_fit_inside_jit():
    data = _least_squares_data()
    tx = optax.sgd(0.1)
    run = jax.jit(lambda w0: fit(squared_error, w0, tx, data, epochs=2, batch_size=16, key=jax.random.key(0))[0])
    w_ref, _, _ = fit(squared_error, jnp.zeros(D), tx, data, epochs=2, batch_size=16, key=jax.random.key(0))
    np.testing.assert_allclose(run(jnp.zeros(D)), w_ref, rtol=1e-12)


# --------------------------------------------------------------------------------------------
# Flax: NNX modules, nnx.Optimizer, Linen
# --------------------------------------------------------------------------------------------


def cross_entropy(model, batch):
    logits = model(batch["x"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()


def _accuracy(model, data):
    return float(jnp.mean(jnp.argmax(model(data["x"]), -1) == data["y"]))


def test_fit_trains_nnx_mlp_on_digits_to_95_percent():
    train, test = digits_data()
    model = MLP((64, 128, 10), rngs=nnx.Rngs(0))
    before = nnx.state(model, nnx.Param)
    trained, opt_state, history = fit(cross_entropy, model, ml_opt.adam(1e-3), train, epochs=10, batch_size=32,
                                      key=jax.random.key(0))
    assert isinstance(trained, MLP) and trained is not model
    jax.tree.map(np.testing.assert_array_equal, nnx.state(model, nnx.Param), before)  # input untouched
    assert int(history.nonfinite_step) == -1
    assert _accuracy(trained, test) >= 0.95


def test_nnx_optimizer_loop_trains_mlp_on_digits_to_95_percent():
    train, test = digits_data()
    model = MLP((64, 128, 10), rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, ml_opt.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, batch):
        loss, grads = nnx.value_and_grad(cross_entropy)(model, batch)
        optimizer.update(model, grads)
        return loss

    n, batch_size = train["y"].shape[0], 32
    for epoch in range(10):
        perm = jax.random.permutation(jax.random.fold_in(jax.random.key(0), epoch), n)
        for s in range(n // batch_size):
            idx = perm[s * batch_size:(s + 1) * batch_size]
            train_step(model, optimizer, jax.tree.map(lambda a: a[idx], train))
    assert _accuracy(model, test) >= 0.95


def test_fit_on_nnx_module_equals_nnx_optimizer_loop():
    # The same first steps through fit and through nnx.Optimizer, on the same minibatches.
    train, _ = digits_data()
    train = jax.tree.map(lambda a: a[:256], train)
    model = MLP((64, 16, 10), rngs=nnx.Rngs(1))
    trained, _, _ = fit(cross_entropy, model, ml_opt.adam(1e-2), train, epochs=2, batch_size=64,
                        key=jax.random.key(3))
    optimizer = nnx.Optimizer(model, ml_opt.adam(1e-2), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, batch):
        optimizer.update(model, nnx.grad(cross_entropy)(model, batch))

    for epoch in range(2):
        perm = jax.random.permutation(jax.random.fold_in(jax.random.key(3), epoch), 256)
        for s in range(4):
            train_step(model, optimizer, jax.tree.map(lambda a: a[perm[s * 64:(s + 1) * 64]], train))
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6),
                 nnx.state(trained, nnx.Param), nnx.state(model, nnx.Param))


class _NormDropoutNet(nnx.Module):
    def __init__(self, rngs):
        self.linear = nnx.Linear(64, 32, rngs=rngs)
        self.norm = nnx.BatchNorm(32, rngs=rngs)
        self.dropout = nnx.Dropout(0.2, rngs=rngs)
        self.out = nnx.Linear(32, 10, rngs=rngs)

    def __call__(self, x):
        return self.out(self.dropout(nnx.relu(self.norm(self.linear(x)))))


def test_fit_carries_batch_statistics_and_rng_state_of_nnx_module():
    train, _ = digits_data()
    model = _NormDropoutNet(nnx.Rngs(0))
    trained, _, history = fit(cross_entropy, model, optax.adam(1e-3), train, epochs=1, batch_size=128,
                              key=jax.random.key(0))
    steps = train["y"].shape[0] // 128
    assert int(trained.dropout.rngs.count[...]) == steps  # one dropout draw per step
    assert not np.allclose(trained.norm.mean[...], 0.0)  # running statistics were updated
    assert np.all(np.isfinite(history.loss))


def _nnx_second_order_step(loss):
    """The module docstring's recipe: value_fn takes the pure Param state nnx.Optimizer passes."""

    @nnx.jit
    def train_step(model, optimizer, batch):
        graphdef, _, rest = nnx.split(model, nnx.Param, ...)
        value_fn = lambda p: loss(nnx.merge(graphdef, p, rest), batch)
        value, grads = nnx.value_and_grad(loss)(model, batch)
        optimizer.update(model, grads, value=value, grad=grads, value_fn=value_fn)

    return train_step


def test_nnx_optimizer_second_order_recipe():
    data = _least_squares_data()
    model = nnx.Linear(D, 1, use_bias=False, param_dtype=jnp.float64, rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.lbfgs(), wrt=nnx.Param)

    def loss(model, batch):
        return 0.5 * jnp.mean((model(batch["x"])[:, 0] - batch["y"]) ** 2)

    train_step = _nnx_second_order_step(loss)
    for _ in range(12):
        train_step(model, optimizer, data)
    np.testing.assert_allclose(model.kernel[...][:, 0], _normal_equations(data), atol=1e-8)


def test_logistic_regression_with_ml_opt_lbfgs_in_nnx_optimizer_matches_sklearn():
    # The same recipe with ml_opt.lbfgs, on L2-regularised logistic regression (breast cancer).
    # scikit-learn minimises C sum_i loss_i + |w|^2 / 2 (intercept unpenalised): the mean loss
    # + l2/2 |w|^2 below has the same minimiser for C = 1 / (l2 m).
    from sklearn.linear_model import LogisticRegression

    from ml_opt.problems.datasets import load_split

    x, y, _, _ = load_split("breast_cancer")
    l2, m = 1e-2, len(y)
    reference = LogisticRegression(C=1.0 / (l2 * m), solver="newton-cholesky", tol=1e-12, max_iter=1000).fit(x, y)

    data = {"x": jnp.asarray(x), "y": jnp.asarray(y, jnp.float64)}
    model = nnx.Linear(x.shape[1], 1, kernel_init=nnx.initializers.zeros, param_dtype=jnp.float64,
                       rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, ml_opt.lbfgs(), wrt=nnx.Param)

    def loss(model, batch):
        z = model(batch["x"])[:, 0]
        return jnp.mean(jax.nn.softplus(z) - batch["y"] * z) + 0.5 * l2 * jnp.sum(model.kernel[...] ** 2)

    train_step = _nnx_second_order_step(loss)
    for _ in range(100):
        train_step(model, optimizer, data)
    np.testing.assert_allclose(model.kernel[...][:, 0], reference.coef_[0], rtol=0, atol=1e-4)
    np.testing.assert_allclose(model.bias[...], reference.intercept_, rtol=0, atol=1e-4)


def test_batch_that_does_not_fit_the_model_is_named():
    model = nnx.Linear(D + 1, 1, rngs=nnx.Rngs(0))  # takes D + 1 features; data has D
    with pytest.raises(ValueError, match=r"data with shapes .*'x': \(8, 4\)"):
        fit(lambda m, b: jnp.mean((m(b["x"])[:, 0] - b["y"]) ** 2), model, optax.sgd(0.1),
            _least_squares_data(), epochs=1, batch_size=8, key=jax.random.key(0))


class _LinenNet:
    """A Linen MLP, built lazily so that importing this file does not import flax.linen."""

    @staticmethod
    def make(hidden):
        import flax.linen as nn

        class Net(nn.Module):
            @nn.compact
            def __call__(self, x):
                x = nn.relu(nn.Dense(hidden)(x)) if hidden else x
                return nn.Dense(10)(x)

        return Net()


def test_linen_recipe_with_fit():
    train, test = digits_data()
    net = _LinenNet.make(32)
    variables = net.init(jax.random.key(0), train["x"][:1])

    def loss(v, batch):
        return optax.softmax_cross_entropy_with_integer_labels(net.apply(v, batch["x"]), batch["y"]).mean()

    trained, _, history = fit(loss, variables, ml_opt.adam(3e-3), train, epochs=5, batch_size=32,
                              key=jax.random.key(0))
    assert jax.tree.structure(trained) == jax.tree.structure(variables)
    accuracy = jnp.mean(jnp.argmax(net.apply(trained, test["x"]), -1) == test["y"])
    assert accuracy >= 0.93
    assert float(history.loss[-1].mean()) < float(history.loss[0].mean())


@pytest.mark.slow
def test_linen_train_state_second_order_recipe():
    # TrainState.apply_gradients does not forward **kwargs to tx.update: the docstring's subclass does.
    from flax.training import train_state

    class ObjectiveTrainState(train_state.TrainState):
        def apply_gradients(self, *, grads, **extra):
            updates, opt_state = self.tx.update(grads, self.opt_state, self.params, **extra)
            return self.replace(step=self.step + 1, opt_state=opt_state,
                                params=optax.apply_updates(self.params, updates))

    data = _least_squares_data()
    net = _LinenNet.make(0)  # a single Dense(10): least squares on ten targets at once
    targets = jnp.stack([data["y"] * (i + 1) for i in range(10)], axis=1)
    variables = net.init(jax.random.key(0), data["x"][:1])

    def loss(v):
        return 0.5 * jnp.mean((net.apply(v, data["x"]) - targets) ** 2)

    state = ObjectiveTrainState.create(apply_fn=net.apply, params=variables, tx=optax.lbfgs())

    @jax.jit
    def step(state):
        value, grads = jax.value_and_grad(loss)(state.params)
        return state.apply_gradients(grads=grads, value=value, grad=grads, value_fn=loss)

    for _ in range(15):
        state = step(state)
    x1 = np.concatenate([np.asarray(data["x"]), np.ones((N, 1))], axis=1)
    solution = np.linalg.lstsq(x1, np.asarray(targets), rcond=None)[0]
    np.testing.assert_allclose(state.params["params"]["Dense_0"]["kernel"], solution[:D], atol=1e-6)
