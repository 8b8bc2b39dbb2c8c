r"""What the solvers' steps share.

The solvers that step along a direction with a line search (:mod:`ml_opt.quasi_newton`,
:mod:`ml_opt.conjugate_gradient`, :mod:`ml_opt.newton`, :mod:`ml_opt.least_squares`) each compute a
direction their own way; around it, every step does the same few things, written here once (the
first two, and the dense Hessian, serve :mod:`ml_opt.trust_region` too):

* **The line-search argument**: :func:`resolve_linesearch` checks it (and supplies the default).
* **The current point**, from the keyword arguments of ``update(grads, state, params, value=...,
  grad=..., value_fn=..., **fn_kwargs)``: :func:`objective_at` gives the objective closure, the value
  and gradient (evaluating the value, and counting it, when the caller did not pass it);
  :func:`current_point` adds the params and gradient flattened with
  :func:`jax.flatten_util.ravel_pytree`, for the methods that do their linear algebra on vectors.
* **The dense Hessian** of the flattened params (:func:`dense_hessian`), for the Newton family, and
  the cut-off below which an eigenvalue of it counts as zero (:func:`eigenvalue_cutoff`).
* **The first trial step** of a search: a move of about unit length along :math:`-\nabla f`
  (:func:`unit_move_step`, :func:`first_step`), or Nocedal & Wright's eq. 3.60 interpolated from the
  last decrease (:func:`interpolated_step`); for the Newton family, no longer than Dennis &
  Schnabel's maximum step (:func:`bounded_direction`).
* **The update** ``step * direction`` (:func:`scaled`), and for the Newton family the whole step along
  a direction with its descent guard and steepest-descent fallback (:func:`step_along`).

References:
  Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, section 3.5 and eq. 3.60.
  Dennis & Schnabel, Numerical Methods for Unconstrained Optimization and Nonlinear Equations,
  1983, Algorithm A6.3.1 (the maximum step).
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree
from optax import tree_utils as otu

from ml_opt._base import add_scaled, check_params, check_same_structure, require_value_fn
from ml_opt.linesearch import LineSearch, zoom

Array = jax.Array
PyTree = Any

__all__ = [
    "Step",
    "bounded_direction",
    "current_point",
    "first_step",
    "interpolated_step",
    "objective_at",
    "resolve_linesearch",
    "scaled",
    "step_along",
    "unit_move_step",
]


# --------------------------------------------------------------------------------------------
# The line-search argument
# --------------------------------------------------------------------------------------------


def resolve_linesearch(
        linesearch: Any,
        method: str,
        *,
        default: LineSearch | None = None,
        allow_full_step: bool = False,
) -> LineSearch | None:
    """The line search a solver uses: ``linesearch`` checked, or ``default`` (``zoom()``) for None.

    Args:
      linesearch: what the user passed.
      method: the solver's name, for the error message.
      default: the line search for ``linesearch=None``; None means ``ml_opt.linesearch.zoom()``.
      allow_full_step: accept the string ``"none"`` (the full step, no line search), returned as None.

    Raises:
      TypeError naming ``linesearch`` when it is not an :class:`ml_opt.linesearch.LineSearch`.
    """
    if linesearch is None:
        return zoom() if default is None else default
    if allow_full_step and isinstance(linesearch, str) and linesearch == "none":
        return None
    if not isinstance(linesearch, LineSearch):
        extra = ' or "none" (the full step)' if allow_full_step else ""
        raise TypeError(
                f"{method}: linesearch must be an ml_opt.linesearch.LineSearch (e.g. ml_opt.linesearch.zoom())"
                f"{extra}, got {type(linesearch).__name__}"
        )
    return linesearch


# --------------------------------------------------------------------------------------------
# The current point
# --------------------------------------------------------------------------------------------


def objective_at(method: str, grads, params, value, grad, value_fn, fn_kwargs: dict):
    """The objective closure, f and grad f at ``params``, and the evaluations made to get them.

    Checks what ``update`` was given (``value_fn``, ``params``, the shapes of ``grads`` and ``grad``);
    ``grad`` defaults to ``grads``. When ``value`` is None, f(params) is evaluated here and counted.

    Returns:
      ``(fun, value, grad_tree, num_evals)`` with ``fun(p) = value_fn(p, **fn_kwargs)``.
    """
    value_fn = require_value_fn(value_fn, method)
    if params is None:
        raise TypeError(f"{method} needs params: call update(grads, state, params, value=..., value_fn=...)")
    check_params(params)
    check_same_structure(grads, params, "grads", "params")
    grad_tree = grads if grad is None else grad
    check_same_structure(grad_tree, params, "grad", "params")

    def fun(p):
        return value_fn(p, **fn_kwargs)

    num_evals = 0
    if value is None:  # not passed: evaluate f(params), and count it
        value = fun(params)
        num_evals = 1
    return fun, jnp.asarray(value), grad_tree, num_evals


def current_point(method: str, grads, params, value, grad, value_fn, fn_kwargs: dict):
    """:func:`objective_at`, with the params and the gradient also flattened.

    Returns:
      ``(fun, value, grad_tree, x, g, unravel, num_evals)``: ``x`` the flat params, ``g`` the flat
      gradient in ``x``'s dtype, ``unravel`` the inverse of the flattening.
    """
    fun, value, grad_tree, num_evals = objective_at(method, grads, params, value, grad, value_fn, fn_kwargs)
    x, unravel = ravel_pytree(params)
    g, _ = ravel_pytree(grad_tree)
    return fun, value, grad_tree, x, g.astype(x.dtype), unravel, num_evals


# --------------------------------------------------------------------------------------------
# The first trial step
# --------------------------------------------------------------------------------------------


def dense_hessian(fun: Callable, params: PyTree) -> tuple[Array, Array, Callable]:
    """The symmetrised dense Hessian of ``fun`` at the flattened params (in their dtype), the
    flattened params and the unravel function."""
    x, unravel = ravel_pytree(params)
    h = jax.hessian(lambda v: fun(unravel(v)))(x)
    h = jnp.asarray(h, x.dtype)
    return 0.5 * (h + h.T), x, unravel


def eigenvalue_cutoff(lam: Array) -> Array:
    """``n eps max|lambda_i|`` (at least the smallest normal number): the size below which an
    eigenvalue of the ``n x n`` matrix with eigenvalues ``lam`` is rounding, the cut-off a
    pseudo-inverse uses."""
    finfo = jnp.finfo(lam.dtype)
    return jnp.maximum(lam.shape[0] * finfo.eps * jnp.max(jnp.abs(lam), initial=0.0), finfo.tiny)


def unit_move_step(g_norm: Array, dtype, margin: float = 1.0) -> Array:
    r"""The trial step along :math:`-g` that moves ``margin`` in length, at most 1 (N&W section 3.5).

    .. math:: \alpha_0 = \min(1, \mathrm{margin} / \|g\|_2)

    (1 where :math:`g = 0`). The Newton family uses ``margin = 1`` when it falls back to
    :math:`-g`; the quasi-Newton and CG methods start with ``margin = 1.01`` (:func:`first_step`).
    """
    return jnp.minimum(1.0, margin / jnp.where(g_norm > 0, g_norm, 1.0)).astype(dtype)


def first_step(g: Array) -> Array:
    r"""First trial step along :math:`-g` (flat) of the quasi-Newton and CG methods: :math:`\min(1, 1.01/\|g\|_2)`.

    A move of about unit length.

    Example:
      >>> import jax.numpy as jnp
      >>> from ml_opt._solver import first_step
      >>> round(float(first_step(jnp.array([3.0, 4.0]))), 6)
      0.202
    """
    return unit_move_step(jnp.linalg.norm(g), g.dtype, margin=1.01)


def interpolated_step(value: Array, prev_value: Array, slope: Array, fallback: Array | float = 1.0) -> Array:
    r"""N&W eq. 3.60, safeguarded: :math:`\min(1, 1.01 \cdot 2 (f_k - f_{k-1}) / \nabla f_k^\top d_k)`.

    The minimiser of the quadratic through :math:`f_{k-1}`, :math:`f_k` and the slope ``slope`` at
    step 0, assuming the first-order change is the same as at the last step. ``fallback`` when that is
    not a positive number, or when the last decrease :math:`f_{k-1} - f_k` is within rounding noise
    of f (100 ulps), where the formula would turn noise into a step.

    Example:
      >>> import jax.numpy as jnp
      >>> from ml_opt._solver import interpolated_step
      >>> round(float(interpolated_step(jnp.array(1.0), jnp.array(1.5), jnp.array(-4.0))), 6)
      0.2525
    """
    guess = 1.01 * 2.0 * (value - prev_value) / slope
    noise = 100 * jnp.finfo(value.dtype).eps * jnp.abs(value)
    ok = jnp.isfinite(guess) & (guess > 0) & (jnp.abs(value - prev_value) > noise)
    return jnp.where(ok, jnp.minimum(1.0, guess), fallback).astype(value.dtype)


MAX_STEP_FACTOR = 1e3
"""The longest first trial of the Newton family, relative to the iterate: see :func:`bounded_direction`."""


def bounded_direction(direction: PyTree, init_step: Array, params: PyTree, dtype) -> PyTree:
    r"""``direction`` scaled down so that the first trial moves at most :math:`10^3 \max(\|x\|_2, 1)`.

    .. math:: d \leftarrow d \cdot \min\left(1,\ \frac{10^3 \max(\|x\|_2, 1)}{\alpha_0 \|d\|_2}\right)

    Dennis & Schnabel's *maxstep* (their Algorithm A6.3.1 scales a Newton step longer than it down to
    it; 10^3 max(||x||, 1) is their default, taken here at the current iterate). A nearly singular
    Hessian or Gauss-Newton matrix gives a direction as long as :math:`|g| / \lambda_{\min}`, up to
    1e300; a line search from the unit step along it spends dozens of evaluations shrinking the step
    by hundreds of orders of magnitude (or fails). An ordinary Newton step (shorter than 1000 times
    the iterate) is left as it is.

    Example:
      >>> import jax.numpy as jnp
      >>> from ml_opt._solver import bounded_direction
      >>> bounded_direction(jnp.array([0.0, 1e8]), 1.0, jnp.array([3.0, 4.0]), jnp.float32)
      Array([   0., 5000.], dtype=float32)

    References:
      Dennis & Schnabel, Numerical Methods for Unconstrained Optimization and Nonlinear Equations,
      1983 (SIAM reprint 1996), Algorithm A6.3.1 and Appendix A (the default of maxstep).
    """
    max_length = MAX_STEP_FACTOR * jnp.maximum(jnp.asarray(otu.tree_norm(params), dtype), 1.0)
    # ||d||_2 = 2^e ||d1||_2 with d1 = 2^-e d, max|d_i| = m 2^e (m in [1/2, 1)): d1's entries are below
    # 1, so its norm does not overflow where d's entries are near the largest float (exact scalings
    # by powers of two; 1 / max|d_i| would be subnormal there, flushed to 0 on CPUs).
    _, exponent = jnp.frexp(jnp.asarray(otu.tree_norm(direction, ord=jnp.inf), dtype))
    d1 = jax.tree.map(lambda t: jnp.ldexp(t, -exponent), direction)
    length1 = jnp.asarray(init_step, dtype) * jnp.asarray(otu.tree_norm(d1), dtype)  # 2^-e times the trial's
    too_long = jnp.ldexp(length1, exponent) > max_length  # (inf if it overflows)
    factor = jnp.where(too_long, max_length / jnp.where(too_long, length1, 1.0), 1.0)
    return otu.tree_where(too_long, scaled(factor, d1), direction)


# --------------------------------------------------------------------------------------------
# The update
# --------------------------------------------------------------------------------------------


def scaled(step: Array, tree: PyTree) -> PyTree:
    """``step * tree`` leaf by leaf, each leaf keeping its dtype: the update of a step along ``tree``."""
    return jax.tree.map(lambda t: jnp.asarray(step, t.dtype) * t, tree)


class Step(NamedTuple):
    """What :func:`step_along` returns.

    Attributes:
      updates: ``new_params - params``.
      value, grad: f and its gradient at the new params.
      num_fun_evals, num_grad_evals: evaluations of this step (int32).
      stalled: the search could not move along :math:`-g`.
      steepest_next: the search could not move along the given direction; the next step should
        be along :math:`-g`.
      used_gradient: this step went along :math:`-g`.
    """

    updates: PyTree
    value: Array
    grad: PyTree
    num_fun_evals: Array
    num_grad_evals: Array
    stalled: Array
    steepest_next: Array
    used_gradient: Array


def step_along(
        linesearch: LineSearch | None,
        fun: Callable[[PyTree], Array],
        params: PyTree,
        value: Array,
        grad_tree: PyTree,
        direction: PyTree,
        use_gradient: Array,
        dtype,
        init_step: Array | float = 1.0,
        prev_value: Array | None = None,
) -> Step:
    r"""A line search along ``direction`` from ``init_step``, with the Newton family's robustness rules.

    * **Descent guard.** Where ``use_gradient`` is set, or ``direction`` is not finite or not a
      descent direction (:math:`g^\top d \ge 0`), the search goes along :math:`-g` instead, from
      :func:`unit_move_step` (a move of unit length, at most 1).
    * **Maximum step.** The search's first trial moves at most :math:`10^3 \max(\|x\|_2, 1)`
      (:func:`bounded_direction`), so a nearly singular matrix's huge direction does not cost the
      search dozens of evaluations.
    * **Interpolated first trial.** Given ``prev_value`` (f at the previous iterate), the search also
      gets N&W eq. 3.60's step (:func:`interpolated_step`) as its ``guess``: a search that can
      lengthen a step starts there when it is shorter than ``init_step``, and tries ``init_step``
      next if it has to lengthen it (:mod:`ml_opt.linesearch`). Not along :math:`-g` after the
      descent guard, where the slope it was predicted from no longer applies.
    * **Failure.** A search that does not move along ``direction`` sets ``steepest_next``; one that
      does not move along :math:`-g` sets ``stalled``.
    * ``linesearch=None`` takes the full step ``init_step`` (no search, and no maximum: the textbook
      iteration), evaluating f and its gradient there once.
    """
    g_dot_d = jnp.asarray(otu.tree_vdot(grad_tree, direction), dtype)
    finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(d)) for d in jax.tree.leaves(direction)]))
    use_gradient = use_gradient | ~finite | ~(g_dot_d < 0)
    neg_grad = jax.tree.map(jnp.negative, grad_tree)
    safe_direction = otu.tree_where(finite, direction, otu.tree_zeros_like(direction))
    d = otu.tree_where(use_gradient, neg_grad, safe_direction)
    g_norm = jnp.asarray(otu.tree_norm(grad_tree), dtype)
    init_step = jnp.where(use_gradient, unit_move_step(g_norm, dtype), jnp.asarray(init_step, dtype))
    if linesearch is None:  # Algorithm 8.8 verbatim: the full step (a unit-length one along -g)
        step = init_step
        new_value, new_grad = jax.value_and_grad(fun)(add_scaled(params, step, d))
        one = jnp.ones([], jnp.int32)
        return Step(scaled(step, d), jnp.asarray(new_value, dtype), new_grad, one, one,
                    jnp.zeros([], bool), jnp.zeros([], bool), use_gradient)
    d = bounded_direction(d, init_step, params, dtype)
    extra = {}
    if prev_value is not None:
        slope = jnp.asarray(otu.tree_vdot(grad_tree, d), dtype)
        guess = interpolated_step(value, prev_value, slope, fallback=init_step)
        extra["guess"] = jnp.where(use_gradient, init_step, guess)
    res = linesearch.search(fun, params, d, value=value, grad=grad_tree, init_step=init_step, **extra)
    moved = res.step > 0
    return Step(
        updates=scaled(res.step, d),
        value=jnp.asarray(res.value, dtype),
        grad=res.grad,
        num_fun_evals=res.num_fun_evals,
        num_grad_evals=res.num_grad_evals,
        stalled=~moved & use_gradient,
        steepest_next=~moved & ~use_gradient,
        used_gradient=use_gradient,
    )
