"""ml_opt._base: the argument checks and the element-wise lifting of per-array rules to pytrees."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from ml_opt._base import (
    check_learning_rate,
    check_params,
    check_same_structure,
    check_scalar,
    elementwise,
    learning_rate_at,
    require_value_fn,
)

# ----------------------------------------------------------------------------------------------
# check_scalar
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", [0.5, 1, np.float32(0.25), np.float64(0.75), jnp.asarray(0.5), jnp.asarray(1, jnp.int32), np.asarray(0.1)]
)
def test_check_scalar_accepts_numbers_and_concrete_scalars(value):
    check_scalar(value, "x", lower=0.0, upper=1.0)


@pytest.mark.parametrize(
    "value,kwargs,match",
    [
        (-0.1, dict(lower=0.0), r"^x must be >= 0.0, got -0.1"),
        (0.0, dict(lower=0.0, lower_open=True), r"^x must be > 0.0"),
        (1.5, dict(upper=1.0), r"^x must be <= 1.0"),
        (1.0, dict(upper=1.0, upper_open=True), r"^x must be < 1.0"),
        (math.nan, {}, r"^x must be finite"),
        (math.inf, {}, r"^x must be finite"),
        (-math.inf, dict(lower=0.0), r"^x must be finite"),
        (np.float32("nan"), {}, r"^x must be finite"),
        (jnp.asarray(jnp.inf), {}, r"^x must be finite"),
        (jnp.ones(3), {}, r"^x: expected a scalar, got an array of shape \(3,\)"),
        (np.zeros((2, 2)), {}, r"^x: expected a scalar"),
    ],
)
def test_check_scalar_rejects_with_a_message_naming_the_argument(value, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_scalar(value, "x", **kwargs)


@pytest.mark.parametrize("value", [True, "0.1", None, [0.1], 1 + 2j])
def test_check_scalar_rejects_non_numbers(value):
    with pytest.raises(TypeError, match=r"^x"):
        check_scalar(value, "x", lower=0.0)


def test_check_scalar_bounds_are_inclusive_unless_open():
    check_scalar(0.0, "x", lower=0.0)
    check_scalar(1.0, "x", upper=1.0)
    check_scalar(1e-300, "x", lower=0.0, lower_open=True)


def test_check_scalar_passes_traced_values_through():
    """A traced hyperparameter (vmapped over) cannot be checked at trace time; it is not rejected."""

    def f(x):
        check_scalar(x, "x", lower=0.0, lower_open=True)
        return x * 2

    np.testing.assert_array_equal(jax.vmap(f)(jnp.asarray([-1.0, 2.0])), [-2.0, 4.0])
    assert float(jax.jit(f)(-3.0)) == -6.0


def test_check_learning_rate():
    check_learning_rate(0.1)
    check_learning_rate(jnp.asarray(1e-3))
    check_learning_rate(optax.constant_schedule(0.1))
    check_learning_rate(lambda count: -1.0)  # a schedule is not evaluated here
    for bad in (0.0, -1.0, math.nan, math.inf):
        with pytest.raises(ValueError, match="^learning_rate"):
            check_learning_rate(bad)
    with pytest.raises(ValueError, match="^eta must be > 0"):
        check_learning_rate(0.0, name="eta")


# ----------------------------------------------------------------------------------------------
# check_params, check_same_structure, require_value_fn, learning_rate_at
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64])
def test_check_params_accepts_floating_point_trees(dtype):
    check_params({"a": jnp.zeros(3, dtype), "b": [jnp.ones((2, 2), dtype), (jnp.asarray(1.0, dtype),)]})
    check_params(jnp.zeros((), dtype))


@pytest.mark.parametrize(
    "params,where,dtype",
    [
        (jnp.arange(3), r"\(the root\)", "int"),
        ({"a": jnp.zeros(2), "b": jnp.arange(2)}, r"\['b'\]", "int"),
        ({"a": [jnp.zeros(2), jnp.ones(2, bool)]}, r"\['a'\]\[1\]", "bool"),
        ((jnp.zeros(2), np.arange(3, dtype=np.uint8)), r"\[1\]", "uint8"),
        ([jnp.zeros(2, jnp.complex64)], r"\[0\]", "complex64"),
    ],
)
def test_check_params_rejects_non_float_leaves_naming_where(params, where, dtype):
    with pytest.raises(TypeError, match=rf"^params must be floating-point arrays; the leaf at {where} has dtype {dtype}"):
        check_params(params)


def test_check_params_rejects_an_empty_tree_and_uses_the_given_name():
    with pytest.raises(ValueError, match="^params has no array leaves"):
        check_params({})
    with pytest.raises(ValueError, match="^x0 has no array leaves"):
        check_params([], name="x0")
    with pytest.raises(TypeError, match="^x0 must be floating-point"):
        check_params(jnp.arange(2), name="x0")


def test_check_same_structure():
    reference = {"a": jnp.zeros(3), "b": (jnp.zeros((2, 2)), jnp.zeros(()))}
    check_same_structure(jax.tree.map(jnp.ones_like, reference), reference, "grads", "params")
    with pytest.raises(ValueError, match="^grads must have the same tree structure as params"):
        check_same_structure({"a": jnp.zeros(3)}, reference, "grads", "params")
    with pytest.raises(ValueError, match="^grads must have the same tree structure as params"):
        check_same_structure({"a": jnp.zeros(3), "b": [jnp.zeros((2, 2)), jnp.zeros(())]}, reference, "grads", "params")
    with pytest.raises(ValueError, match=r"^grads must have the same leaf shapes as params; got \(2, 3\) where params has \(2, 2\)"):
        check_same_structure({"a": jnp.zeros(3), "b": (jnp.zeros((2, 3)), jnp.zeros(()))}, reference, "grads", "params")


def test_require_value_fn():
    f = lambda p: jnp.sum(p)  # noqa: E731
    assert require_value_fn(f, "newton") is f
    with pytest.raises(TypeError, match="^newton needs the objective.*value_fn"):
        require_value_fn(None, "newton")
    with pytest.raises(TypeError, match="^value_fn must be callable"):
        require_value_fn(3.0, "newton")


def test_learning_rate_at():
    assert learning_rate_at(0.3, jnp.asarray(7)) == 0.3
    assert float(learning_rate_at(lambda count: 1.0 / (1 + count), jnp.asarray(3))) == 0.25


# ----------------------------------------------------------------------------------------------
# elementwise: the lifting of a per-array rule to pytrees
# ----------------------------------------------------------------------------------------------


class _TwoSlots(NamedTuple):
    count: jax.Array
    first: optax.Params
    second: optax.Params


def _recording_rule(g, first, second, *, lr, t):
    """step = -lr * g * t; first += g; second = t (broadcast), so t and lr show in the output."""
    return -lr * g * t, (first + g, second * 0 + t)


def _tree(dtype=jnp.float64):
    return {"w": jnp.ones((2, 3), dtype), "b": [jnp.full((3,), 2.0, dtype), (jnp.asarray(-1.0, dtype),)]}


def test_elementwise_init_makes_zero_slots_like_params():
    opt = elementwise(_TwoSlots, _recording_rule, 0.1)
    params = _tree(jnp.float32)
    state = opt.init(params)
    assert isinstance(state, _TwoSlots)
    assert state.count.dtype == jnp.int32 and int(state.count) == 0
    for slots in (state.first, state.second):
        assert jax.tree.structure(slots) == jax.tree.structure(params)
        for s, p in zip(jax.tree.leaves(slots), jax.tree.leaves(params)):
            assert s.shape == p.shape and s.dtype == p.dtype
            np.testing.assert_array_equal(s, 0)


def test_elementwise_maps_the_rule_over_leaves_with_lr_and_step_number():
    schedule = lambda count: 0.5 / (1.0 + count)  # noqa: E731
    opt = elementwise(_TwoSlots, _recording_rule, schedule)
    params = _tree()
    grads = jax.tree.map(lambda p: 3 * p, params)
    state = opt.init(params)
    for k in range(3):  # count k -> lr = schedule(k), t = k + 1
        updates, state = opt.update(grads, state, params)
        for u, g in zip(jax.tree.leaves(updates), jax.tree.leaves(grads)):
            np.testing.assert_allclose(u, -0.5 / (1 + k) * g * (k + 1), rtol=1e-15)
        for f, g in zip(jax.tree.leaves(state.first), jax.tree.leaves(grads)):
            np.testing.assert_allclose(f, (k + 1) * g, rtol=1e-15)
        for s in jax.tree.leaves(state.second):
            np.testing.assert_array_equal(s, k + 1)
        assert int(state.count) == k + 1
        assert jax.tree.structure(updates) == jax.tree.structure(params)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float32])
def test_elementwise_casts_step_and_slots_back_to_the_leaf_dtype(dtype):
    """A rule computing in a wider type (a float64 lr, here) still returns the params' dtype."""
    opt = elementwise(_TwoSlots, _recording_rule, jnp.asarray(0.1, jnp.float64))
    params = _tree(dtype)
    updates, state = jax.jit(opt.update)(params, opt.init(params), params)
    for tree in (updates, state.first, state.second):
        assert all(leaf.dtype == dtype for leaf in jax.tree.leaves(tree))


def test_elementwise_accepts_and_ignores_extra_arguments():
    opt = elementwise(_TwoSlots, _recording_rule, 0.1)
    params = _tree()
    plain, _ = opt.update(params, opt.init(params), params)
    extra, _ = opt.update(params, opt.init(params), params, value=1.0, grad=params, value_fn=lambda p: 0.0)
    for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(extra)):
        np.testing.assert_array_equal(a, b)


def test_elementwise_checks_grads_against_params_or_state():
    opt = elementwise(_TwoSlots, _recording_rule, 0.1)
    params = _tree()
    state = opt.init(params)
    with pytest.raises(ValueError, match="^grads must have the same tree structure as params"):
        opt.update({"w": params["w"]}, state, params)
    with pytest.raises(ValueError, match="^grads must have the same tree structure as state"):
        opt.update({"w": params["w"]}, state)
    bad_shape = dict(params, w=jnp.ones((3, 2)))
    with pytest.raises(ValueError, match=r"^grads must have the same leaf shapes as params; got \(3, 2\)"):
        opt.update(bad_shape, state, params)


def test_elementwise_init_checks_params():
    opt = elementwise(_TwoSlots, _recording_rule, 0.1)
    with pytest.raises(TypeError, match=r"^params must be floating-point arrays.*\['b'\]"):
        opt.init({"a": jnp.zeros(2), "b": jnp.arange(2)})


def test_elementwise_state_type_must_start_with_count():
    class NoCount(NamedTuple):
        velocity: optax.Params

    with pytest.raises(ValueError, match="NoCount's first field must be 'count'"):
        elementwise(NoCount, _recording_rule, 0.1)


class _NoSlots(NamedTuple):
    count: jax.Array


def test_elementwise_without_slots_updates_without_params():
    opt = elementwise(_NoSlots, lambda g, *, lr, t: (-lr * g, ()), 0.5)
    params = _tree()
    updates, state = opt.update(params, opt.init(params))
    for u, p in zip(jax.tree.leaves(updates), jax.tree.leaves(params)):
        np.testing.assert_array_equal(u, -0.5 * p)
    assert int(state.count) == 1


def test_elementwise_update_jits_and_vmaps_over_the_learning_rate():
    params = _tree()

    def step(lr):
        opt = elementwise(_TwoSlots, _recording_rule, lr)
        return opt.update(params, opt.init(params), params)[0]

    lrs = jnp.asarray([0.1, 0.2, 0.3])
    batched = jax.jit(jax.vmap(step))(lrs)
    for i in range(3):
        for b, s in zip(jax.tree.leaves(batched), jax.tree.leaves(step(float(lrs[i])))):
            np.testing.assert_allclose(b[i], s, rtol=1e-15)
