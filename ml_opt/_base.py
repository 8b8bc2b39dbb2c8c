"""Shared types and the few helpers every update rule needs.

Three things live here, once:

* **Checks** on what users pass in (hyperparameters, params, gradients), raised early and naming
    the argument. Python numbers and concrete arrays are checked at trace time; a traced
    hyperparameter (one being ``jax.vmap``-ed over, say) cannot be, and is passed through.
* **The pytree lifting** of element-wise rules: :func:`elementwise` turns a rule written on single
    arrays, the way the algorithm boxes are written, into an ``optax.GradientTransformationExtraArgs``
    over any pytree of parameters.
* **Equality by value**: an optimizer, line search or schedule made twice from the same
    hyperparameters compares equal (:func:`equal_when_made_alike`), so
    ``jax.jit`` and :func:`ml_opt.minimize`, which cache on it, do not compile again.
* **The state conventions** that the drivers (:mod:`ml_opt.minimize`) read. A solver's state may
    carry fields with these names, anywhere in its (possibly nested, possibly chained) state tree:

    ``value``, ``grad``, ``update``
            objective and gradient at the parameters *after* the update, when the solver evaluated
            them (in its line search, say), and the update the solver returned with them. The
            driver uses them, and does not evaluate again, when the update it applies *is* that
            update (the same traced value: the solver is the last transformation of a chain, or is
            followed only by ones that pass the update through); after a transformation that
            changes it (``optax.scale(0.5)``, say) they belong to another point, and the driver
            evaluates the objective itself.
    ``num_fun_evals``, ``num_grad_evals``, ``num_hvp_evals``
            cumulative counts of the evaluations the solver itself made (objective, gradient,
            Hessian-vector products; a dense Hessian counts as ``n`` products).
    ``stalled``
            a boolean: the solver can make no more progress (its line search failed and it has no
            other direction to try; for Levenberg-Marquardt, no damped step was acceptable). The
            driver stops and says so.

Tree arithmetic comes from :mod:`optax.tree_utils`; it is not rewritten here.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from typing import Any, Callable, NamedTuple, Union

import jax
import jax.numpy as jnp
import numpy as np
import optax

Array = jax.Array
PyTree = Any
Schedule = Callable[[Array], Array]
ScalarOrSchedule = Union[float, Array, Schedule]


# --------------------------------------------------------------------------------------------
# Checks
# --------------------------------------------------------------------------------------------


def _concrete_value(value: Any) -> float | None:
    """The value of a Python number or a concrete scalar array; None for a tracer."""
    if isinstance(value, bool):
        raise TypeError(f"expected a number, got the bool {value!r}")
    if isinstance(value, numbers.Number):
        return float(value)  # complex raises here, as it should
    if isinstance(value, jax.core.Tracer):
        return None
    if isinstance(value, (jax.Array, np.ndarray, np.generic)):
        if np.ndim(value) != 0:
            raise ValueError(f"expected a scalar, got an array of shape {np.shape(value)}")
        return float(value)
    raise TypeError(f"expected a number or a JAX scalar, got {type(value).__name__}")


def check_scalar(
        value: Any,
        name: str,
        *,
        lower: float | None = None,
        upper: float | None = None,
        lower_open: bool = False,
        upper_open: bool = False,
) -> None:
    """Checks a scalar hyperparameter is finite and in ``[lower, upper]`` (or the open ends asked for).

    Raises:
        ValueError or TypeError naming ``name``. Traced values are not checked.
    """
    try:
        v = _concrete_value(value)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{name}: {e}") from None
    if v is None:
        return
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if lower is not None and (v < lower or (lower_open and v == lower)):
        bound = f"> {lower}" if lower_open else f">= {lower}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")
    if upper is not None and (v > upper or (upper_open and v == upper)):
        bound = f"< {upper}" if upper_open else f"<= {upper}"
        raise ValueError(f"{name} must be {bound}, got {value!r}")


def check_integer(
        value: Any,
        name: str,
        *,
        lower: int | None = None,
        static: bool = False,
        optional: bool = False,
) -> None:
    """Checks an integer hyperparameter (an iteration cap, a memory size) is an integer ``>= lower``.

    A bool is not an integer here. By default a JAX integer scalar is accepted too, and checked as
    :func:`check_scalar` checks (a traced one is passed through). ``static=True`` asks for a Python
    (or NumPy) int, for a value that fixes array shapes or a Python loop. ``optional=True`` accepts
    None (the argument's "not set").

    Raises:
        TypeError (not an integer) or ValueError (below ``lower``) naming ``name``.
    """
    if optional and value is None:
        return
    if isinstance(value, bool) or (
            (static or isinstance(value, numbers.Number)) and not isinstance(value, numbers.Integral)
    ):
        kind = "a Python int" if static else "an integer"
        none = " or None" if optional else ""
        raise TypeError(f"{name} must be {kind}{none}, got {value!r}")
    if not static:
        check_scalar(value, name, lower=lower)
    elif lower is not None and value < lower:
        raise ValueError(f"{name} must be >= {lower}, got {value}")


def check_learning_rate(learning_rate: ScalarOrSchedule, name: str = "learning_rate") -> None:
    """A learning rate is a positive finite scalar or a schedule ``count -> scalar``."""
    if callable(learning_rate):
        return
    check_scalar(learning_rate, name, lower=0.0, lower_open=True)


def check_params(params: PyTree, name: str = "params") -> None:
    """Params must be a non-empty pytree of floating-point arrays."""
    leaves_with_path = jax.tree_util.tree_leaves_with_path(params)
    if not leaves_with_path:
        raise ValueError(f"{name} has no array leaves")
    for path, leaf in leaves_with_path:
        dtype = jnp.result_type(leaf)
        if not jnp.issubdtype(dtype, jnp.floating):
            where = jax.tree_util.keystr(path) or "(the root)"
            raise TypeError(
                    f"{name} must be floating-point arrays; the leaf at {where} has dtype {dtype}. "
                    "Cast it, e.g. with jnp.asarray(x, jnp.float32)."
            )


def check_same_structure(tree: PyTree, reference: PyTree, name: str, reference_name: str) -> None:
    """Raises a ValueError naming ``name`` when ``tree`` is not shaped like ``reference``."""
    tree_def, ref_def = jax.tree.structure(tree), jax.tree.structure(reference)
    if tree_def != ref_def:
        raise ValueError(
                f"{name} must have the same tree structure as {reference_name}; "
                f"got {tree_def}, expected {ref_def}"
        )
    for a, b in zip(jax.tree.leaves(tree), jax.tree.leaves(reference)):
        if jnp.shape(a) != jnp.shape(b):
            raise ValueError(
                    f"{name} must have the same leaf shapes as {reference_name}; "
                    f"got {jnp.shape(a)} where {reference_name} has {jnp.shape(b)}"
            )


def require_value_fn(value_fn: Callable[..., Array] | None, method: str) -> Callable[..., Array]:
    """The second-order rules need the objective itself, not only its gradient."""
    if value_fn is None:
        raise TypeError(
                f"{method} needs the objective: call update(grads, state, params, value=..., grad=..., "
                "value_fn=f), where value_fn(params, **fn_kwargs) is the loss (ml_opt.minimize and "
                "ml_opt.fit pass it for you)."
        )
    if not callable(value_fn):
        raise TypeError(f"value_fn must be callable, got {type(value_fn).__name__}")
    return value_fn


def learning_rate_at(learning_rate: ScalarOrSchedule, count: Array) -> Array:
    """The learning rate at step ``count`` (0 for the first update), as optax schedules count."""
    return learning_rate(count) if callable(learning_rate) else learning_rate


def linalg_dtype(dtype: Any) -> Any:
    """The dtype a dense factorisation (Cholesky, eigh, QR, SVD) runs in for params of ``dtype``:
    at least float32, since LAPACK has no half-precision routines (float16 and bfloat16 params are
    factorised in float32 and the direction is cast back)."""
    return jnp.promote_types(dtype, jnp.float32)


def add_scaled(params: PyTree, step: Array, tree: PyTree) -> PyTree:
    """``params + step * tree`` leaf by leaf, each leaf keeping its dtype (a point along a direction)."""
    return jax.tree.map(lambda p, t: p + jnp.asarray(step, p.dtype) * t, params, tree)


# --------------------------------------------------------------------------------------------
# The pytree lifting of element-wise rules
# --------------------------------------------------------------------------------------------


def elementwise(
        state_type: type[NamedTuple],
        rule: Callable[..., tuple[Array, tuple[Array, ...]]],
        learning_rate: ScalarOrSchedule,
) -> optax.GradientTransformationExtraArgs:
    """Lifts a rule written on single arrays to an optax transformation over pytrees.

    The rule is the body of an algorithm box for one array::

            rule(g, *slots, lr, t) -> (step, new_slots)

    where ``g`` is the gradient, ``slots`` the accumulators named by ``state_type`` after its
    first field ``count`` (each initialised to zeros shaped and typed like the params), ``lr``
    the learning rate of this step and ``t = count + 1`` the step number. ``step`` is what
    ``optax.apply_updates`` adds to the params. The rule is mapped over the leaves; the update
    and the slots keep each leaf's dtype.

    Args:
        state_type: a NamedTuple type whose fields are ``count`` followed by the slot names.
        rule: the per-array rule.
        learning_rate: a scalar or an optax schedule ``count -> lr``.

    Returns:
        An ``optax.GradientTransformationExtraArgs``; extra keyword arguments given to ``update``
        (``value``, ``value_fn``, ...) are accepted and ignored, so the rule drops into any driver.
    """
    slot_names = state_type._fields[1:]
    if state_type._fields[0] != "count":
        raise ValueError(f"{state_type.__name__}'s first field must be 'count'")

    def init_fn(params):
        check_params(params)
        slots = [jax.tree.map(jnp.zeros_like, params) for _ in slot_names]
        return state_type(jnp.zeros([], jnp.int32), *slots)

    def update_fn(updates, state, params=None, **extra_args):
        del extra_args
        if params is not None:
            check_same_structure(updates, params, "grads", "params")
        elif slot_names:
            check_same_structure(updates, state[1], "grads", "state")
        lr = learning_rate_at(learning_rate, state.count)
        t = optax.safe_increment(state.count)
        grads, treedef = jax.tree.flatten(updates)
        slots = [treedef.flatten_up_to(s) for s in state[1:]]
        steps, new_slots = [], [[] for _ in slot_names]
        for i, g in enumerate(grads):
            step, leaf_slots = rule(g, *(s[i] for s in slots), lr=lr, t=t)
            steps.append(jnp.asarray(step).astype(g.dtype))
            for j, value in enumerate(leaf_slots):
                new_slots[j].append(jnp.asarray(value).astype(slots[j][i].dtype))
        new_state = state_type(t, *(treedef.unflatten(s) for s in new_slots))
        return treedef.unflatten(steps), new_state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


class _ByValue:
    """A function that compares equal to another made by the same factory from equal arguments.

    ``key`` is ``(role, made_by)``: the field it fills (``"init"``, ``"update"``, ``"search"``,
    ``"call"``) and the factory with its arguments, or None where those are not hashable; then the
    function equals only itself. See :func:`equal_when_made_alike`.
    """

    def __init__(self, fn: Callable, key: tuple):
        self._fn, self._key = fn, key
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        return self._fn(*args, **kwargs)

    def __eq__(self, other):
        if self is other:
            return True
        if not isinstance(other, _ByValue) or self._key[1] is None or other._key[1] is None:
            return False
        return self._key == other._key

    def __hash__(self):
        return hash(self._key) if self._key[1] is not None else id(self)


def equal_when_made_alike(factory: Callable) -> Callable:
    """Makes what ``factory`` returns compare equal when it is made again from equal arguments.

    ``lbfgs()`` called twice gives two transformations that are equal and hash alike, so
    ``jax.jit`` (which caches on static arguments) and :func:`ml_opt.minimize` reuse the program
    compiled for the first: ``for x0 in starts: minimize(f, x0, lbfgs())`` compiles once, as it
    would with one optimizer made before the loop. Arguments are compared after defaults are filled
    in, by type and value (``1`` and ``1.0`` differ: they may trace differently); functions (a
    residual function, a schedule not made here) by identity, as ``jax.jit`` compares them; a line
    search or schedule made by a decorated factory by its own arguments. Where an argument is not
    hashable (a JAX or NumPy array, a traced value) the result equals only itself.

    ``factory`` returns a NamedTuple whose callable fields are wrapped (a transformation's
    ``init`` and ``update``, a line search's ``search``), or a function (a schedule), wrapped.
    """
    signature = inspect.signature(factory)

    @functools.wraps(factory)
    def make(*args, **kwargs):
        made = factory(*args, **kwargs)
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        key = (factory, tuple((name, type(value), value) for name, value in bound.arguments.items()))
        try:
            hash(key)
        except TypeError:
            key = None
        if not isinstance(made, tuple):
            return _ByValue(made, ("call", key))
        return type(made)(*(_ByValue(field, (name, key)) if callable(field) else field
                            for name, field in zip(made._fields, made)))

    return make
