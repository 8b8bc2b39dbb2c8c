"""The test losses of the seed lectures, as :class:`~ml_opt.problems.base.Problem` values.

Every loss and model of "ML basics part II" (seeds 000/001) and the perceptron loss of "Error
backpropagation" (seed 004), on the seed's own data where it gives some (the house-price table)
and on small data generated here, with a fixed seed, where it does not:

======================================  =========  =================================================
factory                                 convex     f_opt
======================================  =========  =================================================
:func:`house_prices_least_squares`      yes        0 (3 houses, 4 parameters: the fit interpolates)
:func:`polynomial_regression`           yes        least squares, closed form
:func:`uv_regression`                   no         0 on the valley ``u v = 1``
:func:`house_sigmoid_mse`               no         None (0, not attained, when ``l2 = 0``)
:func:`house_logistic`                  yes        Newton's method in float64 (no closed form)
:func:`softmax_regression`              yes        Newton's method in float64 (no closed form)
:func:`perceptron`                      yes        0 (attained at ``w = 0`` and at any separator)
:func:`kmeans`                          no         None (NP-hard in general)
======================================  =========  =================================================

Conventions shared by all the problems here and in :mod:`ml_opt.problems.datasets`:

* Params are dicts of arrays (``{"w": ..., "b": ...}`` for linear models) in the default JAX float
  dtype at construction time (float64 when ``jax_enable_x64`` is on, float32 otherwise); the data
  are stored in that dtype too, labels of multiclass problems as int32.
* Data problems carry ``train_data`` and (where there is one) ``test_data``: dicts ``{"x": (m, d),
  "y": (m,)}`` with the examples on axis 0, and ``batch_loss(params, batch)``, the *mean* loss over
  the batch plus the whole regulariser; ``fun(params) == batch_loss(params, train_data)``, and the
  average of ``batch_loss`` over equal-sized batches that partition the training set is ``fun``.
* Least-squares problems set ``residuals`` with, exactly, ``fun == 0.5 * sum(residuals**2)``: the
  lecture's ``1/(2m) sum_i e_i^2`` is ``0.5 * ||e / sqrt(m)||^2``, so ``residuals = e / sqrt(m)``
  (followed by ``sqrt(l2) * w`` when there is an L2 term).
* ``f_opt`` is computed at construction in NumPy float64: from ``numpy.linalg.lstsq`` for least
  squares, from a damped Newton method run to rounding level for the smooth convex classifiers
  (strongly convex with ``l2 > 0``); ``x_opt`` is the minimiser found (the minimum-norm one where
  the minimiser is not unique).

References:
    T. Chen, "Machine Learning Basics - Part II", lecture 3 of Distributed Optimization for
    Machine Learning, Cornell Tech, 2025 (seeds 000/001).
    "Error backpropagation", lecture notes (seed 004): the perceptron as gradient descent.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ml_opt._base import check_integer
from ml_opt.problems.base import Problem

PyTree = Any

__all__ = [
    "HOUSE_TABLE",
    "house_prices_least_squares",
    "polynomial_regression",
    "uv_regression",
    "house_sigmoid_mse",
    "house_logistic",
    "softmax_regression",
    "perceptron",
    "kmeans",
    "seed_problems",
]

_LECTURE_000 = "seed 000/001 'Machine Learning Basics - Part II' (T. Chen, 2025)"

#: The seed's house table (seed 000, slide "Review: Linear models for House Price predictions"):
#: columns Size (sq. ft.), # Bedrooms, Age (years), Price ($k).
HOUSE_TABLE = np.array(
        [
                [1200.0, 3.0, 10.0, 250.0],
                [2000.0, 4.0, 5.0, 350.0],
                [800.0, 2.0, 25.0, 150.0],
        ]
)


# --------------------------------------------------------------------------------------------
# Shared helpers (also used by ml_opt.problems.datasets)
# --------------------------------------------------------------------------------------------


def _float_dtype() -> np.dtype:
    """The default JAX float dtype now: float64 with ``jax_enable_x64``, float32 otherwise."""
    return jax.dtypes.canonicalize_dtype(float)


def _to_jax(tree: PyTree, dtype: Any) -> PyTree:
    return jax.tree.map(lambda a: jnp.asarray(a, dtype), tree)


def _check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    check_integer(value, name, lower=minimum, static=True)
    return int(value)


def _check_nonnegative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return v


def _standardize(x_train: np.ndarray, *others: np.ndarray) -> list[np.ndarray]:
    """``(x - mean) / std`` with the training split's mean and population std (ddof=0).

    A feature that is constant on the training split (std 0; some digits pixels) is only
    centred (divided by 1).
    """
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return [(x - mean) / std for x in (x_train, *others)]


def _min_norm_solve(h: np.ndarray, g: np.ndarray, null_space: np.ndarray | None) -> np.ndarray:
    """``-H^+ g`` for symmetric PSD ``H`` whose null space contains ``null_space`` (and g is
    orthogonal to it): a direct solve, or least squares when that is not accurate."""
    a = h if null_space is None else h + null_space @ null_space.T
    try:
        d = -np.linalg.solve(a, g)
        if np.all(np.isfinite(d)) and np.linalg.norm(h @ d + g) <= 1e-8 * np.linalg.norm(g):
            return d
    except np.linalg.LinAlgError:
        pass
    return -np.linalg.lstsq(h, g, rcond=None)[0]


def _newton_minimize(
        value: Callable[[np.ndarray], float],
        derivatives: Callable[[np.ndarray], tuple[float, np.ndarray, np.ndarray]],
        x0: np.ndarray,
        *,
        what: str,
        null_space: np.ndarray | None = None,
        max_iter: int = 200,
) -> tuple[np.ndarray, float]:
    """Damped Newton's method in float64, run until the gradient stops shrinking (rounding level).

    The reference solver for the smooth convex losses (f_opt at construction). The Newton step is
    the minimum-norm solution of ``H d = -g``: where the Hessian is singular along directions the
    gradient never has a component in (the shift invariance of softmax), passed orthonormal as
    the columns of ``null_space``, it solves ``(H + N N^T) d = -g``, and it falls back on least
    squares when that system is singular too; so from zero it finds the minimum-norm
    minimiser. Armijo backtracking far from
    the solution; pure Newton steps once the Newton decrement ``g^T H^+ g`` is below
    ``1e-10 max(1, |f|)``, for as long as they shrink the gradient.

    Raises:
        RuntimeError naming ``what`` when it does not converge (e.g. separable data without L2).
    """
    x = np.asarray(x0, np.float64)
    local_best: tuple[float, np.ndarray, float] | None = None  # (max |g|, x, f) in the local phase
    for _ in range(max_iter):
        f, g, h = derivatives(x)
        g_max = float(np.max(np.abs(g)))
        if not (np.isfinite(f) and np.isfinite(g_max)):
            break
        scale = max(1.0, abs(f))
        if g_max <= 1e-15 * scale:
            return x, float(f)
        d = _min_norm_solve(h, g, null_space)
        decrement = -float(g @ d)  # g^T H^+ g >= 0
        if decrement <= 1e-10 * scale:
            if local_best is not None and g_max >= local_best[0]:
                break  # rounding level: the last steps no longer shrink the gradient
            local_best = (g_max, x, float(f))
            x = x + d
            continue
        t = 1.0
        while not value(x + t * d) <= f - 1e-4 * t * decrement:  # also rejects NaN
            t *= 0.5
            if t < 1e-12:
                raise RuntimeError(f"{what}: the reference Newton line search failed")
        x = x + t * d
    if local_best is not None and local_best[0] <= 1e-8 * max(1.0, abs(local_best[2])):
        return local_best[1], local_best[2]
    raise RuntimeError(
            f"{what}: the reference Newton solver did not converge (is the data separable with "
            "no L2 term, so that no minimiser exists?)"
    )


def _logistic_reference(x: np.ndarray, y: np.ndarray, l2: float, what: str):
    """Minimiser of ``mean(softplus(z) - y z) + l2/2 ||w||^2``, ``z = x w + b``, by Newton."""
    m, d = x.shape
    xa = np.hstack([x, np.ones((m, 1))])
    pen = np.r_[np.full(d, l2), 0.0]

    def value(theta):
        z = xa @ theta
        return float(np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * np.sum(pen * theta**2))

    def derivatives(theta):
        z = xa @ theta
        p = 0.5 * (1.0 + np.tanh(0.5 * z))  # sigmoid, overflow-free
        g = xa.T @ (p - y) / m + pen * theta
        h = (xa * (p * (1 - p))[:, None]).T @ xa / m + np.diag(pen)
        return value(theta), g, h

    theta, f = _newton_minimize(value, derivatives, np.zeros(d + 1), what=what)
    return {"w": theta[:d], "b": theta[d]}, f


def _softmax_reference(x: np.ndarray, y: np.ndarray, num_classes: int, l2: float, what: str):
    """Minimiser of ``mean(logsumexp(z) - z_y) + l2/2 ||W||_F^2``, ``z = x W + b``, by Newton."""
    m, d = x.shape
    k = num_classes
    xa = np.hstack([x, np.ones((m, 1))])
    onehot = np.eye(k)[y]
    pen = np.zeros((d + 1, k))
    pen[:d] = l2
    pen = pen.ravel()

    def value(theta):
        z = xa @ theta.reshape(d + 1, k)
        zmax = z.max(axis=1, keepdims=True)
        lse = zmax[:, 0] + np.log(np.sum(np.exp(z - zmax), axis=1))
        return float(np.mean(lse - np.sum(onehot * z, axis=1)) + 0.5 * np.sum(pen * theta**2))

    # x_i x_i^T, flattened, once: the Hessian is sum_i (diag p_i - p_i p_i^T) (x) x_i x_i^T / m.
    xx = (xa[:, :, None] * xa[:, None, :]).reshape(m, -1)

    def derivatives(theta):
        z = xa @ theta.reshape(d + 1, k)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        g = (xa.T @ (p - onehot) / m).ravel() + pen * theta
        a = p[:, :, None] * (np.eye(k)[None] - p[:, None, :])  # diag(p) - p p^T
        h = (xx.T @ a.reshape(m, -1) / m).reshape(d + 1, d + 1, k, k)
        h = h.transpose(0, 2, 1, 3).reshape((d + 1) * k, (d + 1) * k) + np.diag(pen)
        return value(theta), g, h

    # Adding one vector to every class's column changes nothing: the b-block shift always, the
    # W-block shifts too without L2. Orthonormal basis of those directions (flattened (d+1, k)).
    shifted_rows = range(d + 1) if l2 == 0 else [d]
    null_space = np.zeros(((d + 1) * k, len(shifted_rows)))
    for j, row in enumerate(shifted_rows):
        null_space[row * k : (row + 1) * k, j] = 1.0 / math.sqrt(k)
    theta, f = _newton_minimize(
            value, derivatives, np.zeros((d + 1) * k), what=what, null_space=null_space
    )
    theta = theta.reshape(d + 1, k)
    return {"w": theta[:d], "b": theta[d]}, f


def _data(x: np.ndarray, y: np.ndarray, dtype: Any, label_dtype: Any = None) -> dict:
    return {
            "x": jnp.asarray(x, dtype),
            "y": jnp.asarray(y, dtype if label_dtype is None else label_dtype),
    }


def _zeros_init(shapes: dict, dtype: Any) -> Callable[[jax.Array], PyTree]:
    def init(key: jax.Array) -> PyTree:
        del key  # deterministic start
        return {name: jnp.zeros(shape, dtype) for name, shape in shapes.items()}

    return init


def _least_squares_problem(
        *,
        name: str,
        x_train: np.ndarray,
        y_train: np.ndarray,
        test: tuple[np.ndarray, np.ndarray] | None,
        ridge: float,
        source: str,
        tags: frozenset[str],
) -> Problem:
    """Linear least squares (optionally ridge) on ``h(x) = x w + b``, closed-form optimum.

    ``fun = 1/(2m) ||X w + b - y||^2 + ridge/2 ||w||^2 = 0.5 * ||residuals||^2`` with
    ``residuals = [(X w + b - y) / sqrt(m), sqrt(ridge) w]`` (the second block only if ridge > 0).
    """
    dtype = _float_dtype()
    m, d = x_train.shape
    sqrt_m = math.sqrt(m)

    # Reference optimum: the same sum of squares as one stacked linear system, by lstsq (SVD).
    a = np.hstack([x_train, np.ones((m, 1))]) / sqrt_m
    rhs = y_train / sqrt_m
    if ridge > 0:
        a = np.vstack([a, np.hstack([math.sqrt(ridge) * np.eye(d), np.zeros((d, 1))])])
        rhs = np.r_[rhs, np.zeros(d)]
    theta, _, rank, _ = np.linalg.lstsq(a, rhs, rcond=None)
    if rank == a.shape[0]:
        f_opt = 0.0  # as many independent columns as equations: the fit interpolates exactly
    else:
        r = a @ theta - rhs
        f_opt = float(0.5 * r @ r)
    x_opt = _to_jax({"w": theta[:d], "b": theta[d]}, dtype)

    train = _data(x_train, y_train, dtype)
    test_data = None if test is None else _data(*test, dtype)

    def batch_loss(params: PyTree, batch: PyTree) -> jax.Array:
        e = batch["x"] @ params["w"] + params["b"] - batch["y"]
        loss = 0.5 * jnp.mean(e**2)
        if ridge > 0:
            loss = loss + 0.5 * ridge * jnp.sum(params["w"] ** 2)
        return loss

    def fun(params: PyTree) -> jax.Array:
        return batch_loss(params, train)

    def residuals(params: PyTree) -> jax.Array:
        e = (train["x"] @ params["w"] + params["b"] - train["y"]) / sqrt_m
        if ridge > 0:
            e = jnp.concatenate([e, math.sqrt(ridge) * params["w"]])
        return e

    return Problem(
            name=name,
            dim=d + 1,
            fun=fun,
            init=_zeros_init({"w": (d,), "b": ()}, dtype),
            convex=True,
            f_opt=f_opt,
            source=source,
            x_opt=x_opt,
            residuals=residuals,
            batch_loss=batch_loss,
            train_data=train,
            test_data=test_data,
            tags=tags,
    )


def _binary_accuracy(params: PyTree, data: PyTree) -> jax.Array:
    z = data["x"] @ params["w"] + params["b"]
    return jnp.mean(((z > 0) == (data["y"] > 0.5)).astype(data["x"].dtype))


def _logistic_problem(
        *,
        name: str,
        x_train: np.ndarray,
        y_train: np.ndarray,
        test: tuple[np.ndarray, np.ndarray] | None,
        l2: float,
        source: str,
        tags: frozenset[str],
) -> Problem:
    """Logistic regression with binary cross-entropy, labels in {0, 1}, ``l2/2 ||w||^2`` on w only.

    ``BCE(z, y) = -(y log sigma(z) + (1 - y) log(1 - sigma(z))) = softplus(z) - y z``.
    """
    dtype = _float_dtype()
    m, d = x_train.shape
    x_opt, f_opt = _logistic_reference(x_train, y_train, l2, name)
    train = _data(x_train, y_train, dtype)
    test_data = None if test is None else _data(*test, dtype)

    def batch_loss(params: PyTree, batch: PyTree) -> jax.Array:
        z = batch["x"] @ params["w"] + params["b"]
        loss = jnp.mean(jax.nn.softplus(z) - batch["y"] * z)
        if l2 > 0:
            loss = loss + 0.5 * l2 * jnp.sum(params["w"] ** 2)
        return loss

    return Problem(
            name=name,
            dim=d + 1,
            fun=lambda params: batch_loss(params, train),
            init=_zeros_init({"w": (d,), "b": ()}, dtype),
            convex=True,
            f_opt=f_opt,
            source=source,
            x_opt=_to_jax(x_opt, dtype),
            batch_loss=batch_loss,
            train_data=train,
            test_data=test_data,
            accuracy=_binary_accuracy,
            tags=tags,
    )


def _softmax_problem(
        *,
        name: str,
        x_train: np.ndarray,
        y_train: np.ndarray,
        test: tuple[np.ndarray, np.ndarray] | None,
        num_classes: int,
        l2: float,
        source: str,
        tags: frozenset[str],
) -> Problem:
    """Softmax regression with categorical cross-entropy, integer labels, ``l2/2 ||W||_F^2``.

    ``CE(z, y) = -log softmax(z)_y = logsumexp(z) - z_y`` with ``z = W^T x + b`` (K scores).
    """
    dtype = _float_dtype()
    m, d = x_train.shape
    x_opt, f_opt = _softmax_reference(x_train, y_train, num_classes, l2, name)
    train = _data(x_train, y_train, dtype, jnp.int32)
    test_data = None if test is None else _data(*test, dtype, jnp.int32)

    def batch_loss(params: PyTree, batch: PyTree) -> jax.Array:
        z = batch["x"] @ params["w"] + params["b"]
        z_y = jnp.take_along_axis(z, batch["y"][:, None], axis=1)[:, 0]
        loss = jnp.mean(jax.nn.logsumexp(z, axis=1) - z_y)
        if l2 > 0:
            loss = loss + 0.5 * l2 * jnp.sum(params["w"] ** 2)
        return loss

    def accuracy(params: PyTree, data: PyTree) -> jax.Array:
        z = data["x"] @ params["w"] + params["b"]
        return jnp.mean((jnp.argmax(z, axis=1) == data["y"]).astype(data["x"].dtype))

    return Problem(
            name=name,
            dim=(d + 1) * num_classes,
            fun=lambda params: batch_loss(params, train),
            init=_zeros_init({"w": (d, num_classes), "b": (num_classes,)}, dtype),
            convex=True,
            f_opt=f_opt,
            source=source,
            x_opt=_to_jax(x_opt, dtype),
            batch_loss=batch_loss,
            train_data=train,
            test_data=test_data,
            accuracy=accuracy,
            tags=tags,
    )


# --------------------------------------------------------------------------------------------
# The seed's problems
# --------------------------------------------------------------------------------------------


def _house_features() -> np.ndarray:
    """The table's three features, standardised over its three rows (mean 0, population std 1)."""
    return _standardize(HOUSE_TABLE[:, :3])[0]


def house_prices_least_squares() -> Problem:
    r"""Linear regression of price on (size, bedrooms, age): the seed's house-price table.

    .. math::
        L(w, b) = \frac{1}{2m} \sum_{i=1}^m (w^\top x^{(i)} + b - y^{(i)})^2,
        \qquad m = 3,

    with ``x`` the table's Size, Bedrooms, Age standardised over its three rows (subtract the
    column mean, divide by the population standard deviation) and ``y`` the price in $k
    (250, 350, 150), unscaled. ``b`` is the lecture's :math:`\theta_0`.

    Three houses and four parameters: the fit interpolates, so ``f_opt = 0`` and the minimisers
    form a line (the Hessian has one zero eigenvalue: convex, not strongly convex). ``x_opt`` is
    the minimum-norm minimiser. ``residuals = (w^T x + b - y) / sqrt(3)``, so
    ``fun == 0.5 * sum(residuals**2)``. ``init``: zeros. No test split (``test_data`` is None).

    Returns:
        A :class:`Problem` named ``"seed/house_prices_least_squares"``.

    Example:
        >>> p = house_prices_least_squares()
        >>> float(p.fun(p.x_opt)) < 1e-6
        True

    References:
        Seed 000/001, slides "Review: Linear models for House Price predictions" and "Reduction to
        linear regression (vectorized form)".
    """
    return _least_squares_problem(
            name="seed/house_prices_least_squares",
            x_train=_house_features(),
            y_train=HOUSE_TABLE[:, 3].copy(),
            test=None,
            ridge=0.0,
            source=(
                    f"{_LECTURE_000}, slide 'Review: Linear models for House Price predictions': "
                    "the 3-house table, features standardised over the 3 rows, price in $k; "
                    "fun = 1/(2m) sum e_i^2 = 0.5 * sum(residuals**2), residuals = e / sqrt(m)"
            ),
            tags=frozenset({"seed", "convex", "least_squares", "regression"}),
    )


def polynomial_regression(
        degree: int = 3,
        *,
        num_train: int = 50,
        num_test: int = 50,
        noise_std: float = 0.1,
        seed: int = 0,
) -> Problem:
    r"""Polynomial regression on generated 1-D data: least squares on the features x, ..., x^deg.

    .. math::
        h(x) = b + \sum_{j=1}^{\deg} w_j x^j, \qquad
        L(w, b) = \frac{1}{2m} \sum_{i=1}^m (h(x^{(i)}) - y^{(i)})^2.

    Data: ``x ~ Uniform(-1, 1)``, ``y = sin(pi x) + noise_std * N(0, 1)``, from
    ``numpy.random.default_rng(seed)`` (train first, then test). The monomials are not
    standardised: the Gram matrix of ``x, ..., x^deg`` on [-1, 1] grows ill-conditioned with the
    degree, which is part of the test. ``f_opt`` and ``x_opt`` come from the least-squares
    solution (``numpy.linalg.lstsq``). ``residuals = e / sqrt(m)``, so
    ``fun == 0.5 * sum(residuals**2)``. ``init``: zeros.

    Args:
        degree: the polynomial degree (>= 1); the problem has ``degree + 1`` parameters.
        num_train, num_test: number of training and test points.
        noise_std: standard deviation of the label noise.
        seed: seed of the data.

    Returns:
        A :class:`Problem` named ``"seed/polynomial_regression_deg{degree}"``.

    References:
        Seed 000/001, slide "Solution 1: Polynomial regression".
    """
    degree = _check_positive_int(degree, "degree")
    num_train = _check_positive_int(num_train, "num_train")
    num_test = _check_positive_int(num_test, "num_test")
    noise_std = _check_nonnegative(noise_std, "noise_std")
    rng = np.random.default_rng(seed)

    def draw(n):
        x = rng.uniform(-1.0, 1.0, n)
        y = np.sin(np.pi * x) + noise_std * rng.standard_normal(n)
        return x[:, None] ** np.arange(1, degree + 1), y

    x_train, y_train = draw(num_train)
    test = draw(num_test)
    return _least_squares_problem(
            name=f"seed/polynomial_regression_deg{degree}",
            x_train=x_train,
            y_train=y_train,
            test=test,
            ridge=0.0,
            source=(
                    f"{_LECTURE_000}, slide 'Solution 1: Polynomial regression'; generated data "
                    f"y = sin(pi x) + {noise_std:g} N(0,1), x ~ U(-1,1), seed {seed}; features "
                    "x..x^deg unscaled; fun = 0.5 * sum(residuals**2), residuals = e / sqrt(m)"
            ),
            tags=frozenset({"seed", "convex", "least_squares", "regression"}),
    )


def uv_regression() -> Problem:
    r"""The seed's concrete nonconvex regression loss ``L(u, v) = (u v - 1)^2``.

    The model :math:`\hat y(x; u, v) = (u v) x` fitted to the single example ``(x, y) = (1, 1)``
    with the squared error (no 1/2, as on the slide). Params: an array ``[u, v]`` of shape (2,).

    * Global minima: the whole valley (hyperbola) ``u v = 1``, ``f_opt = 0``; ``x_opt = (1, 1)``
      is one of them.
    * A saddle at the origin: ``grad = 0``, ``Hessian = [[0, -2], [-2, 0]]`` (eigenvalues +-2),
      ``L = 1`` there.
    * Nonconvex: ``L(1, 1) = L(-1, -1) = 0`` but ``L(0, 0) = 1``.

    ``residuals = sqrt(2) (u v - 1)`` so ``fun == 0.5 * sum(residuals**2)``. ``init(key)``:
    ``0.5 * N(0, I)`` (not zeros: the origin is the saddle, a stationary point). ``domain``:
    ``((-2, 2), (-2, 2))``. Data: ``train_data = {"x": [1.], "y": [1.]}`` and
    ``batch_loss(params, batch) = mean((u v x - y)^2)``.

    Returns:
        A :class:`Problem` named ``"seed/uv_regression"``.

    References:
        Seed 000/001, slide "A concrete nonconvex regression loss".
    """
    dtype = _float_dtype()
    train = _data(np.ones(1), np.ones(1), dtype)

    def batch_loss(params: jax.Array, batch: PyTree) -> jax.Array:
        return jnp.mean((params[0] * params[1] * batch["x"] - batch["y"]) ** 2)

    def residuals(params: jax.Array) -> jax.Array:
        m = train["x"].shape[0]
        return math.sqrt(2.0 / m) * (params[0] * params[1] * train["x"] - train["y"])

    def init(key: jax.Array) -> jax.Array:
        return 0.5 * jax.random.normal(key, (2,), dtype)

    return Problem(
            name="seed/uv_regression",
            dim=2,
            fun=lambda params: batch_loss(params, train),
            init=init,
            convex=False,
            f_opt=0.0,
            source=(
                    f"{_LECTURE_000}, slide 'A concrete nonconvex regression loss': "
                    "(u v - 1)^2, saddle at the origin, minima on u v = 1; "
                    "fun = 0.5 * sum(residuals**2), residuals = sqrt(2) (u v x - y)"
            ),
            x_opt=jnp.ones(2, dtype),
            residuals=residuals,
            batch_loss=batch_loss,
            train_data=train,
            domain=((-2.0, 2.0), (-2.0, 2.0)),
            tags=frozenset({"seed", "nonconvex", "2d", "least_squares"}),
    )


def _house_binary() -> tuple[np.ndarray, np.ndarray]:
    """Standardised house features and the seed's labels: Price < 300 ($k) -> 1 ("worth buying")."""
    return _house_features(), (HOUSE_TABLE[:, 3] < 300.0).astype(np.float64)


def house_sigmoid_mse(l2: float = 1e-2) -> Problem:
    r"""Sigmoid model with the mean squared error: the seed's nonconvex classification loss.

    .. math::
        L(w, b) = \frac{1}{2m} \sum_{i=1}^m (\sigma(w^\top x^{(i)} + b) - y^{(i)})^2
                  + \frac{l_2}{2} \|w\|^2

    on the house table (features standardised as in :func:`house_prices_least_squares`) with the
    seed's labels ``y = 1`` ("worth buying") if Price < $300k, else 0: ``y = (1, 0, 1)``.
    Nonconvex (sigma saturates). The three points are linearly separable, so with ``l2 = 0`` the
    infimum 0 is approached as ``||w|| -> inf`` and never attained: then ``f_opt = 0.0`` and
    ``x_opt`` is None. With ``l2 > 0`` the minimum is not known: ``f_opt`` is None.

    A nonlinear least-squares problem: ``residuals = [(sigma(z) - y) / sqrt(m), sqrt(l2) w]``,
    ``fun == 0.5 * sum(residuals**2)``. ``init``: zeros. ``accuracy``: ``sigma(z) > 0.5``.
    No test split.

    Args:
        l2: the L2 weight on ``w`` (the bias is not penalised); >= 0.

    Returns:
        A :class:`Problem` named ``"seed/house_sigmoid_mse_l2_{l2:g}"``.

    References:
        Seed 000/001, slides "A model for classification" and "New loss function for
        classification" (MSE + sigmoid, the nonconvex combination).
    """
    l2 = _check_nonnegative(l2, "l2")
    dtype = _float_dtype()
    x, y = _house_binary()
    m, d = x.shape
    train = _data(x, y, dtype)

    def batch_loss(params: PyTree, batch: PyTree) -> jax.Array:
        p = jax.nn.sigmoid(batch["x"] @ params["w"] + params["b"])
        loss = 0.5 * jnp.mean((p - batch["y"]) ** 2)
        if l2 > 0:
            loss = loss + 0.5 * l2 * jnp.sum(params["w"] ** 2)
        return loss

    def residuals(params: PyTree) -> jax.Array:
        p = jax.nn.sigmoid(train["x"] @ params["w"] + params["b"])
        e = (p - train["y"]) / math.sqrt(m)
        if l2 > 0:
            e = jnp.concatenate([e, math.sqrt(l2) * params["w"]])
        return e

    return Problem(
            name=f"seed/house_sigmoid_mse_l2_{l2:g}",
            dim=d + 1,
            fun=lambda params: batch_loss(params, train),
            init=_zeros_init({"w": (d,), "b": ()}, dtype),
            convex=False,
            f_opt=0.0 if l2 == 0 else None,
            source=(
                    f"{_LECTURE_000}, slides 'A model for classification' / 'New loss function for "
                    "classification': sigmoid + MSE on the house table, y = [Price < 300]; "
                    "fun = 0.5 * sum(residuals**2), residuals = [(sigma(z) - y)/sqrt(m), sqrt(l2) w]"
                    + ("; f_opt = 0 is an infimum, not attained (separable data)" if l2 == 0 else
                       "; f_opt unknown (nonconvex)")
            ),
            residuals=residuals,
            batch_loss=batch_loss,
            train_data=train,
            accuracy=_binary_accuracy,
            tags=frozenset({"seed", "nonconvex", "classification", "least_squares"}),
    )


def house_logistic(l2: float = 1e-2) -> Problem:
    r"""Logistic regression with binary cross-entropy on the seed's "worth buying" house labels.

    .. math::
        J(w, b) = -\frac{1}{m} \sum_{i=1}^m \big[y^{(i)} \log \sigma(z^{(i)})
                  + (1 - y^{(i)}) \log(1 - \sigma(z^{(i)}))\big] + \frac{l_2}{2} \|w\|^2,
        \qquad z = w^\top x + b,

    same data as :func:`house_sigmoid_mse` (3 houses, ``y = [Price < 300]``). Convex. The three
    points are separable, so without L2 no minimiser exists: ``l2`` must be > 0 (the bias is not
    penalised, as in scikit-learn). ``f_opt``/``x_opt`` from Newton's method in float64 (no closed
    form); this is scikit-learn's ``LogisticRegression(C=1 / (l2 * m))``. ``init``: zeros.

    Args:
        l2: the L2 weight on ``w``; > 0.

    Returns:
        A :class:`Problem` named ``"seed/house_logistic_l2_{l2:g}"``.

    References:
        Seed 000/001, slides "The full log loss (binary cross-entropy)" and "Optimization problem
        for (binary) classification".
    """
    l2 = _check_nonnegative(l2, "l2")
    if l2 == 0:
        raise ValueError("l2 must be > 0: the 3 houses are separable, so with l2 = 0 no minimiser exists")
    x, y = _house_binary()
    return _logistic_problem(
            name=f"seed/house_logistic_l2_{l2:g}",
            x_train=x,
            y_train=y,
            test=None,
            l2=l2,
            source=(
                    f"{_LECTURE_000}, slide 'Optimization problem for (binary) classification': "
                    f"BCE on the house table, y = [Price < 300], + {l2:g}/2 ||w||^2; "
                    f"f_opt by Newton (float64); sklearn C = 1/(l2 m) = {1.0 / (l2 * len(y)):.6g}"
            ),
            tags=frozenset({"seed", "convex", "classification"}),
    )


def _gaussian_blobs(rng, centers: np.ndarray, std: float, per_class: int):
    k, d = centers.shape
    y = np.repeat(np.arange(k), per_class)
    x = centers[y] + std * rng.standard_normal((k * per_class, d))
    order = rng.permutation(len(y))
    return x[order], y[order]


def softmax_regression(
        *,
        num_classes: int = 3,
        per_class: int = 100,
        l2: float = 0.0,
        seed: int = 0,
) -> Problem:
    r"""Softmax regression with categorical cross-entropy on generated, overlapping 2-D blobs.

    .. math::
        J(W, b) = -\frac{1}{m} \sum_{i=1}^m \log
                  \frac{\exp(z^{(i)}_{y^{(i)}})}{\sum_{k=1}^K \exp(z^{(i)}_k)}
                  + \frac{l_2}{2} \|W\|_F^2, \qquad z = W^\top x + b.

    Params ``{"w": (2, K), "b": (K,)}``, labels int32. Data: K Gaussian blobs of standard
    deviation 1 centred on a circle of radius 1.5 (``per_class`` points each for train and for
    test, ``numpy.random.default_rng(seed)``); they overlap, so the data are not separable and a
    minimiser exists even with ``l2 = 0``. Convex; with ``l2 = 0`` the minimiser is unique only
    up to adding one vector to every column (the softmax is shift-invariant): ``x_opt`` is the
    minimum-norm minimiser (columns summing to zero). ``f_opt`` by Newton's method in float64.
    ``init``: zeros. ``accuracy``: argmax.

    Args:
        num_classes: K >= 2.
        per_class: points per class in each split.
        l2: the L2 weight on ``W`` (not on ``b``); >= 0.
        seed: seed of the data.

    Returns:
        A :class:`Problem` named ``"seed/softmax_regression_k{K}_l2_{l2:g}"``.

    References:
        Seed 000/001, slides "The Model: Softmax Regression" and "Optimization for Multi-class
        Classification".
    """
    num_classes = _check_positive_int(num_classes, "num_classes", 2)
    per_class = _check_positive_int(per_class, "per_class")
    l2 = _check_nonnegative(l2, "l2")
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(num_classes) / num_classes
    centers = 1.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    x_train, y_train = _gaussian_blobs(rng, centers, 1.0, per_class)
    test = _gaussian_blobs(rng, centers, 1.0, per_class)
    return _softmax_problem(
            name=f"seed/softmax_regression_k{num_classes}_l2_{l2:g}",
            x_train=x_train,
            y_train=y_train,
            test=test,
            num_classes=num_classes,
            l2=l2,
            source=(
                    f"{_LECTURE_000}, slide 'Optimization for Multi-class Classification': softmax + "
                    f"cross-entropy on {num_classes} generated overlapping 2-D Gaussian blobs "
                    f"(seed {seed}), + {l2:g}/2 ||W||^2; f_opt by Newton (float64)"
            ),
            tags=frozenset({"seed", "convex", "classification"}),
    )


def perceptron(*, num_train: int = 100, num_test: int = 100, margin: float = 0.2, seed: int = 0) -> Problem:
    r"""The perceptron loss (seed 004): the error function whose gradient descent is Rosenblatt's rule.

    .. math::
        E(w, b) = \frac{1}{N} \sum_{k=1}^N \max(0, -t^{(k)} (w^\top x^{(k)} + b)),
        \qquad t^{(k)} \in \{-1, 1\}.

    Data: 2-D points uniform on [-2, 2]^2, labelled by the sign of a fixed line
    ``w* = (1, -0.5) / |.|, b* = 0.25`` and kept only if their distance to it is at least
    ``margin`` (``numpy.random.default_rng(seed)``): linearly separable by construction.
    Convex, piecewise linear, nonsmooth (not differentiable where a margin is 0), positively
    homogeneous. ``f_opt = 0``, attained at ``w = 0, b = 0`` (trivially) and at every separating
    ``(w, b)``; ``x_opt`` is the generating line ``(w*, b*)``. ``init(key)``: ``0.1 * N(0, I)``
    for every parameter (not zeros, which is already optimal). ``accuracy``: ``sign(z) == t``.

    Args:
        num_train, num_test: number of points in each split.
        margin: minimum distance of a point to the generating line; > 0.
        seed: seed of the data.

    Returns:
        A :class:`Problem` named ``"seed/perceptron"``.

    References:
        Seed 004, "The Perceptron: Optimization View"; F. Rosenblatt, "The perceptron: a
        probabilistic model for information storage and organization in the brain", 1958.
    """
    num_train = _check_positive_int(num_train, "num_train")
    num_test = _check_positive_int(num_test, "num_test")
    margin = _check_nonnegative(margin, "margin")
    if margin == 0:
        raise ValueError("margin must be > 0")
    dtype = _float_dtype()
    rng = np.random.default_rng(seed)
    w_star = np.array([1.0, -0.5]) / np.linalg.norm([1.0, -0.5])
    b_star = 0.25

    def draw(n):
        xs = []
        while sum(len(a) for a in xs) < n:
            x = rng.uniform(-2.0, 2.0, (2 * n, 2))
            xs.append(x[np.abs(x @ w_star + b_star) >= margin])
        x = np.concatenate(xs)[:n]
        return x, np.sign(x @ w_star + b_star)

    train = _data(*draw(num_train), dtype)
    test_data = _data(*draw(num_test), dtype)

    def batch_loss(params: PyTree, batch: PyTree) -> jax.Array:
        z = batch["x"] @ params["w"] + params["b"]
        return jnp.mean(jnp.maximum(0.0, -batch["y"] * z))

    def accuracy(params: PyTree, data: PyTree) -> jax.Array:
        z = data["x"] @ params["w"] + params["b"]
        return jnp.mean((jnp.sign(z) == data["y"]).astype(data["x"].dtype))

    def init(key: jax.Array) -> PyTree:
        kw, kb = jax.random.split(key)
        return {"w": 0.1 * jax.random.normal(kw, (2,), dtype), "b": 0.1 * jax.random.normal(kb, (), dtype)}

    return Problem(
            name="seed/perceptron",
            dim=3,
            fun=lambda params: batch_loss(params, train),
            init=init,
            convex=True,
            f_opt=0.0,
            source=(
                    "seed 004 'Error backpropagation', slide 'The Perceptron: Optimization View': "
                    f"mean(max(0, -t (w^T x + b))) on generated separable 2-D data (margin {margin:g}, "
                    f"seed {seed})"
            ),
            x_opt=_to_jax({"w": w_star, "b": b_star}, dtype),
            batch_loss=batch_loss,
            train_data=train,
            test_data=test_data,
            accuracy=accuracy,
            tags=frozenset({"seed", "convex", "nonsmooth", "classification"}),
    )


def kmeans(*, num_clusters: int = 3, per_cluster: int = 100, seed: int = 0) -> Problem:
    r"""The k-means objective with the assignments minimised out; params are the centroids.

    .. math::
        J(\mu) = \frac{1}{m} \sum_{i=1}^m \min_k \|x^{(i)} - \mu_k\|^2

    (the lecture's :math:`\min_c J(c, \mu)` divided by m, so that ``batch_loss`` is a mean).
    Params: an array of shape ``(num_clusters, 2)``. Data: Gaussian blobs (standard deviation
    0.6) around ``num_clusters`` centres on a circle of radius 2.5, ``per_cluster`` points each
    per split (``numpy.random.default_rng(seed)``); ``train_data``/``test_data`` are
    ``{"x": (m, 2)}`` (no labels). Nonconvex and nonsmooth where a point is equidistant from two
    centroids; its gradient, ``2/m sum_{i in cluster k} (mu_k - x_i)``, vanishes exactly at the
    fixed points of Lloyd's algorithm. ``f_opt`` is None (the global minimum is NP-hard in
    general and not computed here). ``init(key)``: ``num_clusters`` distinct training points
    drawn with ``key`` (Forgy's initialisation).

    Args:
        num_clusters: K >= 1.
        per_cluster: points per blob in each split.
        seed: seed of the data.

    Returns:
        A :class:`Problem` named ``"seed/kmeans_k{K}"``.

    References:
        Seed 000/001, slide "Training Objective for Clustering - K-Means"; S. Lloyd, "Least
        squares quantization in PCM", 1982.
    """
    num_clusters = _check_positive_int(num_clusters, "num_clusters")
    per_cluster = _check_positive_int(per_cluster, "per_cluster")
    dtype = _float_dtype()
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(num_clusters) / num_clusters
    centers = 2.5 * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    train = {"x": jnp.asarray(_gaussian_blobs(rng, centers, 0.6, per_cluster)[0], dtype)}
    test_data = {"x": jnp.asarray(_gaussian_blobs(rng, centers, 0.6, per_cluster)[0], dtype)}
    m = train["x"].shape[0]

    def batch_loss(params: jax.Array, batch: PyTree) -> jax.Array:
        sq = jnp.sum((batch["x"][:, None, :] - params[None, :, :]) ** 2, axis=-1)
        return jnp.mean(jnp.min(sq, axis=1))

    def init(key: jax.Array) -> jax.Array:
        idx = jax.random.choice(key, m, (num_clusters,), replace=False)
        return train["x"][idx]

    return Problem(
            name=f"seed/kmeans_k{num_clusters}",
            dim=2 * num_clusters,
            fun=lambda params: batch_loss(params, train),
            init=init,
            convex=False,
            f_opt=None,
            source=(
                    f"{_LECTURE_000}, slide 'Training Objective for Clustering - K-Means': "
                    f"1/m sum_i min_k ||x_i - mu_k||^2 on {num_clusters} generated 2-D Gaussian "
                    f"blobs (seed {seed}); f_opt unknown"
            ),
            batch_loss=batch_loss,
            train_data=train,
            test_data=test_data,
            tags=frozenset({"seed", "nonconvex", "nonsmooth", "clustering"}),
    )


def seed_problems() -> list[Problem]:
    """Default instances of every seed problem, in the order of the lectures.

    Returns:
        ``[house_prices_least_squares(), polynomial_regression(), uv_regression(),
        house_sigmoid_mse(), house_logistic(), softmax_regression(), perceptron(), kmeans()]``,
        built anew on each call (in the float dtype in force).
    """
    return [
            house_prices_least_squares(),
            polynomial_regression(),
            uv_regression(),
            house_sigmoid_mse(),
            house_logistic(),
            softmax_regression(),
            perceptron(),
            kmeans(),
    ]
