"""Learning-rate schedules (seed 003) against their formulas, written here in NumPy.

Ours (inverse_time, inverse_sqrt_time, cyclical_triangular) and the optax schedules the module
docstring maps seed 003's exponential, step and cosine schedules to.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ml_opt
from ml_opt.schedules import cyclical_triangular, inverse_sqrt_time, inverse_time

STEPS = np.arange(0, 1001)


def evaluate(schedule, steps=STEPS):
    """The schedule at every step, called as optimizers call it: on an int32 count, under jit."""
    return np.asarray(jax.jit(jax.vmap(schedule))(jnp.asarray(steps, jnp.int32)))


@pytest.mark.parametrize("a,c", [(1.0, 1.0), (0.5, 10.0), (3.0, 0.25)])
def test_inverse_time(a, c):
    np.testing.assert_allclose(evaluate(inverse_time(a, c)), a / (c + STEPS), rtol=1e-14)


@pytest.mark.parametrize("a,c", [(1.0, 1.0), (0.5, 10.0), (3.0, 0.25)])
def test_inverse_sqrt_time(a, c):
    np.testing.assert_allclose(evaluate(inverse_sqrt_time(a, c)), a / (c + np.sqrt(STEPS)), rtol=1e-14)


def test_polynomial_schedules_accept_python_ints_and_jax_scalars():
    assert float(inverse_time(2, 4)(0)) == 0.5
    assert float(inverse_time(jnp.asarray(2.0), jnp.asarray(4.0))(4)) == 0.25
    assert float(inverse_sqrt_time(2, 1)(9)) == 0.5
    # vmap over the numerator (a hyperparameter sweep)
    a = jnp.asarray([1.0, 2.0, 3.0])
    np.testing.assert_allclose(jax.vmap(lambda a: inverse_time(a, 2.0)(6))(a), np.asarray(a) / 8, rtol=1e-15)


def smith_triangular(t, base_lr, max_lr, step_size):
    """Triangular cyclical rate, by position within the cycle (a different form from Smith's)."""
    position = np.mod(t, 2 * step_size) / step_size  # in [0, 2): up on [0, 1], down on [1, 2)
    fraction = np.where(position <= 1, position, 2 - position)
    return base_lr + (max_lr - base_lr) * fraction


@pytest.mark.parametrize("base_lr,max_lr,step_size", [(0.1, 1.0, 10), (1e-3, 6e-3, 7), (0.5, 0.5, 3), (0.2, 0.4, 2.5)])
def test_cyclical_triangular(base_lr, max_lr, step_size):
    np.testing.assert_allclose(
        evaluate(cyclical_triangular(base_lr, max_lr, step_size)),
        smith_triangular(STEPS, base_lr, max_lr, step_size),
        rtol=1e-12,
        atol=1e-15,
    )


def test_cyclical_triangular_corners():
    schedule = cyclical_triangular(0.1, 1.0, step_size=4)
    values = evaluate(schedule, np.arange(17))
    assert values[0] == pytest.approx(0.1)
    assert values[4] == pytest.approx(1.0)
    assert values[8] == pytest.approx(0.1)
    assert values[12] == pytest.approx(1.0)
    assert values[16] == pytest.approx(0.1)
    assert np.all(np.diff(values[:5]) > 0) and np.all(np.diff(values[4:9]) < 0)


# The seed-003 schedules that optax already has: the mapping in ml_opt.schedules' docstring is right.


# optax's exponential_decay computes in float32 even with x64 on: float32 tolerances there.
F32 = 1e-6


def test_exponential_is_optax_exponential_decay():
    eta0, k, gamma = 0.3, 50, 0.5
    # gamma ** e with e = t / k rounded to float32 (relative error eps / 2) is off by |ln gamma| e eps / 2
    # relatively, on top of a few ulps from pow and the products.
    rtol = (abs(math.log(gamma)) * STEPS.max() / k / 2 + 4) * np.finfo(np.float32).eps
    np.testing.assert_allclose(evaluate(optax.exponential_decay(eta0, k, gamma)), eta0 * gamma ** (STEPS / k), rtol=rtol)


def test_step_decay_is_optax_exponential_decay_with_staircase():
    eta0, k, gamma = 0.3, 100, 0.1
    np.testing.assert_allclose(
        evaluate(optax.exponential_decay(eta0, k, gamma, staircase=True)),
        eta0 * gamma ** np.floor(STEPS / k),
        rtol=F32,
    )
    # Drops by given factors at given steps.
    schedule = optax.piecewise_constant_schedule(0.3, {200: 0.5, 600: 0.1})
    expected = np.select([STEPS < 200, STEPS < 600], [0.3, 0.15], 0.015)
    np.testing.assert_allclose(evaluate(schedule), expected, rtol=1e-12)


def test_cosine_is_optax_cosine_decay_schedule():
    eta0, horizon = 0.3, 700
    expected = eta0 * 0.5 * (1 + np.cos(np.pi * np.minimum(STEPS, horizon) / horizon))
    np.testing.assert_allclose(evaluate(optax.cosine_decay_schedule(eta0, horizon)), expected, rtol=1e-12, atol=1e-15)


def test_cosine_with_restarts_is_optax_sgdr_schedule():
    eta0, period = 0.3, 250
    schedule = optax.sgdr_schedule([dict(init_value=eta0, peak_value=eta0, decay_steps=period, warmup_steps=0)] * 4)
    steps = np.arange(0, 4 * period)
    expected = eta0 * 0.5 * (1 + np.cos(np.pi * np.mod(steps, period) / period))
    np.testing.assert_allclose(evaluate(schedule, steps), expected, rtol=1e-12, atol=1e-15)


# Schedules drive the rules, counted from 0 at the first update.


@pytest.mark.parametrize(
    "schedule,formula",
    [
        (inverse_time(0.5, 2.0), lambda k: 0.5 / (2.0 + k)),
        (inverse_sqrt_time(0.5, 2.0), lambda k: 0.5 / (2.0 + math.sqrt(k))),
        (cyclical_triangular(0.05, 0.4, 5), lambda k: float(smith_triangular(k, 0.05, 0.4, 5))),
    ],
    ids=["inverse_time", "inverse_sqrt_time", "cyclical_triangular"],
)
def test_schedule_drives_sgd(schedule, formula):
    """sgd with the schedule equals gradient descent w_{k+1} = w_k - eta_k grad f(w_k) (seed 003)."""
    target = np.array([1.0, -2.0, 3.0])
    opt = ml_opt.sgd(schedule)
    traces = 0

    @jax.jit
    def step(w, state):
        nonlocal traces
        traces += 1
        updates, state = opt.update(w - target, state, w)  # f(w) = |w - target|^2 / 2
        return optax.apply_updates(w, updates), state

    w, state = jnp.zeros(3), opt.init(jnp.zeros(3))
    w_ref = np.zeros(3)
    for k in range(30):
        w, state = step(w, state)
        w_ref = w_ref - formula(k) * (w_ref - target)
        np.testing.assert_allclose(w, w_ref, rtol=1e-13)
    assert traces == 1


# Bad arguments: an error naming the argument.


@pytest.mark.parametrize("factory", [inverse_time, inverse_sqrt_time], ids=["inverse_time", "inverse_sqrt_time"])
@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(a=0.0, c=1.0), "a"),
        (dict(a=-1.0, c=1.0), "a"),
        (dict(a=math.nan, c=1.0), "a"),
        (dict(a=math.inf, c=1.0), "a"),
        (dict(a=1.0, c=0.0), "c"),
        (dict(a=1.0, c=-2.0), "c"),
        (dict(a=1.0, c=math.nan), "c"),
    ],
)
def test_polynomial_schedule_bad_arguments(factory, kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        factory(**kwargs)


@pytest.mark.parametrize(
    "kwargs,name",
    [
        (dict(base_lr=0.0, max_lr=1.0, step_size=10), "base_lr"),
        (dict(base_lr=math.nan, max_lr=1.0, step_size=10), "base_lr"),
        (dict(base_lr=0.1, max_lr=-1.0, step_size=10), "max_lr"),
        (dict(base_lr=0.1, max_lr=math.inf, step_size=10), "max_lr"),
        (dict(base_lr=0.5, max_lr=0.1, step_size=10), "max_lr"),
        (dict(base_lr=0.1, max_lr=1.0, step_size=0), "step_size"),
        (dict(base_lr=0.1, max_lr=1.0, step_size=-3), "step_size"),
    ],
)
def test_cyclical_triangular_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=rf"^{name}\b"):
        cyclical_triangular(**kwargs)


def test_schedule_argument_of_wrong_kind():
    with pytest.raises(TypeError, match="^a"):
        inverse_time("1.0", 1.0)
    with pytest.raises(ValueError, match="^c"):
        inverse_sqrt_time(1.0, jnp.ones(3))
