"""The full-batch driver: ``minimize(fun, x0, optimizer)`` as one jit-compiled ``lax.while_loop``.

Every optimizer of the library (and any optax transformation) runs through the same loop::

    g = grad f(x_0)
    while ||g||_inf > gtol and k < max_steps:
        updates, state = optimizer.update(g, state, x_k, value=f(x_k), grad=g, value_fn=f)
        x_{k+1} = x_k + updates
        f, g at x_{k+1}: read from the solver's state when it evaluated them there (its line
                         search did, and the update applied is the one it returned),
                         evaluated here otherwise

The loop stops on the first of: convergence (``||g||_inf <= gtol``), ``max_steps`` updates, a
non-finite objective or gradient (the last finite iterate is returned, or ``x0`` where ``f`` or its
gradient is not finite there, and the status says so), or
a solver that reports ``stalled`` (see :mod:`ml_opt._base` for the state fields read here).

The whole solve runs as one *small call* (:mod:`ml_opt.small_call`), which XLA:CPU compiles into a
single function where the code allows, in every context (called alone, or inside your own
``jax.jit`` or ``jax.vmap``).

Evaluation counts are exact for solvers that keep counters (every ``ml_opt`` rule): the driver
counts its own evaluations and adds the counters the solver keeps in its state. An optax optimizer
that evaluates the objective itself keeps no such counters (``optax.lbfgs``'s line search): only the
driver's evaluations are counted then.
"""

from __future__ import annotations

import enum
import functools
import numbers
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from optax import tree_utils as otu

from ml_opt._base import check_integer, check_params, check_scalar
from ml_opt.compilation import not_traced, solver_compiler_options
from ml_opt.small_call import small_call

PyTree = Any


class Status(enum.IntEnum):
    """Why :func:`minimize` stopped."""

    RUNNING = -1
    CONVERGED = 0
    MAX_STEPS = 1
    NONFINITE = 2
    STALLED = 3


_MESSAGES = {
    Status.RUNNING: "still running (the loop was cut short)",
    Status.CONVERGED: "converged: ||grad||_inf <= gtol",
    Status.MAX_STEPS: "stopped after max_steps updates without reaching gtol",
    Status.NONFINITE: ("stopped: the objective or gradient is non-finite (at x0, which is returned; or "
                       "after an update, and the last finite iterate is returned)"),
    Status.STALLED: ("stopped: the solver could make no further progress (line search failed; "
                     "Levenberg-Marquardt: no acceptable damped step)"),
}


class Result(NamedTuple):
    """What :func:`minimize` returns (batched along a leading axis under ``jax.vmap``).

    Attributes:
      params: the final iterate (the last finite one if the run went non-finite).
      value: the objective at ``params``, in the dtype ``fun`` returns (which may differ from the
        params' dtype).
      grad: the gradient at ``params``.
      grad_norm: ``||grad||_inf``.
      num_steps: the number of updates made; when ``status`` is ``NONFINITE`` the last one was
        rejected (``params`` is the iterate before it).
      num_fun_evals: objective evaluations, the driver's and the solver's.
      num_grad_evals: gradient evaluations, the driver's and the solver's.
      num_hvp_evals: Hessian-vector products the solver made (a dense Hessian counts ``n``).
      converged: ``status == Status.CONVERGED``.
      status: a :class:`Status` code (an int array).
      opt_state: the optimizer state at the end, e.g. to resume.
    """

    params: PyTree
    value: jax.Array
    grad: PyTree
    grad_norm: jax.Array
    num_steps: jax.Array
    num_fun_evals: jax.Array
    num_grad_evals: jax.Array
    num_hvp_evals: jax.Array
    converged: jax.Array
    status: jax.Array
    opt_state: PyTree

    @property
    def message(self) -> str:
        """A sentence on why the run stopped (for an unbatched result)."""
        return _MESSAGES[Status(int(self.status))]


def _state_fields(state: PyTree, name: str) -> list[jax.Array]:
    return [v for _, v in otu.tree_get_all_with_path(state, name)]


def _solver_count(state: PyTree, name: str) -> jax.Array:
    return sum((jnp.asarray(v, jnp.int32) for v in _state_fields(state, name)), jnp.zeros([], jnp.int32))


def _solver_value_and_grad(state: PyTree, params: PyTree, updates: PyTree) -> tuple[jax.Array, PyTree] | None:
    """The objective and gradient the solver evaluated at the new params, if it keeps them.

    They are at the new params only if the update applied is the solver's own: the very value it
    returned (checked when tracing, so at no run-time cost), not one that a later transformation
    of a chain has changed.
    """
    values, grads, own = _state_fields(state, "value"), _state_fields(state, "grad"), _state_fields(state, "update")
    if len(values) != 1 or len(grads) != 1 or len(own) != 1 or own[0] is not updates:
        return None
    if jax.tree.structure(grads[0]) != jax.tree.structure(params):
        return None
    return values[0], grads[0]


def _inf_norm(tree: PyTree) -> jax.Array:
    """``max_i |g_i|`` over every leaf (0 for no entries): NaN if any entry is NaN, else inf if any is."""
    return jnp.maximum(otu.tree_norm(tree, ord=jnp.inf), 0)


class _Carry(NamedTuple):
    params: PyTree
    opt_state: PyTree
    value: jax.Array
    grad: PyTree
    grad_norm: jax.Array
    num_steps: jax.Array
    driver_evals: jax.Array
    status: jax.Array


def _minimize(fun, optimizer, x0, args, max_steps, gtol) -> Result:
    # The whole solve in one call, which XLA:CPU compiles into one function where it can
    # (ml_opt.small_call); the arrays fun closes over are then constants of that call's own code.
    return small_call(functools.partial(_solve, fun, optimizer), x0, args, max_steps, gtol)


def _solve(fun, optimizer, x0, args, max_steps, gtol) -> Result:
    def value_fn(params):
        return fun(params, *args)

    value_and_grad = jax.value_and_grad(value_fn)
    out = jax.eval_shape(value_fn, x0)  # at trace time: what fun returns
    if not isinstance(out, jax.ShapeDtypeStruct):
        raise TypeError(f"fun must return a floating-point scalar; got a {type(out).__name__}: {out}")
    if out.shape != () or not jnp.issubdtype(out.dtype, jnp.floating):
        raise TypeError(f"fun must return a floating-point scalar; got shape {out.shape} dtype {out.dtype}")

    def all_finite(value, grad_norm):
        # The gradient is finite exactly when its inf-norm is (the max propagates NaN and inf), so one
        # reduction over it serves both tests.
        return jnp.isfinite(value) & jnp.isfinite(grad_norm)

    def status_of(finite, grad_norm, num_steps, stalled):
        # Precedence: NONFINITE, CONVERGED, STALLED, MAX_STEPS (each where below overrides the ones
        # before it; one elementwise kernel, where jnp.select compiles to an extra reduction).
        status = jnp.where(num_steps >= max_steps, Status.MAX_STEPS, Status.RUNNING)
        status = jnp.where(stalled, Status.STALLED, status)
        status = jnp.where(grad_norm <= gtol, Status.CONVERGED, status)
        return jnp.where(finite, status, Status.NONFINITE).astype(jnp.int32)

    value, grad = value_and_grad(x0)
    grad_norm = _inf_norm(grad)
    zero = jnp.zeros([], jnp.int32)
    init = _Carry(
        params=x0,
        opt_state=optimizer.init(x0),
        value=value,
        grad=grad,
        grad_norm=grad_norm,
        num_steps=zero,
        driver_evals=zero + 1,
        status=status_of(all_finite(value, grad_norm), grad_norm, zero, jnp.bool_(False)),
    )

    def cond(carry):
        return carry.status == Status.RUNNING

    def body(carry):
        updates, opt_state = optimizer.update(
            carry.grad, carry.opt_state, carry.params, value=carry.value, grad=carry.grad, value_fn=value_fn
        )
        params = optax.apply_updates(carry.params, updates)
        from_solver = _solver_value_and_grad(opt_state, params, updates)
        if from_solver is None:
            value, grad = value_and_grad(params)
            driver_evals = carry.driver_evals + 1
        else:
            value, grad = from_solver
            value = value.astype(out.dtype)  # the solver keeps f in the params' dtype, the loop in fun's
            driver_evals = carry.driver_evals
        stalled = jnp.any(jnp.stack([jnp.any(s) for s in _state_fields(opt_state, "stalled")] or [jnp.bool_(False)]))
        num_steps = carry.num_steps + 1
        grad_norm = _inf_norm(grad)
        finite = all_finite(value, grad_norm)
        new = _Carry(params, opt_state, value, grad, grad_norm, num_steps, driver_evals,
                     status_of(finite, grad_norm, num_steps, stalled))
        # A non-finite step is not taken: keep the last finite iterate and say why the run stopped
        # (the solver's state is kept, so its evaluation counters stay exact).
        keep_old = ~finite
        old = new._replace(params=carry.params, value=carry.value, grad=carry.grad, grad_norm=carry.grad_norm)
        return otu.tree_where(keep_old, old, new)

    final = jax.lax.while_loop(cond, body, init)
    status = final.status
    return Result(
        params=final.params,
        value=final.value,
        grad=final.grad,
        grad_norm=final.grad_norm,
        num_steps=final.num_steps,
        num_fun_evals=final.driver_evals + _solver_count(final.opt_state, "num_fun_evals"),
        num_grad_evals=final.driver_evals + _solver_count(final.opt_state, "num_grad_evals"),
        num_hvp_evals=_solver_count(final.opt_state, "num_hvp_evals"),
        converged=status == Status.CONVERGED,
        status=status,
        opt_state=final.opt_state,
    )


@functools.cache
def _compiled_minimize(options: tuple) -> Callable[..., Result]:
    """``_minimize`` under ``jax.jit``, compiled with the compiler options ``options`` (a tuple of
    ``(name, value)`` pairs; empty inside another transformation, where ``jax.jit`` refuses them)."""
    # Passed only when there are some: jax.jit takes no compiler_options before jax 0.4.36. Without
    # them (inside another transformation) the program is inlined into the enclosing one, where the
    # solve's small call can take the enclosing program's arguments (ml_opt.small_call).
    extra = {"compiler_options": dict(options)} if options else {"inline": True}
    return jax.jit(_minimize, static_argnames=("fun", "optimizer"), **extra)


# The options of each program compiled so far, by (fun, optimizer, the tree and the shapes and
# dtypes of x0 and args): what sets the program's arrays.
_PROGRAM_OPTIONS: dict = {}
_PROGRAM_OPTIONS_MAX = 4096


def _program(fun, optimizer, x0, args, max_steps, gtol) -> Callable[..., Result]:
    """The jitted ``_minimize`` that compiles this call's program with
    :func:`ml_opt.compilation.solver_compiler_options` of its jaxpr and lowering (outside any
    transformation).

    The program is traced and lowered once, here, and ``jax.jit`` reuses them when it compiles.
    """
    if not not_traced():
        return _compiled_minimize(())
    leaves, treedef = jax.tree.flatten((x0, args))
    key = (fun, optimizer, treedef, tuple((getattr(x, "shape", ()), getattr(x, "dtype", type(x))) for x in leaves))
    try:
        known = _PROGRAM_OPTIONS.get(key)
    except TypeError:  # an unhashable fun or optimizer, which jax.jit rejects with its own message
        return _compiled_minimize(tuple(solver_compiler_options().items()))
    if known is None:
        known = tuple(solver_compiler_options().items())
        jitted = _compiled_minimize(known)
        if known and hasattr(jitted, "trace"):  # (an older jax.jit without .trace: the schedule alone)
            traced = jitted.trace(fun, optimizer, x0, args, max_steps, gtol)
            known = tuple(solver_compiler_options(traced.jaxpr, traced.lower()).items())
        if len(_PROGRAM_OPTIONS) >= _PROGRAM_OPTIONS_MAX:
            _PROGRAM_OPTIONS.clear()
        _PROGRAM_OPTIONS[key] = known
    return _compiled_minimize(known)


def minimize(
    fun: Callable[..., jax.Array],
    x0: PyTree,
    optimizer: optax.GradientTransformation,
    *,
    args: tuple = (),
    max_steps: int | jax.Array = 1000,
    gtol: float | jax.Array = 1e-6,
) -> Result:
    r"""Minimises ``fun(x, *args)`` from ``x0`` with ``optimizer``, in one compiled loop.

    Args:
      fun: the objective, ``fun(params, *args) -> scalar``, differentiable with ``jax.grad``.
      x0: the starting params, any pytree of floating-point arrays.
      optimizer: any ``optax.GradientTransformation``: an ``ml_opt`` rule, first- or second-order,
        a chain, or an optax optimizer. It receives ``value``, ``grad`` and ``value_fn`` (the
        objective with ``args`` bound) as extra arguments to ``update``.
      args: extra positional arguments of ``fun``, traced (changing their values does not
        recompile).
      max_steps: the most updates to apply (an int, or a traced integer scalar).
      gtol: stop when :math:`\|\nabla f\|_\infty \le` ``gtol``.

    Returns:
      A :class:`Result`. Under ``jax.vmap`` every field gains the batch axis.

    The compiled program is cached on (``fun``, ``optimizer``, shapes and dtypes): a second call
    with the same function and an equal optimizer does not recompile. Every ``ml_opt`` optimizer
    made again from the same hyperparameters (Python numbers, strings, and line searches and
    schedules themselves made alike) is equal to the first, so ``for x0 in starts:
    minimize(fun, x0, ml_opt.lbfgs())`` compiles once; a hyperparameter given as a JAX array makes
    an optimizer equal only to itself (:func:`ml_opt._base.equal_when_made_alike`). Called outside
    any JAX transformation, the program is compiled with :func:`ml_opt.solver_compiler_options` of
    its jaxpr (on the CPU, faster quasi-Newton steps, and faster compiles of small programs); under
    ``jax.jit`` or ``jax.vmap`` it is part of the enclosing program and compiled with that program's
    options. To measure compile time apart from run time, time ``traced = jax.jit(lambda x:
    minimize(fun, x, opt)).trace(x0)``, ``lowered = traced.lower()`` and
    ``lowered.compile(ml_opt.solver_compiler_options(traced.jaxpr, lowered))``.

    Example:
      >>> import jax.numpy as jnp, ml_opt
      >>> res = ml_opt.minimize(lambda x: jnp.sum((x - 3.0) ** 2), jnp.zeros(2), ml_opt.sgd(0.5))
      >>> bool(res.converged), int(res.num_steps)
      (True, 1)
    """
    check_params(x0, "x0")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"optimizer must be an optax.GradientTransformation (e.g. ml_opt.adam(1e-3)), got {type(optimizer).__name__}"
        )
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")
    if not isinstance(args, tuple):
        raise TypeError(f"args must be a tuple of extra arguments of fun, got {type(args).__name__}")
    check_integer(max_steps, "max_steps", lower=0)
    check_scalar(gtol, "gtol", lower=0.0)
    # Strong dtypes, so a weakly typed x0 (jnp.full(n, 2.0)) shares the compiled program. Leaves that
    # are strongly typed already, and a Python max_steps, go to the compiled call as they are (as NumPy
    # values, not through a device operation: this is the per-call cost of a small solve).
    x0 = jax.tree.map(_strongly_typed, x0)
    max_steps = np.int32(max_steps) if isinstance(max_steps, numbers.Integral) else jnp.asarray(max_steps, jnp.int32)
    return _program(fun, optimizer, x0, args, max_steps, gtol)(fun, optimizer, x0, args, max_steps, gtol)


def _strongly_typed(x):
    if isinstance(x, np.ndarray) or (isinstance(x, jax.Array) and not x.weak_type):
        return x
    return jnp.asarray(x, dtype=jnp.result_type(x))
