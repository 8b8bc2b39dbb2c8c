r"""Trust-region Newton: the exact minimiser of the quadratic model within a radius.

At the iterate :math:`x` the model of :math:`f` on the dense Hessian,

.. math:: m(p) = f + g^\top p + \tfrac12 p^\top H p,

is minimised over the ball :math:`\|p\|_2 \le \Delta`, and the step is judged by the gain ratio

.. math:: \rho = \frac{f(x) - f(x + p)}{m(0) - m(p)}:

accepted when :math:`\rho > \eta`; :math:`\Delta \leftarrow \Delta / 4` when :math:`\rho < 1/4`,
:math:`\Delta \leftarrow \min(2\Delta, \Delta_{\max})` when :math:`\rho > 3/4` and the step reaches
the boundary (Nocedal & Wright, Algorithm 4.1, as scipy's trust-region methods). A rejected step
is recomputed from the smaller radius within the same update, on the same Hessian and
eigendecomposition, so that every update moves (or says ``stalled``).

**The subproblem** (N&W section 4.3; Moré & Sorensen 1983) is solved on the eigendecomposition
:math:`H = V \Lambda V^\top`, :math:`\lambda_1 \le \dots \le \lambda_n`, with
:math:`\hat g = V^\top g` and :math:`p(\lambda) = -V (\Lambda + \lambda I)^{-1} \hat g`. By N&W's
Theorem 4.1 the solution is :math:`p(\lambda)` for a :math:`\lambda \ge \max(0, -\lambda_1)` with
:math:`\lambda (\Delta - \|p\|) = 0`:

* the Newton step :math:`p(0)` where :math:`H` is positive definite and :math:`\|p(0)\| \le \Delta`;
* otherwise the :math:`\lambda > \max(0, -\lambda_1)` with :math:`\|p(\lambda)\| = \Delta`, by
  Newton's iteration on :math:`\phi(\lambda) = 1/\Delta - 1/\|p(\lambda)\|` (N&W Algorithm 4.3,
  :math:`\lambda \leftarrow \lambda + (\|p\|/\|q\|)^2 (\|p\| - \Delta)/\Delta` with
  :math:`\|q\|^2 = \sum_i \hat g_i^2 / (\lambda_i + \lambda)^3`). :math:`\phi` is convex and
  decreasing there, so from a :math:`\lambda` where :math:`\|p(\lambda)\| > \Delta` (the lower end
  of the interval) the iterates increase to the root without passing it;
* the *hard case*, where :math:`\|p(\lambda)\|` stays at most :math:`\Delta` down to
  :math:`\lambda = -\lambda_1 \ge 0` (:math:`g` has next to no component along the eigenvectors of
  :math:`\lambda_1`; at a saddle point :math:`g = 0`): :math:`p = p(-\lambda_1) + \tau v_1`, with
  :math:`\tau` of the smaller size that puts :math:`p` on the boundary (at :math:`\lambda = -\lambda_1`
  both roots lower the model alike; N&W section 4.3, "the hard case").

Where :math:`\lambda_1 \le 0` the lower end of the interval is :math:`-\lambda_1` plus
:math:`n \varepsilon \max_i|\lambda_i|` (a pseudo-inverse's cut-off), so that every
:math:`\lambda_i + \lambda` is positive in floating point. (Any :math:`\lambda_1 > 0` counts as
positive definite, as a successful Cholesky factorisation does for scipy: with the cut-off there,
an eigenvalue of a badly scaled Hessian below it was damped, and Powell's badly scaled function took
7085 evaluations instead of 115.)

Line-search Newton (:func:`ml_opt.newton.newton`) instead modifies an indefinite :math:`H` and
searches along the direction it gives; the radius bounds the step in every direction. Along a
curved valley (Rosenbrock from 100 times its standard start) line-search Newton takes twice the
steps of this method, and where :math:`H` is indefinite its step along negative curvature is as
short as that curvature is large, where this one steps out to the radius.

**Counts.** Each trial step evaluates :math:`f` and its gradient at :math:`x + p` (``num_fun_evals``,
``num_grad_evals``; scipy's ``trust-exact`` counts one ``nfev`` per trial as well); the dense
Hessian counts :math:`n` in ``num_hvp_evals``, once per update.

**At the rounding floor.** Near a minimiser where :math:`|f|` is large (MGH's Brown-Dennis, f* =
85822) both :math:`m(0) - m(p)` and :math:`f(x) - f(x+p)` fall below the rounding noise of
:math:`f`, taken as 100 ulps as in the line searches, and :math:`\rho` is noise. A step that
:math:`\rho` rejects there (predicted decrease below the noise, no rise above it, :math:`x` moved)
is accepted if it lowers :math:`\|\nabla f\|_\infty` (already evaluated at the trial), and the
radius is kept, as :func:`ml_opt.least_squares.levenberg_marquardt` does. Without it Brown-Dennis
stalled after 40 evaluations; with it, it converges in 12, as trust-exact does.

**Where it stops.** ``stalled`` when no trial is accepted in ``max_trials``, or when the radius has
fallen below the resolution of :math:`x` (:math:`\varepsilon \max(\|x\|, 1)`) with none accepted:
then the update does not move and :func:`ml_opt.minimize` stops with status ``STALLED``.

Params are any pytree of floating-point arrays, flattened with
:func:`jax.flatten_util.ravel_pytree`; the eigendecomposition runs in float32 at least
(:func:`ml_opt._base.linalg_dtype`). Interface and state conventions as in :mod:`ml_opt.newton`.

References:
  Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 4.1, section 4.3 (Theorem
  4.1, Algorithm 4.3, the hard case).
  Moré & Sorensen, Computing a trust region step, SIAM J. Sci. Stat. Comput. 4(3), 553-572, 1983.
  Conn, Gould & Toint, Trust-Region Methods, SIAM, 2000, chapter 7.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree
from optax import tree_utils as otu

from ml_opt._base import check_integer, check_params, check_scalar, equal_when_made_alike, linalg_dtype
from ml_opt._solver import dense_hessian, eigenvalue_cutoff, objective_at

Array = jax.Array
PyTree = Any

__all__ = ["TrustRegionState", "trust_region_newton"]

_SHRINK_BELOW, _GROW_ABOVE = 0.25, 0.75  # N&W Algorithm 4.1's thresholds on rho
_SECULAR_RTOL = 1e-10  # ||p|| within this of the radius ends the secular iteration
_SECULAR_MAX_STEPS = 100
_NOISE = 100.0  # the rounding noise of f: 100 ulps, as the line searches and levenberg_marquardt take it


class TrustRegionState(NamedTuple):
    """The state of :func:`trust_region_newton`.

    Attributes:
      count: updates made (int32).
      value: the objective at the params after the last update (0 before the first).
      grad: its gradient, a pytree like the params.
      num_fun_evals: cumulative objective evaluations, one per trial step (int32).
      num_grad_evals: cumulative gradient evaluations, one per trial step (int32).
      num_hvp_evals: cumulative Hessian-vector products; each dense Hessian counts ``n`` (int32).
      stalled: the last update accepted no step.
      radius: the trust radius :math:`\\Delta` the next update starts from.
      trials: steps tried in the last update (int32).
      update: the update returned with this state (see :mod:`ml_opt._base`).
    """

    count: Array
    value: Array
    grad: PyTree
    num_fun_evals: Array
    num_grad_evals: Array
    num_hvp_evals: Array
    stalled: Array
    radius: Array
    trials: Array
    update: PyTree


class _Subproblem(NamedTuple):
    """The model's minimiser within the radius, in the coordinates of the eigenvectors."""

    p_hat: Array  # V^T p
    on_boundary: Array  # ||p|| = radius (lambda > 0, or the hard case)


def _secular_multiplier(lam: Array, g_hat_sq: Array, radius: Array, lower: Array) -> Array:
    """The ``lambda >= lower`` with ``||p(lambda)|| = radius``, by N&W Algorithm 4.3 from ``lower``,
    where ``||p(lower)|| > radius``: Newton's iteration on ``1/radius - 1/||p(lambda)||``, which
    increases to the root."""

    def body(carry):
        k, mu, _ = carry
        d = lam + mu
        p_sq, q_sq = jnp.sum(g_hat_sq / d ** 2), jnp.sum(g_hat_sq / d ** 3)
        p_norm = jnp.sqrt(p_sq)
        step = (p_sq / q_sq) * (p_norm - radius) / radius
        done = (p_norm - radius <= _SECULAR_RTOL * radius) | ~(step > 0) | (k + 1 >= _SECULAR_MAX_STEPS)
        return k + 1, jnp.where(done, mu, mu + step), done

    init = (jnp.zeros([], jnp.int32), lower, jnp.zeros([], bool))
    return jax.lax.while_loop(lambda c: ~c[2], body, init)[1]


def _trust_region_subproblem(lam: Array, g_hat: Array, radius: Array) -> _Subproblem:
    """``argmin g^T p + p^T H p / 2`` over ``||p|| <= radius``, with ``H = V diag(lam) V^T`` (``lam``
    ascending) and ``g_hat = V^T g``: the cases of the module docstring."""
    lam_1 = jnp.min(lam, initial=jnp.inf)
    lower = jnp.where(lam_1 > 0, 0.0, eigenvalue_cutoff(lam) - lam_1)  # p(lambda) is defined above it

    def p_hat_at(mu):
        return -g_hat / (lam + mu)

    p_lower = p_hat_at(lower)
    p_lower_norm = jnp.linalg.norm(p_lower)
    inside = p_lower_norm <= radius
    newton_step = inside & (lower == 0)  # H positive definite and its Newton step within the radius
    # The hard case: p(lower) is inside the ball although H is not positive definite; move along v_1
    # to the boundary, by the root tau of ||p + tau e_1|| = radius of the smaller size.
    e_1 = (jnp.arange(lam.shape[0]) == 0).astype(lam.dtype)
    b, c = p_lower @ e_1, radius ** 2 - p_lower_norm ** 2
    denominator = b + jnp.where(b >= 0, 1.0, -1.0) * jnp.sqrt(b * b + c)
    tau = jnp.where(denominator != 0, c / denominator, 0.0)
    hard = p_lower + tau * e_1
    boundary = p_hat_at(_secular_multiplier(lam, g_hat ** 2, radius, lower))
    p_hat = jnp.where(newton_step, p_lower, jnp.where(inside, hard, boundary))
    return _Subproblem(p_hat, ~newton_step)


class _TrialCarry(NamedTuple):
    k: Array
    radius: Array
    p: Array
    accepted: Array
    value: Array
    grad: PyTree
    done: Array


@equal_when_made_alike
def trust_region_newton(
        initial_radius: float | Array = 1.0,
        max_radius: float | Array = 1000.0,
        eta: float | Array = 0.15,
        max_trials: int | Array = 50,
) -> optax.GradientTransformationExtraArgs:
    r"""Trust-region Newton with the exact subproblem solution (N&W Algorithms 4.1 and 4.3).

    .. math::
        p = \arg\min_{\|p\| \le \Delta} g^\top p + \tfrac12 p^\top H p, \qquad
        \rho = \frac{f(x) - f(x+p)}{-(g^\top p + \frac12 p^\top H p)}

    accept :math:`x \leftarrow x + p` when :math:`\rho > \eta`; :math:`\Delta \leftarrow \Delta/4`
    when :math:`\rho < 1/4`, :math:`\Delta \leftarrow \min(2\Delta, \Delta_{\max})` when
    :math:`\rho > 3/4` and :math:`\|p\| = \Delta`; a rejected step is recomputed from the new radius
    within the update. :math:`p` is found on the eigendecomposition of the dense Hessian, the hard
    case included (see the module docstring); scipy's ``minimize(method="trust-exact")`` is the
    same algorithm with Moré & Sorensen's Cholesky-based approximate solution of the subproblem,
    and the same defaults.

    Args:
      initial_radius: :math:`\Delta_0 > 0` (scipy's ``initial_trust_radius``).
      max_radius: :math:`\Delta_{\max} \ge \Delta_0` (scipy's ``max_trust_radius``).
      eta: the gain ratio a step must exceed, :math:`0 \le \eta < 1/4`.
      max_trials: the most steps tried in one update before it reports ``stalled``.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs ``value_fn``; its state
      is a :class:`TrustRegionState`.

    Example:
      >>> import jax.numpy as jnp, ml_opt
      >>> f = lambda x: x[0] ** 2 - x[1] ** 2 + 0.25 * x[1] ** 4    # a saddle at 0, minima at y = +-sqrt(2)
      >>> res = ml_opt.minimize(f, jnp.array([0.5, 0.0]), ml_opt.trust_region_newton(), gtol=1e-5)
      >>> bool(res.converged), [round(abs(float(v)), 4) for v in res.params]
      (True, [0.0, 1.4142])

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithms 4.1 and 4.3.
      Moré & Sorensen, Computing a trust region step, 1983.
    """
    check_scalar(initial_radius, "initial_radius", lower=0.0, lower_open=True)
    check_scalar(max_radius, "max_radius", lower=0.0, lower_open=True)
    check_scalar(eta, "eta", lower=0.0, upper=_SHRINK_BELOW, upper_open=True)
    check_integer(max_trials, "max_trials", lower=1)
    concrete = isinstance(initial_radius, (int, float)) and isinstance(max_radius, (int, float))
    if concrete and max_radius < initial_radius:
        raise ValueError(f"max_radius must be at least initial_radius, got {max_radius} < {initial_radius}")

    def init_fn(params) -> TrustRegionState:
        check_params(params)
        x, _ = ravel_pytree(params)
        zero = jnp.zeros([], jnp.int32)
        return TrustRegionState(
            count=zero,
            value=jnp.zeros([], x.dtype),
            grad=jax.tree.map(jnp.zeros_like, params),
            num_fun_evals=zero,
            num_grad_evals=zero,
            num_hvp_evals=zero,
            stalled=jnp.zeros([], bool),
            radius=jnp.asarray(initial_radius, x.dtype),
            trials=zero,
            update=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(grads, state: TrustRegionState, params=None, *, value=None, grad=None, value_fn=None, **fn_kwargs):
        fun, value, grad_tree, extra = objective_at("trust_region_newton", grads, params, value, grad, value_fn,
                                                    fn_kwargs)
        h, x, unravel = dense_hessian(fun, params)
        dtype, la = x.dtype, linalg_dtype(x.dtype)
        g = ravel_pytree(grad_tree)[0].astype(la)
        lam, v = jnp.linalg.eigh(h.astype(la))
        g_hat = v.T @ g
        value = jnp.asarray(value, dtype)
        resolution = jnp.finfo(dtype).eps * jnp.maximum(jnp.linalg.norm(x), 1.0)
        noise = _NOISE * jnp.finfo(dtype).eps * jnp.abs(value)
        grad_norm = otu.tree_norm(grad_tree, ord=jnp.inf)

        def body(c: _TrialCarry) -> _TrialCarry:
            sub = _trust_region_subproblem(lam, g_hat, c.radius.astype(la))
            p = (v @ sub.p_hat).astype(dtype)
            predicted = -(g_hat @ sub.p_hat + 0.5 * (lam * sub.p_hat) @ sub.p_hat)
            trial_value, trial_grad = jax.value_and_grad(fun)(unravel(x + p))
            trial_value = jnp.asarray(trial_value, dtype)
            actual = value - trial_value
            rho = actual / predicted.astype(dtype)
            by_rho = (rho > eta) & jnp.isfinite(trial_value)
            # At the rounding floor of f rho is noise: a step whose predicted and actual changes are
            # both below it is accepted if it lowers the gradient (evaluated there already).
            at_floor = (predicted <= noise) & (actual >= -noise) & jnp.any(x + p != x)
            by_gradient = ~by_rho & at_floor & (otu.tree_norm(trial_grad, ord=jnp.inf) < grad_norm)
            accepted = by_rho | by_gradient
            radius = jnp.where(by_gradient, c.radius,
                               jnp.where(~(rho >= _SHRINK_BELOW), 0.25 * c.radius,
                                         jnp.where((rho > _GROW_ABOVE) & sub.on_boundary,
                                                   jnp.minimum(2.0 * c.radius, max_radius), c.radius))).astype(dtype)
            k = c.k + 1
            done = accepted | (k >= max_trials) | (radius < resolution) | ~jnp.all(jnp.isfinite(p))
            return _TrialCarry(k, radius, p, accepted, jnp.where(accepted, trial_value, c.value),
                               otu.tree_where(accepted, trial_grad, c.grad), done)

        init = _TrialCarry(jnp.zeros([], jnp.int32), state.radius, jnp.zeros_like(x), jnp.zeros([], bool), value,
                           grad_tree, jnp.zeros([], bool))
        final = jax.lax.while_loop(lambda c: ~c.done, body, init)
        updates = unravel(jnp.where(final.accepted, final.p, 0.0))
        new_state = TrustRegionState(
            count=optax.safe_increment(state.count),
            value=final.value,
            grad=final.grad,
            num_fun_evals=state.num_fun_evals + extra + final.k,
            num_grad_evals=state.num_grad_evals + final.k,
            num_hvp_evals=state.num_hvp_evals + x.size,
            stalled=~final.accepted,
            radius=final.radius,
            trials=final.k,
            update=updates,
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
