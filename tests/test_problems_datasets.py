"""Tests of ml_opt.problems.datasets against independent references.

References: scikit-learn's StandardScaler, LinearRegression, Ridge and LogisticRegression, the
normal equations solved by SciPy, and NumPy transcriptions of the losses.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
import sklearn.datasets
from jax.flatten_util import ravel_pytree
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from ml_opt.gradcheck import check_grad
from ml_opt.problems import datasets
from ml_opt.problems.base import Problem

PROBLEMS = {p.name: p for p in datasets.dataset_problems()}
NAMES = list(PROBLEMS)


def _reference_split(name, scale_target=False):
    """The documented split and standardisation, rebuilt from scikit-learn's raw data."""
    x, y = getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
    order = np.random.RandomState(0).permutation(len(y))
    n_test = int(round(0.2 * len(y)))
    te, tr = order[:n_test], order[n_test:]
    scaler = StandardScaler().fit(x[tr])
    y_tr, y_te = y[tr], y[te]
    if scale_target:
        mu, sd = y_tr.mean(), y_tr.std()
        y_tr, y_te = (y_tr - mu) / sd, (y_te - mu) / sd
    return scaler.transform(x[tr]), y_tr, scaler.transform(x[te]), y_te


def _random_point(p, key, scale=0.1):
    flat, unravel = ravel_pytree(p.init(key))
    return unravel(flat + scale * jax.random.normal(key, flat.shape, flat.dtype))


# ------------------------------------------------------------------------------------------
# Split and standardisation
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["diabetes", "breast_cancer", "digits"])
def test_split_and_standardisation_match_standard_scaler(name):
    got = datasets.load_split(name)
    ref = _reference_split(name, scale_target=name == "diabetes")
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    x_train = got[0]
    np.testing.assert_allclose(x_train.mean(0), 0.0, atol=1e-12)
    std = x_train.std(0)
    assert np.all((np.abs(std - 1) < 1e-12) | (std == 0))  # constant digits pixels: centred only
    # Deterministic, and the two splits partition the data.
    again = datasets.load_split(name)
    for a, b in zip(got, again):
        np.testing.assert_array_equal(a, b)
    n = len(getattr(sklearn.datasets, f"load_{name}")().target)
    assert len(got[1]) + len(got[3]) == n and len(got[3]) == round(0.2 * n)


def test_load_split_bad_input():
    with pytest.raises(ValueError, match="name"):
        datasets.load_split("iris")
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.load_split("digits", test_fraction=1.5)


# ------------------------------------------------------------------------------------------
# Properties of every problem
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_problem_fields(name):
    p = PROBLEMS[name]
    assert isinstance(p, Problem)
    assert p.convex and {"ml", "convex"} <= p.tags
    assert "scikit-learn" in p.source
    x0 = p.init(jax.random.PRNGKey(0))
    assert ravel_pytree(x0)[0].size == p.dim
    assert all(leaf.dtype == jnp.float64 for leaf in jax.tree.leaves(x0))
    assert all(float(jnp.max(jnp.abs(leaf))) == 0 for leaf in jax.tree.leaves(x0))  # zeros
    assert p.train_data["x"].dtype == jnp.float64
    assert p.test_data["x"].shape[1] == p.train_data["x"].shape[1]
    np.testing.assert_allclose(float(p.fun(p.x_opt)), p.f_opt, rtol=1e-12)
    grad = ravel_pytree(jax.grad(p.fun)(p.x_opt))[0]
    assert float(jnp.max(jnp.abs(grad))) < 1e-12


@pytest.mark.parametrize("name", NAMES)
def test_gradient(name):
    p = PROBLEMS[name]
    x = _random_point(p, jax.random.PRNGKey(1))
    assert check_grad(p.fun, x).relative_error < 1e-6


@pytest.mark.parametrize("name", NAMES)
def test_fun_is_batch_loss_on_train_data(name):
    p = PROBLEMS[name]
    x = _random_point(p, jax.random.PRNGKey(2))
    full = float(p.fun(x))
    assert float(p.batch_loss(x, p.train_data)) == full
    # Mean loss per batch, whole regulariser in each: equal batches average to the full loss.
    m = p.train_data["x"].shape[0]
    size = next(s for s in (10, 13, 7, 2) if m % s == 0)
    batches = jax.tree.map(lambda a: a.reshape(m // size, size, *a.shape[1:]), p.train_data)
    parts = jax.vmap(p.batch_loss, in_axes=(None, 0))(x, batches)
    np.testing.assert_allclose(float(jnp.mean(parts)), full, rtol=1e-12)


# ------------------------------------------------------------------------------------------
# Diabetes: closed form
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ridge", [0.0, 0.1])
def test_diabetes_closed_form(ridge):
    p = PROBLEMS["diabetes/least_squares" if ridge == 0 else "diabetes/ridge_0.1"]
    x, y, x_te, y_te = _reference_split("diabetes", scale_target=True)
    m, d = x.shape
    rng = np.random.default_rng(0)
    w, b = rng.standard_normal(d), rng.standard_normal()
    expected = np.sum((x @ w + b - y) ** 2) / (2 * m) + ridge / 2 * w @ w
    np.testing.assert_allclose(float(p.fun({"w": jnp.asarray(w), "b": jnp.asarray(b)})), expected, rtol=1e-12)
    r = np.asarray(p.residuals({"w": jnp.asarray(w), "b": jnp.asarray(b)}))
    assert r.shape == ((m,) if ridge == 0 else (m + d,))
    np.testing.assert_allclose(0.5 * r @ r, expected, rtol=1e-12)
    # The normal equations of [X 1], the intercept unpenalised.
    a = np.hstack([x, np.ones((m, 1))])
    pen = np.diag(np.r_[np.full(d, ridge), 0.0])
    theta = scipy.linalg.solve(a.T @ a / m + pen, a.T @ y / m, assume_a="pos")
    f_ref = np.sum((a @ theta - y) ** 2) / (2 * m) + ridge / 2 * theta[:d] @ theta[:d]
    np.testing.assert_allclose(p.f_opt, f_ref, rtol=1e-10)
    np.testing.assert_allclose(np.asarray(p.x_opt["w"]), theta[:d], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(float(p.x_opt["b"]), theta[d], atol=1e-10)
    # scikit-learn: LinearRegression, or Ridge with alpha = ridge * m (it minimises
    # ||Xw + b - y||^2 + alpha ||w||^2, 2m times ours).
    model = LinearRegression() if ridge == 0 else Ridge(alpha=ridge * m)
    model.fit(x, y)
    np.testing.assert_allclose(np.asarray(p.x_opt["w"]), model.coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(float(p.x_opt["b"]), model.intercept_, atol=1e-10)
    # A sensible fit: the test MSE is close to the training one (R^2 about 0.5 on this data).
    test_loss = float(p.batch_loss(p.x_opt, p.test_data))
    assert 0.1 < test_loss < 0.5


def test_diabetes_bad_ridge():
    with pytest.raises(ValueError, match="ridge"):
        datasets.diabetes_least_squares(ridge=-1.0)


# ------------------------------------------------------------------------------------------
# Breast cancer and digits: scikit-learn's LogisticRegression with C = 1 / (l2 m)
# ------------------------------------------------------------------------------------------


def _bce(x, y, w, b, l2):
    z = x @ w + b
    return np.mean(np.logaddexp(0.0, z) - y * z) + l2 / 2 * w @ w


def test_breast_cancer_matches_sklearn():
    p = PROBLEMS["breast_cancer/logistic_l2_0.001"]
    l2 = 1e-3
    x, y, x_te, y_te = _reference_split("breast_cancer")
    rng = np.random.default_rng(1)
    w, b = 0.1 * rng.standard_normal(x.shape[1]), 0.3
    np.testing.assert_allclose(float(p.fun({"w": jnp.asarray(w), "b": jnp.asarray(b)})), _bce(x, y, w, b, l2), rtol=1e-12)
    clf = LogisticRegression(C=1.0 / (l2 * len(y)), solver="newton-cholesky", tol=1e-10, max_iter=1000)
    with threadpool_limits(1):
        clf.fit(x, y)
    w_ref, b_ref = clf.coef_[0], clf.intercept_[0]
    np.testing.assert_allclose(p.f_opt, _bce(x, y, w_ref, b_ref, l2), rtol=1e-8)
    scale = np.max(np.abs(w_ref))
    np.testing.assert_allclose(np.asarray(p.x_opt["w"]), w_ref, atol=1e-5 * scale)
    np.testing.assert_allclose(float(p.x_opt["b"]), b_ref, atol=1e-5 * scale)
    acc = float(p.accuracy(p.x_opt, p.test_data))
    np.testing.assert_allclose(acc, clf.score(x_te, y_te), rtol=1e-12)
    assert acc > 0.9


def _cross_entropy(x, y, w, b, l2):
    z = x @ w + b
    zmax = z.max(axis=1, keepdims=True)
    lse = zmax[:, 0] + np.log(np.sum(np.exp(z - zmax), axis=1))
    return np.mean(lse - z[np.arange(len(y)), y]) + l2 / 2 * np.sum(w**2)


def test_digits_matches_sklearn():
    p = PROBLEMS["digits/softmax_l2_0.001"]
    l2 = 1e-3
    x, y, x_te, y_te = _reference_split("digits")
    assert p.train_data["y"].dtype == jnp.int32 and p.dim == 65 * 10
    rng = np.random.default_rng(2)
    w, b = 0.1 * rng.standard_normal((64, 10)), rng.standard_normal(10)
    np.testing.assert_allclose(
            float(p.fun({"w": jnp.asarray(w), "b": jnp.asarray(b)})), _cross_entropy(x, y, w, b, l2), rtol=1e-12
    )
    clf = LogisticRegression(C=1.0 / (l2 * len(y)), solver="newton-cg", tol=1e-10, max_iter=1000)
    with threadpool_limits(1):  # BLAS threads on a shared 2-core machine only slow it down
        clf.fit(x, y)
    w_ref, b_ref = clf.coef_.T, clf.intercept_
    np.testing.assert_allclose(p.f_opt, _cross_entropy(x, y, w_ref, b_ref, l2), rtol=1e-8)
    scale = np.max(np.abs(w_ref))
    np.testing.assert_allclose(np.asarray(p.x_opt["w"]), w_ref, atol=1e-5 * scale)
    # The intercepts are determined up to a common shift.
    np.testing.assert_allclose(
            np.asarray(p.x_opt["b"]) - np.mean(p.x_opt["b"]), b_ref - b_ref.mean(), atol=1e-5 * scale
    )
    acc = float(p.accuracy(p.x_opt, p.test_data))
    np.testing.assert_allclose(acc, clf.score(x_te, y_te), rtol=1e-12)
    assert acc > 0.9


@pytest.mark.parametrize("factory", [datasets.breast_cancer_logistic, datasets.digits_softmax])
def test_classifiers_refuse_l2_zero(factory):
    with pytest.raises(ValueError, match="l2"):
        factory(l2=0.0)


def test_dataset_problem_names_are_unique():
    assert len(NAMES) == len(set(NAMES)) == 4
