"""Polyak averaging (seed 002) against a NumPy running mean / EMA of the inner optimizer's trajectory."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ml_opt
from ml_opt.averaging import PolyakAveragingState, averaged_params, polyak_averaging

NUM_STEPS = 60


def make_params(dtype=jnp.float64):
    rng = np.random.default_rng(0)
    return {
        "w": jnp.asarray(rng.normal(size=(3, 2)), dtype),
        "rest": [jnp.asarray(rng.normal(size=4), dtype), (jnp.asarray(rng.normal(), dtype),)],
    }


def gradient(params):
    """A fixed nonlinear gradient field, leaf by leaf."""
    return jax.tree.map(lambda x: x + 0.8 * jnp.sin(2 * x) + 0.3, params)


def trajectory(opt, params, num_steps=NUM_STEPS):
    """params_1..params_n and the state after each update, stacked on a leading axis."""

    def body(carry, _):
        p, state = carry
        updates, state = opt.update(gradient(p), state, p)
        p = optax.apply_updates(p, updates)
        return (p, state), (p, state)

    @jax.jit
    def run(p):
        return jax.lax.scan(body, (p, opt.init(p)), None, length=num_steps)[1]

    return run(params)


def np_stack(tree):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]


@pytest.fixture(scope="module")
def inner_trajectory():
    params = make_params()
    thetas, _ = trajectory(ml_opt.momentum(0.05, beta=0.8), params)
    return params, thetas


def _wrapped(kind, **kwargs):
    return polyak_averaging(ml_opt.momentum(0.05, beta=0.8), kind, **kwargs)


def test_trajectory_is_the_inner_optimizers(inner_trajectory):
    params, thetas = inner_trajectory
    for kind, kwargs in [("uniform", {}), ("exponential", dict(decay=0.9))]:
        wrapped_thetas, _ = trajectory(_wrapped(kind, **kwargs), params)
        for a, b in zip(jax.tree.leaves(wrapped_thetas), jax.tree.leaves(thetas)):
            np.testing.assert_array_equal(a, b)


def test_uniform_average_is_running_mean_of_iterates(inner_trajectory):
    params, thetas = inner_trajectory
    _, states = trajectory(_wrapped("uniform"), params)
    averages = averaged_params(states)  # stacked over steps
    for theta, average in zip(np_stack(thetas), np_stack(averages)):
        t = np.arange(1, NUM_STEPS + 1).reshape((-1,) + (1,) * (theta.ndim - 1))
        running_mean = np.cumsum(theta, axis=0) / t  # (theta_1 + ... + theta_t) / t
        np.testing.assert_allclose(average, running_mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(states.count, np.arange(1, NUM_STEPS + 1))


@pytest.mark.parametrize("decay", [0.9, 0.5, 0.0])
def test_exponential_average_debiased(inner_trajectory, decay):
    """theta_bar_t = decay theta_bar_{t-1} + (1 - decay) theta_t from 0, divided by 1 - decay^t."""
    params, thetas = inner_trajectory
    _, states = trajectory(_wrapped("exponential", decay=decay), params)
    for theta, average in zip(np_stack(thetas), np_stack(averaged_params(states))):
        ema = np.zeros_like(theta[0])
        for t in range(1, NUM_STEPS + 1):
            ema = decay * ema + (1 - decay) * theta[t - 1]
            np.testing.assert_allclose(average[t - 1], ema / (1 - decay**t), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("decay", [0.9, 0.5])
def test_exponential_average_without_debiasing_starts_at_initial_params(inner_trajectory, decay):
    """theta_bar_0 = theta_0; theta_bar_t = decay theta_bar_{t-1} + (1 - decay) theta_t."""
    params, thetas = inner_trajectory
    _, states = trajectory(_wrapped("exponential", decay=decay, debias=False), params)
    for theta0, theta, average in zip(np_stack(params), np_stack(thetas), np_stack(averaged_params(states))):
        ema = theta0
        for t in range(1, NUM_STEPS + 1):
            ema = decay * ema + (1 - decay) * theta[t - 1]
            np.testing.assert_allclose(average[t - 1], ema, rtol=1e-12, atol=1e-14)


def test_average_before_any_update_is_the_initial_params():
    params = make_params()
    for opt in (polyak_averaging(ml_opt.sgd(0.1)), polyak_averaging(ml_opt.sgd(0.1), "exponential", 0.9)):
        state = opt.init(params)
        assert isinstance(state, PolyakAveragingState)
        for a, b in zip(jax.tree.leaves(averaged_params(state)), jax.tree.leaves(params)):
            np.testing.assert_array_equal(a, b)


def test_default_exponential_decay_is_0_999(inner_trajectory):
    params, _ = inner_trajectory
    _, default = trajectory(_wrapped("exponential"), params, num_steps=5)
    _, explicit = trajectory(_wrapped("exponential", decay=0.999), params, num_steps=5)
    for a, b in zip(jax.tree.leaves(averaged_params(default)), jax.tree.leaves(averaged_params(explicit))):
        np.testing.assert_array_equal(a, b)


def test_averaged_iterate_beats_last_iterate_on_noisy_quadratic():
    """SGD with a constant step on a noisy strongly convex quadratic: the last iterate keeps
    bouncing at distance ~ sqrt(lr) sigma; the Polyak average converges (Polyak & Juditsky, 1992)."""
    dim, num_steps, sigma, lr = 20, 4000, 1.0, 0.05
    rng = np.random.default_rng(42)
    q, _ = np.linalg.qr(rng.normal(size=(dim, dim)))
    hessian = q @ np.diag(np.linspace(0.5, 2.0, dim)) @ q.T
    b = rng.normal(size=dim)
    optimum = np.linalg.solve(hessian, b)
    hessian, b = jnp.asarray(hessian), jnp.asarray(b)

    def run(opt, key):
        def body(carry, key):
            x, state = carry
            noisy_grad = hessian @ x - b + sigma * jax.random.normal(key, (dim,))
            updates, state = opt.update(noisy_grad, state, x)
            return (optax.apply_updates(x, updates), state), None

        x0 = jnp.asarray(optimum) + 5.0  # start away from the optimum
        (x, state), _ = jax.lax.scan(body, (x0, opt.init(x0)), jax.random.split(key, num_steps))
        return x, averaged_params(state)

    for seed in (0, 1, 2):
        key = jax.random.key(seed)
        for opt in (
            polyak_averaging(ml_opt.sgd(lr)),
            polyak_averaging(ml_opt.sgd(lr), "exponential", decay=0.995),
        ):
            last, average = jax.jit(run, static_argnums=0)(opt, key)
            last_error = np.linalg.norm(np.asarray(last) - optimum)
            average_error = np.linalg.norm(np.asarray(average) - optimum)
            assert average_error < 0.5 * last_error, (seed, average_error, last_error)


def test_needs_params():
    opt = polyak_averaging(ml_opt.sgd(0.1))
    params = make_params()
    with pytest.raises(ValueError, match="needs params"):
        opt.update(gradient(params), opt.init(params))


def test_params_of_another_tree_raise_naming_params():
    opt = polyak_averaging(ml_opt.sgd(0.1))
    params = make_params()
    state = opt.init(params)
    other = dict(params, w=jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match="^params"):
        opt.update(gradient(other), state, other)


@pytest.mark.parametrize(
    "kwargs,match,error",
    [
        (dict(kind="median"), "^kind", ValueError),
        (dict(kind="exponential", decay=1.0), "^decay", ValueError),
        (dict(kind="exponential", decay=-0.1), "^decay", ValueError),
        (dict(kind="exponential", decay=math.nan), "^decay", ValueError),
        (dict(kind="uniform", decay=0.9), "^decay", ValueError),
        (dict(kind="exponential", decay=0.9, debias="yes"), "^debias", TypeError),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs, match, error):
    with pytest.raises(error, match=match):
        polyak_averaging(ml_opt.sgd(0.1), **kwargs)


def test_inner_must_be_an_optax_transformation():
    with pytest.raises(TypeError, match="^inner"):
        polyak_averaging(lambda g: g)


def test_averaged_params_finds_the_state_in_a_chain_and_says_when_absent():
    params = make_params()
    opt = optax.chain(optax.clip_by_global_norm(1.0), polyak_averaging(ml_opt.sgd(0.1)))
    state = opt.init(params)
    updates, state = opt.update(gradient(params), state, params)
    new_params = optax.apply_updates(params, updates)
    for a, b in zip(jax.tree.leaves(averaged_params(state)), jax.tree.leaves(new_params)):
        np.testing.assert_array_equal(a, b)  # one iterate: its own mean
    with pytest.raises(ValueError, match="^state.*found 0"):
        averaged_params(ml_opt.sgd(0.1).init(params))
    twice = optax.chain(polyak_averaging(ml_opt.sgd(0.1)), polyak_averaging(optax.identity()))
    with pytest.raises(ValueError, match="^state.*found 2"):
        averaged_params(twice.init(params))


def test_wraps_an_optax_optimizer_and_passes_extra_args_through():
    """A plain optax GradientTransformation is accepted; value/value_fn go to the inner update."""
    params = make_params()
    opt = polyak_averaging(optax.adam(0.1))
    state = opt.init(params)
    updates, state = opt.update(gradient(params), state, params, value=jnp.asarray(1.0), value_fn=lambda p: 0.0)
    reference, _ = optax.adam(0.1).update(gradient(params), optax.adam(0.1).init(params), params)
    for a, b in zip(jax.tree.leaves(updates), jax.tree.leaves(reference)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_dtype_kept_and_jitted_step_traces_once(dtype):
    opt = polyak_averaging(ml_opt.adam(0.05), "exponential", decay=0.9)
    traces = 0

    @jax.jit
    def step(params, state):
        nonlocal traces
        traces += 1
        updates, state = opt.update(gradient(params), state, params)
        return optax.apply_updates(params, updates), state

    params = make_params(dtype)
    state = opt.init(params)
    for _ in range(10):
        params, state = step(params, state)
    assert traces == 1
    assert all(leaf.dtype == dtype for leaf in jax.tree.leaves(averaged_params(state)))
    assert state.count.dtype == jnp.int32 and int(state.count) == 10


def test_vmap_over_decay():
    params = make_params()
    decays = jnp.asarray([0.5, 0.8, 0.9])

    def run(decay):
        _, states = trajectory(_wrapped("exponential", decay=decay), params, num_steps=10)
        return averaged_params(states)

    batched = jax.vmap(run)(decays)
    for i in range(3):
        for a, b in zip(jax.tree.leaves(batched), jax.tree.leaves(run(decays[i]))):
            np.testing.assert_allclose(a[i], b, rtol=1e-12)


def test_with_minimize():
    """minimize keeps the averaging state; its average is the mean of the gradient-descent iterates."""
    target = jnp.asarray([1.0, -2.0, 0.5])

    def fun(x):
        return 0.5 * jnp.sum((x - target) ** 2)

    result = ml_opt.minimize(fun, jnp.zeros(3), polyak_averaging(ml_opt.sgd(0.5)), max_steps=8, gtol=0.0)
    # GD with lr 0.5 on this quadratic: x_t = target (1 - 0.5^t).
    t = np.arange(1, 9)
    iterates = np.asarray(target)[None, :] * (1 - 0.5**t)[:, None]
    np.testing.assert_allclose(result.params, iterates[-1], rtol=1e-13)
    np.testing.assert_allclose(averaged_params(result.opt_state), iterates.mean(axis=0), rtol=1e-13)
