r"""Nonlinear conjugate gradient methods (seed 002, section "Conjugate Gradients"; Algorithm 8.9).

.. math::
    d_0 = -\nabla f_0, \qquad
    x_{k+1} = x_k + \alpha_k d_k, \qquad
    d_{k+1} = -\nabla f_{k+1} + \beta_{k+1} d_k

with :math:`\alpha_k` from a line search and :math:`\beta_{k+1}` from one of the formulas below
(each a small named function of :math:`g = \nabla f_{k+1}`, :math:`g_- = \nabla f_k`, :math:`d = d_k`;
:math:`y = g - g_-`):

=====================  =============================================  =============================
``fletcher_reeves``    :math:`g^\top g / g_-^\top g_-`                 Fletcher & Reeves 1964
``polak_ribiere``      :math:`g^\top y / g_-^\top g_-`                 Polak & Ribière 1969; Polyak 1969
``polak_ribiere_plus`` :math:`\max(0, g^\top y / g_-^\top g_-)`        Gilbert & Nocedal 1992
``hestenes_stiefel``   :math:`g^\top y / d^\top y`                     Hestenes & Stiefel 1952
``dai_yuan``           :math:`g^\top g / d^\top y`                     Dai & Yuan 1999
=====================  =============================================  =============================

(The seed writes :math:`d_t = \nabla J + \beta_t d_{t-1}`; the minus sign of the descent
direction is restored here, as in Nocedal & Wright eq. 5.41.)

**Restarts.** The direction is reset to :math:`-\nabla f` when

* it is not a descent direction: :math:`g^\top d \ge 0` (possible for every formula but
  ``dai_yuan`` under a Wolfe search, and for ``fletcher_reeves`` when :math:`c_2 \ge 1/2`), or a
  formula's denominator vanishes;
* every ``restart_every`` iterations, if given (N&W section 5.2: every :math:`n` steps recovers
  the quadratic termination of linear CG);
* the previous line search failed (its best point is taken; see below).

Powell's test (restart when :math:`|g^\top g_-| \ge 0.2\, g^\top g`) is not applied:
``polak_ribiere_plus`` (the default) restarts by itself whenever :math:`\beta^{PR} < 0` (N&W
section 5.2), and on the Moré-Garbow-Hillstrom set adding Powell's test raised the evaluation
counts (several-fold on some problems).

**Line search and initial step.** The default line search is
``zoom(c1=1e-4, c2=0.4, interpolation="cubic")``: c2 = 0.4 is scipy's choice for its CG (N&W's
c2 = 0.1 gives more exact searches at more evaluations per step); the plain cubic steps, not zoom's
default pull-back of overlong cubic steps (Moré & Thuente's case 1, which saves evaluations for the
Newton and quasi-Newton directions): with it, CG needed 1% more evaluations over the
Moré-Garbow-Hillstrom set (geometric mean of the ratios to scipy) and stopped short of
gulf_research_development's minimum (the gradient test passed at f = 2.6e-8), though 5% fewer on
Andrei's functions at n = 1000 (issue 3's notes). The first
trial step follows N&W eq. 3.60: :math:`\alpha_0 = \min(1, 1.01 \cdot 2 (f_k - f_{k-1}) / \phi'(0))`
(the quadratic interpolant of the last decrease; when that decrease is within rounding noise of
f, N&W's other choice :math:`\alpha_{k-1} \nabla f_{k-1}^\top d_{k-1} / \nabla f_k^\top d_k`); on the
first iteration, and after a failed search, :math:`\min(1, 1.01/\|\nabla f_k\|_2)`, a move of about
unit length. (A failed search's step says nothing about the scale along :math:`-\nabla f`: on MGH's
brown_badly_scaled from 100 times its start, a search along a direction that moved only the small
coordinate failed at a step of 5e-13, and the restart, tried from that step, moved the large
coordinate less than its ulp and failed too.) When the line search fails along
:math:`-\nabla f` without moving, the state says ``stalled``.

Same interface and state conventions as :mod:`ml_opt.quasi_newton`.

References:
  Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, section 5.2 (Algorithm 5.4, eqs.
  5.41-5.50) and eq. 3.60.
  Dai & Yuan, A nonlinear conjugate gradient method with a strong global convergence property,
  SIAM J. Optim. 10(1), 1999.
  Goodfellow, Bengio & Courville, Deep Learning, 2016, section 8.6.2.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from ml_opt._base import check_integer, check_params, equal_when_made_alike
from ml_opt._solver import current_point, first_step, interpolated_step, resolve_linesearch, scaled
from ml_opt.linesearch import LineSearch, LineSearchResult, zoom

Array = jax.Array
PyTree = Any

__all__ = [
    "CgState",
    "dai_yuan",
    "fletcher_reeves",
    "hestenes_stiefel",
    "nonlinear_cg",
    "polak_ribiere",
    "polak_ribiere_plus",
]


# --------------------------------------------------------------------------------------------
# The beta formulas. Each returns (beta, valid): valid is False when its denominator vanishes.
# --------------------------------------------------------------------------------------------


def _safe_ratio(num: Array, den: Array) -> tuple[Array, Array]:
    valid = jnp.isfinite(num) & jnp.isfinite(den) & (den != 0)
    return num / jnp.where(valid, den, 1.0), valid


def fletcher_reeves(g: Array, g_prev: Array, d_prev: Array) -> tuple[Array, Array]:
    r""":math:`\beta^{FR} = g^\top g / g_-^\top g_-` (N&W eq. 5.41a). Returns ``(beta, valid)``."""
    return _safe_ratio(g @ g, g_prev @ g_prev)


def polak_ribiere(g: Array, g_prev: Array, d_prev: Array) -> tuple[Array, Array]:
    r""":math:`\beta^{PR} = g^\top (g - g_-) / g_-^\top g_-` (N&W eq. 5.44). Returns ``(beta, valid)``."""
    return _safe_ratio(g @ (g - g_prev), g_prev @ g_prev)


def polak_ribiere_plus(g: Array, g_prev: Array, d_prev: Array) -> tuple[Array, Array]:
    r""":math:`\beta^{+} = \max(\beta^{PR}, 0)` (N&W eq. 5.45). Returns ``(beta, valid)``."""
    beta, valid = polak_ribiere(g, g_prev, d_prev)
    return jnp.maximum(beta, 0.0), valid


def hestenes_stiefel(g: Array, g_prev: Array, d_prev: Array) -> tuple[Array, Array]:
    r""":math:`\beta^{HS} = g^\top y / d_-^\top y`, :math:`y = g - g_-` (N&W eq. 5.46). Returns ``(beta, valid)``."""
    y = g - g_prev
    return _safe_ratio(g @ y, d_prev @ y)


def dai_yuan(g: Array, g_prev: Array, d_prev: Array) -> tuple[Array, Array]:
    r""":math:`\beta^{DY} = g^\top g / d_-^\top y` (Dai & Yuan 1999; N&W eq. 5.49). Returns ``(beta, valid)``."""
    return _safe_ratio(g @ g, d_prev @ (g - g_prev))


_METHODS: dict[str, Callable[[Array, Array, Array], tuple[Array, Array]]] = {
    "fletcher_reeves": fletcher_reeves,
    "polak_ribiere": polak_ribiere,
    "polak_ribiere_plus": polak_ribiere_plus,
    "hestenes_stiefel": hestenes_stiefel,
    "dai_yuan": dai_yuan,
}


class CgState(NamedTuple):
    """The state of :func:`nonlinear_cg`.

    Attributes:
      count: updates made (int32).
      since_restart: iterations since the direction was last reset to :math:`-\\nabla f` (int32).
      direction: the last search direction :math:`d_k`, flat ``(n,)``.
      prev_grad: the gradient :math:`\\nabla f_k` where :math:`d_k` started, flat ``(n,)``.
      prev_value: :math:`f_k` (for the initial step, N&W eq. 3.60).
      prev_step, prev_slope: :math:`\\alpha_k` and :math:`\\nabla f_k^\\top d_k` (for the initial step
        at the rounding floor of f).
      restart: the next direction is :math:`-\\nabla f` (at the start; after a failed search).
      value, grad, num_fun_evals, num_grad_evals, stalled, update: the driver's fields (see
        :mod:`ml_opt._base`): f and its gradient at the new params, cumulative counts, no progress,
        the update returned.
    """

    count: Array
    since_restart: Array
    direction: Array
    prev_grad: Array
    prev_value: Array
    prev_step: Array
    prev_slope: Array
    restart: Array
    value: Array
    grad: PyTree
    num_fun_evals: Array
    num_grad_evals: Array
    stalled: Array
    update: PyTree


@equal_when_made_alike
def nonlinear_cg(
        method: str = "polak_ribiere_plus",
        linesearch: LineSearch | None = None,
        restart_every: int | None = None,
) -> optax.GradientTransformationExtraArgs:
    r"""Nonlinear conjugate gradients (seed 002, Algorithm 8.9; Nocedal & Wright, Algorithm 5.4).

    .. math::
        d_k = -\nabla f_k + \beta_k d_{k-1}, \qquad x_{k+1} = x_k + \alpha_k d_k

    See the module docstring for the :math:`\beta` formulas, restarts and the initial step.

    Args:
      method: ``"fletcher_reeves"``, ``"polak_ribiere"``, ``"polak_ribiere_plus"`` (default),
        ``"hestenes_stiefel"`` or ``"dai_yuan"``.
      linesearch: a :class:`ml_opt.linesearch.LineSearch`; default
        ``zoom(c1=1e-4, c2=0.4, interpolation="cubic")``.
        Fletcher-Reeves needs ``c2 < 1/2`` to guarantee descent (N&W Lemma 5.6).
      restart_every: restart with :math:`-\nabla f` every this many iterations (a positive int or
        a JAX integer scalar); ``None`` (default) restarts only when needed.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs ``value_fn``.

    Example:
      >>> import jax.numpy as jnp, ml_opt
      >>> from ml_opt.conjugate_gradient import nonlinear_cg
      >>> rosen = lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
      >>> bool(ml_opt.minimize(rosen, jnp.array([-1.2, 1.0]), nonlinear_cg(), gtol=1e-5).converged)
      True

    References:
      Fletcher & Reeves, Function minimization by conjugate gradients, 1964.
      Polak & Ribière, Note sur la convergence de méthodes de directions conjuguées, 1969.
      Hestenes & Stiefel, Methods of conjugate gradients for solving linear systems, 1952.
      Gilbert & Nocedal, Global convergence properties of conjugate gradient methods, 1992.
      Dai & Yuan, A nonlinear conjugate gradient method with a strong global convergence property, 1999.
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 5.4 and section 5.2.
    """
    if method not in _METHODS:
        raise ValueError(f"method must be one of {sorted(_METHODS)}, got {method!r}")
    beta_fn = _METHODS[method]
    check_integer(restart_every, "restart_every", lower=1, optional=True)
    linesearch = resolve_linesearch(linesearch, "nonlinear_cg", default=zoom(c1=1e-4, c2=0.4, interpolation="cubic"))

    def init_fn(params) -> CgState:
        check_params(params)
        x, _ = ravel_pytree(params)
        zero = jnp.zeros([], jnp.int32)
        return CgState(
            count=zero,
            since_restart=zero,
            direction=jnp.zeros_like(x),
            prev_grad=jnp.zeros_like(x),
            prev_value=jnp.zeros([], x.dtype),
            prev_step=jnp.zeros([], x.dtype),
            prev_slope=jnp.zeros([], x.dtype),
            restart=jnp.ones([], bool),
            value=jnp.zeros([], x.dtype),
            grad=jax.tree.map(jnp.zeros_like, params),
            num_fun_evals=zero,
            num_grad_evals=zero,
            stalled=jnp.zeros([], bool),
            update=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(grads, state: CgState, params=None, *, value=None, grad=None, value_fn=None, **fn_kwargs):
        fun, value, grad_tree, x, g, unravel, extra = current_point(
            "nonlinear_cg", grads, params, value, grad, value_fn, fn_kwargs
        )
        value = jnp.asarray(value, x.dtype)
        beta, valid = beta_fn(g, state.prev_grad, state.direction)
        d = -g + beta.astype(x.dtype) * state.direction
        slope = g @ d
        restart = state.restart | ~valid | ~(slope < 0)
        if restart_every is not None:
            restart = restart | (state.since_restart >= restart_every)
        d = jnp.where(restart, -g, d)
        slope = g @ d
        # N&W eq. 3.60: the minimiser of the quadratic through f_{k-1}, f_k and the slope at 0.
        # At the rounding floor of f, N&W's other choice: the last step's first-order change,
        # alpha_{k-1} grad_{k-1}^T d_{k-1} / grad_k^T d_k.
        ratio = state.prev_step * state.prev_slope / slope
        ratio = jnp.where(jnp.isfinite(ratio) & (ratio > 0), ratio, 1.0)
        # At the start and after a failed search nothing predicts the scale along -g: a unit move.
        init_step = jnp.where(
            state.restart, first_step(g), interpolated_step(value, state.prev_value, slope, fallback=ratio)
        )
        d_tree = unravel(d)
        ls: LineSearchResult = linesearch.search(
            fun, params, d_tree, value=value, grad=grad_tree, init_step=init_step.astype(x.dtype)
        )

        failed = ~ls.success
        updates = scaled(ls.step, d_tree)
        new_state = CgState(
            count=optax.safe_increment(state.count),
            since_restart=jnp.where(restart, 1, state.since_restart + 1).astype(jnp.int32),
            direction=d,
            prev_grad=g,
            prev_value=value,
            prev_step=ls.step.astype(x.dtype),
            prev_slope=slope,
            restart=failed,
            value=jnp.asarray(ls.value, x.dtype),
            grad=ls.grad,
            num_fun_evals=state.num_fun_evals + ls.num_fun_evals + extra,
            num_grad_evals=state.num_grad_evals + ls.num_grad_evals,
            stalled=failed & restart & (ls.step == 0),
            update=updates,
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
