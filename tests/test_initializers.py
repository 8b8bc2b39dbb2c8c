"""Tests for ml_opt.initializers.sparse (Martens 2010 sparse initialization)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from scipy import stats

from ml_opt.initializers import sparse


@pytest.mark.parametrize("shape, k", [((64, 32), 15), ((3, 3, 4, 8), 15), ((20, 5), 20), ((7, 300), 1)])
def test_every_unit_has_exactly_k_nonzero_incoming_weights(shape, k):
    w = sparse(k=k)(jax.random.key(0), shape, jnp.float32)
    assert w.shape == shape and w.dtype == jnp.float32
    per_unit = np.count_nonzero(np.asarray(w).reshape(-1, shape[-1]), axis=0)
    np.testing.assert_array_equal(per_unit, k)


def test_positions_differ_between_units_and_keys():
    init = sparse(k=15)
    a = np.asarray(init(jax.random.key(0), (100, 50), jnp.float32)) != 0
    b = np.asarray(init(jax.random.key(1), (100, 50), jnp.float32)) != 0
    assert len({tuple(np.flatnonzero(a[:, u])) for u in range(50)}) == 50
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, np.asarray(init(jax.random.key(0), (100, 50), jnp.float32)) != 0)


def test_positions_uniform_and_values_normal_with_stddev():
    # Each input is chosen by a unit with probability k / fan_in; the non-zero values are N(0, s^2).
    fan_in, units, k, s = 40, 4000, 10, 0.5
    w = np.asarray(sparse(k=k, stddev=s)(jax.random.key(3), (fan_in, units), jnp.float64))
    counts = np.count_nonzero(w, axis=1)  # per input: Binomial(units, k / fan_in)
    assert stats.chisquare(counts).pvalue > 1e-3
    values = w[w != 0]
    assert values.size == k * units
    assert stats.kstest(values / s, "norm").pvalue > 1e-3


def test_flax_layers_accept_it():
    layer = nnx.Linear(64, 32, kernel_init=sparse(k=15), rngs=nnx.Rngs(0))
    np.testing.assert_array_equal(np.count_nonzero(np.asarray(layer.kernel[...]), axis=0), 15)
    conv = nnx.Conv(2, 6, (3, 3), kernel_init=sparse(k=5, stddev=0.1), rngs=nnx.Rngs(1))
    np.testing.assert_array_equal(np.count_nonzero(np.asarray(conv.kernel[...]).reshape(-1, 6), axis=0), 5)
    w = sparse(k=3)(jax.random.key(0), (8, 4), jnp.bfloat16)
    assert w.dtype == jnp.bfloat16


def test_jit_and_vmap():
    init = sparse(k=4)
    w = jax.jit(init, static_argnums=(1, 2))(jax.random.key(0), (10, 6), jnp.float32)
    np.testing.assert_array_equal(w, init(jax.random.key(0), (10, 6), jnp.float32))
    ws = jax.vmap(lambda key: init(key, (10, 6), jnp.float32))(jax.random.split(jax.random.key(0), 3))
    np.testing.assert_array_equal(np.count_nonzero(np.asarray(ws), axis=1), 4)


@pytest.mark.parametrize(
    "make, call, error, match",
    [
        (lambda: sparse(k=0), None, ValueError, "k"),
        (lambda: sparse(k=2.5), None, TypeError, "k"),
        (lambda: sparse(stddev=0.0), None, ValueError, "stddev"),
        (lambda: sparse(stddev=float("nan")), None, ValueError, "stddev"),
        (lambda: sparse(k=15), ((10, 4), jnp.float32), ValueError, "fan_in"),
        (lambda: sparse(k=1), ((10,), jnp.float32), ValueError, "shape"),
        (lambda: sparse(k=1), ((10, 4), jnp.int32), TypeError, "dtype"),
    ],
)
def test_bad_arguments(make, call, error, match):
    with pytest.raises(error, match=match):
        init = make()
        init(jax.random.key(0), *call)
