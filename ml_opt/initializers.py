"""Weight initializers the source lectures name that Flax does not ship.

Only :func:`sparse` lives here. The dense schemes are Flax's and are not re-exported: use
``flax.nnx.initializers.glorot_uniform()`` (Glorot and Bengio 2010), ``.he_normal()``,
``.lecun_normal()``, ``.orthogonal()`` (Saxe et al. 2014) and ``.variance_scaling(...)``
directly. All of them, and :func:`sparse`, have the Flax initializer signature
``init(key, shape, dtype) -> array`` and go into ``nnx.Linear(..., kernel_init=...)``,
``nnx.Conv(..., kernel_init=...)`` or Linen's ``nn.Dense(..., kernel_init=...)``.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import jax
import jax.numpy as jnp

from ml_opt._base import check_integer, check_scalar

Initializer = Callable[..., jax.Array]

__all__ = ["sparse"]


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _sparse_kernel(key: jax.Array, shape: tuple[int, ...], dtype: Any, k: int, stddev: Any) -> jax.Array:
    """The kernel, one compiled program per shape (op-by-op dispatch would compile each op)."""
    units, fan_in = shape[-1], math.prod(shape[:-1])
    choice_key, value_key = jax.random.split(key)
    # k distinct inputs per unit: the positions of the k smallest of fan_in uniform draws.
    chosen = jnp.argsort(jax.random.uniform(choice_key, (units, fan_in)), axis=1)[:, :k]
    mask = jnp.zeros((units, fan_in), bool).at[jnp.arange(units)[:, None], chosen].set(True)
    values = (stddev * jax.random.normal(value_key, (fan_in, units), dtype)).astype(dtype)
    return jnp.where(mask.T, values, jnp.zeros((), dtype)).reshape(shape)


def sparse(k: int = 15, stddev: float = 1.0) -> Initializer:
    """Sparse initialization: every unit gets exactly ``k`` non-zero incoming weights.

    For a kernel whose last axis indexes the units (Flax's layout: ``(fan_in, units)`` for a
    dense layer, ``(h, w, in, units)`` for a convolution, where the incoming connections of a unit
    are the ``fan_in = h * w * in`` entries of its slice), each unit independently draws a set
    ``S`` of ``k`` distinct incoming positions uniformly at random and sets::

        W[i, u] ~ N(0, stddev^2)   for i in S,        W[i, u] = 0   otherwise.

    So the scale of a unit's input does not shrink with ``fan_in`` as it does under the dense
    ``1/sqrt(fan_in)`` schemes, while units still differ from one another; Martens (2010)
    introduced it for deep autoencoders trained with Hessian-free optimization. Biases are left to
    the layer (zeros in Flax).

    Args:
      k: the number of non-zero incoming weights per unit, ``1 <= k <= fan_in`` (Martens used 15).
        A layer with fewer than ``k`` inputs is an error, not silently made dense.
      stddev: the standard deviation of the non-zero weights, ``> 0``.

    Returns:
      ``init(key, shape, dtype=jnp.float_) -> array``, a Flax initializer. ``shape`` needs at least
      two axes (inputs..., units).

    Example:
      >>> from flax import nnx
      >>> layer = nnx.Linear(64, 32, kernel_init=sparse(k=15), rngs=nnx.Rngs(0))
      >>> int((layer.kernel[...] != 0).sum(axis=0)[0])
      15

    References:
      J. Martens, "Deep learning via Hessian-free optimization", ICML 2010 (section 5, sparse
      initialization). I. Sutskever, J. Martens, G. Dahl and G. Hinton, "On the importance of
      initialization and momentum in deep learning", ICML 2013.
    """
    check_integer(k, "k", lower=1, static=True)
    check_scalar(stddev, "stddev", lower=0.0, lower_open=True)
    k = int(k)

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float_) -> jax.Array:
        shape = tuple(int(d) for d in shape)
        if len(shape) < 2:
            raise ValueError(f"sparse initialization needs a kernel shape (inputs..., units), got {shape}")
        if not jnp.issubdtype(dtype, jnp.floating):
            raise TypeError(f"dtype must be floating-point, got {dtype}")
        fan_in = 1
        for d in shape[:-1]:
            fan_in *= d
        if k > fan_in:
            raise ValueError(
                    f"k={k} non-zero incoming weights asked for, but the kernel {shape} has only "
                    f"fan_in={fan_in} inputs per unit; use sparse(k<={fan_in}) or a dense initializer"
            )
        return _sparse_kernel(key, shape, jnp.dtype(dtype), k, stddev)

    return init
