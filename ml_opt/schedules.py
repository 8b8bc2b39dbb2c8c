r"""Learning-rate schedules of seed 003 that optax lacks; the others are optax's, re-used as they are.

A schedule is a function ``count -> learning rate``, with ``count = 0`` for the first update, as
optax counts. Every rule of :mod:`ml_opt.first_order` (and every optax optimizer) accepts one in place
of its ``learning_rate``. Below, :math:`t` is ``count``.

Seed 003 ("Fundamentals of ML: Optimization", learning-rate schedules) names these; where each lives:

* polynomial :math:`\eta_t = a / (c + t)`: :func:`inverse_time` (here).
* polynomial :math:`\eta_t = a / (c + \sqrt t)`: :func:`inverse_sqrt_time` (here).
* exponential :math:`\eta_t = \eta_0 \gamma^{t/k}`: ``optax.exponential_decay(eta0, k, gamma)``.
* stepwise decay :math:`\eta_t = \eta_0 \gamma^{\lfloor t/k \rfloor}`:
  ``optax.exponential_decay(eta0, k, gamma, staircase=True)``; drops by given factors at given steps:
  ``optax.piecewise_constant_schedule(eta0, {step: factor, ...})``.
* cosine :math:`\eta_t = \eta_0 (1 + \cos(\pi \min(t, T) / T)) / 2`:
  ``optax.cosine_decay_schedule(eta0, T)``.
* cosine, cyclical (warm restarts, Loshchilov & Hutter 2017): ``optax.sgdr_schedule``.
* cyclical, triangular (Smith 2017): :func:`cyclical_triangular` (here).

Step decay is not written here: ``optax.exponential_decay(..., staircase=True)`` is that schedule
exactly (``tests/test_schedules.py`` checks it against the formula).

The arguments may be Python numbers or JAX scalars (so ``jax.vmap`` over them works); concrete ones
are checked when the schedule is made, and a bad one raises an error naming it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from ml_opt._base import Schedule, _concrete_value, check_scalar, equal_when_made_alike

__all__ = ["inverse_time", "inverse_sqrt_time", "cyclical_triangular"]


def _count(count) -> jax.Array:
    """The step count as a float array (the default float dtype)."""
    count = jnp.asarray(count)
    return count.astype(jnp.result_type(float)) if not jnp.issubdtype(count.dtype, jnp.floating) else count


@equal_when_made_alike
def inverse_time(a: float | jax.Array, c: float | jax.Array = 1.0) -> Schedule:
    r"""The polynomial decay :math:`\eta_t = a / (c + t)` (seed 003).

    It meets the Robbins-Monro conditions :math:`\sum_t \eta_t = \infty`,
    :math:`\sum_t \eta_t^2 < \infty` under which SGD converges (seed 002, "sufficient condition to
    guarantee convergence of SGD"). The first rate is :math:`a / c`.

    Args:
      a: the numerator, > 0.
      c: the offset, > 0 (so the first rate, at :math:`t = 0`, is finite).

    Returns:
      A schedule ``count -> a / (c + count)``.

    Example:
      >>> from ml_opt.schedules import inverse_time
      >>> schedule = inverse_time(1.0, c=4.0)
      >>> float(schedule(0)), float(schedule(4))
      (0.25, 0.125)

    References:
      Robbins & Monro, A Stochastic Approximation Method, 1951.
      Bottou, Curtis & Nocedal, Optimization Methods for Large-Scale Machine Learning, 2018, section 4.
    """
    check_scalar(a, "a", lower=0.0, lower_open=True)
    check_scalar(c, "c", lower=0.0, lower_open=True)

    def schedule(count):
        return a / (c + _count(count))

    return schedule


@equal_when_made_alike
def inverse_sqrt_time(a: float | jax.Array, c: float | jax.Array = 1.0) -> Schedule:
    r"""The polynomial decay :math:`\eta_t = a / (c + \sqrt t)` (seed 003).

    It decays more slowly than :func:`inverse_time`: :math:`\sum_t \eta_t^2` diverges, the usual
    rate for convex but not strongly convex problems, and the one to pair with averaging
    (:func:`ml_opt.polyak_averaging`). The first rate is :math:`a / c`.

    Args:
      a: the numerator, > 0.
      c: the offset, > 0.

    Returns:
      A schedule ``count -> a / (c + sqrt(count))``.

    Example:
      >>> from ml_opt.schedules import inverse_sqrt_time
      >>> schedule = inverse_sqrt_time(1.0, c=1.0)
      >>> float(schedule(0)), float(schedule(9))
      (1.0, 0.25)

    References:
      Polyak & Juditsky, Acceleration of Stochastic Approximation by Averaging, 1992.
      Nemirovski, Juditsky, Lan & Shapiro, Robust Stochastic Approximation Approach to Stochastic
      Programming, 2009.
    """
    check_scalar(a, "a", lower=0.0, lower_open=True)
    check_scalar(c, "c", lower=0.0, lower_open=True)

    def schedule(count):
        return a / (c + jnp.sqrt(_count(count)))

    return schedule


@equal_when_made_alike
def cyclical_triangular(
    base_lr: float | jax.Array, max_lr: float | jax.Array, step_size: int | float | jax.Array
) -> Schedule:
    r"""The triangular cyclical learning rate (seed 003, "cyclical schedules"; Smith, 2017).

    The rate climbs linearly from ``base_lr`` to ``max_lr`` over ``step_size`` steps, falls back
    over the next ``step_size``, and repeats (a cycle is ``2 * step_size`` steps):

    .. math::
        \text{cycle} = \lfloor 1 + t / (2 s) \rfloor, \quad
        x = |t / s - 2\,\text{cycle} + 1|, \quad
        \eta_t = \eta_{\text{base}} + (\eta_{\max} - \eta_{\text{base}}) \max(0, 1 - x)

    Args:
      base_lr: the lowest rate, > 0 (the rate at :math:`t = 0` and at the end of every cycle).
      max_lr: the highest rate, >= ``base_lr`` (reached at :math:`t = s, 3s, 5s, \ldots`).
      step_size: :math:`s`, half a cycle in steps, > 0.

    Returns:
      A schedule ``count -> rate``.

    Example:
      >>> from ml_opt.schedules import cyclical_triangular
      >>> schedule = cyclical_triangular(0.1, 1.0, step_size=10)
      >>> [round(float(schedule(t)), 4) for t in (0, 5, 10, 15, 20)]
      [0.1, 0.55, 1.0, 0.55, 0.1]

    References:
      Smith, Cyclical Learning Rates for Training Neural Networks, WACV 2017.
    """
    check_scalar(base_lr, "base_lr", lower=0.0, lower_open=True)
    check_scalar(max_lr, "max_lr", lower=0.0, lower_open=True)
    check_scalar(step_size, "step_size", lower=0.0, lower_open=True)
    base_value, max_value = _concrete_value(base_lr), _concrete_value(max_lr)
    if base_value is not None and max_value is not None and max_value < base_value:
        raise ValueError(f"max_lr must be >= base_lr, got max_lr={max_lr!r} < base_lr={base_lr!r}")

    def schedule(count):
        t = _count(count)
        cycle = jnp.floor(1 + t / (2 * step_size))
        x = jnp.abs(t / step_size - 2 * cycle + 1)
        return base_lr + (max_lr - base_lr) * jnp.maximum(0, 1 - x)

    return schedule
