"""Gradient checking by numerical differentiation (seed 004, "numerical differentiation").

Backpropagation is checked against central differences,

    d f / d x_i  ~  (f(x + h e_i) - f(x - h e_i)) / (2 h),

whose error is O(h^2) in exact arithmetic and O(eps_mach / h) in rounding; ``h = eps_mach^(1/3)``
(about 6e-6 in float64) balances the two. Everything is computed in float64, whatever the dtype
of the params, so the check measures the gradient code, not float32 rounding.

Reference: Nocedal & Wright, *Numerical Optimization*, 2nd ed., 2006, section 8.1.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ml_opt._base import check_params

PyTree = Any


class GradCheck(NamedTuple):
    """The outcome of :func:`check_grad`.

    Attributes:
      relative_error: ``||g_auto - g_numeric||_2 / max(||g_auto||_2, ||g_numeric||_2, tiny)``.
      max_abs_error: ``||g_auto - g_numeric||_inf``.
      autodiff: the gradient from ``jax.grad``, flattened, float64.
      numeric: the central-difference gradient, flattened, float64.
    """

    relative_error: float
    max_abs_error: float
    autodiff: np.ndarray
    numeric: np.ndarray


def check_grad(
    fun: Callable[..., jax.Array],
    params: PyTree,
    *args: Any,
    step: float | None = None,
) -> GradCheck:
    """Compares ``jax.grad(fun)`` with central differences, in float64, for any pytree of params.

    Args:
      fun: scalar function ``fun(params, *args)``.
      params: the point, any pytree of floating-point arrays.
      *args: further arguments passed to ``fun`` unchanged.
      step: the difference step ``h``; defaults to ``eps_mach(float64)^(1/3) * max(1, |x_i|)``.

    Returns:
      A :class:`GradCheck`; ``relative_error`` below about 1e-7 means the gradient is right.

    Example:
      >>> import jax.numpy as jnp
      >>> from ml_opt.gradcheck import check_grad
      >>> check_grad(lambda x: jnp.sum(jnp.sin(x)), jnp.ones(3)).relative_error < 1e-8
      True
    """
    check_params(params)
    with jax.enable_x64(True):
        params64 = jax.tree.map(lambda x: jnp.asarray(x, jnp.float64), params)
        x, unravel = ravel_pytree(params64)
        flat_fun = jax.jit(lambda v: jnp.asarray(fun(unravel(v), *args), jnp.float64))
        autodiff = np.asarray(jax.grad(flat_fun)(x))
        base = np.finfo(np.float64).eps ** (1.0 / 3.0)
        x_np = np.asarray(x)
        h = np.full(x.shape, step) if step is not None else base * np.maximum(1.0, np.abs(x_np))
        h = (x_np + h) - x_np  # a step that is exactly representable at x
        basis = jnp.eye(x.size, dtype=jnp.float64) * h[:, None]
        plus = jax.vmap(lambda e: flat_fun(x + e))(basis)
        minus = jax.vmap(lambda e: flat_fun(x - e))(basis)
        numeric = (np.asarray(plus) - np.asarray(minus)) / (2.0 * h)
    diff = autodiff - numeric
    scale = max(np.linalg.norm(autodiff), np.linalg.norm(numeric), np.finfo(np.float64).tiny)
    return GradCheck(
        relative_error=float(np.linalg.norm(diff) / scale),
        max_abs_error=float(np.max(np.abs(diff))),
        autodiff=autodiff,
        numeric=numeric,
    )
