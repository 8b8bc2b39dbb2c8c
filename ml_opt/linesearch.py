r"""Line searches: values that the second-order solvers take (``bfgs(linesearch=zoom())``).

A line search looks along a direction :math:`d` from the point :math:`x` for a step
:math:`\alpha > 0` that decreases :math:`\phi(\alpha) = f(x + \alpha d)` enough. Three are here:

``zoom(c1=1e-4, c2=0.9, max_steps=30)``
    the strong Wolfe conditions (Nocedal & Wright, Algorithms 3.5 and 3.6), with safeguarded cubic
    interpolation (Moré & Thuente's choice after a trial whose value is too high; quadratic and
    bisection fallbacks):

    .. math::
        \phi(\alpha) \le \phi(0) + c_1 \alpha \phi'(0), \qquad |\phi'(\alpha)| \le c_2 |\phi'(0)|.

``backtracking(c1=1e-4, shrink=0.5, max_steps=30)``
    the Armijo (sufficient decrease) condition alone: :math:`\alpha \leftarrow` ``shrink`` :math:`\alpha`
    from the initial step until the first inequality above holds (N&W Algorithm 3.1).

``exact_quadratic()``
    the exact minimiser along :math:`d` of a quadratic, :math:`\alpha = -\nabla f^\top d / d^\top A d`,
    with :math:`d^\top A d` from one Hessian-vector product (``curvature="hvp"``) or from the change of
    slope between :math:`0` and the initial step (``curvature="secant"``).

The API (stable; :mod:`ml_opt.newton`, :mod:`ml_opt.quasi_newton` and
:mod:`ml_opt.conjugate_gradient` call it)::

    ls = zoom()                          # a LineSearch value: hashable, holds no arrays of its own
    res = ls.search(fun, params, direction, value=f(params), grad=grad f(params), init_step=1.0,
                    guess=None)
    res.step, res.value, res.grad        # alpha, f(params + alpha d), grad f(params + alpha d)
    res.success                          # the search's conditions hold at the returned point
    res.num_fun_evals, res.num_grad_evals, res.num_hvp_evals   # what the search evaluated

* ``fun(params) -> scalar`` is the objective (bind minibatches and keyword arguments with a closure);
  the search differentiates it with :func:`jax.value_and_grad` (and :func:`jax.jvp` for the HVP).
* ``params`` and ``direction`` are any pytree of floating-point arrays with the same structure (a flat
  vector is one); the trial point is ``params + alpha * direction`` leaf by leaf, in each leaf's dtype.
  Scalars (steps, values, slopes) are in the dtype of ``value``.
* ``init_step`` is the first trial step, chosen by the solver (1 for Newton and quasi-Newton steps;
  a scaled step for the first iteration and for nonlinear CG). A Python number must be positive
  and finite (``ValueError`` otherwise); an array that is not (a solver's estimate gone wrong) is
  replaced by 1.
* ``guess`` (optional, default None) is a shorter first trial that the solver predicts from its last
  step (N&W eq. 3.60), for a direction whose natural step is ``init_step`` (a Newton step).
  :func:`zoom` starts from ``min(guess, init_step)`` and, if it has to lengthen that trial, tries
  ``init_step`` next: a prediction from the last step can fall short by orders of magnitude where
  that step was short for reasons of its own. :func:`backtracking`, which cannot lengthen a step,
  and :func:`exact_quadratic` ignore it and start from ``init_step``. A guess that is not a positive
  finite number is ignored. The Newton family (:mod:`ml_opt.newton`) passes it, so a
  :class:`LineSearch` made by hand for those solvers must accept the keyword (and may ignore it).
* Everything is jittable and vmappable: one ``lax.while_loop`` with one evaluation of ``f`` (and its
  gradient) per iteration, a bounded number of iterations; hyperparameters may be JAX scalars.
* **Failure.** A search that cannot meet its conditions within ``max_steps`` evaluations (or along a
  direction that is not a descent direction, ``grad^T d >= 0``, where it evaluates nothing) returns
  ``success=False`` and the best point it saw, or, if it saw none, step 0 (no move: ``value``/``grad``
  are the ones passed in). For :func:`zoom` that is the lowest value among the trials that satisfy
  sufficient decrease or lie below ``f(x)`` by more than its rounding noise (100 ulps): where ``f``
  is far steeper than its linear model, a trial can lower it by a hundred orders of magnitude and
  still miss the linear prediction's fraction ``c1`` (MGH's Osborne 1 from a perturbed start, seed
  1: at f = 9.7e97, with a gradient of 6e100, ``nonlinear_cg``'s 30 trials bisect back to f = 139,
  none of them with sufficient decrease). :func:`backtracking`, which stops at its first
  sufficient-decrease trial, has none to return.
  It never returns a non-finite value from a trial step: a trial where ``f`` or its slope is
  non-finite counts as a failed sufficient-decrease test and the search steps back.
* **Rounding floor.** Near a minimiser, where the predicted change :math:`\alpha |\phi'(0)|` is
  below the rounding noise of ``f`` (taken as 100 ulps of ``f(x)``), :func:`zoom` steers by slopes
  and also accepts an *approximate Wolfe* point (Hager & Zhang 2005): a value within that noise of
  ``f(x)``, the curvature condition, and the slope form of sufficient decrease,
  :math:`\phi'(\alpha) \le (1 - 2c_1)|\phi'(0)|`. So gradients keep shrinking below the
  resolution of ``f`` instead of the search failing there.

References:
  Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, section 3.5 (Algorithms 3.1, 3.5, 3.6;
  eqs. 3.57-3.60 for interpolation and initial steps).
  Moré & Thuente, Line search algorithms with guaranteed sufficient decrease, ACM TOMS 20(3), 1994
  (the safeguarding of the extrapolation interval).
  Hager & Zhang, A new conjugate gradient method with guaranteed descent and an efficient line
  search, SIAM J. Optim. 16(1), 2005 (the approximate Wolfe conditions).
"""

from __future__ import annotations

import numbers
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
from optax import tree_utils as otu

from ml_opt._base import add_scaled, check_integer, check_scalar, equal_when_made_alike

Array = jax.Array
PyTree = Any

__all__ = [
    "LineSearch",
    "LineSearchResult",
    "backtracking",
    "exact_quadratic",
    "zoom",
]


class LineSearchResult(NamedTuple):
    """What a line search returns (every field a JAX value; batched under ``jax.vmap``).

    Attributes:
      step: the step :math:`\\alpha` taken: the accepted one, or after a failure the best point's
        (see *Failure* in the module docstring); 0 when the search did not move.
      value: :math:`f(x + \\alpha d)`.
      grad: :math:`\\nabla f(x + \\alpha d)`, a pytree like ``params``.
      success: whether the search's conditions (strong Wolfe for :func:`zoom`, or approximate Wolfe at the rounding floor of ``f``; sufficient decrease
        for :func:`backtracking`, a positive curvature and a decrease for :func:`exact_quadratic`)
        hold at the returned point.
      num_fun_evals: evaluations of ``f`` the search made (int32).
      num_grad_evals: evaluations of ``grad f`` the search made (int32).
      num_hvp_evals: Hessian-vector products the search made (int32).
    """

    step: Array
    value: Array
    grad: PyTree
    success: Array
    num_fun_evals: Array
    num_grad_evals: Array
    num_hvp_evals: Array


class LineSearch(NamedTuple):
    """A line search, as a value: ``ls.search(fun, params, direction, *, value, grad, init_step, guess)``.

    Attributes:
      name: ``"zoom"``, ``"backtracking"`` or ``"exact_quadratic"``.
      search: ``search(fun, params, direction, *, value, grad, init_step=1.0, guess=None) ->
        LineSearchResult``; see the module docstring for the contract.
    """

    name: str
    search: Callable[..., LineSearchResult]


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _slope(grad: PyTree, d: PyTree, dtype) -> Array:
    return jnp.asarray(otu.tree_vdot(grad, d), dtype)


def _scalar_dtype(value: Array):
    dtype = jnp.result_type(value)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"value must be a floating-point scalar, got dtype {dtype}")
    return dtype


def _initial_step(init_step: Any, dtype) -> Array:
    if isinstance(init_step, numbers.Real):  # given by hand, not computed by a solver: must be a step
        check_scalar(init_step, "init_step", lower=0.0, lower_open=True)
    a = jnp.asarray(init_step, dtype)
    return jnp.where(jnp.isfinite(a) & (a > 0), a, jnp.ones([], dtype))


def _shorter_guess(guess: Any, natural: Array) -> Array:
    """``min(guess, natural)``, or ``natural`` where ``guess`` is not a positive finite number."""
    g = jnp.asarray(guess, natural.dtype)
    return jnp.where(jnp.isfinite(g) & (g > 0), jnp.minimum(g, natural), natural)


def _step_resolution(params: PyTree, direction: PyTree, dtype) -> Array:
    r"""The longest step that moves no coordinate of ``params``: :math:`\min_i \varepsilon |x_i| / |d_i|`.

    Over the coordinates with :math:`d_i \ne 0` (:math:`\varepsilon` of each leaf's dtype); an
    interval of steps narrower than this cannot change ``params + step * direction``.

    Example:
      >>> import jax.numpy as jnp
      >>> from ml_opt.linesearch import _step_resolution
      >>> float(_step_resolution(jnp.array([4.0, 1.0]), jnp.array([1.0, 0.0]), jnp.float32)) == 4 * 2.0 ** -23
      True
    """
    def per_leaf(x, d):
        moves = d != 0
        ratio = jnp.finfo(x.dtype).eps * jnp.abs(x) / jnp.where(moves, jnp.abs(d), 1)
        return jnp.min(jnp.where(moves, ratio, jnp.inf), initial=jnp.inf).astype(dtype)

    return jnp.min(jnp.stack([per_leaf(x, d) for x, d in zip(jax.tree.leaves(params), jax.tree.leaves(direction))]))


def _cubic_minimizer(a, fa, da, b, fb, db):
    """Minimiser of the cubic matching f and f' at a and b (N&W eq. 3.59), and whether it exists."""
    d1 = da + db - 3.0 * (fa - fb) / (a - b)
    disc = d1 * d1 - da * db
    d2 = jnp.sign(b - a) * jnp.sqrt(jnp.maximum(disc, 0.0))
    t = b - (b - a) * (db + d2 - d1) / (db - da + 2.0 * d2)
    return t, (disc >= 0) & jnp.isfinite(t)


def _quadratic_minimizer(a, fa, da, b, fb):
    """Minimiser of the quadratic matching f(a), f'(a), f(b) (N&W eq. 3.57), and whether it exists."""
    h = b - a
    curv = fb - fa - da * h  # = c h^2 with c the quadratic's leading coefficient
    t = a - da * h * h / (2.0 * curv)
    return t, (curv > 0) & jnp.isfinite(t)


# --------------------------------------------------------------------------------------------
# zoom: strong Wolfe (N&W Algorithms 3.5 and 3.6)
# --------------------------------------------------------------------------------------------

_BRACKET, _ZOOM, _DONE = 0, 1, 2


class _ZoomCarry(NamedTuple):
    count: Array  # trials evaluated so far
    phase: Array  # _BRACKET, _ZOOM or _DONE
    trial: Array  # the next step to evaluate
    lo_step: Array  # bracketing: the previous trial (step 0 at first); zooming: the end that meets
    lo_value: Array  # sufficient decrease with the lowest value seen
    lo_slope: Array
    hi_step: Array
    hi_value: Array
    hi_slope: Array
    width_1: Array  # zoom interval's width one and two trials ago (inf while bracketing)
    width_2: Array
    best_step: Array  # what is returned: the accepted point, or the best point seen (module docstring)
    best_value: Array
    best_grad: PyTree
    success: Array


@equal_when_made_alike
def zoom(
        c1: float | Array = 1e-4,
        c2: float | Array = 0.9,
        max_steps: int | Array = 30,
        *,
        interpolation: str = "more_thuente",
        interpolation_margin: float | Array = 0.01,
        extrapolation_bounds: tuple[float, float] = (1.1, 4.0),
) -> LineSearch:
    r"""The strong Wolfe line search (Nocedal & Wright, Algorithms 3.5 "line search" and 3.6 "zoom").

    Finds :math:`\alpha > 0` with

    .. math::
        \phi(\alpha) \le \phi(0) + c_1 \alpha \phi'(0) \quad\text{and}\quad
        |\phi'(\alpha)| \le c_2 |\phi'(0)|, \qquad \phi(\alpha) = f(x + \alpha d).

    *Bracketing* (Algorithm 3.5): from the initial step, while the trial decreases :math:`\phi` and its
    slope is still negative and too steep, the step grows to the minimiser of the cubic through the last
    two trials (values and slopes), kept within ``extrapolation_bounds`` times the last increment beyond
    the trial (Moré & Thuente's safeguard; the upper bound when the cubic has no minimiser ahead; from a
    solver's ``guess`` shorter than ``init_step``, at least ``init_step``: see the module docstring).
    The lower bound holds from the second extrapolation on: the first, from the initial trial, may take
    the cubic's minimiser anywhere beyond it up to the upper bound, as in Moré & Thuente's ``dcsrch``,
    whose first interval starts at 0 (on a quadratic, that is the exact minimiser along the line, which
    a forced lengthening would overshoot). Once an interval is known to contain a Wolfe point, *zoom*
    (Algorithm 3.6) shrinks it: each trial is the minimiser :math:`\alpha_c` of the cubic Hermite
    interpolant of the interval's ends (eq. 3.59), else the minimiser :math:`\alpha_q` of the quadratic
    through ``f(lo), f'(lo), f(hi)`` (eq. 3.57), else the midpoint, kept at least
    ``interpolation_margin`` times the width from either end, except where :math:`\alpha_c` and
    :math:`\alpha_q` agree to :math:`\sqrt{\varepsilon}` relative to their distance from ``lo`` (above
    the rounding floor, below): then :math:`\phi` is a quadratic as far as the ends tell, and its
    minimiser is taken wherever it lies (a conjugate gradient step on an ill-conditioned quadratic may
    start 100 times too long); and, as Moré & Thuente do, the midpoint whenever two zoom trials have not
    shrunk the interval to 2/3 of its width. With ``interpolation="more_thuente"`` (the default), a
    trial that became the interval's ``hi`` end because its value was too high (no sufficient decrease,
    or not below ``f(lo)``) is followed, as in Moré & Thuente's case 1, by :math:`\alpha_c` only if that
    is closer to ``lo`` than :math:`\alpha_q`, and else by :math:`(\alpha_c + \alpha_q)/2`: where ``f``
    rises steeply beyond its minimiser along the line (a Newton step that overshoots), the cubic's step
    is too long, and the quadratic, which sees the rise in ``f(hi)`` alone, pulls it back. ``"cubic"``
    takes :math:`\alpha_c` throughout. Each trial evaluates ``f`` and its gradient once
    (``jax.value_and_grad``). A first trial too short to move any coordinate of ``x`` (below
    :math:`\min_i \varepsilon |x_i| / |d_i|`), which would return :math:`\phi(0)` itself and say
    nothing about :math:`\phi`, is lengthened to that step (a solver's eq. 3.60 guess can be that
    short where one coordinate's gradient is huge, as on badly scaled problems).

    At the rounding floor of ``f`` (the predicted change :math:`\alpha|\phi'(0)|` below 100 ulps of
    :math:`f(x)`) values are noise: there a value within that noise counts as a decrease, slopes
    alone steer the bracket (secant steps), and the approximate Wolfe conditions of Hager & Zhang
    accept a point (see the module docstring).

    The search stops after ``max_steps`` trials, or when the zoom interval is below floating-point
    resolution: it no longer changes any coordinate of ``x``, or it changes ``x`` by less than
    :math:`\varepsilon \|x\|_\infty` while the slopes at its ends say that ``f`` cannot change across
    it by more than its noise. (The second test alone, on norms, would stop a search on a badly scaled
    problem, near MGH's brown_badly_scaled minimiser (1e6, 2e-6), where the small coordinate still
    moves and f still falls.) It then returns ``success=False`` and its best point (see the module
    docstring).

    Args:
      c1: sufficient-decrease constant, ``0 < c1 < 1``.
      c2: curvature constant, ``c1 <= c2 < 1`` (0.9 for Newton and quasi-Newton directions, 0.1-0.4
        for nonlinear conjugate gradients).
      max_steps: the most trials (function-and-gradient evaluations), a positive integer.
      interpolation: ``"more_thuente"`` or ``"cubic"``: the zoom trial after a trial whose value was
        too high (see above).
      interpolation_margin: in ``(0, 0.5)``; the zoom trials stay this fraction of the interval's
        width away from its ends (unless the interpolants agree, above).
      extrapolation_bounds: ``(low, high)`` with ``1 <= low <= high``: while bracketing, the next trial
        lies in ``[a + low (a - a_prev), a + high (a - a_prev)]`` (Python numbers); after the initial
        trial (``a_prev = 0``) in ``(a, a + high a]``.

    Returns:
      A :class:`LineSearch`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from ml_opt.linesearch import zoom
      >>> f = lambda x: jnp.sum((x - 1.0) ** 2)
      >>> x = jnp.zeros(2); g = jax.grad(f)(x)
      >>> res = zoom().search(f, x, -g, value=f(x), grad=g, init_step=1.0)
      >>> float(res.step), bool(res.success)
      (0.5, True)

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithms 3.5 and 3.6, eq. 3.59.
      Moré & Thuente, Line search algorithms with guaranteed sufficient decrease, 1994.
    """
    check_scalar(c1, "c1", lower=0.0, upper=1.0, lower_open=True, upper_open=True)
    check_scalar(c2, "c2", lower=0.0, upper=1.0, lower_open=True, upper_open=True)
    try:
        if float(c2) < float(c1):
            raise ValueError(f"zoom needs c1 <= c2; got c1={c1!r}, c2={c2!r}")
    except (TypeError, jax.errors.ConcretizationTypeError):
        pass  # traced: not checked
    check_integer(max_steps, "max_steps", lower=1)
    if interpolation not in ("more_thuente", "cubic"):
        raise ValueError(f"interpolation must be 'more_thuente' or 'cubic', got {interpolation!r}")
    more_thuente = interpolation == "more_thuente"
    check_scalar(interpolation_margin, "interpolation_margin", lower=0.0, upper=0.5, lower_open=True, upper_open=True)
    low, high = extrapolation_bounds
    if not (1.0 <= float(low) <= float(high)):
        raise ValueError(f"extrapolation_bounds must satisfy 1 <= low <= high, got {extrapolation_bounds!r}")

    def search(fun, params, direction, *, value, grad, init_step=1.0, guess=None) -> LineSearchResult:
        dtype = _scalar_dtype(value)
        f0 = jnp.asarray(value, dtype)
        dphi0 = _slope(grad, direction, dtype)
        c1_, c2_ = jnp.asarray(c1, dtype), jnp.asarray(c2, dtype)
        margin = jnp.asarray(interpolation_margin, dtype)
        eps = jnp.asarray(jnp.finfo(dtype).eps, dtype)
        value_and_grad = jax.value_and_grad(fun)
        zero = jnp.zeros([], dtype)
        descent = jnp.isfinite(f0) & jnp.isfinite(dphi0) & (dphi0 < 0)
        noise = 100 * eps * jnp.abs(f0)
        x_max = jnp.asarray(otu.tree_norm(params, ord=jnp.inf), dtype)
        d_max = jnp.asarray(otu.tree_norm(direction, ord=jnp.inf), dtype)
        resolution = _step_resolution(params, direction, dtype)

        natural = _initial_step(init_step, dtype)
        first = natural if guess is None else _shorter_guess(guess, natural)
        # (a first trial that moves no coordinate of x says nothing; resolution = inf where d = 0)
        first = jnp.where(jnp.isfinite(resolution), jnp.maximum(first, resolution), first)

        def body(s: _ZoomCarry) -> _ZoomCarry:
            a = s.trial
            f, g = value_and_grad(add_scaled(params, a, direction))
            f = jnp.asarray(f, dtype)
            dphi = _slope(g, direction, dtype)
            finite = jnp.isfinite(f) & jnp.isfinite(dphi)
            f = jnp.where(finite, f, jnp.inf)  # a non-finite trial fails sufficient decrease
            dphi = jnp.where(finite, dphi, jnp.nan)
            armijo = f <= f0 + c1_ * a * dphi0
            curvature = jnp.abs(dphi) <= -c2_ * dphi0
            bracketing = s.phase == _BRACKET
            # The rounding floor of f (Hager & Zhang 2005): where the whole predicted change
            # a |phi'(0)| is below f's noise (100 ulps of f(0)), values cannot tell sufficient
            # decrease; there a value within noise of f(0) counts as a decrease, comparisons of
            # values are not trusted (slopes decide), and a point meeting the curvature condition and
            # the slope form of sufficient decrease, phi'(a) <= (1 - 2 c1) |phi'(0)|, is accepted
            # (the approximate Wolfe conditions).
            noisy = a * jnp.abs(dphi0) <= noise
            decrease = armijo | (noisy & (f <= f0 + noise))

            # Algorithms 3.5 (bracketing; lo is the previous trial) and 3.6 (zoom) alike: the trial
            # becomes the interval's hi end if its value is too high, that is without sufficient
            # decrease or not below f(lo): while bracketing from the second trial on ("zoom(prev, a)");
            # while zooming, a value tied with f(lo) at rounding level (near a minimiser) counts as
            # lower when its slope is smaller in magnitude, so the search can still finish there.
            tie_better = (f == s.lo_value) & (jnp.abs(dphi) < jnp.abs(s.lo_slope))
            compared = jnp.where(bracketing, s.count > 0, ~tie_better)
            a_is_hi = ~decrease | ((f >= s.lo_value) & compared & ~noisy)
            # Otherwise the trial becomes lo. The old lo becomes hi where the slope at the trial
            # points back to it: while bracketing, a non-negative slope ("zoom(a, prev)"); while
            # zooming, phi'(a) (hi - lo) >= 0. While bracketing, a negative slope that is still too
            # steep extends the bracket beyond the trial.
            lo_to_hi = ~curvature & jnp.where(bracketing, dphi >= 0, dphi * (s.hi_step - s.lo_step) >= 0)
            extrapolate = bracketing & ~a_is_hi & ~curvature & (dphi < 0)

            approx = noisy & decrease & curvature & (dphi <= (2 * c1_ - 1) * dphi0)
            accepted = (~a_is_hi & curvature & (armijo | approx)) | approx
            # The best point so far, returned if the search fails: the lowest value that meets
            # sufficient decrease or is below f(0) by more than its noise.
            better = (armijo | (f < f0 - noise)) & (f < s.best_value)
            take = accepted | better
            best_step = jnp.where(take, a, s.best_step)
            best_value = jnp.where(take, f, s.best_value)
            best_grad = otu.tree_where(take, g, s.best_grad)

            # New interval [lo, hi] (once the search is over, what they hold does not matter).
            lo_step = jnp.where(a_is_hi, s.lo_step, a)
            lo_value = jnp.where(a_is_hi, s.lo_value, f)
            lo_slope = jnp.where(a_is_hi, s.lo_slope, dphi)
            hi_step = jnp.where(a_is_hi, a, jnp.where(lo_to_hi, s.lo_step, s.hi_step))
            hi_value = jnp.where(a_is_hi, f, jnp.where(lo_to_hi, s.lo_value, s.hi_value))
            hi_slope = jnp.where(a_is_hi, dphi, jnp.where(lo_to_hi, s.lo_slope, s.hi_slope))

            # Next trial. Extrapolation (still bracketing): the cubic's minimiser ahead of a, within bounds.
            inc = a - s.lo_step
            ext, ext_ok = _cubic_minimizer(s.lo_step, s.lo_value, s.lo_slope, a, f, dphi)
            # The lower bound holds from the second extrapolation on: the first may take the
            # cubic's minimiser anywhere beyond a (Moré & Thuente's dcsrch starts with stmin = 0).
            ext_lo, ext_hi = jnp.where(s.count == 0, a, a + low * inc), a + high * inc
            ext_ok = ext_ok & (ext > a)
            extrapolated = jnp.where(ext_ok, jnp.clip(ext, ext_lo, ext_hi), ext_hi)
            if guess is not None:  # lengthening the guessed first trial: the natural step next
                lengthen_guess = (s.count == 0) & (a < natural)
                extrapolated = jnp.where(lengthen_guess, jnp.maximum(extrapolated, natural), extrapolated)
            # Interpolation (zooming): cubic, else quadratic, else bisection, kept off the ends.
            cub, cub_ok = _cubic_minimizer(lo_step, lo_value, lo_slope, hi_step, hi_value, hi_slope)
            quad, quad_ok = _quadratic_minimizer(lo_step, lo_value, lo_slope, hi_step, hi_value)
            mid = 0.5 * (lo_step + hi_step)
            left, right = jnp.minimum(lo_step, hi_step), jnp.maximum(lo_step, hi_step)
            width = right - left
            # Where the cubic, which uses f'(hi), and the quadratic, which does not, agree to sqrt(eps)
            # on the step from lo, phi is a quadratic as far as the interval's ends tell: its
            # minimiser is taken however near an end it lies.
            agree = cub_ok & quad_ok & (jnp.abs(cub - quad) < jnp.sqrt(eps) * jnp.abs(quad - lo_step))
            if more_thuente:
                # Moré & Thuente's case 1: when the trial became hi by its too high value, the cubic's
                # minimiser if it is closer to lo than the quadratic's, else their average (a steep
                # rise, which the quadratic sees, pulls the cubic's overlong step back towards lo).
                far = jnp.abs(cub - lo_step) >= jnp.abs(quad - lo_step)
                cub = jnp.where(a_is_hi & quad_ok & far, 0.5 * (cub + quad), cub)
            inter = jnp.where(cub_ok, cub, jnp.where(quad_ok, quad, mid))
            # At the rounding floor values are noise: the secant on the slopes instead (and the
            # interpolants' agreement tells nothing).
            secant = lo_step - lo_slope * (hi_step - lo_step) / (hi_slope - lo_slope)
            at_floor = right * jnp.abs(dphi0) <= noise
            inter = jnp.where(at_floor, secant, inter)
            off_end = jnp.where(agree & ~at_floor, 0.0, margin) * width
            inter = jnp.clip(inter, left + off_end, right - off_end)
            slow = width > (2.0 / 3.0) * s.width_2  # Moré-Thuente: bisect if two trials shrank too little
            inter = jnp.where(jnp.isfinite(inter) & ~slow, inter, mid)

            next_zoom = ~accepted & ~extrapolate
            trial = jnp.where(next_zoom, inter, extrapolated)
            count = s.count + 1
            # Below floating-point resolution: the interval no longer moves any coordinate of x; or it
            # moves x by less than eps ||x||_inf and, by the slopes at its ends, f cannot change
            # across it by more than its noise (a NaN slope, from a non-finite trial, does not object).
            flat = ~(jnp.maximum(jnp.abs(lo_slope), jnp.abs(hi_slope)) * width > noise)
            too_small = next_zoom & ((width <= 4 * eps * right) | (width <= resolution)
                                     | ((width * d_max <= eps * x_max) & flat))
            stop = accepted | (count >= max_steps) | too_small | ~jnp.isfinite(trial)
            phase = jnp.where(stop, _DONE, jnp.where(next_zoom, _ZOOM, _BRACKET))
            return _ZoomCarry(
                count=count,
                phase=phase.astype(jnp.int32),
                trial=trial,
                lo_step=lo_step,
                lo_value=lo_value,
                lo_slope=lo_slope,
                hi_step=hi_step,
                hi_value=hi_value,
                hi_slope=hi_slope,
                width_1=jnp.where(next_zoom, width, jnp.inf),
                width_2=jnp.where(next_zoom, s.width_1, jnp.inf),
                best_step=best_step,
                best_value=best_value,
                best_grad=best_grad,
                success=accepted,
            )

        init = _ZoomCarry(
            count=jnp.zeros([], jnp.int32),
            phase=jnp.where(descent, _BRACKET, _DONE).astype(jnp.int32),
            trial=first,
            lo_step=zero,
            lo_value=f0,
            lo_slope=dphi0,
            hi_step=zero,
            hi_value=f0,
            hi_slope=dphi0,
            width_1=jnp.asarray(jnp.inf, dtype),
            width_2=jnp.asarray(jnp.inf, dtype),
            best_step=zero,
            best_value=f0,
            best_grad=grad,
            success=jnp.zeros([], bool),
        )
        final = jax.lax.while_loop(lambda s: s.phase != _DONE, body, init)
        return LineSearchResult(
            step=final.best_step,
            value=final.best_value,
            grad=final.best_grad,
            success=final.success,
            num_fun_evals=final.count,
            num_grad_evals=final.count,
            num_hvp_evals=jnp.zeros([], jnp.int32),
        )

    return LineSearch("zoom", search)


# --------------------------------------------------------------------------------------------
# backtracking: Armijo (N&W Algorithm 3.1)
# --------------------------------------------------------------------------------------------


class _BacktrackCarry(NamedTuple):
    count: Array
    trial: Array
    step: Array
    value: Array
    done: Array


@equal_when_made_alike
def backtracking(
        c1: float | Array = 1e-4,
        shrink: float | Array = 0.5,
        max_steps: int | Array = 30,
) -> LineSearch:
    r"""Backtracking line search for sufficient decrease (Armijo; Nocedal & Wright, Algorithm 3.1).

    .. math::
        \alpha \leftarrow \alpha_0; \quad
        \textbf{while } \phi(\alpha) > \phi(0) + c_1 \alpha \phi'(0): \ \alpha \leftarrow \rho\,\alpha

    Only values are evaluated in the loop; the gradient is evaluated once, at the accepted point.
    After ``max_steps`` values without sufficient decrease it returns step 0 and ``success=False``.

    Args:
      c1: sufficient-decrease constant, ``0 < c1 < 1``.
      shrink: the contraction factor :math:`\rho`, ``0 < shrink < 1``.
      max_steps: the most trial values, a positive integer.

    Returns:
      A :class:`LineSearch`.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from ml_opt.linesearch import backtracking
      >>> f = lambda x: jnp.sum(x ** 2)
      >>> x = jnp.ones(2); g = jax.grad(f)(x)
      >>> float(backtracking().search(f, x, -g, value=f(x), grad=g, init_step=1.0).step)
      0.5

    References:
      Armijo, Minimization of functions having Lipschitz continuous first partial derivatives, 1966.
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, Algorithm 3.1.
    """
    check_scalar(c1, "c1", lower=0.0, upper=1.0, lower_open=True, upper_open=True)
    check_scalar(shrink, "shrink", lower=0.0, upper=1.0, lower_open=True, upper_open=True)
    check_integer(max_steps, "max_steps", lower=1)

    def search(fun, params, direction, *, value, grad, init_step=1.0, guess=None) -> LineSearchResult:
        dtype = _scalar_dtype(value)
        f0 = jnp.asarray(value, dtype)
        dphi0 = _slope(grad, direction, dtype)
        c1_, rho = jnp.asarray(c1, dtype), jnp.asarray(shrink, dtype)
        descent = jnp.isfinite(f0) & jnp.isfinite(dphi0) & (dphi0 < 0)
        zero = jnp.zeros([], dtype)

        def body(s: _BacktrackCarry) -> _BacktrackCarry:
            f = jnp.asarray(fun(add_scaled(params, s.trial, direction)), dtype)
            ok = jnp.isfinite(f) & (f <= f0 + c1_ * s.trial * dphi0)
            count = s.count + 1
            return _BacktrackCarry(
                count=count,
                trial=s.trial * rho,
                step=jnp.where(ok, s.trial, s.step),
                value=jnp.where(ok, f, s.value),
                done=ok | (count >= max_steps),
            )

        init = _BacktrackCarry(jnp.zeros([], jnp.int32), _initial_step(init_step, dtype), zero, f0, ~descent)
        final = jax.lax.while_loop(lambda s: ~s.done, body, init)
        moved = final.step > 0
        new_grad = jax.lax.cond(
                moved, lambda: jax.grad(fun)(add_scaled(params, final.step, direction)), lambda: grad
        )
        return LineSearchResult(
            step=final.step,
            value=final.value,
            grad=new_grad,
            success=moved,
            num_fun_evals=final.count,
            num_grad_evals=moved.astype(jnp.int32),
            num_hvp_evals=jnp.zeros([], jnp.int32),
        )

    return LineSearch("backtracking", search)


# --------------------------------------------------------------------------------------------
# exact_quadratic
# --------------------------------------------------------------------------------------------


@equal_when_made_alike
def exact_quadratic(curvature: str = "hvp") -> LineSearch:
    r"""The exact minimiser along :math:`d` of a quadratic :math:`f(x) = \tfrac12 x^\top A x - b^\top x`.

    .. math::
        \alpha^* = -\frac{\nabla f(x)^\top d}{d^\top A d}

    The curvature :math:`d^\top A d` comes from one Hessian-vector product (``curvature="hvp"``,
    forward-over-reverse :func:`jax.jvp` of the gradient), or from the change of slope over the
    initial step :math:`\alpha_0` (``curvature="secant"``:
    :math:`d^\top A d = (\nabla f(x + \alpha_0 d) - \nabla f(x))^\top d / \alpha_0`, one gradient),
    exact for quadratics either way. Then ``f`` and its gradient are evaluated at the step.

    On a non-quadratic objective this is the minimiser of the local quadratic model; if the
    curvature along ``d`` is not positive, ``d`` is not a descent direction, or the step does not
    decrease ``f``, the search returns step 0 and ``success=False``.

    Args:
      curvature: ``"hvp"`` or ``"secant"``.

    Returns:
      A :class:`LineSearch`.

    References:
      Nocedal & Wright, Numerical Optimization, 2nd ed., 2006, eq. 3.55 and section 5.1.
    """
    if curvature not in ("hvp", "secant"):
        raise ValueError(f"curvature must be 'hvp' or 'secant', got {curvature!r}")

    def search(fun, params, direction, *, value, grad, init_step=1.0, guess=None) -> LineSearchResult:
        dtype = _scalar_dtype(value)
        f0 = jnp.asarray(value, dtype)
        dphi0 = _slope(grad, direction, dtype)
        a0 = _initial_step(init_step, dtype)  # checked here; used by the secant only
        if curvature == "hvp":
            _, hd = jax.jvp(jax.grad(fun), (params,), (direction,))
            dad = _slope(hd, direction, dtype)
            extra = dict(num_fun_evals=0, num_grad_evals=0, num_hvp_evals=1)
        else:
            g0 = jax.grad(fun)(add_scaled(params, a0, direction))
            dad = (_slope(g0, direction, dtype) - dphi0) / a0
            extra = dict(num_fun_evals=0, num_grad_evals=1, num_hvp_evals=0)
        ok = jnp.isfinite(f0) & (dphi0 < 0) & (dad > 0) & jnp.isfinite(dad)
        step = jnp.where(ok, -dphi0 / jnp.where(ok, dad, 1.0), 0.0).astype(dtype)
        f, g = jax.value_and_grad(fun)(add_scaled(params, step, direction))
        f = jnp.asarray(f, dtype)
        ok = ok & jnp.isfinite(f) & (f <= f0)
        return LineSearchResult(
            step=jnp.where(ok, step, jnp.zeros([], dtype)),
            value=jnp.where(ok, f, f0),
            grad=otu.tree_where(ok, g, grad),
            success=ok,
            num_fun_evals=jnp.asarray(extra["num_fun_evals"] + 1, jnp.int32),
            num_grad_evals=jnp.asarray(extra["num_grad_evals"] + 1, jnp.int32),
            num_hvp_evals=jnp.asarray(extra["num_hvp_evals"], jnp.int32),
        )

    return LineSearch("exact_quadratic", search)
