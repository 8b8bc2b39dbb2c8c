"""Tests of ml_opt.problems.seeds against independent references.

References: NumPy transcriptions of the lecture formulas, SciPy's least squares, scikit-learn's
LogisticRegression, Perceptron and KMeans, and closed forms worked out by hand.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from jax.flatten_util import ravel_pytree
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model import Perceptron as SkPerceptron

from ml_opt.gradcheck import check_grad
from ml_opt.problems import seeds
from ml_opt.problems.base import Problem

# The seed's table, typed in again from seed 000 (Size, Bedrooms, Age, Price in $k).
TABLE = np.array([[1200, 3, 10, 250], [2000, 4, 5, 350], [800, 2, 25, 150]], dtype=np.float64)


def house_features():
    x = TABLE[:, :3]
    return (x - x.mean(axis=0)) / x.std(axis=0)


# Built once, at collection: the problems are immutable.
PROBLEMS = {p.name: p for p in seeds.seed_problems()}
NAMES = list(PROBLEMS)
DATA_NAMES = [name for name, p in PROBLEMS.items() if p.batch_loss is not None]
LEAST_SQUARES_NAMES = [name for name, p in PROBLEMS.items() if p.residuals is not None]


@pytest.fixture(scope="module")
def problems():
    return PROBLEMS


def _random_point(p, key, scale=0.5):
    x0 = p.init(key)
    flat, unravel = ravel_pytree(x0)
    return unravel(flat + scale * jax.random.normal(jax.random.fold_in(key, 1), flat.shape, flat.dtype))


def _random_points(p, key, num, scale):
    """``num`` random points around ``init``, stacked on a leading axis, and the unravel map."""
    flat, unravel = ravel_pytree(p.init(key))
    return flat + scale * jax.random.normal(jax.random.fold_in(key, 1), (num, flat.size), flat.dtype), unravel


# ------------------------------------------------------------------------------------------
# Properties every seed problem has
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_problem_fields(problems, name):
    p = problems[name]
    assert isinstance(p, Problem)
    assert "seed" in p.tags
    assert ("convex" in p.tags) == p.convex and ("nonconvex" in p.tags) == (not p.convex)
    assert "seed 00" in p.source
    x0 = p.init(jax.random.PRNGKey(0))
    flat, _ = ravel_pytree(x0)
    assert flat.size == p.dim
    for leaf in jax.tree.leaves(x0):
        assert leaf.dtype == jnp.float64  # conftest turns on x64: the default float dtype
    if p.x_opt is not None:
        assert jax.tree.structure(p.x_opt) == jax.tree.structure(x0)
    if p.x_opt is not None and p.f_opt is not None:
        np.testing.assert_allclose(float(p.fun(p.x_opt)), p.f_opt, rtol=1e-10, atol=1e-12)
    assert np.isfinite(float(p.fun(x0)))


@pytest.mark.parametrize("name", NAMES)
def test_gradient(problems, name):
    p = problems[name]
    x = _random_point(p, jax.random.PRNGKey(10))
    assert check_grad(p.fun, x).relative_error < 1e-6
    if p.batch_loss is not None:
        half = jax.tree.map(lambda a: a[: max(1, a.shape[0] // 2)], p.train_data)
        x = _random_point(p, jax.random.PRNGKey(11))
        assert check_grad(p.batch_loss, x, half).relative_error < 1e-6


@pytest.mark.parametrize("name", DATA_NAMES)
def test_fun_is_batch_loss_on_train_data_and_batches_average_to_it(problems, name):
    p = problems[name]
    x = _random_point(p, jax.random.PRNGKey(3))
    full = float(p.fun(x))
    assert float(p.batch_loss(x, p.train_data)) == full
    m = jax.tree.leaves(p.train_data)[0].shape[0]
    for size in [s for s in (1, 5, 10, 50) if m % s == 0 and s < m]:
        batches = jax.tree.map(lambda a: a.reshape(m // size, size, *a.shape[1:]), p.train_data)
        parts = jax.jit(jax.vmap(p.batch_loss, in_axes=(None, 0)))(x, batches)
        np.testing.assert_allclose(float(np.mean(parts)), full, rtol=1e-12)


@pytest.mark.parametrize("name", LEAST_SQUARES_NAMES)
def test_residuals_scaling(problems, name):
    p = problems[name]
    for i in range(3):
        x = _random_point(p, jax.random.PRNGKey(20 + i))
        r = np.asarray(p.residuals(x))
        np.testing.assert_allclose(float(p.fun(x)), 0.5 * np.sum(r**2), rtol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_convex_flag(problems, name):
    """Convex: no midpoint violation on random segments. Nonconvex: a violation is found."""
    p = problems[name]
    worst = -np.inf
    for scale in (0.3, 3.0):
        a, unravel = _random_points(p, jax.random.PRNGKey(7), 200, scale)
        b, _ = _random_points(p, jax.random.PRNGKey(8), 200, scale)
        values = jax.jit(jax.vmap(lambda v: p.fun(unravel(v))))
        fa, fb, fm = (np.asarray(values(v)) for v in (a, b, 0.5 * (a + b)))
        gap = (fm - 0.5 * (fa + fb)) / np.maximum(1.0, np.maximum(np.abs(fa), np.abs(fb)))
        worst = max(worst, float(gap.max()))
    if p.convex:
        assert worst <= 1e-12
    else:
        assert worst > 1e-6


# ------------------------------------------------------------------------------------------
# House-price least squares
# ------------------------------------------------------------------------------------------


def test_house_least_squares_matches_lecture_formula_and_lstsq(problems):
    p = problems["seed/house_prices_least_squares"]
    x, y = house_features(), TABLE[:, 3]
    np.testing.assert_allclose(np.asarray(p.train_data["x"]), x, rtol=1e-14)
    np.testing.assert_allclose(np.asarray(p.train_data["y"]), y)
    rng = np.random.default_rng(0)
    for _ in range(3):
        theta = rng.standard_normal(4) * 50  # theta_0 (bias), theta_1..3
        expected = np.sum((theta[0] + x @ theta[1:] - y) ** 2) / (2 * len(y))
        got = float(p.fun({"w": jnp.asarray(theta[1:]), "b": jnp.asarray(theta[0])}))
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    # 3 equations, 4 unknowns: SciPy's complete-orthogonal-factorisation lstsq interpolates with
    # the minimum-norm solution.
    a = np.hstack([x, np.ones((3, 1))])
    sol, res, rank, _ = scipy.linalg.lstsq(a, y, lapack_driver="gelsy")
    assert rank == 3
    assert p.f_opt == 0.0
    np.testing.assert_allclose(np.asarray(p.x_opt["w"]), sol[:3], rtol=1e-9)
    np.testing.assert_allclose(float(p.x_opt["b"]), sol[3], rtol=1e-9)
    assert float(p.fun(p.x_opt)) < 1e-20
    assert p.test_data is None


def test_polynomial_regression_normal_equations():
    for degree in (1, 3, 5):
        p = seeds.polynomial_regression(degree)
        assert p.dim == degree + 1
        x = np.asarray(p.train_data["x"])
        t = x[:, 0]
        np.testing.assert_allclose(x, t[:, None] ** np.arange(1, degree + 1), rtol=1e-12)
        y = np.asarray(p.train_data["y"])
        v = np.vander(t, degree + 1, increasing=True)  # 1, t, ..., t^degree
        theta = scipy.linalg.solve(v.T @ v, v.T @ y, assume_a="pos")
        f_ref = np.sum((v @ theta - y) ** 2) / (2 * len(y))
        np.testing.assert_allclose(p.f_opt, f_ref, rtol=1e-9)
        np.testing.assert_allclose(float(p.x_opt["b"]), theta[0], rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(np.asarray(p.x_opt["w"]), theta[1:], rtol=1e-7, atol=1e-9)
        assert p.test_data["x"].shape == (50, degree)
    # A cubic fits sin(pi x) on [-1, 1] well, a line does not.
    assert seeds.polynomial_regression(3).f_opt < 0.2 * seeds.polynomial_regression(1).f_opt
    with pytest.raises(ValueError, match="degree"):
        seeds.polynomial_regression(0)


# ------------------------------------------------------------------------------------------
# (u v - 1)^2
# ------------------------------------------------------------------------------------------


def test_uv_regression_landscape(problems):
    p = problems["seed/uv_regression"]
    rng = np.random.default_rng(1)
    for u, v in rng.uniform(-2, 2, (5, 2)):
        np.testing.assert_allclose(float(p.fun(jnp.array([u, v]))), (u * v - 1) ** 2, rtol=1e-13)
    # The slide's convexity counterexample.
    assert float(p.fun(jnp.array([1.0, 1.0]))) == 0.0
    assert float(p.fun(jnp.array([-1.0, -1.0]))) == 0.0
    assert float(p.fun(jnp.array([0.0, 0.0]))) == 1.0
    # The valley of minima u v = 1.
    for t in (0.25, 0.5, 2.0, -3.0):
        np.testing.assert_allclose(float(p.fun(jnp.array([t, 1.0 / t]))), 0.0, atol=1e-15)
        g = jax.grad(p.fun)(jnp.array([t, 1.0 / t]))
        np.testing.assert_allclose(np.asarray(g), 0.0, atol=1e-14)
    # The saddle at the origin: d2L/du2 = 2v^2, d2L/dudv = 4uv - 2, d2L/dv2 = 2u^2.
    origin = jnp.zeros(2)
    np.testing.assert_array_equal(np.asarray(jax.grad(p.fun)(origin)), [0.0, 0.0])
    hess = np.asarray(jax.hessian(p.fun)(origin))
    np.testing.assert_allclose(hess, [[0.0, -2.0], [-2.0, 0.0]], atol=1e-14)
    np.testing.assert_allclose(np.linalg.eigvalsh(hess), [-2.0, 2.0], atol=1e-14)
    assert p.domain == ((-2.0, 2.0), (-2.0, 2.0))
    assert p.f_opt == 0.0 and not p.convex
    # init is random (not the saddle) and depends on the key.
    a, b = p.init(jax.random.PRNGKey(0)), p.init(jax.random.PRNGKey(1))
    assert a.shape == (2,) and not np.allclose(a, b) and np.all(np.asarray(a) != 0)


# ------------------------------------------------------------------------------------------
# Sigmoid + MSE and logistic regression on the house labels
# ------------------------------------------------------------------------------------------


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_house_binary_labels_and_sigmoid_mse_formula():
    p = seeds.house_sigmoid_mse(l2=0.05)
    x, y = house_features(), (TABLE[:, 3] < 300).astype(float)
    np.testing.assert_array_equal(y, [1.0, 0.0, 1.0])  # "worth buying" if Price < $300k
    np.testing.assert_allclose(np.asarray(p.train_data["x"]), x, rtol=1e-14)
    np.testing.assert_array_equal(np.asarray(p.train_data["y"]), y)
    rng = np.random.default_rng(2)
    for _ in range(3):
        w, b = rng.standard_normal(3), rng.standard_normal()
        expected = np.mean((_sigmoid(x @ w + b) - y) ** 2) / 2 + 0.05 / 2 * w @ w
        got = float(p.fun({"w": jnp.asarray(w), "b": jnp.asarray(b)}))
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert p.f_opt is None and not p.convex


def test_sigmoid_mse_without_l2_has_unattained_infimum_zero():
    p = seeds.house_sigmoid_mse(l2=0.0)
    assert p.f_opt == 0.0 and p.x_opt is None
    # A separating direction from an independent reference, scaled up: the loss goes to 0.
    clf = SkPerceptron(tol=None, max_iter=1000, random_state=0).fit(house_features(), [1, 0, 1])
    sep = {"w": jnp.asarray(clf.coef_[0]), "b": jnp.asarray(clf.intercept_[0])}
    assert float(p.accuracy(sep, p.train_data)) == 1.0
    values = [float(p.fun(jax.tree.map(lambda a: s * a, sep))) for s in (1.0, 10.0, 100.0)]
    assert values[0] > values[1] > values[2] > 0.0 and values[2] < 1e-6


def _bce(x, y, w, b, l2):
    z = x @ w + b
    return np.mean(-(y * np.log(_sigmoid(z)) + (1 - y) * np.log(1 - _sigmoid(z)))) + l2 / 2 * w @ w


@pytest.mark.parametrize("l2", [1e-2, 1e-1])
def test_house_logistic_matches_sklearn(l2):
    p = seeds.house_logistic(l2=l2)
    x, y = house_features(), (TABLE[:, 3] < 300).astype(float)
    rng = np.random.default_rng(3)
    w, b = rng.standard_normal(3), rng.standard_normal()
    np.testing.assert_allclose(
            float(p.fun({"w": jnp.asarray(w), "b": jnp.asarray(b)})), _bce(x, y, w, b, l2), rtol=1e-12
    )
    # sklearn minimises C sum_i BCE_i + ||w||^2 / 2, i.e. C m times ours when C = 1 / (l2 m).
    clf = LogisticRegression(C=1.0 / (l2 * len(y)), solver="newton-cholesky", tol=1e-12, max_iter=1000)
    clf.fit(x, y)
    w_ref, b_ref = clf.coef_[0], clf.intercept_[0]
    np.testing.assert_allclose(p.f_opt, _bce(x, y, w_ref, b_ref, l2), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(p.x_opt["w"]), w_ref, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(float(p.x_opt["b"]), b_ref, rtol=1e-5, atol=1e-7)
    assert float(p.accuracy(p.x_opt, p.train_data)) == clf.score(x, y) == 1.0
    assert p.convex


def test_house_logistic_refuses_l2_zero():
    with pytest.raises(ValueError, match="l2"):
        seeds.house_logistic(l2=0.0)
    with pytest.raises(ValueError, match="l2"):
        seeds.house_logistic(l2=-1.0)


# ------------------------------------------------------------------------------------------
# Softmax regression
# ------------------------------------------------------------------------------------------


def _cross_entropy(x, y, w, b, l2):
    z = x @ w + b
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    return -np.mean(logp[np.arange(len(y)), y]) + l2 / 2 * np.sum(w**2)


@pytest.mark.parametrize("l2", [0.0, 1e-2])
def test_softmax_regression_matches_sklearn(l2):
    p = seeds.softmax_regression(l2=l2)
    x, y = np.asarray(p.train_data["x"]), np.asarray(p.train_data["y"])
    assert p.train_data["y"].dtype == jnp.int32 and set(y.tolist()) == {0, 1, 2}
    rng = np.random.default_rng(4)
    w, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(
            float(p.fun({"w": jnp.asarray(w), "b": jnp.asarray(b)})), _cross_entropy(x, y, w, b, l2), rtol=1e-12
    )
    c = np.inf if l2 == 0 else 1.0 / (l2 * len(y))
    clf = LogisticRegression(C=c, solver="lbfgs", tol=1e-12, max_iter=10_000).fit(x, y)
    w_ref, b_ref = clf.coef_.T, clf.intercept_
    np.testing.assert_allclose(p.f_opt, _cross_entropy(x, y, w_ref, b_ref, l2), rtol=1e-8)
    # The minimiser is unique up to a common shift of the classes' columns (all of them
    # without L2, the intercepts only with it): compare centred.
    centre = lambda a: a - a.mean(axis=-1, keepdims=True)  # noqa: E731
    np.testing.assert_allclose(centre(np.asarray(p.x_opt["w"])), centre(w_ref), atol=1e-4)
    np.testing.assert_allclose(centre(np.asarray(p.x_opt["b"])), centre(b_ref), atol=1e-4)
    if l2 > 0:
        np.testing.assert_allclose(np.asarray(p.x_opt["w"]), w_ref, atol=1e-4)
    # x_opt is the minimum-norm minimiser: its classes' columns sum to zero.
    np.testing.assert_allclose(np.asarray(p.x_opt["b"]).sum(), 0.0, atol=1e-10)
    acc = float(p.accuracy(p.x_opt, p.test_data))
    np.testing.assert_allclose(acc, clf.score(np.asarray(p.test_data["x"]), np.asarray(p.test_data["y"])))
    assert 0.75 < acc < 0.95  # overlapping blobs: good, not perfect


# ------------------------------------------------------------------------------------------
# Perceptron
# ------------------------------------------------------------------------------------------


def test_perceptron_loss_and_rule(problems):
    p = problems["seed/perceptron"]
    x, t = np.asarray(p.train_data["x"]), np.asarray(p.train_data["y"])
    assert set(t.tolist()) == {-1.0, 1.0}
    rng = np.random.default_rng(5)
    for _ in range(3):
        w, b = rng.standard_normal(2), rng.standard_normal()
        z = x @ w + b
        expected = np.mean(np.maximum(0.0, -z * t))
        params = {"w": jnp.asarray(w), "b": jnp.asarray(b)}
        np.testing.assert_allclose(float(p.fun(params)), expected, rtol=1e-12)
        # Seed 004's proposition: the gradient step is the perceptron update on the
        # misclassified points, -grad = 1/N sum_{t z < 0} t (x, 1).
        wrong = t * z < 0
        g = jax.grad(p.fun)(params)
        np.testing.assert_allclose(np.asarray(g["w"]), -np.sum((t[wrong])[:, None] * x[wrong], 0) / len(t), atol=1e-14)
        np.testing.assert_allclose(float(g["b"]), -np.sum(t[wrong]) / len(t), atol=1e-14)
    # f_opt = 0: attained trivially at 0, at the generating line, and at sklearn's separator.
    assert p.f_opt == 0.0 and p.convex and "nonsmooth" in p.tags
    zero = jax.tree.map(jnp.zeros_like, p.x_opt)
    assert float(p.fun(zero)) == 0.0 == float(p.fun(p.x_opt))
    assert float(p.accuracy(p.x_opt, p.train_data)) == 1.0
    assert float(p.accuracy(p.x_opt, p.test_data)) == 1.0
    clf = SkPerceptron(tol=None, max_iter=1000, random_state=0).fit(x, t)
    assert clf.score(x, t) == 1.0  # separable, as claimed
    sep = {"w": jnp.asarray(clf.coef_[0]), "b": jnp.asarray(clf.intercept_[0])}
    assert float(p.fun(sep)) == 0.0
    # The documented start is random and not already optimal.
    x0 = p.init(jax.random.PRNGKey(0))
    assert float(p.fun(x0)) > 0.0


# ------------------------------------------------------------------------------------------
# k-means
# ------------------------------------------------------------------------------------------


def test_kmeans_objective_matches_sklearn_inertia(problems):
    p = problems["seed/kmeans_k3"]
    x = np.asarray(p.train_data["x"])
    km = KMeans(n_clusters=3, n_init=10, random_state=0).fit(x)
    centres = jnp.asarray(km.cluster_centers_)
    np.testing.assert_allclose(float(p.fun(centres)), km.inertia_ / len(x), rtol=1e-9)
    # At a fixed point of Lloyd's algorithm each centroid is the mean of its points: grad = 0.
    labels = np.argmin(((x[:, None] - km.cluster_centers_[None]) ** 2).sum(-1), axis=1)
    means = np.stack([x[labels == k].mean(0) for k in range(3)])
    lloyd = jnp.asarray(means)
    np.testing.assert_allclose(np.asarray(jax.grad(p.fun)(lloyd)), 0.0, atol=1e-12)
    # The gradient elsewhere: 2/m sum_{i in cluster k} (mu_k - x_i).
    mu = np.asarray(p.init(jax.random.PRNGKey(0))) + 0.1
    lab = np.argmin(((x[:, None] - mu[None]) ** 2).sum(-1), axis=1)
    expected = np.stack([2 * np.sum(mu[k] - x[lab == k], axis=0) / len(x) for k in range(3)])
    np.testing.assert_allclose(np.asarray(jax.grad(p.fun)(jnp.asarray(mu))), expected, atol=1e-12)
    # init: three distinct training points (Forgy).
    x0 = np.asarray(p.init(jax.random.PRNGKey(1)))
    assert x0.shape == (3, 2) and len({tuple(r) for r in x0}) == 3
    assert all(np.any(np.all(x == r, axis=1)) for r in x0)
    assert p.f_opt is None and not p.convex


# ------------------------------------------------------------------------------------------
# dtypes and the list
# ------------------------------------------------------------------------------------------


def test_float32_when_x64_is_off():
    with jax.enable_x64(False):
        for p in (seeds.house_logistic(), seeds.uv_regression(), seeds.polynomial_regression()):
            x0 = p.init(jax.random.PRNGKey(0))
            assert all(leaf.dtype == jnp.float32 for leaf in jax.tree.leaves(x0))
            assert p.fun(x0).dtype == jnp.float32
            if p.train_data is not None:
                assert p.train_data["x"].dtype == jnp.float32
            if p.x_opt is not None and p.f_opt is not None:
                np.testing.assert_allclose(float(p.fun(p.x_opt)), p.f_opt, rtol=1e-5, atol=1e-6)


def test_seed_problems_names_are_unique():
    names = [p.name for p in seeds.seed_problems()]
    assert len(names) == len(set(names)) == 8
