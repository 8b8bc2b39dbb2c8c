"""Quadratic test losses with known optima, as :class:`~ml_opt.problems.base.Problem` values.

* :func:`ill_conditioned_quadratic`: the deterministic strongly convex quadratic
  ``0.5 x^T A x - b^T x`` with a prescribed condition number; the textbook case where gradient
  descent slows down by a factor kappa and Newton's method converges in one step.
* :func:`noisy_quadratic`: the stochastic quadratic of DeepOBS (``quadratic_deep``): a fixed
  Hessian whose spectrum imitates a deep network's (many small eigenvalues, a few large ones),
  and a per-example loss whose minimiser is a noisy data point, so that minibatch gradients are
  noisy estimates of the full-data gradient.

The random parts (rotations, eigenvalues, data) are drawn with NumPy from a seed derived from
``key`` (a JAX PRNG key, typed or raw, or a Python int), in float64, and then stored in the
default JAX float dtype; the same key gives the same problem whatever the JAX settings.
``f_opt`` and ``x_opt`` are computed in float64 from closed forms.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from ml_opt.problems.base import Problem
from ml_opt.problems.seeds import _check_positive_int, _float_dtype

PyTree = Any

__all__ = [
    "ill_conditioned_quadratic",
    "noisy_quadratic",
    "quadratic_problems",
]


def _numpy_rng(key: Any) -> np.random.Generator:
    """A NumPy generator seeded from a JAX PRNG key (typed or raw uint32) or a non-negative int."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if key < 0:
            raise ValueError(f"key must be a PRNG key or an int >= 0, got {key}")
        return np.random.default_rng(int(key))
    if isinstance(key, jax.Array) and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    words = np.asarray(key)
    if words.dtype != np.uint32:
        raise TypeError(f"key must be a JAX PRNG key or an int, got {type(key).__name__} of dtype {words.dtype}")
    return np.random.default_rng([int(w) for w in words.ravel()])


def _haar_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A Haar-distributed random orthogonal matrix: QR of a Gaussian matrix, signs fixed by diag(R).

    Reference: F. Mezzadri, "How to generate random matrices from the classical compact groups",
    Notices of the AMS, 2007.
    """
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))[None, :]


def ill_conditioned_quadratic(
        dim: int = 100, condition_number: float = 1e4, *, key: Any = 0
) -> Problem:
    r"""A strongly convex quadratic with a prescribed condition number.

    .. math::
        f(x) = \tfrac12 x^\top A x - b^\top x, \qquad A = Q \,\mathrm{diag}(\lambda)\, Q^\top,
        \qquad \lambda_i = \kappa^{(i-1)/(n-1)},\ i = 1..n,

    so the eigenvalues are log-spaced from 1 to kappa (``numpy.logspace``) and
    ``cond(A) = kappa``; Q is a Haar-random orthogonal matrix and ``b ~ N(0, I)``, both drawn
    from ``key``. ``x_opt = A^{-1} b = Q diag(1/lambda) Q^T b`` and
    ``f_opt = -0.5 b^T A^{-1} b``, in float64. Params: an array of shape ``(dim,)``;
    ``init``: zeros (where ``f = 0`` and ``grad = -b``).

    Args:
        dim: n >= 1 (with n = 1, condition_number must be 1).
        condition_number: kappa >= 1.
        key: a JAX PRNG key or an int seed for Q and b.

    Returns:
        A :class:`Problem` named ``"quadratic/ill_conditioned_d{dim}_kappa{kappa:g}"``.

    Example:
        >>> p = ill_conditioned_quadratic(10, 100.0)
        >>> bool(abs(p.fun(p.x_opt) - p.f_opt) < 1e-5 * abs(p.f_opt))
        True

    References:
        J. Nocedal, S. J. Wright, *Numerical Optimization*, 2nd ed., 2006, section 3.3 (the rate
        of steepest descent on quadratics).
    """
    dim = _check_positive_int(dim, "dim")
    if isinstance(condition_number, bool) or not isinstance(condition_number, (int, float, np.integer, np.floating)):
        raise TypeError(f"condition_number must be a number, got {type(condition_number).__name__}")
    kappa = float(condition_number)
    if not math.isfinite(kappa) or kappa < 1:
        raise ValueError(f"condition_number must be finite and >= 1, got {condition_number!r}")
    if dim == 1 and kappa != 1:
        raise ValueError("with dim = 1 the condition_number must be 1")
    rng = _numpy_rng(key)
    eigenvalues = np.logspace(0.0, math.log10(kappa), dim) if dim > 1 else np.ones(1)
    q = _haar_orthogonal(rng, dim)
    b = rng.standard_normal(dim)
    a = (q * eigenvalues) @ q.T
    a = 0.5 * (a + a.T)
    x_opt = q @ ((q.T @ b) / eigenvalues)
    f_opt = float(-0.5 * b @ x_opt)

    dtype = _float_dtype()
    a_j, b_j = jnp.asarray(a, dtype), jnp.asarray(b, dtype)

    def fun(x: jax.Array) -> jax.Array:
        return 0.5 * x @ (a_j @ x) - b_j @ x

    def init(key: jax.Array) -> jax.Array:
        del key  # deterministic start
        return jnp.zeros(dim, dtype)

    return Problem(
            name=f"quadratic/ill_conditioned_d{dim}_kappa{kappa:g}",
            dim=dim,
            fun=fun,
            init=init,
            convex=True,
            f_opt=f_opt,
            source=(
                    "0.5 x^T A x - b^T x, A = Q diag(lambda) Q^T with eigenvalues log-spaced from 1 to "
                    f"{kappa:g}, Q Haar-random, b ~ N(0, I); x_opt = A^-1 b, f_opt = -0.5 b^T A^-1 b"
            ),
            x_opt=jnp.asarray(x_opt, dtype),
            tags=frozenset({"quadratic", "convex"}),
    )


def noisy_quadratic(
        dim: int = 100,
        *,
        num_train: int = 1000,
        num_test: int = 1000,
        noise_std: float = 0.6,
        key: Any = 42,
) -> Problem:
    r"""The noisy quadratic of DeepOBS's ``quadratic_deep``: a minibatch loss with a DL-like spectrum.

    Per example, with data points :math:`x_i \sim N(0, \sigma^2 I)`,

    .. math::
        \ell(\theta; x_i) = \tfrac12 (\theta - x_i)^\top H (\theta - x_i), \qquad
        H = R^\top \mathrm{diag}(\lambda) R,

    where ``round(0.9 dim)`` eigenvalues are drawn from Uniform(0, 1) and the rest from
    Uniform(30, 60) (the spectrum DeepOBS takes from Chaudhari et al. for deep networks), and R is
    a Haar-random rotation. ``batch_loss(theta, batch)`` is the mean of ``ell`` over
    ``batch["x"]`` (shape ``(B, dim)``), a stochastic estimate of
    ``fun(theta) = batch_loss(theta, train_data)``. Since H is positive definite,

    .. math::
        f(\theta) = \tfrac12 (\theta - \bar x)^\top H (\theta - \bar x)
                    + \tfrac{1}{2m} \sum_i (x_i - \bar x)^\top H (x_i - \bar x),

    so ``x_opt`` is the training mean ``x_bar`` and ``f_opt`` the second term, both in float64.
    ``init``: ones (the DeepOBS start). ``test_data`` is a second, independent draw.

    DeepOBS's protocol is followed (dimension 100, 1000 training and 1000 test points, sigma 0.6,
    the 90/10 spectrum, start at ones); the random numbers are not DeepOBS's (another generator).

    Args:
        dim: the dimension (>= 2).
        num_train, num_test: number of data points in each split.
        noise_std: sigma, the standard deviation of the data points.
        key: a JAX PRNG key or an int seed for the spectrum, the rotation and the data.

    Returns:
        A :class:`Problem` named ``"quadratic/noisy_d{dim}"``.

    References:
        F. Schneider, L. Balles, P. Hennig, "DeepOBS: A Deep Learning Optimizer Benchmark
        Suite", ICLR 2019 (test problem ``quadratic_deep``).
        P. Chaudhari et al., "Entropy-SGD: Biasing gradient descent into wide valleys", ICLR 2017.
    """
    dim = _check_positive_int(dim, "dim", 2)
    num_train = _check_positive_int(num_train, "num_train")
    num_test = _check_positive_int(num_test, "num_test")
    if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float, np.integer, np.floating)):
        raise TypeError(f"noise_std must be a number, got {type(noise_std).__name__}")
    if not math.isfinite(float(noise_std)) or noise_std < 0:
        raise ValueError(f"noise_std must be finite and >= 0, got {noise_std!r}")
    rng = _numpy_rng(key)
    n_small = int(round(0.9 * dim))
    eigenvalues = np.concatenate([rng.uniform(0.0, 1.0, n_small), rng.uniform(30.0, 60.0, dim - n_small)])
    r = _haar_orthogonal(rng, dim)
    h = (r.T * eigenvalues) @ r
    h = 0.5 * (h + h.T)
    x_train = noise_std * rng.standard_normal((num_train, dim))
    x_test = noise_std * rng.standard_normal((num_test, dim))
    x_bar = x_train.mean(axis=0)
    centred = x_train - x_bar
    f_opt = float(0.5 * np.mean(np.einsum("ij,jk,ik->i", centred, h, centred)))

    dtype = _float_dtype()
    h_j = jnp.asarray(h, dtype)
    train = {"x": jnp.asarray(x_train, dtype)}
    test_data = {"x": jnp.asarray(x_test, dtype)}

    def batch_loss(theta: jax.Array, batch: PyTree) -> jax.Array:
        d = theta[None, :] - batch["x"]
        return 0.5 * jnp.mean(jnp.sum((d @ h_j) * d, axis=1))

    def init(key: jax.Array) -> jax.Array:
        del key  # deterministic start, as in DeepOBS
        return jnp.ones(dim, dtype)

    return Problem(
            name=f"quadratic/noisy_d{dim}",
            dim=dim,
            fun=lambda theta: batch_loss(theta, train),
            init=init,
            convex=True,
            f_opt=f_opt,
            source=(
                    "DeepOBS quadratic_deep (Schneider, Balles & Hennig, ICLR 2019): mean of "
                    "0.5 (theta - x_i)^T H (theta - x_i), H = R^T diag(lambda) R, 90% of lambda ~ U(0,1), "
                    f"10% ~ U(30,60), x_i ~ N(0, {noise_std:g}^2 I), {num_train} train / {num_test} test; "
                    "x_opt = mean of the training x_i"
            ),
            x_opt=jnp.asarray(x_bar, dtype),
            batch_loss=batch_loss,
            train_data=train,
            test_data=test_data,
            tags=frozenset({"quadratic", "convex", "stochastic", "deepobs"}),
    )


def quadratic_problems() -> list[Problem]:
    """Default instances of the quadratic problems.

    Returns:
        ``[ill_conditioned_quadratic(10, 1e2), ill_conditioned_quadratic(100, 1e4),
        noisy_quadratic(100)]``, built anew on each call (in the float dtype in force).
    """
    return [
            ill_conditioned_quadratic(10, 1e2),
            ill_conditioned_quadratic(100, 1e4),
            noisy_quadratic(100),
    ]
