r"""Nonlinear least squares: Gauss-Newton and Levenberg-Marquardt.

For objectives that are a sum of squares,

.. math:: f(x) = c\,\|r(x)\|_2^2, \qquad c > 0

(``c = 1`` in the Moré-Garbow-Hillstrom convention, ``c = 1/2`` or ``1/m`` elsewhere), the Hessian
:math:`2c (J^\top J + \sum_i r_i \nabla^2 r_i)` is replaced by its Gauss-Newton part
:math:`2c J^\top J`, with :math:`J` the Jacobian of the residuals. Neither step depends on
:math:`c`.

**How the residuals are passed.** The factory takes ``residual_fn(params, **fn_kwargs) -> r`` (an
array of any shape, or a pytree of arrays; it is flattened); the objective is still the
``value_fn(params, **fn_kwargs)`` that every rule needing the objective receives, so the rules run
through :func:`ml_opt.minimize` (which stops on :math:`\|\nabla f\|_\infty`) and :func:`ml_opt.fit`
like the others::

    res = ml_opt.minimize(lambda x: jnp.sum(r(x) ** 2), x0, levenberg_marquardt(residual_fn=r))

``value_fn`` must be a positive multiple of :math:`\|r\|^2` with the same ``fn_kwargs`` (a
minibatch closes over its batch in both); this is not checked.

``gauss_newton(residual_fn, linesearch=None)``
    :math:`d = \arg\min_d \|J d + r\|` (the minimum-norm solution, by ``lstsq``: an SVD, so a
    rank-deficient :math:`J` is fine), then a line search on ``value_fn`` from step 1 (Nocedal &
    Wright, section 10.3, "the Gauss-Newton method"), or from the shorter step that moves
    :math:`10^3 \max(\|x\|, 1)` when :math:`J` is nearly singular (Dennis & Schnabel's maximum
    step, as :mod:`ml_opt.newton`).

``levenberg_marquardt(residual_fn, factor=100, max_trials=30)``
    Moré's trust-region form of Levenberg-Marquardt, MINPACK's ``lmder`` (what
    ``scipy.optimize.least_squares(method="lm")`` and ``scipy.optimize.leastsq`` run). The step
    solves :math:`(J^\top J + \mu D^\top D)\, p = -J^\top r`, as the linear least-squares problem
    :math:`\min \| [J; \sqrt\mu D] p + [r; 0] \|` by QR, with Moré's diagonal scaling
    :math:`D = \mathrm{diag}(\max_{j \le k} \|J_j e_i\|)` (running maxima of the column norms of the
    Jacobians seen so far, Moré 1978 eq. 6.3). :math:`\mu` is not a free parameter but follows
    from a trust radius :math:`\Delta` on the scaled step: :math:`\mu = 0` (the Gauss-Newton step)
    when :math:`\|Dp\| \le 1.1\Delta`, else the :math:`\mu` with :math:`\|Dp(\mu)\|` within 10% of
    :math:`\Delta`, by Newton's iteration on :math:`1/\|Dp(\mu)\| = 1/\Delta` (Moré's section 5,
    MINPACK's ``lmpar``). The gain ratio

    .. math::
        \rho = \frac{\|r(x)\|^2 - \|r(x + p)\|^2}{\|r\|^2 - \|r + J p\|^2}
             = \frac{\|r(x)\|^2 - \|r(x + p)\|^2}{\|Jp\|^2 + 2\mu\|Dp\|^2}

    then accepts the step when :math:`\rho \ge 10^{-4}` and sets the next radius: where
    :math:`\rho \le 1/4`, :math:`\Delta \leftarrow \theta \min(\Delta, 10\|Dp\|)` and
    :math:`\mu \leftarrow \mu/\theta`, with :math:`\theta \in [0.1, 0.5]` the minimiser of the
    quadratic in the step fraction that matches the model's slope and the actual reduction (0.1
    where :math:`\|r\|` grew tenfold or is not finite); where :math:`\rho \ge 3/4` or
    :math:`\mu = 0`, :math:`\Delta \leftarrow 2\|Dp\|` and :math:`\mu \leftarrow \mu/2`. A rejected
    step is recomputed from the new radius within the same update, up to ``max_trials`` times. The
    first radius is ``factor`` :math:`\|D x_0\|`, cut to :math:`\|Dp\|` of the first step tried. So
    the scaled step grows at most about twofold from one update to the next, where updates of
    :math:`\mu` alone (Marquardt's, Nielsen's) let a nearly singular :math:`J^\top J` throw the iterate far away
    (NIST's Eckerle4 from its first start, on data generated from its model: a damped step grew
    :math:`b_2` from 33 to 1330 and the run ended at a stationary point with
    :math:`\|r\|^2 = 0.306` instead of :math:`4.7 \cdot 10^{-6}`, which this form reaches on
    MINPACK's path). Above the rounding floor (below) the iterates are MINPACK's up to rounding.

    **At the rounding floor.** Near the minimizer of a problem with nonzero residuals, both the
    predicted reduction and :math:`\|r(x)\|^2 - \|r(x+p)\|^2` fall below the rounding noise of
    :math:`\|r\|^2` and :math:`\rho` is noise, although the gradient can still be reduced. (The
    noise is taken as 100 ulps, :math:`100\varepsilon\|r\|^2`, as the line searches take that of
    f: residuals that cancel large data round well above :math:`\varepsilon\|r\|^2`; on an
    exponential fit with :math:`r \approx 0.007` against data near 3, a Gauss-Newton step that cut
    the gradient from 4e-10 to 3e-13 changed :math:`\|r\|^2` by :math:`-10\varepsilon\|r\|^2`.) A
    step that :math:`\rho` rejects but whose predicted reduction is below that noise gets a second
    test: if it changes :math:`x` and does not raise :math:`\|r\|^2` by more than the noise, it is
    accepted when it lowers :math:`\|\nabla f\|_\infty` (one evaluation of ``value_fn`` and its
    gradient, which become the new point's, so that the gradient compared is the one kept; the
    analogue of the approximate Wolfe conditions of Hager & Zhang 2005 in the line searches), and
    the radius is kept. The test adds to :math:`\rho`'s and does not replace it: in bfloat16, 100
    ulps are 78% of :math:`\|r\|^2`, and a step that cut :math:`\|r\|^2` by 17% but not the
    gradient would be refused (Rosenbrock's residuals stalled at (-0.65, 0.42)). This is the one
    departure from MINPACK, which stops at the floor.

    **Where it stops.** ``stalled`` when no step is accepted and there is nothing left to gain
    (MINPACK's tests 6 and 7): the actual and the predicted reduction are both below
    :math:`\varepsilon \|r\|^2`, or the radius is below :math:`\varepsilon \|D x\|`; or after
    ``max_trials`` steps. At the rounding floor of a problem with nonzero residuals, where the
    gradient cannot get below ``gtol``, this is how a run ends (MGH's Jennrich-Sampson with 20
    residuals: at MINPACK's value).

**Precision.** The factorisations (``lstsq``, QR) run in float32 at least: float16 and bfloat16
params are factorised in float32 and step in their own dtype (:func:`ml_opt._base.linalg_dtype`).

**Counts.** A Jacobian (it brings its residual vector along) counts one in ``num_jac_evals``; each
other residual evaluation counts one in ``num_residual_evals`` *and* in ``num_fun_evals`` (it costs
what an objective evaluation costs); the line searches' evaluations of ``value_fn`` and its gradient
count in ``num_fun_evals`` and ``num_grad_evals`` as for every rule. ``levenberg_marquardt``
evaluates ``value_fn`` and its gradient once at each point accepted by the gain ratio, for the
driver's stopping test, and at each trial step at the rounding floor (see there).

**Failure.** ``gauss_newton`` handles a failed line search as :mod:`ml_opt.newton` does (the next
step is along :math:`-\nabla f`; ``stalled`` when that cannot move either). ``levenberg_marquardt``
says ``stalled`` when it accepts no step (above); it then does not move.

References:
  Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, sections 10.2 and 10.3.
  Levenberg, A method for the solution of certain non-linear problems in least squares, 1944.
  Marquardt, An algorithm for least-squares estimation of nonlinear parameters, 1963.
  Moré, The Levenberg-Marquardt algorithm: implementation and theory, 1978.
  Moré, Garbow & Hillstrom, User guide for MINPACK-1, Argonne ANL-80-74, 1980 (``lmder``, ``lmpar``).
  Nielsen, Damping parameter in Marquardt's method, IMM-REP-1999-05, 1999.
  Madsen, Nielsen & Tingleff, Methods for non-linear least squares problems, 2nd ed., 2004.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg
import optax
from jax.flatten_util import ravel_pytree
from optax import tree_utils as otu

from ml_opt._base import check_integer, check_params, check_scalar, equal_when_made_alike, linalg_dtype
from ml_opt._solver import objective_at, resolve_linesearch, step_along
from ml_opt.linesearch import LineSearch

Array = jax.Array
PyTree = Any

__all__ = [
    "GaussNewtonState",
    "LevenbergMarquardtState",
    "gauss_newton",
    "levenberg_marquardt",
]

_ACCEPT = 1e-4  # MINPACK's threshold on the gain ratio
_NOISE = 100.0  # the rounding noise of ||r||^2: 100 ulps, as the line searches take f's


class GaussNewtonState(NamedTuple):
    """The state of :func:`gauss_newton`.

    Attributes:
      count: updates made (int32).
      value: the objective at the params after the last update (0 before the first).
      grad: its gradient, a pytree like the params.
      num_fun_evals, num_grad_evals: cumulative evaluations of the line searches (int32).
      num_jac_evals: cumulative Jacobians of the residuals (int32).
      stalled: the last line search could not move along :math:`-\\nabla f`.
      steepest_next: the last line search could not move along the Gauss-Newton direction; the
        next update steps along :math:`-\\nabla f`.
      used_gradient: the last update stepped along :math:`-\\nabla f`.
      update: the update returned with this state (see :mod:`ml_opt._base`).
    """

    count: Array
    value: Array
    grad: PyTree
    num_fun_evals: Array
    num_grad_evals: Array
    num_jac_evals: Array
    stalled: Array
    steepest_next: Array
    used_gradient: Array
    update: PyTree


class LevenbergMarquardtState(NamedTuple):
    """The state of :func:`levenberg_marquardt`.

    Attributes:
      count: updates made (int32).
      value: the objective at the params after the last update (0 before the first).
      grad: its gradient, a pytree like the params.
      num_fun_evals: cumulative evaluations of ``value_fn`` and of ``residual_fn`` (int32).
      num_grad_evals: cumulative gradients of ``value_fn`` (int32).
      num_residual_evals: cumulative evaluations of ``residual_fn`` at trial points (int32); with
        ``num_jac_evals`` what MINPACK calls ``nfev`` and ``njev``.
      num_jac_evals: cumulative Jacobians of the residuals (int32).
      stalled: the last update found no acceptable step.
      damping: the :math:`\\mu` the next update's search starts from (MINPACK's ``par``; 0 at first).
      radius: the trust radius :math:`\\Delta` for the next update (negative before the first).
      scale: the diagonal of :math:`D`, flattened like the params (0 before the first update).
      trials: damped steps tried in the last update (int32).
      update: the update returned with this state (see :mod:`ml_opt._base`).
    """

    count: Array
    value: Array
    grad: PyTree
    num_fun_evals: Array
    num_grad_evals: Array
    num_residual_evals: Array
    num_jac_evals: Array
    stalled: Array
    damping: Array
    radius: Array
    scale: Array
    trials: Array
    update: PyTree


def _check_residual_fn(residual_fn: Any, method: str) -> None:
    if residual_fn is None or not callable(residual_fn):
        raise TypeError(
                f"{method} needs residual_fn(params, **fn_kwargs) -> residual vector, got {residual_fn!r}"
        )


def _residuals_and_jacobian(residual_fn: Callable, params: PyTree, fn_kwargs: dict):
    """``r`` (flattened) and its Jacobian ``J`` (``m x n``) at the flattened params.

    Forward mode (``n`` JVPs) when ``n <= m``, reverse mode (``m`` VJPs) otherwise.
    """
    x, unravel = ravel_pytree(params)

    def flat_residuals(v):
        r = ravel_pytree(residual_fn(unravel(v), **fn_kwargs))[0]
        return r.astype(x.dtype), r.astype(x.dtype)

    m = jax.eval_shape(flat_residuals, x)[0].shape[0]
    jacobian = jax.jacfwd if x.size <= m else jax.jacrev
    jac, r = jacobian(flat_residuals, has_aux=True)(x)
    return r, jac, x, unravel


# --------------------------------------------------------------------------------------------
# Gauss-Newton
# --------------------------------------------------------------------------------------------


@equal_when_made_alike
def gauss_newton(
        residual_fn: Callable[..., PyTree], linesearch: LineSearch | None = None
) -> optax.GradientTransformationExtraArgs:
    r"""Gauss-Newton with a line search, for :math:`f = c \|r(x)\|^2` (Nocedal & Wright, section 10.3).

    .. math::
        d = \arg\min_d \|J d + r\|_2 \;\; (= -(J^\top J)^{-1} J^\top r \text{ for full-rank } J),
        \qquad x \leftarrow x + \epsilon d

    with :math:`\epsilon` from the line search on ``value_fn``, tried first at 1. :math:`d` is the
    minimum-norm least-squares solution (``jnp.linalg.lstsq``), defined for a rank-deficient
    :math:`J`, and a descent direction of :math:`f` wherever :math:`J^\top r \ne 0`. On a linear
    least-squares problem the first step lands on the solution. See the module docstring for how
    the residuals are passed, the counts and the failure rules.

    This is the textbook iteration: fast where the residuals at the solution are small and
    :math:`J` is well conditioned, slow where it is not. Its convergence needs the singular values
    of :math:`J` bounded away from zero (N&W Theorem 10.1); where :math:`J` is nearly rank-deficient
    the direction can be almost orthogonal to :math:`-\nabla f` and the line search accepts only
    short steps (MGH's penalty2 with n = 20 from the standard start: :math:`\cos(d, -\nabla f)
    \approx 0.01`, :math:`\kappa(J) \approx 10^5`, f = 28.5 after 2000 steps). From the standard
    starts it does not solve MGH's gulf_research_development, biggs_exp6, penalty2 and chebyquad
    within 2000 steps; :func:`levenberg_marquardt` solves all four, and is the robust choice.

    Args:
      residual_fn: ``residual_fn(params, **fn_kwargs) -> r``, an array or a pytree of arrays.
      linesearch: a :class:`ml_opt.linesearch.LineSearch`; default ``ml_opt.linesearch.zoom()``.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs ``value_fn``; its state is
      a :class:`GaussNewtonState`.

    Example:
      >>> import jax.numpy as jnp, ml_opt
      >>> from ml_opt.least_squares import gauss_newton
      >>> t = jnp.linspace(0.0, 1.0, 8); y = 2.0 * jnp.exp(-1.5 * t)
      >>> r = lambda x: x[0] * jnp.exp(-x[1] * t) - y
      >>> res = ml_opt.minimize(lambda x: jnp.sum(r(x) ** 2), jnp.array([1.0, 1.0]), gauss_newton(r), gtol=1e-10)
      >>> [round(float(v), 6) for v in res.params]
      [2.0, 1.5]

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, section 10.3.
    """
    _check_residual_fn(residual_fn, "gauss_newton")
    ls = resolve_linesearch(linesearch, "gauss_newton")

    def init_fn(params) -> GaussNewtonState:
        check_params(params)
        x, _ = ravel_pytree(params)
        zero = jnp.zeros([], jnp.int32)
        false = jnp.zeros([], bool)
        return GaussNewtonState(
            count=zero,
            value=jnp.zeros([], x.dtype),
            grad=jax.tree.map(jnp.zeros_like, params),
            num_fun_evals=zero,
            num_grad_evals=zero,
            num_jac_evals=zero,
            stalled=false,
            steepest_next=false,
            used_gradient=false,
            update=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(grads, state: GaussNewtonState, params=None, *, value=None, grad=None, value_fn=None, **fn_kwargs):
        fun, value, grad_tree, extra = objective_at("gauss_newton", grads, params, value, grad, value_fn, fn_kwargs)
        r, jac, x, unravel = _residuals_and_jacobian(residual_fn, params, fn_kwargs)
        la = linalg_dtype(x.dtype)
        d = jnp.linalg.lstsq(jac.astype(la), -r.astype(la))[0].astype(x.dtype)
        step = step_along(ls, fun, params, value.astype(x.dtype), grad_tree, unravel(d), state.steepest_next, x.dtype)
        new_state = GaussNewtonState(
            count=optax.safe_increment(state.count),
            value=step.value,
            grad=step.grad,
            num_fun_evals=state.num_fun_evals + step.num_fun_evals + extra,
            num_grad_evals=state.num_grad_evals + step.num_grad_evals,
            num_jac_evals=state.num_jac_evals + 1,
            stalled=step.stalled,
            steepest_next=step.steepest_next,
            used_gradient=step.used_gradient,
            update=step.updates,
        )
        return step.updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# --------------------------------------------------------------------------------------------
# Levenberg-Marquardt
# --------------------------------------------------------------------------------------------


def _damped_step(jac: Array, r: Array, scale: Array, mu: Array) -> tuple[Array, Array]:
    r"""``p = argmin ||[J; sqrt(mu) D] p + [r; 0]||`` by QR of the stacked matrix, and its ``R``
    (:math:`R^\top R = J^\top J + \mu D^\top D`)."""
    n = jac.shape[1]
    a = jnp.concatenate([jac, jnp.sqrt(mu) * jnp.diag(scale)], axis=0)
    b = jnp.concatenate([-r, jnp.zeros([n], r.dtype)])
    q, rr = jnp.linalg.qr(a, mode="reduced")
    return jax.scipy.linalg.solve_triangular(rr, q.T @ b, lower=False), rr


def _secular_correction(rr: Array, scale: Array, p: Array, length: Array, radius: Array) -> Array:
    r"""Newton's correction of :math:`\mu` for :math:`1/\|D p(\mu)\| = 1/\Delta` (Moré 1978, eq. 5.5).

    With :math:`R^\top R = J^\top J + \mu D^\top D`, :math:`\|Dp\|` = ``length`` and
    :math:`q = R^{-\top} D^\top D p / \|Dp\|`: :math:`(\|Dp\| - \Delta) / (\Delta \|q\|^2)`.
    """
    q = jax.scipy.linalg.solve_triangular(rr, scale * (scale * p) / length, lower=False, trans="T")
    return (length - radius) / (radius * (q @ q))


class _GaussNewtonStep(NamedTuple):
    """What :func:`_levenberg_marquardt_parameter` needs of ``J`` and ``r`` alone (once per update)."""

    p: Array  # the minimum-norm Gauss-Newton step
    length: Array  # ||D p||
    full_rank: Array  # J has full column rank: the secular equation's lower bound exists
    r_factor: Array  # R of J (n x n), used where full_rank
    scaled_gradient: Array  # ||D^-1 J^T r||


def _gauss_newton_step(jac: Array, r: Array, scale: Array) -> _GaussNewtonStep:
    r"""The minimum-norm solution of :math:`\min\|Jp + r\|`, with :math:`J` singular only where a
    singular value is exactly zero (MINPACK's rule, on the pivots of its QR): a column far below the
    others' is kept in the step, not cut off at the rounding level."""
    m, n = jac.shape
    p, _, rank, _ = jnp.linalg.lstsq(jac, -r, rcond=0.0)
    length = jnp.linalg.norm(scale * p)
    if m >= n:
        full_rank, r_factor = (rank == n) & (length > 0), jnp.linalg.qr(jac, mode="r")
    else:  # J^T J is singular
        full_rank, r_factor = jnp.zeros([], bool), jnp.eye(n, dtype=jac.dtype)
    return _GaussNewtonStep(p, length, full_rank, r_factor, jnp.linalg.norm((jac.T @ r) / scale))


def _levenberg_marquardt_parameter(jac: Array, r: Array, scale: Array, gn: _GaussNewtonStep, radius: Array,
                                   mu: Array) -> tuple[Array, Array]:
    r"""The step :math:`p` and its :math:`\mu \ge 0` with :math:`\|D p\|` within 10% of ``radius``
    (Moré 1978, section 5; MINPACK's ``lmpar``).

    :math:`\mu = 0`, the (minimum-norm) Gauss-Newton step, when that step has
    :math:`\|Dp\| \le 1.1\Delta`. Otherwise Newton's iteration on :math:`1/\|Dp(\mu)\| = 1/\Delta`
    from the last step's :math:`\mu`, inside bounds that it tightens: the upper
    :math:`\|D^{-1} J^\top r\| / \Delta`, the lower the Gauss-Newton step's correction where
    :math:`J` has full column rank (else 0); at most 10 iterations.
    """
    tiny = jnp.finfo(jac.dtype).tiny
    gauss_newton_fits = gn.length - radius <= 0.1 * radius
    correction = _secular_correction(gn.r_factor, scale, gn.p, jnp.where(gn.full_rank, gn.length, 1.0), radius)
    lower = jnp.where(gn.full_rank & jnp.isfinite(correction), jnp.maximum(correction, 0.0), 0.0)
    upper = jnp.where(gn.scaled_gradient > 0, gn.scaled_gradient / radius, tiny / jnp.minimum(radius, 0.1))
    mu = jnp.clip(mu, lower, upper)
    mu = jnp.where(mu == 0, gn.scaled_gradient / gn.length, mu)

    class Carry(NamedTuple):
        k: Array
        mu: Array
        lower: Array
        upper: Array
        excess: Array  # ||D p|| - radius at the last iterate
        p: Array
        done: Array

    def body(c: Carry) -> Carry:
        mu = jnp.where(c.mu == 0, jnp.maximum(tiny, 1e-3 * c.upper), c.mu)
        p, rr = _damped_step(jac, r, scale, mu)
        length = jnp.linalg.norm(scale * p)
        excess = length - radius
        k = c.k + 1
        # Close enough; or, without a lower bound, a step inside the radius that grew shorter (the
        # Gauss-Newton step is not unique there); or out of iterations.
        done = (jnp.abs(excess) <= 0.1 * radius) | ((c.lower == 0) & (excess <= c.excess) & (c.excess < 0)) | (k >= 10)
        lower = jnp.where(excess > 0, jnp.maximum(c.lower, mu), c.lower)
        upper = jnp.where(excess < 0, jnp.minimum(c.upper, mu), c.upper)
        next_mu = jnp.maximum(lower, mu + _secular_correction(rr, scale, p, length, radius))
        stop = done | ~jnp.isfinite(next_mu)
        return Carry(k, jnp.where(stop, mu, next_mu), lower, upper, excess, p, stop)

    init = Carry(jnp.zeros([], jnp.int32), mu, lower, upper, gn.length - radius, gn.p, gauss_newton_fits)
    final = jax.lax.while_loop(lambda c: ~c.done, body, init)
    return final.p, jnp.where(gauss_newton_fits, 0.0, final.mu)


class _TrialCarry(NamedTuple):
    k: Array
    floor_evals: Array  # value-and-gradient evaluations of trial steps at the rounding floor
    mu: Array
    radius: Array
    p: Array
    accepted: Array
    by_gradient: Array  # accepted at the rounding floor: value and grad below are the new point's
    value: Array
    grad: PyTree
    done: Array


@equal_when_made_alike
def levenberg_marquardt(
        residual_fn: Callable[..., PyTree],
        factor: float | Array = 100.0,
        max_trials: int | Array = 30,
) -> optax.GradientTransformationExtraArgs:
    r"""Levenberg-Marquardt for :math:`f = c\|r(x)\|^2`, in Moré's trust-region form (MINPACK's ``lmder``).

    .. math::
        (J^\top J + \mu D^\top D)\, p = -J^\top r, \quad \|D p\| \approx \Delta, \qquad
        \rho = \frac{\|r(x)\|^2 - \|r(x+p)\|^2}{\|r\|^2 - \|r + J p\|^2}

    :math:`\mu \ge 0` is found from the radius :math:`\Delta` (:math:`\mu = 0`, the Gauss-Newton
    step, when it fits); accept :math:`x \leftarrow x + p` when :math:`\rho \ge 10^{-4}`; shrink
    :math:`\Delta` when :math:`\rho \le 1/4`, set it to :math:`2\|Dp\|` when :math:`\rho \ge 3/4` or
    :math:`\mu = 0`; a rejected step is recomputed from the new radius within the same update. The
    first radius is ``factor`` :math:`\|D x_0\|`, cut to the length of the first step. At the
    rounding floor of :math:`\|r\|^2` a step that :math:`\rho` rejects is still accepted when it lowers
    :math:`\|\nabla f\|_\infty`. See the module docstring for the scaling :math:`D`, the radius
    updates, how the residuals are passed, the counts and the failure rule. Above the floor the
    iterates are MINPACK's (``scipy.optimize.least_squares(method="lm")``
    with ``x_scale="jac"``, ``scipy.optimize.leastsq``) up to rounding.

    Args:
      residual_fn: ``residual_fn(params, **fn_kwargs) -> r``, an array or a pytree of arrays.
      factor: the first radius relative to :math:`\|D x_0\|` (or ``factor`` itself when that is 0),
        a positive number; MINPACK's ``factor``, 100 by default as there (0.1 to 100 recommended).
      max_trials: the most steps tried in one update before it reports ``stalled``.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs ``value_fn``; its state is
      a :class:`LevenbergMarquardtState`.

    Example:
      >>> import jax.numpy as jnp, ml_opt
      >>> from ml_opt.least_squares import levenberg_marquardt
      >>> r = lambda x: jnp.array([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])   # Rosenbrock's residuals
      >>> res = ml_opt.minimize(lambda x: jnp.sum(r(x) ** 2), jnp.array([-1.2, 1.0]),
      ...                       levenberg_marquardt(r), gtol=1e-10)
      >>> bool(res.converged), [round(float(v), 6) for v in res.params]
      (True, [1.0, 1.0])

    References:
      Levenberg 1944; Marquardt 1963.
      Moré, The Levenberg-Marquardt algorithm: implementation and theory, 1978.
      Moré, Garbow & Hillstrom, User guide for MINPACK-1, 1980 (``lmder``, ``lmpar``).
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, section 10.3.
    """
    _check_residual_fn(residual_fn, "levenberg_marquardt")
    check_scalar(factor, "factor", lower=0.0, lower_open=True)
    check_integer(max_trials, "max_trials", lower=1)

    def init_fn(params) -> LevenbergMarquardtState:
        check_params(params)
        x, _ = ravel_pytree(params)
        zero = jnp.zeros([], jnp.int32)
        return LevenbergMarquardtState(
            count=zero,
            value=jnp.zeros([], x.dtype),
            grad=jax.tree.map(jnp.zeros_like, params),
            num_fun_evals=zero,
            num_grad_evals=zero,
            num_residual_evals=zero,
            num_jac_evals=zero,
            stalled=jnp.zeros([], bool),
            damping=jnp.zeros([], x.dtype),
            radius=-jnp.ones([], x.dtype),
            scale=jnp.zeros_like(x),
            trials=zero,
            update=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(grads, state: LevenbergMarquardtState, params=None, *, value=None, grad=None, value_fn=None, **fn_kwargs):
        fun, value, grad_tree, extra = objective_at("levenberg_marquardt", grads, params, value, grad, value_fn, fn_kwargs)
        r, jac, x, unravel = _residuals_and_jacobian(residual_fn, params, fn_kwargs)
        dtype, la = x.dtype, linalg_dtype(x.dtype)
        eps = jnp.finfo(dtype).eps
        first = state.radius < 0  # the first update: no radius yet
        scale = jnp.maximum(state.scale, jnp.linalg.norm(jac, axis=0))
        scale = jnp.where(scale > 0, scale, 1.0)  # a column of zeros: MINPACK's choice, D_ii = 1
        x_length = jnp.linalg.norm(scale * x)
        radius = jnp.where(first, factor * jnp.where(x_length > 0, x_length, 1.0), state.radius).astype(dtype)
        r_norm = jnp.linalg.norm(r)
        jac_la, r_la, scale_la = jac.astype(la), r.astype(la), scale.astype(la)
        gn = _gauss_newton_step(jac_la, r_la, scale_la)

        def flat_residuals(v):
            return ravel_pytree(residual_fn(unravel(v), **fn_kwargs))[0].astype(dtype)

        def value_and_grad_at(v):
            f, g = jax.value_and_grad(fun)(unravel(v))
            return jnp.asarray(f, dtype), g

        value = jnp.asarray(value, dtype)
        grad_norm = otu.tree_norm(grad_tree, ord=jnp.inf)

        def body(c: _TrialCarry) -> _TrialCarry:
            p, mu = _levenberg_marquardt_parameter(jac_la, r_la, scale_la, gn, c.radius.astype(la), c.mu.astype(la))
            p, mu = p.astype(dtype), mu.astype(dtype)
            length = jnp.linalg.norm(scale * p)
            radius = jnp.where(first, jnp.minimum(c.radius, length), c.radius)
            trial_norm = jnp.linalg.norm(flat_residuals(x + p))
            # Reductions relative to ||r||^2 (MINPACK's actred, prered, dirder): the actual one, -1
            # where ||r|| grew tenfold or more (or is not finite); the model's, and the model's slope.
            actual = jnp.where(0.1 * trial_norm < r_norm, 1.0 - (trial_norm / r_norm) ** 2, -1.0)
            model_part, damping_part = (jnp.linalg.norm(jac @ p) / r_norm) ** 2, mu * (length / r_norm) ** 2
            predicted = model_part + 2.0 * damping_part
            slope = -(model_part + damping_part)
            rho = jnp.where(predicted != 0, actual / predicted, 0.0)
            # At the rounding floor of ||r||^2 rho is noise: a step that rho rejects, whose predicted
            # reduction is below that noise and that does not raise ||r||^2 by more, is accepted
            # if it moves x and lowers the gradient (one evaluation of f and its gradient, which
            # become the new point's).
            by_rho = (rho >= _ACCEPT) & jnp.isfinite(trial_norm)
            at_floor = (~by_rho & (predicted <= _NOISE * eps) & (actual >= -_NOISE * eps) & jnp.any(x + p != x)
                        & jnp.all(jnp.isfinite(p)))
            trial_value, trial_grad = jax.lax.cond(
                at_floor, lambda: value_and_grad_at(x + p), lambda: (c.value, c.grad))
            by_gradient = at_floor & (otu.tree_norm(trial_grad, ord=jnp.inf) < grad_norm)
            accepted = by_rho | by_gradient
            # The radius: cut by the minimiser of the quadratic in the step fraction through the slope
            # and the actual reduction (kept in [0.1, 0.5]) where rho <= 1/4; 2 ||Dp|| where rho >= 3/4
            # or the Gauss-Newton step was taken; else kept (and kept after a step taken at the floor).
            # mu moves the other way.
            cut = jnp.where(actual >= 0, 0.5, 0.5 * slope / (slope + 0.5 * actual))
            cut = jnp.where((0.1 * trial_norm >= r_norm) | ~(cut >= 0.1), 0.1, cut)
            shrink = ~(rho > 0.25) & ~by_gradient
            grow = ~shrink & ~by_gradient & ((mu == 0) | (rho >= 0.75))
            radius = jnp.where(shrink, cut * jnp.minimum(radius, length / 0.1), jnp.where(grow, length / 0.5, radius))
            mu = jnp.where(shrink, mu / cut, jnp.where(grow, 0.5 * mu, mu))
            # Nothing left to gain (MINPACK's info 6 and 7): both reductions below eps, or a radius
            # below the resolution of D x.
            no_reduction = (jnp.abs(actual) <= eps) & (predicted <= eps) & (0.5 * rho <= 1.0)
            no_move = radius <= eps * jnp.linalg.norm(scale * jnp.where(accepted, x + p, x))
            k = c.k + 1
            done = accepted | no_reduction | no_move | (k >= max_trials) | ~jnp.all(jnp.isfinite(p))
            return _TrialCarry(
                k=k,
                floor_evals=c.floor_evals + at_floor.astype(jnp.int32),
                mu=mu,
                radius=radius.astype(dtype),
                p=p,
                accepted=accepted,
                by_gradient=by_gradient,
                value=jnp.where(by_gradient, trial_value, c.value),
                grad=otu.tree_where(by_gradient, trial_grad, c.grad),
                done=done,
            )

        init = _TrialCarry(
            k=jnp.zeros([], jnp.int32),
            floor_evals=jnp.zeros([], jnp.int32),
            mu=state.damping.astype(dtype),
            radius=radius,
            p=jnp.zeros_like(x),
            accepted=jnp.zeros([], bool),
            by_gradient=jnp.zeros([], bool),
            value=value,
            grad=grad_tree,
            done=jnp.zeros([], bool),
        )
        final = jax.lax.while_loop(lambda c: ~c.done, body, init)
        accepted = final.accepted
        p = jnp.where(accepted, final.p, 0.0)
        # Accepted by the gain ratio: evaluate there; at the floor the trial already has; else stay.
        evaluate = accepted & ~final.by_gradient
        new_value, new_grad = jax.lax.cond(
            evaluate, lambda: value_and_grad_at(x + p), lambda: (final.value, final.grad)
        )
        evaluated = evaluate.astype(jnp.int32) + final.floor_evals
        updates = unravel(p)
        new_state = LevenbergMarquardtState(
            count=optax.safe_increment(state.count),
            value=new_value,
            grad=new_grad,
            num_fun_evals=state.num_fun_evals + extra + evaluated + final.k,
            num_grad_evals=state.num_grad_evals + evaluated,
            num_residual_evals=state.num_residual_evals + final.k,
            num_jac_evals=state.num_jac_evals + 1,
            stalled=~accepted,
            damping=jnp.where(jnp.isfinite(final.mu), final.mu, 0.0).astype(dtype),
            radius=final.radius,
            scale=scale,
            trials=final.k,
            update=updates,
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
