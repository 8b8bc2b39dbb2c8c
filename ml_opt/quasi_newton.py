r"""Quasi-Newton methods: BFGS (seed 002, Algorithm 8.10) and L-BFGS, with a line search.

Both keep an approximation :math:`H_k \approx \nabla^2 f(x_k)^{-1}` built from the steps
:math:`s_k = x_{k+1} - x_k` and gradient changes :math:`y_k = \nabla f_{k+1} - \nabla f_k`, step along
:math:`d_k = -H_k \nabla f_k` with a line search (strong Wolfe by default, which keeps
:math:`s_k^\top y_k > 0`), and update :math:`H` by the BFGS formula (Nocedal & Wright eq. 6.17)

.. math::
    H_{k+1} = (I - \rho_k s_k y_k^\top) H_k (I - \rho_k y_k s_k^\top) + \rho_k s_k s_k^\top,
    \qquad \rho_k = 1 / y_k^\top s_k.

(The seed's Algorithm 8.10 writes this update with its terms garbled in extraction; N&W's form is
used.) ``bfgs`` stores :math:`H` densely and applies the update as outer products, O(n^2) per step;
``lbfgs`` stores the last ``memory_size`` pairs and applies :math:`H` by the two-loop recursion,
O(mn) per step.

Interface (``optax.GradientTransformationExtraArgs``, as optax's own line-search methods)::

    updates, state = opt.update(grads, state, params, value=f(params), grad=grads, value_fn=f, **fn_kwargs)

``value_fn(params, **fn_kwargs)`` is the objective. ``updates = new_params - params``. The state
carries, after each update, ``value`` and ``grad`` at the new params (so :func:`ml_opt.minimize`
does not evaluate them again), the cumulative ``num_fun_evals`` / ``num_grad_evals`` of the line
searches, and ``stalled`` (see :mod:`ml_opt._base`).

Robustness, by construction:

* **Curvature guard.** The pair :math:`(s, y)` is used only when
  :math:`s^\top y > \varepsilon\,(-\nabla f_k^\top s)` (:math:`\varepsilon` the machine epsilon of
  the params' dtype; L-BFGS-B's test); otherwise the update is skipped and :math:`H` kept (never an
  inf or NaN from :math:`\rho`).
* **Line-search failure.** When the line search fails, the iterate moves to its best point (or
  stays) and :math:`H` is reset to the identity, so the next update is a steepest-descent restart.
  When the search fails along a steepest-descent direction without moving, no progress is
  possible: the state says ``stalled`` and :func:`ml_opt.minimize` stops.
* **Lost positive definiteness.** :math:`H_k` is positive definite in exact arithmetic; when
  rounding has made :math:`d_k = -H_k \nabla f_k` no descent direction
  (:math:`\nabla f_k^\top d_k \ge 0`), :math:`H_k` is reset to the identity (``lbfgs`` drops its
  pairs) and the step is along :math:`-\nabla f_k`. (Without the reset, BFGS on MGH's
  brown_almost_linear from 10 x0 kept an indefinite :math:`H` for thousands of steps, each one
  falling back to :math:`-\nabla f_k`: 20893 evaluations, against 398 for scipy's BFGS; with it, 289.)
* **Initial step.** The very first line search along :math:`-\nabla f_0` starts at
  :math:`\min(1, 1.01/\|\nabla f_0\|_2)`, a move of about unit length (N&W section 3.5). Then
  ``lbfgs`` tries the unit step (its :math:`H_k^0 = \gamma_k I` fixes the scale; after a reset,
  N&W eq. 3.60 capped at 1); ``bfgs`` by default eq. 3.60 capped at 1 (see :func:`bfgs`). Along
  :math:`-\nabla f_k` after a reset, where eq. 3.60 does not apply (the last step did not decrease
  f), the search starts again with a move of about unit length: the length of the gradient says
  nothing about the step (MGH's chebyquad from 100 x0 has :math:`\|\nabla f\| \approx 10^{35}`,
  and a unit step along it ends in a failed search).
* **Initial scaling.** ``lbfgs`` scales :math:`H_k^0` by :math:`\gamma_k` (eq. 7.20) at every
  step; ``bfgs`` can rescale :math:`H_0` by eq. 6.20 (``initial_scaling=True``; see there why it
  is off by default).

Params are any pytree of floating-point arrays (float32 or float64); they are flattened with
:func:`jax.flatten_util.ravel_pytree` for the linear algebra, and the line search runs on the
pytree itself.

References:
  Nocedal & Wright, Numerical Optimization, 2nd ed., 2006: Algorithm 6.1 and eqs. 6.17, 6.20 (BFGS);
  Algorithms 7.4 and 7.5 and eq. 7.20 (L-BFGS).
  Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.10.
  Liu & Nocedal, On the limited memory BFGS method for large scale optimization, 1989.
  Byrd, Lu, Nocedal & Zhu, A limited memory algorithm for bound constrained optimization, 1995
  (the curvature guard).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from ml_opt._base import check_integer, check_params, equal_when_made_alike
from ml_opt._solver import current_point, first_step, interpolated_step, resolve_linesearch, scaled
from ml_opt.linesearch import LineSearch, LineSearchResult

Array = jax.Array
PyTree = Any

__all__ = ["BfgsState", "LbfgsState", "bfgs", "lbfgs"]


class BfgsState(NamedTuple):
    """The state of :func:`bfgs`.

    Attributes:
      count: updates made (int32).
      inv_hessian: the dense approximation :math:`H` of the inverse Hessian, ``(n, n)`` for the
        ``n`` flattened params.
      is_identity: :math:`H = I` (at the start, after a reset): the next direction is
        :math:`-\\nabla f` (and, with ``initial_scaling``, the next pair rescales :math:`H` by eq. 6.20).
      prev_value: the objective at the start of the last update (for the initial step, eq. 3.60).
      value: the objective at the params after the last update (0 before the first).
      grad: its gradient, a pytree like the params.
      num_fun_evals: cumulative objective evaluations of the line searches (int32).
      num_grad_evals: cumulative gradient evaluations of the line searches (int32).
      stalled: the last line search failed along :math:`-\\nabla f` without moving.
      update: the update returned with this state (see :mod:`ml_opt._base`).
    """

    count: Array
    inv_hessian: Array
    is_identity: Array
    prev_value: Array
    value: Array
    grad: PyTree
    num_fun_evals: Array
    num_grad_evals: Array
    stalled: Array
    update: PyTree


class LbfgsState(NamedTuple):
    """The state of :func:`lbfgs`.

    Attributes:
      count: updates made (int32).
      s_history: the last ``memory_size`` steps :math:`s_i`, ``(m, n)``: newest first (row 0 the
        newest; each new pair shifts the others one row down and drops the oldest) or a ring buffer
        (each new pair overwrites the oldest row in place), as ``lbfgs``'s ``history`` says; unused
        rows are zero.
      y_history: the matching gradient changes :math:`y_i`, ``(m, n)``.
      rho_history: :math:`1 / s_i^\\top y_i`, ``(m,)``; 0 for unused or dropped rows (which then do
        nothing in the two-loop recursion).
      head: in a ring buffer, the row the next pair goes to; the newest pair is row
        ``(head - 1) % m`` (int32). Kept 0 for a history stored newest first.
      prev_value: the objective at the start of the last update (the initial step after a reset).
      value, grad, num_fun_evals, num_grad_evals, stalled, update: as in :class:`BfgsState`.
    """

    count: Array
    s_history: Array
    y_history: Array
    rho_history: Array
    head: Array
    prev_value: Array
    value: Array
    grad: PyTree
    num_fun_evals: Array
    num_grad_evals: Array
    stalled: Array
    update: PyTree


# --------------------------------------------------------------------------------------------
# The curvature guard
# --------------------------------------------------------------------------------------------


def _curvature_ok(sy: Array, gs: Array) -> Array:
    r"""The curvature guard: :math:`s^\top y > \varepsilon\,(-\nabla f_k^\top s)`, both finite.

    The curvature gained along the step must exceed the rounding level of the directional
    derivative it is measured against (L-BFGS-B's test, Byrd, Lu, Nocedal & Zhu 1995). It admits
    pairs whose :math:`s` and :math:`y` are nearly orthogonal, which badly scaled problems produce
    legitimately (a step along a flat valley, a gradient change across it); a guard on the cosine
    of :math:`(s, y)` would drop exactly those pairs.
    """
    eps = jnp.finfo(sy.dtype).eps
    return jnp.isfinite(sy) & jnp.isfinite(gs) & (sy > eps * -gs)


def _secant_pair(ls: LineSearchResult, d: Array, g: Array, slope: Array) -> tuple[Array, ...]:
    r"""The pair of a line search from :math:`x` along :math:`d` (``slope`` :math:`= \nabla f^\top d`).

    Returns :math:`s = t d`, :math:`y = \nabla f(x + s) - \nabla f(x)`, :math:`s^\top y`,
    :math:`\rho = 1 / s^\top y` and whether the pair is used: the search succeeded and
    :func:`_curvature_ok` admits it (:math:`\rho = 0` otherwise).
    """
    step = ls.step.astype(d.dtype)
    s = step * d
    y = ravel_pytree(ls.grad)[0].astype(d.dtype) - g
    sy = s @ y
    use_pair = ls.success & _curvature_ok(sy, step * slope)  # g^T s = step g^T d
    rho = jnp.where(use_pair, 1.0 / jnp.where(use_pair, sy, 1.0), 0.0).astype(d.dtype)
    return s, y, sy, rho, use_pair


# --------------------------------------------------------------------------------------------
# BFGS
# --------------------------------------------------------------------------------------------


@equal_when_made_alike
def bfgs(
        linesearch: LineSearch | None = None,
        *,
        initial_scaling: bool = False,
        initial_step: str = "interpolate",
) -> optax.GradientTransformationExtraArgs:
    r"""BFGS in inverse-Hessian form (seed 002, Algorithm 8.10; Nocedal & Wright, Algorithm 6.1).

    .. math::
        d_k = -H_k \nabla f_k, \quad x_{k+1} = x_k + \alpha_k d_k, \quad
        H_{k+1} = H_k - \rho_k (s_k (H_k y_k)^\top + (H_k y_k) s_k^\top)
                  + (\rho_k^2\, y_k^\top H_k y_k + \rho_k)\, s_k s_k^\top

    (eq. 6.17 multiplied out, using the symmetry of :math:`H_k`: one matrix-vector product and
    three outer products, O(n^2) per step; no n^3 matrix products). :math:`H_0 = I`. See the module
    docstring for the curvature guard and resets.

    Args:
      linesearch: a :class:`ml_opt.linesearch.LineSearch`; default ``zoom(c1=1e-4, c2=0.9)``.
      initial_scaling: if True, :math:`H_0 = I` is replaced by :math:`(s_0^\top y_0 / y_0^\top y_0) I`
        before the first update (and again after each reset), N&W eq. 6.20. Off by default: on the
        Moré-Garbow-Hillstrom set it wins big on a few problems (extended Rosenbrock, penalty 2)
        and loses big on others (Powell's badly scaled function: ~10x the evaluations, since the
        scale taken along the first steepest-descent step is that of the stiffest direction, and
        BFGS enlarges too-small eigenvalues of :math:`H` slowly); unscaled, the median
        evaluation count matches scipy's BFGS and no problem needs twice as many.
      initial_step: the first trial step of each line search. ``"interpolate"`` (default): N&W eq.
        3.60 safeguarded as N&W recommend, :math:`\min(1, 1.01 \cdot 2 (f_k - f_{k-1}) / \nabla f_k^\top d_k)`,
        so the unit quasi-Newton step is tried whenever the last decrease predicts it;
        ``"unit"``: always 1 (N&W section 6.1). Either way a step along :math:`-\nabla f_k` from
        :math:`H = I` (the very first, and after a reset where eq. 3.60 does not apply) starts at
        :math:`\min(1, 1.01 / \|\nabla f_k\|_2)` (a move of about unit length).

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs ``value_fn``.

    Example:
      >>> import jax.numpy as jnp, ml_opt
      >>> from ml_opt.quasi_newton import bfgs
      >>> rosen = lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
      >>> res = ml_opt.minimize(rosen, jnp.array([-1.2, 1.0]), bfgs(), gtol=1e-5)
      >>> bool(res.converged)
      True

    References:
      Broyden 1970; Fletcher 1970; Goldfarb 1970; Shanno 1970.
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 6.1, eqs. 3.60, 6.17, 6.20.
      Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.10.
    """
    linesearch = resolve_linesearch(linesearch, "bfgs")
    if not isinstance(initial_scaling, bool):
        raise TypeError(f"initial_scaling must be a bool, got {initial_scaling!r}")
    if initial_step not in ("interpolate", "unit"):
        raise ValueError(f"initial_step must be 'interpolate' or 'unit', got {initial_step!r}")

    def init_fn(params) -> BfgsState:
        check_params(params)
        x, _ = ravel_pytree(params)
        zero = jnp.zeros([], jnp.int32)
        return BfgsState(
            count=zero,
            inv_hessian=jnp.eye(x.size, dtype=x.dtype),
            is_identity=jnp.ones([], bool),
            prev_value=jnp.zeros([], x.dtype),
            value=jnp.zeros([], x.dtype),
            grad=jax.tree.map(jnp.zeros_like, params),
            num_fun_evals=zero,
            num_grad_evals=zero,
            stalled=jnp.zeros([], bool),
            update=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(grads, state: BfgsState, params=None, *, value=None, grad=None, value_fn=None, **fn_kwargs):
        fun, value, grad_tree, x, g, unravel, extra = current_point(
            "bfgs", grads, params, value, grad, value_fn, fn_kwargs
        )
        value = jnp.asarray(value, x.dtype)
        eye = jnp.eye(x.size, dtype=x.dtype)
        d = -(state.inv_hessian @ g)
        # H is positive definite in exact arithmetic; where rounding has made it indefinite (d is
        # not a descent direction), restart from H = I along -g.
        restart = ~(g @ d < 0)
        H = jnp.where(restart, eye, state.inv_hessian)
        is_identity = state.is_identity | restart
        d = jnp.where(is_identity, -g, d)
        slope = g @ d  # the line function's slope at 0
        # The first trial: the unit quasi-Newton step, or along -g (H = I: the first step, after a
        # reset) a move of about unit length; by default eq. 3.60 where the last decrease predicts one.
        init_step = jnp.where(is_identity, first_step(g), 1.0)
        if initial_step == "interpolate":
            init_step = jnp.where(state.count == 0, init_step,
                                  interpolated_step(value, state.prev_value, slope, fallback=init_step))
        d_tree = unravel(d)
        ls: LineSearchResult = linesearch.search(
            fun, params, d_tree, value=value, grad=grad_tree, init_step=init_step.astype(x.dtype)
        )

        s, y, sy, rho, use_pair = _secant_pair(ls, d, g, slope)
        if initial_scaling:  # N&W eq. 6.20, before the first update
            gamma = jnp.where(use_pair, sy / jnp.where(use_pair, y @ y, 1.0), 1.0)
            H = jnp.where(is_identity, gamma * eye, H)
        Hy = H @ y
        H_updated = H - rho * (jnp.outer(s, Hy) + jnp.outer(Hy, s)) + (rho * rho * (y @ Hy) + rho) * jnp.outer(s, s)
        failed = ~ls.success
        updates = scaled(ls.step, d_tree)
        new_state = BfgsState(
            count=optax.safe_increment(state.count),
            inv_hessian=jnp.where(failed, eye, jnp.where(use_pair, H_updated, H)),
            is_identity=failed | (is_identity & ~use_pair),
            prev_value=value,
            value=jnp.asarray(ls.value, x.dtype),
            grad=ls.grad,
            num_fun_evals=state.num_fun_evals + ls.num_fun_evals + extra,
            num_grad_evals=state.num_grad_evals + ls.num_grad_evals,
            stalled=failed & is_identity & (ls.step == 0),
            update=updates,
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


# --------------------------------------------------------------------------------------------
# L-BFGS
# --------------------------------------------------------------------------------------------


def _two_loop(g: Array, rows: Any, gamma: Array, *, pair_of: Callable, unroll: int | bool) -> Array:
    """H g by the two-loop recursion (N&W Algorithm 7.4) with H_0 = gamma I.

    ``rows`` is scanned newest pair first, and ``pair_of(row)`` is that pair's ``(s, y, rho)``: for a
    history stored newest first, ``rows`` is ``(s_history, y_history, rho_history)`` itself and
    ``pair_of`` the identity; for a ring buffer, ``rows`` holds the row indices, newest first, and
    ``pair_of`` reads the row. Pairs with ``rho = 0`` (unused, or dropped at a reset) contribute
    nothing. The loops are ``lax.scan``s with ``unroll`` (``True``: no loop left in the program); see
    :func:`_two_loop_for_platform`.
    """

    def backward(q, row):
        s, y, rho = pair_of(row)
        alpha = rho * (s @ q)
        return q - alpha * y, alpha

    def forward(r, row_alpha):
        row, alpha = row_alpha
        s, y, rho = pair_of(row)
        beta = rho * (y @ r)
        return r + (alpha - beta) * s, None

    q, alphas = jax.lax.scan(backward, g, rows, unroll=unroll)
    return jax.lax.scan(forward, gamma * q, (rows, alphas), reverse=True, unroll=unroll)[0]


def _two_loop_for_platform(g: Array, rows: Any, gamma: Array, pair_of: Callable) -> Array:
    """:func:`_two_loop`, looped on the CPU and unrolled elsewhere, chosen when the program is lowered.

    On the CPU the loops compile to fewer kernels than the unrolled recursion, and run faster. On a
    GPU every iteration of a loop waits for the host to read its condition, and the 2m iterations
    would set a step's time: unrolled, ``lbfgs`` solved Rosenbrock (n = 2, 100, 1000) 2.2-3.5x
    faster on an H200, and took 0.3-1.0 s longer to compile (issue 3's notes, measured with the
    recursion unrolled in Python, which gives XLA the same straight-line program; TPUs not measured).
    """
    return jax.lax.platform_dependent(g, rows, gamma,
                                      cpu=functools.partial(_two_loop, pair_of=pair_of, unroll=1),
                                      default=functools.partial(_two_loop, pair_of=pair_of, unroll=True))


# A history of at most this many bytes (m n times the itemsize, each of s and y) is kept newest first
# by default; see ``history`` in :func:`lbfgs`.
_NEWEST_FIRST_MAX_BYTES = 16 * 1024


@equal_when_made_alike
def lbfgs(memory_size: int = 10, linesearch: LineSearch | None = None, *,
          history: str = "auto") -> optax.GradientTransformationExtraArgs:
    r"""Limited-memory BFGS (Nocedal & Wright, Algorithms 7.4 and 7.5).

    Keeps the last ``memory_size`` pairs :math:`(s_i, y_i)` and computes :math:`d_k = -H_k \nabla f_k`
    by the two-loop recursion with :math:`H_k^0 = \gamma_k I`,
    :math:`\gamma_k = s_{k-1}^\top y_{k-1} / y_{k-1}^\top y_{k-1}` (eq. 7.20). A pair failing the
    curvature guard is not stored; a failed line search, or a direction that rounding has made no
    descent direction, empties the memory (a steepest-descent restart). See the module docstring.

    Args:
      memory_size: the number of pairs kept, a positive Python int (it fixes array shapes).
      linesearch: a :class:`ml_opt.linesearch.LineSearch`; default ``zoom(c1=1e-4, c2=0.9)``.
      history: how the pairs are stored (the iterates are the same either way).
        ``"newest_first"``: row 0 is the newest pair, and each new pair shifts the others one row
        down, which rewrites the ``(m, n)`` arrays at every step; the recursion then reads the rows
        in storage order. ``"ring"``: a ring buffer, where a new pair overwrites the oldest row in
        place and the recursion reads the rows by index from the newest. Under ``jax.vmap`` each
        problem's newest row differs, and those reads become gathers: 1000 vmapped starts of 2-D
        Rosenbrock solve 1.2-1.3x faster newest first. For one problem the shift costs what the
        indexing saves while the arrays are small, and more beyond: newest first, a solve of
        extended Rosenbrock took 1.1-1.2x as long at n = 1000 (80 KB each) and 1.3x at n = 10^5
        (issue 3's notes). ``"auto"`` (default): newest first when each array takes at most 16 KiB
        (``m n`` times the itemsize: n <= 204 for ``m = 10`` in float64), else the ring buffer.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs ``value_fn``.

    Example:
      >>> import jax.numpy as jnp, ml_opt
      >>> from ml_opt.quasi_newton import lbfgs
      >>> rosen = lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
      >>> bool(ml_opt.minimize(rosen, jnp.array([-1.2, 1.0]), lbfgs(), gtol=1e-5).converged)
      True

    References:
      Nocedal, Updating quasi-Newton matrices with limited storage, 1980.
      Liu & Nocedal, On the limited memory BFGS method for large scale optimization, 1989.
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithms 7.4 and 7.5, eq. 7.20.
    """
    check_integer(memory_size, "memory_size", lower=1, static=True)
    linesearch = resolve_linesearch(linesearch, "lbfgs")
    if history not in ("auto", "newest_first", "ring"):
        raise ValueError(f"history must be 'auto', 'newest_first' or 'ring', got {history!r}")
    m = int(memory_size)

    def init_fn(params) -> LbfgsState:
        check_params(params)
        x, _ = ravel_pytree(params)
        zero = jnp.zeros([], jnp.int32)
        return LbfgsState(
            count=zero,
            s_history=jnp.zeros((m, x.size), x.dtype),
            y_history=jnp.zeros((m, x.size), x.dtype),
            rho_history=jnp.zeros((m,), x.dtype),
            head=zero,
            prev_value=jnp.zeros([], x.dtype),
            value=jnp.zeros([], x.dtype),
            grad=jax.tree.map(jnp.zeros_like, params),
            num_fun_evals=zero,
            num_grad_evals=zero,
            stalled=jnp.zeros([], bool),
            update=jax.tree.map(jnp.zeros_like, params),
        )

    def update_fn(grads, state: LbfgsState, params=None, *, value=None, grad=None, value_fn=None, **fn_kwargs):
        fun, value, grad_tree, x, g, unravel, extra = current_point(
            "lbfgs", grads, params, value, grad, value_fn, fn_kwargs
        )
        S, Y, R = state.s_history, state.y_history, state.rho_history
        newest_first = history == "newest_first" or (
            history == "auto" and S.size * S.dtype.itemsize <= _NEWEST_FIRST_MAX_BYTES)
        if newest_first:
            newest, rows, pair_of = 0, (S, Y, R), lambda pair: pair
        else:
            newest = (state.head - 1) % m
            rows, pair_of = (newest - jnp.arange(m)) % m, lambda i: (S[i], Y[i], R[i])
        empty = R[newest] == 0  # no pair stored since the start or the last reset
        # eq. 7.20, gamma = s^T y / y^T y for the newest pair, with s^T y = 1 / rho
        rho_last, y_last = R[newest], Y[newest]
        gamma = jnp.where(empty, 1.0, 1.0 / jnp.where(empty, 1.0, rho_last * (y_last @ y_last)))
        d = -_two_loop_for_platform(g, rows, gamma.astype(x.dtype), pair_of)
        # The stored pairs make H positive definite in exact arithmetic; where rounding has made d
        # no descent direction, drop them (as after a failed search) and step along -g.
        restart = ~(g @ d < 0)
        steepest = empty | restart
        d = jnp.where(steepest, -g, d)
        slope = g @ d  # the line function's slope at 0
        value = jnp.asarray(value, x.dtype)
        # The unit step, but along -g: the first step of unit length, after a reset eq. 3.60 (or,
        # where it does not apply, again a move of unit length).
        unit_move = first_step(g)
        init_step = jnp.where(
            state.count == 0,
            unit_move,
            jnp.where(steepest, interpolated_step(value, state.prev_value, slope, fallback=unit_move), 1.0),
        ).astype(x.dtype)
        d_tree = unravel(d)
        ls: LineSearchResult = linesearch.search(fun, params, d_tree, value=value, grad=grad_tree, init_step=init_step)

        s, y, _, rho, use_pair = _secant_pair(ls, d, g, slope)

        failed = ~ls.success
        # A restart or a failed search drops the pairs stored before it (rho = 0 makes a row inert;
        # a failed search stores no new pair). Then the pair is stored; a skipped pair leaves the
        # history as it was. Newest first, it goes to row 0 and the others move one row down. In a
        # ring buffer, it is written over the oldest row, row ``head`` (by a select over the whole
        # buffer, not an update of one row: XLA:CPU runs it in place all the same and compiles
        # lbfgs's loop in 12-16% less time, and under vmap, where each problem's head differs, it
        # stays a select instead of becoming a scatter).
        kept_rho = jnp.where(restart | failed, jnp.zeros_like(R), R)
        if newest_first:
            def store(stored, new):
                return jnp.where(use_pair, jnp.concatenate([new[None], stored[:-1]]), stored)

            head = state.head
        else:
            write = use_pair & (jnp.arange(m) == state.head)

            def store(stored, new):
                return jnp.where(write.reshape(write.shape + (1,) * (stored.ndim - 1)), new, stored)

            head = jnp.where(use_pair, (state.head + 1) % m, state.head).astype(jnp.int32)
        s_history, y_history, rho_history = store(S, s), store(Y, y), store(kept_rho, rho)

        updates = scaled(ls.step, d_tree)
        new_state = LbfgsState(
            count=optax.safe_increment(state.count),
            s_history=s_history,
            y_history=y_history,
            rho_history=rho_history,
            head=head,
            prev_value=value,
            value=jnp.asarray(ls.value, x.dtype),
            grad=ls.grad,
            num_fun_evals=state.num_fun_evals + ls.num_fun_evals + extra,
            num_grad_evals=state.num_grad_evals + ls.num_grad_evals,
            stalled=failed & steepest & (ls.step == 0),
            update=updates,
        )
        return updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
