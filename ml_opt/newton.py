r"""Newton's method and its robust variants (seed 002, Algorithm 8.8 and "saddle points").

Three rules that use second derivatives, each a descent direction followed by a line search (the
trust-region form of Newton's method, scipy's trust-exact, is :mod:`ml_opt.trust_region`):

``newton(damping=0.0, linesearch=None, modification="absolute")``
    Algorithm 8.8 and its damped form, on the dense Hessian :math:`H` of the flattened params:

    .. math:: d = -(H + \alpha I)^{-1} g

    by a Cholesky factorisation of :math:`A = H + \alpha I`. Where :math:`A` is not positive
    definite (a saddle, a concave region: the factorisation fails) the direction is made a descent
    direction by construction, by one of two modifications:

    * ``"absolute"`` (default): :math:`A = V \Lambda V^\top \to V |\Lambda| V^\top` (eigenvalues
      replaced by their absolute values; Gill, Murray & Wright 1981, section 4.4.2; the saddle-free
      step of Dauphin et al. 2014). Directions of positive curvature keep their Newton step,
      directions of negative curvature are followed downhill with the step their curvature sets.
    * ``"shift"``: :math:`A + \tau I` with the first :math:`\tau` of Nocedal & Wright's Algorithm 3.3
      ("Cholesky with added multiple of the identity", :math:`\beta = 10^{-3}`) for which the
      factorisation succeeds. Textbook, but every direction is damped by :math:`\tau`; on the MGH
      set it crawls where a tiny negative eigenvalue persists (Biggs EXP6 costs 18 times trust-exact's
      evaluations), which is why it is not the default.

``saddle_free_newton(damping=0.0, linesearch=None)``
    :math:`d = -(|H| + \alpha I)^{-1} g` with :math:`|H| = V |\Lambda| V^\top` from the
    eigendecomposition (Dauphin et al., 2014): along a direction of negative curvature it moves
    *downhill*, where Newton's step would move towards the saddle.

``newton_cg(max_cg_steps=None, linesearch=None)``
    Hessian-free ("truncated", line-search Newton-CG, Nocedal & Wright Algorithm 7.1): conjugate
    gradients on :math:`H d = -g` using Hessian-vector products only (forward-over-reverse
    :func:`jax.jvp` of the gradient); :math:`H` is never formed. CG stops when the residual is
    below :math:`\eta_k \|g\|` with the forcing sequence :math:`\eta_k = \min(0.5, \sqrt{\|g\|})`
    (superlinear convergence, N&W eq. 7.3 and Theorem 7.2), or on the first direction of
    non-positive curvature, returning :math:`-g` if it is met at the first CG iteration and the
    last CG iterate otherwise (as Algorithm 7.1). HVPs are counted in ``num_hvp_evals``.

Interface (``optax.GradientTransformationExtraArgs``, as optax's line-search methods)::

    updates, state = opt.update(grads, state, params, value=f(params), grad=grads, value_fn=f, **fn_kwargs)

``value_fn(params, **fn_kwargs)`` is the objective; ``updates = new_params - params``. The state
carries, after each update, ``value`` and ``grad`` at the new params (so :func:`ml_opt.minimize`
does not evaluate them again), the cumulative evaluation counts ``num_fun_evals`` and
``num_grad_evals`` (the line search's) and ``num_hvp_evals`` (a dense Hessian counts ``n``
products), and ``stalled`` (see :mod:`ml_opt._base`).

Robustness, by construction:

* **Descent guard.** A direction that is not finite or not a descent direction
  (:math:`g^\top d \ge 0`, which rounding can cause with a nearly singular matrix) is replaced by
  :math:`-g`.
* **Line search.** The default is the strong Wolfe search :func:`ml_opt.linesearch.zoom` (``c1=1e-4,
  c2=0.9``); any :class:`ml_opt.linesearch.LineSearch` can be passed. (Armijo
  backtracking, which cannot lengthen a step, needs up to 500 times the evaluations on badly
  scaled MGH problems, Meyer and Brown-Dennis.) A search that cannot meet its conditions
  returns its best point (or does not move). When it does not move along a Newton direction, the
  next update is a steepest-descent step (initial step :math:`\min(1, 1/\|g\|_2)`); when it does
  not move along :math:`-g` either, the state says ``stalled`` and :func:`ml_opt.minimize` stops
  with status ``STALLED``.
* **First trial.** The Newton step 1, unless Nocedal & Wright's eq. 3.60, the minimiser of the
  quadratic through the last decrease :math:`f_{k-1} - f_k` and the slope :math:`g_k^\top d_k`,

  .. math:: \alpha_0 = \min(1,\ 1.01 \cdot 2 (f_k - f_{k-1}) / g_k^\top d_k),

  is shorter: the search (``guess`` in :mod:`ml_opt.linesearch`) then starts there, and tries the
  Newton step next if it has to lengthen that trial. In a curved valley the Newton step overshoots
  update after update (Andrei's generalized Rosenbrock function, n = 100: a quarter of the searches
  from the Newton step needed 3-6 trials, each cutting the step about 6-fold, to accept steps of
  0.002-0.07), where eq. 3.60 predicts the step from the last one (scipy's Newton-CG starts from it
  too). The jump back to the Newton step keeps a short prediction after a step that was short for
  reasons of its own (MGH's brown_badly_scaled, where one update moves a single coordinate) from
  costing a dozen extrapolations. Armijo backtracking, which cannot lengthen a step, always starts
  from 1.
* **Maximum step.** The line search's first trial moves at most :math:`10^3 \max(\|x\|_2, 1)`
  (Dennis & Schnabel's default *maxstep*): a nearly singular Hessian makes the modified Newton
  step as long as :math:`|g| / \lambda_{\min}` (1e307 where :math:`H = 0`), which the search would
  otherwise shrink over dozens of evaluations.
* ``newton(linesearch="none")`` takes the full step of Algorithm 8.8 (no line search; a step of
  unit length where the descent guard replaced the direction by :math:`-g`): the textbook
  iteration, which can diverge; the driver then reports the non-finite value.

Params are any pytree of floating-point arrays; ``newton`` and ``saddle_free_newton`` flatten them
with :func:`jax.flatten_util.ravel_pytree` for the dense linear algebra (in float32 at least:
float16 and bfloat16 params are factorised in float32, see :func:`ml_opt._base.linalg_dtype`);
``newton_cg`` works on the pytree itself, each leaf in its dtype. Every hyperparameter may be a JAX
scalar (``jax.vmap`` over damping works).

References:
  Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.8 and section 8.6.1.
  Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 3.3 (section 3.4), eq. 3.60
  (section 3.5), Algorithm 7.1 and eq. 7.3 (section 7.1).
  Gill, Murray & Wright, Practical Optimization, 1981, section 4.4.2.
  Dennis & Schnabel, Numerical Methods for Unconstrained Optimization and Nonlinear Equations,
  1983, Algorithm A6.3.1 (the maximum step).
  Dauphin, Pascanu, Gulcehre, Cho, Ganguli & Bengio, Identifying and attacking the saddle point
  problem in high-dimensional non-convex optimization, NeurIPS 2014.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import jax.scipy.linalg
import optax
from jax.flatten_util import ravel_pytree
from optax import tree_utils as otu

from ml_opt._base import add_scaled, check_integer, check_params, check_scalar, equal_when_made_alike, linalg_dtype
from ml_opt._solver import (dense_hessian, eigenvalue_cutoff, objective_at, resolve_linesearch, step_along,
                            unit_move_step)
from ml_opt.linesearch import LineSearch

Array = jax.Array
PyTree = Any

__all__ = [
    "NewtonCGState",
    "NewtonState",
    "newton",
    "newton_cg",
    "saddle_free_newton",
]

# N&W Algorithm 3.3: the first shift when the diagonal is not positive is -min(a_ii) + beta, then
# tau <- max(2 tau, beta). beta is relative to the size of A (N&W's "beta = 1e-3" is for a
# well-scaled A); doubling from beta reaches any needed shift in a few dozen tries.
_SHIFT_BETA = 1e-3
_MAX_CHOLESKY_TRIES = 64
_MODIFICATIONS = ("absolute", "shift")


class NewtonState(NamedTuple):
    """The state of :func:`newton` and :func:`saddle_free_newton`.

    Attributes:
      count: updates made (int32).
      value: the objective at the params after the last update (0 before the first).
      grad: its gradient, a pytree like the params.
      num_fun_evals: cumulative objective evaluations (line searches) (int32).
      num_grad_evals: cumulative gradient evaluations (line searches) (int32).
      num_hvp_evals: cumulative Hessian-vector products; each dense Hessian counts ``n`` (int32).
      stalled: the last line search could not move along :math:`-g`.
      steepest_next: the last line search could not move along the Newton direction; the next
        update steps along :math:`-g`.
      modified: :math:`H + \\alpha I` was not positive definite at the last update, and was
        modified (always False for the saddle-free rule, which does not test it).
      shift: the multiple of the identity added to :math:`H + \\alpha I` at the last update by
        ``modification="shift"`` (N&W Algorithm 3.3); 0 otherwise.
      prev_value: the objective at the params before the last update, for the line search's
        interpolated first trial (0 before the first update, where it is not used).
      used_gradient: the last update stepped along :math:`-g` (the descent guard or a restart).
      update: the update returned with this state (see :mod:`ml_opt._base`).
    """

    count: Array
    value: Array
    grad: PyTree
    num_fun_evals: Array
    num_grad_evals: Array
    num_hvp_evals: Array
    stalled: Array
    steepest_next: Array
    modified: Array
    shift: Array
    prev_value: Array
    used_gradient: Array
    update: PyTree


class NewtonCGState(NamedTuple):
    """The state of :func:`newton_cg`.

    Attributes:
      count, value, grad, num_fun_evals, num_grad_evals, num_hvp_evals, stalled, steepest_next,
        used_gradient, update: as in :class:`NewtonState`.
      cg_steps: CG iterations (= Hessian-vector products) of the last update (int32).
      negative_curvature: the last inner CG met a direction :math:`p` with :math:`p^\\top H p \\le 0`.
      prev_value: as in :class:`NewtonState`.
    """

    count: Array
    value: Array
    grad: PyTree
    num_fun_evals: Array
    num_grad_evals: Array
    num_hvp_evals: Array
    stalled: Array
    steepest_next: Array
    used_gradient: Array
    update: PyTree
    cg_steps: Array
    negative_curvature: Array
    prev_value: Array


# --------------------------------------------------------------------------------------------
# The state (the dense Hessian and the line-search step are ml_opt._solver's)
# --------------------------------------------------------------------------------------------


def _value_dtype(params: PyTree):
    return ravel_pytree(params)[0].dtype


def _init_newton_state(params: PyTree) -> NewtonState:
    check_params(params)
    dtype = _value_dtype(params)
    zero = jnp.zeros([], jnp.int32)
    false = jnp.zeros([], bool)
    return NewtonState(
        count=zero,
        value=jnp.zeros([], dtype),
        grad=jax.tree.map(jnp.zeros_like, params),
        num_fun_evals=zero,
        num_grad_evals=zero,
        num_hvp_evals=zero,
        stalled=false,
        steepest_next=false,
        modified=false,
        shift=jnp.zeros([], dtype),
        prev_value=jnp.zeros([], dtype),
        used_gradient=false,
        update=jax.tree.map(jnp.zeros_like, params),
    )


def _previous_value(state) -> Array:
    """f at the previous iterate, for the line search's interpolated first trial; inf (no guess)
    before the first update."""
    return jnp.where(state.count > 0, state.prev_value, jnp.inf)


# --------------------------------------------------------------------------------------------
# Directions
# --------------------------------------------------------------------------------------------


def _cholesky_with_added_identity(a: Array) -> tuple[Array, Array, Array]:
    """N&W Algorithm 3.3: the Cholesky factor of ``a + tau I`` for the first ``tau`` that works.

    ``tau_0 = 0`` if ``min(a_ii) > 0``, else ``-min(a_ii) + beta``; then ``tau <- max(2 tau, beta)``
    until the factorisation succeeds, with N&W's ``beta = 1e-3``.

    Returns:
      ``(L, tau, ok)``; ``ok`` is False when no factorisation succeeded (a non-finite ``a``).
    """
    n = a.shape[0]
    eye = jnp.eye(n, dtype=a.dtype)
    beta = jnp.asarray(_SHIFT_BETA, a.dtype)
    min_diag = jnp.min(jnp.diag(a), initial=jnp.inf)
    tau0 = jnp.where(min_diag > 0, 0.0, beta - min_diag).astype(a.dtype)

    def factor(tau):
        l = jnp.linalg.cholesky(a + tau * eye)
        return l, jnp.all(jnp.isfinite(l))

    def cond(carry):
        _, _, ok, k = carry
        return ~ok & (k < _MAX_CHOLESKY_TRIES)

    def body(carry):
        _, tau, _, k = carry
        tau = jnp.maximum(2.0 * tau, beta)
        l, ok = factor(tau)
        return l, tau, ok, k + 1

    l0, ok0 = factor(tau0)
    finite = jnp.all(jnp.isfinite(a))
    l, tau, ok, _ = jax.lax.while_loop(cond, body, (l0, tau0, ok0 | ~finite, jnp.zeros([], jnp.int32)))
    return l, tau, ok & finite


def _absolute_eigenvalue_solve(a: Array, g: Array, damping: Array | float = 0.0) -> Array:
    """``-(V (|Lambda| + damping) V^T)^{-1} g`` from ``a = V Lambda V^T``.

    The denominators ``|lambda_i| + damping`` are kept above ``n eps max|lambda|`` (and the
    smallest normal number), the cut-off a pseudo-inverse would use, so a zero eigenvalue with
    zero damping gives a long but finite step that the line search shortens.
    """
    lam, v = jnp.linalg.eigh(a)
    abs_lam = jnp.abs(lam) + jnp.asarray(damping, a.dtype)
    return -(v @ ((v.T @ g) / jnp.maximum(abs_lam, eigenvalue_cutoff(lam))))


def _modified_newton_direction(h: Array, g: Array, damping: Array, modification: str) -> tuple[Array, Array, Array]:
    """``d = -B^{-1} g`` with ``B = H + damping I`` where that is positive definite, else modified.

    Returns:
      ``(d, modified, shift)``: ``modified`` says ``H + damping I`` was not positive definite;
      ``shift`` is Algorithm 3.3's ``tau`` (0 for the absolute-value modification). A NaN ``d``
      (a non-finite Hessian) is replaced by ``-g`` later, by the descent guard. The factorisation
      runs in :func:`ml_opt._base.linalg_dtype` of ``h``; ``d`` and ``shift`` come back in ``h``'s dtype.
    """
    dtype = h.dtype
    la = linalg_dtype(dtype)
    h, g = h.astype(la), g.astype(la)
    a = h + jnp.asarray(damping, h.dtype) * jnp.eye(h.shape[0], dtype=h.dtype)
    if modification == "shift":
        l, tau, ok = _cholesky_with_added_identity(a)
        d = -jax.scipy.linalg.cho_solve((l, True), g)
        return jnp.where(ok, d, jnp.nan).astype(dtype), tau > 0, tau.astype(dtype)
    l = jnp.linalg.cholesky(a)
    positive_definite = jnp.all(jnp.isfinite(l))
    d = jax.lax.cond(
            positive_definite,
            lambda: -jax.scipy.linalg.cho_solve((l, True), g),
            lambda: _absolute_eigenvalue_solve(a, g),
    )
    return d.astype(dtype), ~positive_definite, jnp.zeros([], dtype)


def _saddle_free_direction(h: Array, g: Array, damping: Array) -> Array:
    """``d = -(|H| + damping I)^{-1} g`` with ``|H| = V |Lambda| V^T`` (Dauphin et al., 2014), the
    eigendecomposition in :func:`ml_opt._base.linalg_dtype` of ``h``, ``d`` in ``h``'s dtype."""
    la = linalg_dtype(h.dtype)
    return _absolute_eigenvalue_solve(h.astype(la), g.astype(la), damping).astype(h.dtype)


_CG_RUNNING, _CG_CONVERGED, _CG_NEGATIVE_CURVATURE, _CG_MAX_STEPS = 0, 1, 2, 3


class _CGCarry(NamedTuple):
    j: Array  # iterations (Hessian-vector products) so far
    curvature: Array  # p^T H p of the last direction p
    z: PyTree  # the CG iterate
    r: PyTree  # the residual H z + g
    p: PyTree  # the CG search direction
    rr: Array  # r^T r
    status: Array


def _truncated_cg(hvp: Callable[[PyTree], PyTree], g: PyTree, tol: Array, max_steps: int | Array):
    """The inner loop of N&W Algorithm 7.1: CG on ``H z = -g`` from ``z = 0``, on pytrees.

    Stops when ``||r|| <= tol``, after ``max_steps`` iterations, or when a search direction ``p``
    has ``p^T H p <= 0`` (or a non-finite curvature). On ``p^T H p < 0`` the last CG step is still
    taken, with the curvature's absolute value: ``z + (r^T r / |p^T H p|) p`` (``-g g^T g / |g^T H
    g|`` at the first iteration). On a curvature that is 0 or not finite the last iterate ``z`` is
    returned, or ``-g`` at the first iteration.

    Returns:
      ``(direction, initial_step, iterations, negative_curvature)``: ``initial_step`` is the line
      search's first trial: 1, except along an unscaled ``-g`` (a curvature of 0 or not finite at
      the first iteration), where it is ``min(1, 1/||g||)``.
    """
    rr0 = jnp.asarray(otu.tree_vdot(g, g))
    dtype = rr0.dtype
    tol = jnp.asarray(tol, dtype)

    def body(c: _CGCarry) -> _CGCarry:
        hp = hvp(c.p)
        curvature = jnp.asarray(otu.tree_vdot(c.p, hp), dtype)
        negative = ~(curvature > 0)  # also catches NaN
        alpha = c.rr / jnp.where(negative, 1.0, curvature)
        z = add_scaled(c.z, alpha, c.p)
        r = add_scaled(c.r, alpha, hp)
        rr = jnp.asarray(otu.tree_vdot(r, r), dtype)
        beta = rr / jnp.where(c.rr > 0, c.rr, 1.0)
        p = add_scaled(jax.tree.map(jnp.negative, r), beta, c.p)
        j = c.j + 1
        status = jnp.select(
                [negative, jnp.sqrt(rr) <= tol, j >= max_steps],
                [_CG_NEGATIVE_CURVATURE, _CG_CONVERGED, _CG_MAX_STEPS],
                _CG_RUNNING,
        )
        keep = negative  # on negative curvature, stop with the previous iterate
        return _CGCarry(
            j=j,
            curvature=curvature,
            z=otu.tree_where(keep, c.z, z),
            r=otu.tree_where(keep, c.r, r),
            p=otu.tree_where(keep, c.p, p),
            rr=jnp.where(keep, c.rr, rr),
            status=status.astype(jnp.int32),
        )

    zeros = otu.tree_zeros_like(g)
    start = jnp.where(jnp.sqrt(rr0) <= tol, _CG_CONVERGED, _CG_RUNNING).astype(jnp.int32)
    init = _CGCarry(jnp.zeros([], jnp.int32), jnp.zeros([], dtype), zeros, g, jax.tree.map(jnp.negative, g), rr0, start)
    final = jax.lax.while_loop(lambda c: c.status == _CG_RUNNING, body, init)
    negative = final.status == _CG_NEGATIVE_CURVATURE
    alpha = final.rr / jnp.where(final.curvature < 0, -final.curvature, 1.0)
    curves_down = negative & (final.curvature < 0) & (alpha > 0) & jnp.isfinite(alpha)
    flat_first = negative & ~curves_down & (final.j == 1)
    direction = otu.tree_where(curves_down, add_scaled(final.z, alpha, final.p), final.z)
    direction = otu.tree_where(flat_first, jax.tree.map(jnp.negative, g), direction)
    init_step = jnp.where(flat_first, unit_move_step(jnp.sqrt(rr0), dtype), 1.0).astype(dtype)
    return direction, init_step, final.j, negative


# --------------------------------------------------------------------------------------------
# The rules
# --------------------------------------------------------------------------------------------


@equal_when_made_alike
def newton(
        damping: float | Array = 0.0,
        linesearch: LineSearch | str | None = None,
        modification: str = "absolute",
) -> optax.GradientTransformationExtraArgs:
    r"""Newton's method, damped, with a positive-definite modification (seed 002, Algorithm 8.8).

    .. math::
        g = \nabla f(\theta), \quad A = \nabla^2 f(\theta) + \alpha I, \quad
        d = -\tilde A^{-1} g, \quad \theta \leftarrow \theta + \epsilon d

    with :math:`\alpha` = ``damping`` (the seed's damped step
    :math:`\theta^* = \theta_0 - [H + \alpha I]^{-1} g`), :math:`\tilde A = A` where :math:`A` is
    positive definite (so the step is exactly the damped Newton step there) and a positive-definite
    modification of it elsewhere (``modification``, see the module docstring), and :math:`\epsilon`
    from the line search, tried first at 1 or at eq. 3.60's shorter step (see the module
    docstring). The Hessian is dense, :math:`n \times n` for the ``n`` flattened params, one
    ``jax.hessian`` per update (counted as ``n`` Hessian-vector products); the solve is a Cholesky
    factorisation (an ``eigh`` where the modification needs one).

    Args:
      damping: :math:`\alpha \ge 0`, a Python number or a JAX scalar.
      linesearch: a :class:`ml_opt.linesearch.LineSearch`; default ``ml_opt.linesearch.zoom()``;
        ``"none"`` takes the full step :math:`\epsilon = 1`, Algorithm 8.8 verbatim (no protection
        against overshooting).
      modification: ``"absolute"`` (eigenvalues :math:`\lambda \to |\lambda|`, floored at
        :math:`n\,\varepsilon \max|\lambda|`) or ``"shift"`` (N&W Algorithm 3.3), applied only
        where :math:`H + \alpha I` is not positive definite.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs ``value_fn``; its state
      is a :class:`NewtonState`.

    Example:
      >>> import jax.numpy as jnp, ml_opt
      >>> from ml_opt.newton import newton
      >>> rosen = lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
      >>> res = ml_opt.minimize(rosen, jnp.array([-1.2, 1.0]), newton(), gtol=1e-5)
      >>> bool(res.converged)
      True

    References:
      Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.8 and section 8.6.1.
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, section 3.4 and Algorithm 3.3.
      Gill, Murray & Wright, Practical Optimization, 1981, section 4.4.2.
    """
    check_scalar(damping, "damping", lower=0.0)
    if modification not in _MODIFICATIONS:
        raise ValueError(f"modification must be one of {_MODIFICATIONS}, got {modification!r}")
    ls = resolve_linesearch(linesearch, "newton", allow_full_step=True)

    def update_fn(grads, state: NewtonState, params=None, *, value=None, grad=None, value_fn=None, **fn_kwargs):
        fun, value, grad_tree, extra = objective_at("newton", grads, params, value, grad, value_fn, fn_kwargs)
        h, x, unravel = dense_hessian(fun, params)
        g = ravel_pytree(grad_tree)[0].astype(x.dtype)
        d, modified, tau = _modified_newton_direction(h, g, damping, modification)
        step = step_along(ls, fun, params, value.astype(x.dtype), grad_tree, unravel(d), state.steepest_next, x.dtype,
                          prev_value=_previous_value(state))
        new_state = NewtonState(
            count=optax.safe_increment(state.count),
            value=step.value,
            grad=step.grad,
            num_fun_evals=state.num_fun_evals + step.num_fun_evals + extra,
            num_grad_evals=state.num_grad_evals + step.num_grad_evals,
            num_hvp_evals=state.num_hvp_evals + x.size,
            stalled=step.stalled,
            steepest_next=step.steepest_next,
            modified=modified,
            shift=tau.astype(x.dtype),
            used_gradient=step.used_gradient,
            update=step.updates,
            prev_value=value.astype(x.dtype),
        )
        return step.updates, new_state

    return optax.GradientTransformationExtraArgs(_init_newton_state, update_fn)


@equal_when_made_alike
def saddle_free_newton(damping: float | Array = 0.0, linesearch: LineSearch | None = None) -> optax.GradientTransformationExtraArgs:
    r"""Saddle-free Newton (Dauphin et al., 2014): Newton's step with :math:`|H|` in place of :math:`H`.

    .. math::
        H = V \Lambda V^\top, \quad |H| = V |\Lambda| V^\top, \quad
        d = -(|H| + \alpha I)^{-1} g = -V \,\mathrm{diag}\!\left(\frac{1}{|\lambda_i| + \alpha}\right) V^\top g

    then a line search (first trial: see the module docstring). Where :math:`H` is positive
    definite this is the damped Newton step; along an eigenvector with :math:`\lambda_i < 0` the
    step is rescaled by :math:`1/|\lambda_i|` but keeps the sign of :math:`-g`, so it moves away
    from a saddle (Newton's step moves towards it). :math:`|H| + \alpha I` is positive definite, so :math:`d` is a descent
    direction. The denominators are floored at :math:`n\,\varepsilon \max|\lambda_i|` (a
    pseudo-inverse's cut-off) so that a zero eigenvalue with :math:`\alpha = 0` gives a long, finite
    step. One dense ``jax.hessian`` (``n`` Hessian-vector products) and one ``eigh`` per update.

    Args:
      damping: :math:`\alpha \ge 0`, added to every :math:`|\lambda_i|` (a Python number or a JAX
        scalar).
      linesearch: a :class:`ml_opt.linesearch.LineSearch`; default ``ml_opt.linesearch.zoom()``.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs ``value_fn``; its state
      is a :class:`NewtonState`.

    Example:
      >>> import jax.numpy as jnp, ml_opt
      >>> from ml_opt.newton import saddle_free_newton
      >>> f = lambda x: (x[0] * x[1] - 1.0) ** 2          # the seed's (uv - 1)^2: a saddle at 0
      >>> res = ml_opt.minimize(f, jnp.array([1e-3, 2e-3]), saddle_free_newton(), gtol=1e-5)
      >>> bool(res.converged), round(float(res.params[0] * res.params[1]), 4)
      (True, 1.0)

    References:
      Dauphin, Pascanu, Gulcehre, Cho, Ganguli & Bengio, Identifying and attacking the saddle point
      problem in high-dimensional non-convex optimization, NeurIPS 2014.
      Goodfellow, Bengio & Courville, Deep Learning, 2016, section 8.2.3.
    """
    check_scalar(damping, "damping", lower=0.0)
    ls = resolve_linesearch(linesearch, "saddle_free_newton")

    def update_fn(grads, state: NewtonState, params=None, *, value=None, grad=None, value_fn=None, **fn_kwargs):
        fun, value, grad_tree, extra = objective_at("saddle_free_newton", grads, params, value, grad, value_fn, fn_kwargs)
        h, x, unravel = dense_hessian(fun, params)
        g = ravel_pytree(grad_tree)[0].astype(x.dtype)
        d = _saddle_free_direction(h, g, damping)
        step = step_along(ls, fun, params, value.astype(x.dtype), grad_tree, unravel(d), state.steepest_next, x.dtype,
                          prev_value=_previous_value(state))
        new_state = NewtonState(
            count=optax.safe_increment(state.count),
            value=step.value,
            grad=step.grad,
            num_fun_evals=state.num_fun_evals + step.num_fun_evals + extra,
            num_grad_evals=state.num_grad_evals + step.num_grad_evals,
            num_hvp_evals=state.num_hvp_evals + x.size,
            stalled=step.stalled,
            steepest_next=step.steepest_next,
            modified=jnp.zeros([], bool),
            shift=jnp.zeros([], x.dtype),
            used_gradient=step.used_gradient,
            update=step.updates,
            prev_value=value.astype(x.dtype),
        )
        return step.updates, new_state

    return optax.GradientTransformationExtraArgs(_init_newton_state, update_fn)


@equal_when_made_alike
def newton_cg(max_cg_steps: int | None = None, linesearch: LineSearch | None = None) -> optax.GradientTransformationExtraArgs:
    r"""Line-search Newton-CG, Hessian-free (Nocedal & Wright, Algorithm 7.1).

    The Newton system :math:`H d = -g` is solved approximately by conjugate gradients that touch
    :math:`H` only through Hessian-vector products :math:`Hv` (``jax.jvp`` of ``jax.grad``: one
    forward-over-reverse pass each, counted in ``num_hvp_evals``); :math:`H` is never formed::

        eps = min(0.5, sqrt(||g||)) ||g||              # forcing sequence (N&W eq. 7.3)
        z = 0, r = g, p = -g
        repeat:
            if p^T H p <= 0:                           # negative curvature
                d = z + (r^T r / |p^T H p|) p  (d = z where p^T H p = 0); stop
            alpha = r^T r / p^T H p;  z += alpha p;  r_new = r + alpha H p
            if ||r_new|| <= eps:  d = z; stop
            beta = r_new^T r_new / r^T r;  p = -r_new + beta p;  r = r_new
        theta <- theta + step d                       # line search, first trial 1 or eq. 3.60

    On negative curvature Algorithm 7.1 returns :math:`z` (:math:`-g` at the first iteration).
    Here the CG step along :math:`p` is still taken, with the curvature's absolute value, as
    saddle-free Newton does with :math:`|H|` (Dauphin et al., 2014): in CG :math:`g^\top p =
    -r^\top r < 0`, so :math:`p` is a descent direction along which :math:`f` curves down, and
    :math:`r^\top r / |p^\top H p|` minimises the model with :math:`|p^\top H p|` along it. At the
    first iteration that is :math:`-g` scaled by :math:`g^\top g / |g^\top H g|`. Returning
    :math:`z` instead throws the direction away: where CG keeps meeting negative curvature after one
    iteration, Newton-CG then creeps like steepest descent (Andrei's SINQUAD, n = 1000: 20 000
    steps without converging, against 181 evaluations). On a curvature of exactly 0 (or not finite)
    the direction is :math:`z`, or :math:`-g` with first trial :math:`\min(1, 1/\|g\|)`.

    The forcing sequence :math:`\eta_k = \min(0.5, \sqrt{\|g_k\|})` makes the outer iteration
    converge superlinearly (N&W Theorem 7.2) while the first iterations, far from the solution,
    stay cheap. Every CG iterate after the first is a descent direction, so the returned direction
    is one even when CG is cut short by negative curvature or by ``max_cg_steps``.

    Args:
      max_cg_steps: the most CG iterations per update (a positive int or JAX integer scalar);
        ``None``: ``10 n`` for ``n`` parameters (in exact arithmetic CG ends within ``n``; the
        margin covers rounding on ill-conditioned Hessians; the forcing sequence usually stops it
        far earlier).
      linesearch: a :class:`ml_opt.linesearch.LineSearch`; default ``ml_opt.linesearch.zoom()``.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose ``update`` needs ``value_fn``; its state
      is a :class:`NewtonCGState`.

    Example:
      >>> import jax.numpy as jnp, ml_opt
      >>> from ml_opt.newton import newton_cg
      >>> rosen = lambda x: 100 * (x[1] - x[0] ** 2) ** 2 + (1 - x[0]) ** 2
      >>> res = ml_opt.minimize(rosen, jnp.array([-1.2, 1.0]), newton_cg(), gtol=1e-5)
      >>> bool(res.converged)
      True

    References:
      Dembo, Eisenstat & Steihaug, Inexact Newton methods, 1982.
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 7.1, eq. 7.3, Theorem 7.2.
      Martens, Deep learning via Hessian-free optimization, ICML 2010.
      Dauphin, Pascanu, Gulcehre, Cho, Ganguli & Bengio, Identifying and attacking the saddle point
      problem in high-dimensional non-convex optimization, NeurIPS 2014.
    """
    check_integer(max_cg_steps, "max_cg_steps", lower=1, optional=True)
    ls = resolve_linesearch(linesearch, "newton_cg")

    def init_fn(params) -> NewtonCGState:
        base = _init_newton_state(params)
        return NewtonCGState(
            count=base.count,
            value=base.value,
            grad=base.grad,
            num_fun_evals=base.num_fun_evals,
            num_grad_evals=base.num_grad_evals,
            num_hvp_evals=base.num_hvp_evals,
            stalled=base.stalled,
            steepest_next=base.steepest_next,
            used_gradient=base.used_gradient,
            update=base.update,
            cg_steps=jnp.zeros([], jnp.int32),
            negative_curvature=jnp.zeros([], bool),
            prev_value=base.prev_value,
        )

    def update_fn(grads, state: NewtonCGState, params=None, *, value=None, grad=None, value_fn=None, **fn_kwargs):
        fun, value, grad_tree, extra = objective_at("newton_cg", grads, params, value, grad, value_fn, fn_kwargs)
        dtype = _value_dtype(params)
        grad_fn = jax.grad(fun)

        def hvp(v):
            return jax.jvp(grad_fn, (params,), (v,))[1]

        g_norm = jnp.asarray(otu.tree_norm(grad_tree), dtype)
        tol = jnp.minimum(0.5, jnp.sqrt(g_norm)) * g_norm
        n = sum(leaf.size for leaf in jax.tree.leaves(params))
        steps = 10 * n if max_cg_steps is None else max_cg_steps
        d, init_step, cg_steps, negative = _truncated_cg(hvp, grad_tree, tol, steps)
        step = step_along(ls, fun, params, value.astype(dtype), grad_tree, d, state.steepest_next, dtype, init_step,
                          prev_value=_previous_value(state))
        new_state = NewtonCGState(
            count=optax.safe_increment(state.count),
            value=step.value,
            grad=step.grad,
            num_fun_evals=state.num_fun_evals + step.num_fun_evals + extra,
            num_grad_evals=state.num_grad_evals + step.num_grad_evals,
            num_hvp_evals=state.num_hvp_evals + cg_steps,
            stalled=step.stalled,
            steepest_next=step.steepest_next,
            used_gradient=step.used_gradient,
            update=step.updates,
            cg_steps=cg_steps,
            negative_curvature=negative,
            prev_value=value.astype(dtype),
        )
        return step.updates, new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)
