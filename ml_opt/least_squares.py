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

``levenberg_marquardt(residual_fn, initial_damping=1e-3, max_trials=30)``
    :math:`(J^\top J + \mu D^\top D)\, p = -J^\top r` with Marquardt's / Moré's diagonal scaling
    :math:`D = \mathrm{diag}(\max_{j \le k} \|J_j e_i\|)` (running maxima of the column norms of the
    Jacobians seen so far, Moré 1978 eq. 6.3), solved as the linear least-squares problem
    :math:`\min \| [J; \sqrt\mu D] p + [r; 0] \|` by QR. The step is accepted when the gain ratio

    .. math::
        \rho = \frac{\|r(x)\|^2 - \|r(x + p)\|^2}{\|r\|^2 - \|r + J p\|^2}
             = \frac{\|r(x)\|^2 - \|r(x + p)\|^2}{\|Jp\|^2 + 2\mu\|Dp\|^2}

    exceeds ``1e-4`` (MINPACK's test); then :math:`\mu \leftarrow \mu \max(1/3, 1 - (2\rho - 1)^3)`,
    :math:`\nu \leftarrow 2`; otherwise :math:`\mu \leftarrow \nu\mu`, :math:`\nu \leftarrow 2\nu` and
    the step is recomputed, within the same update, up to ``max_trials`` times (the damping update
    of Nielsen 1999 and Madsen, Nielsen & Tingleff 2004, eq. 2.21 and Algorithm 3.16). The first
    :math:`\mu` is ``initial_damping`` (relative to :math:`D^\top D = \mathrm{diag}(J_0^\top J_0)`).

    **At the rounding floor.** Near the minimizer of a problem with nonzero residuals, both the
    predicted decrease and :math:`\|r(x)\|^2 - \|r(x+p)\|^2` fall below the rounding level
    :math:`\varepsilon \|r\|^2` and :math:`\rho` is noise, although the gradient can still be
    reduced. A step whose predicted decrease is at most :math:`4\varepsilon\|r\|^2` is therefore
    not judged by :math:`\rho`: if it does not raise :math:`\|r\|^2` by more than that, it is
    accepted when it lowers :math:`\|\nabla f\|_\infty` (one evaluation of ``value_fn`` and its
    gradient, which become the new point's, so that the gradient compared is the one kept; the
    analogue of the approximate Wolfe conditions of Hager & Zhang 2005 in the line searches); then
    :math:`\mu \leftarrow \mu / 3`. A step too short to change any coordinate of :math:`x` is
    never accepted, and ends the update: a larger :math:`\mu` would only shorten it.

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
says ``stalled`` when ``max_trials`` damped steps all fail to decrease :math:`\|r\|` (or the model
predicts no decrease: :math:`J^\top r = 0`; or the step no longer changes :math:`x`); it then does
not move. At the rounding floor of a problem with nonzero residuals, where the gradient cannot get
below ``gtol``, this is how a run ends (MGH's Jennrich-Sampson with 20 residuals: at MINPACK's
value, after 44 residual evaluations against MINPACK's 46).

References:
  Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, sections 10.2 and 10.3.
  Levenberg, A method for the solution of certain non-linear problems in least squares, 1944.
  Marquardt, An algorithm for least-squares estimation of nonlinear parameters, 1963.
  Moré, The Levenberg-Marquardt algorithm: implementation and theory, 1978.
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
_FLOOR = 4.0  # decreases below _FLOOR * eps * ||r||^2 are at the rounding level of ||r||^2


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
      damping: :math:`\\mu` (negative before the first update: not yet set).
      damping_growth: :math:`\\nu`.
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
    damping_growth: Array
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


def _damped_step(jac: Array, r: Array, scale: Array, mu: Array) -> Array:
    """``p = argmin ||[J; sqrt(mu) D] p + [r; 0]||``, by QR of the stacked matrix."""
    n, la = jac.shape[1], linalg_dtype(jac.dtype)
    a = jnp.concatenate([jac, jnp.sqrt(mu) * jnp.diag(scale)], axis=0).astype(la)
    b = jnp.concatenate([-r, jnp.zeros([n], r.dtype)]).astype(la)
    q, rr = jnp.linalg.qr(a, mode="reduced")
    return jax.scipy.linalg.solve_triangular(rr, q.T @ b, lower=False).astype(jac.dtype)


class _TrialCarry(NamedTuple):
    k: Array
    floor_evals: Array  # value-and-gradient evaluations of trial steps at the rounding floor
    mu: Array
    nu: Array
    p: Array
    accepted: Array
    by_gradient: Array  # accepted at the rounding floor: value and grad below are the new point's
    value: Array
    grad: PyTree
    done: Array


@equal_when_made_alike
def levenberg_marquardt(
        residual_fn: Callable[..., PyTree],
        initial_damping: float | Array = 1e-3,
        max_trials: int | Array = 30,
) -> optax.GradientTransformationExtraArgs:
    r"""Levenberg-Marquardt for :math:`f = c\|r(x)\|^2`, with Moré's scaling and Nielsen's damping update.

    .. math::
        (J^\top J + \mu D^\top D)\, p = -J^\top r, \qquad
        \rho = \frac{\|r(x)\|^2 - \|r(x+p)\|^2}{\|Jp\|^2 + 2\mu \|Dp\|^2}

    accept :math:`x \leftarrow x + p` when :math:`\rho > 10^{-4}`, with
    :math:`\mu \leftarrow \mu\max(1/3, 1-(2\rho-1)^3)`, :math:`\nu \leftarrow 2`; else
    :math:`\mu \leftarrow \nu\mu`, :math:`\nu \leftarrow 2\nu` and try again (within the update).
    At the rounding floor of :math:`\|r\|^2` (a predicted reduction below :math:`4\varepsilon\|r\|^2`)
    a step is accepted instead when it lowers :math:`\|\nabla f\|_\infty`; a step that does not
    change :math:`x` ends the update (module docstring).
    Large :math:`\mu` gives a short, scaled steepest-descent step; small :math:`\mu` the
    Gauss-Newton step. No line search: the damping does its work (the method is a trust-region
    method in disguise, N&W section 10.3). See the module docstring for the scaling :math:`D`, how
    the residuals are passed, the counts and the failure rule.

    Args:
      residual_fn: ``residual_fn(params, **fn_kwargs) -> r``, an array or a pytree of arrays.
      initial_damping: the first :math:`\mu > 0`, relative to :math:`D^\top D = \mathrm{diag}(J_0^\top J_0)`
        (1e-3 when the start is believed good, up to 1 otherwise).
      max_trials: the most damped steps tried in one update before it reports ``stalled``.

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
      Moré, The Levenberg-Marquardt algorithm: implementation and theory, 1978 (scaling, eq. 6.3).
      Madsen, Nielsen & Tingleff, Methods for non-linear least squares problems, 2004, Algorithm 3.16.
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, section 10.3.
    """
    _check_residual_fn(residual_fn, "levenberg_marquardt")
    check_scalar(initial_damping, "initial_damping", lower=0.0, lower_open=True)
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
            damping=-jnp.ones([], x.dtype),
            damping_growth=jnp.full([], 2.0, x.dtype),
            scale=jnp.zeros_like(x),
            trials=zero,
            update=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(grads, state: LevenbergMarquardtState, params=None, *, value=None, grad=None, value_fn=None, **fn_kwargs):
        fun, value, grad_tree, extra = objective_at("levenberg_marquardt", grads, params, value, grad, value_fn, fn_kwargs)
        r, jac, x, unravel = _residuals_and_jacobian(residual_fn, params, fn_kwargs)
        dtype = x.dtype
        col_norms = jnp.linalg.norm(jac, axis=0)
        scale = jnp.maximum(state.scale, col_norms)
        scale = jnp.where(scale > 0, scale, 1.0)  # a column of zeros: MINPACK's choice, D_ii = 1
        mu0 = jnp.where(state.damping > 0, state.damping, jnp.asarray(initial_damping, dtype)).astype(dtype)
        rr = r @ r

        def flat_residuals(v):
            return ravel_pytree(residual_fn(unravel(v), **fn_kwargs))[0].astype(dtype)

        def value_and_grad_at(v):
            f, g = jax.value_and_grad(fun)(unravel(v))
            return jnp.asarray(f, dtype), g

        value = jnp.asarray(value, dtype)
        grad_norm = otu.tree_norm(grad_tree, ord=jnp.inf)
        floor = _FLOOR * jnp.finfo(dtype).eps * rr

        def body(c: _TrialCarry) -> _TrialCarry:
            p = _damped_step(jac, r, scale, c.mu)
            r_trial = flat_residuals(x + p)
            actual = rr - r_trial @ r_trial
            jp, dp = jac @ p, scale * p
            predicted = jp @ jp + 2.0 * c.mu * (dp @ dp)
            rho = actual / jnp.where(predicted > 0, predicted, 1.0)
            ok_model = (predicted > 0) & jnp.all(jnp.isfinite(p))
            # A step below the resolution of x is no step; a larger damping only shortens it.
            moved = jnp.any(x + p != x)
            # At the rounding floor of ||r||^2 (a predicted decrease within its rounding level) rho
            # is noise: there a step must lower the gradient instead. The point's value and
            # gradient are the ones compared, and become the state's.
            noise = predicted <= floor
            by_ratio = ok_model & moved & ~noise & jnp.isfinite(actual) & (rho > _ACCEPT)
            at_floor = ok_model & moved & noise & (actual >= -floor)
            trial_value, trial_grad = jax.lax.cond(
                at_floor,
                lambda: value_and_grad_at(x + p),
                lambda: (c.value, c.grad),
            )
            by_gradient = at_floor & (otu.tree_norm(trial_grad, ord=jnp.inf) < grad_norm)
            accepted = by_ratio | by_gradient
            shrink = jnp.where(by_ratio, jnp.maximum(1.0 / 3.0, 1.0 - (2.0 * rho - 1.0) ** 3), 1.0 / 3.0)
            mu = jnp.where(accepted, c.mu * shrink, c.mu * c.nu)
            nu = jnp.where(accepted, 2.0, 2.0 * c.nu)
            k = c.k + 1
            done = accepted | ~ok_model | ~moved | (k >= max_trials) | ~jnp.isfinite(mu)
            return _TrialCarry(
                k=k,
                floor_evals=c.floor_evals + at_floor.astype(jnp.int32),
                mu=mu.astype(dtype),
                nu=nu.astype(dtype),
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
            mu=mu0,
            nu=state.damping_growth.astype(dtype),
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
        # Accepted by the gain ratio: evaluate there; at the floor the search already has; else stay.
        evaluate = accepted & ~final.by_gradient
        new_value, new_grad = jax.lax.cond(
                evaluate, lambda: value_and_grad_at(x + p), lambda: (final.value, final.grad)
        )
        evaluated = evaluate.astype(jnp.int32) + final.floor_evals
        mu_next = jnp.where(jnp.isfinite(final.mu), final.mu, mu0)
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
            damping=mu_next,
            damping_growth=jnp.where(accepted, 2.0, final.nu).astype(dtype),
            scale=scale,
            trials=final.k,
            update=updates,
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
