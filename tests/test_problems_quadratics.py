"""Tests of ml_opt.problems.quadratics against closed forms computed independently in NumPy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ml_opt.gradcheck import check_grad
from ml_opt.problems import quadratics
from ml_opt.problems.base import Problem


def _hessian_and_linear_term(p):
    """A and b of f(x) = 0.5 x^T A x - b^T x + c, read off f by autodiff at 0."""
    zero = jnp.zeros(p.dim)
    return np.asarray(jax.hessian(p.fun)(zero)), -np.asarray(jax.grad(p.fun)(zero))


# ------------------------------------------------------------------------------------------
# Ill-conditioned quadratic
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dim, kappa", [(2, 10.0), (10, 1e2), (50, 1e6)])
def test_ill_conditioned_spectrum_and_optimum(dim, kappa):
    p = quadratics.ill_conditioned_quadratic(dim, kappa, key=jax.random.PRNGKey(dim))
    assert isinstance(p, Problem) and p.convex and "quadratic" in p.tags and p.dim == dim
    a, b = _hessian_and_linear_term(p)
    np.testing.assert_allclose(a, a.T, atol=1e-12 * kappa)
    eig = np.linalg.eigvalsh(a)
    np.testing.assert_allclose(eig, np.geomspace(1.0, kappa, dim), rtol=1e-9)
    np.testing.assert_allclose(np.linalg.cond(a), kappa, rtol=1e-6)
    # f is exactly 0.5 x^T A x - b^T x (no constant) at random points.
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = rng.standard_normal(dim)
        np.testing.assert_allclose(float(p.fun(jnp.asarray(x))), 0.5 * x @ a @ x - b @ x, rtol=1e-10)
    # The closed form, by an independent route (LU solve instead of the eigendecomposition).
    x_ref = np.linalg.solve(a, b)
    np.testing.assert_allclose(np.asarray(p.x_opt), x_ref, rtol=1e-8 * max(1.0, kappa / 1e2), atol=1e-10)
    np.testing.assert_allclose(p.f_opt, -0.5 * b @ x_ref, rtol=1e-9)
    np.testing.assert_allclose(float(p.fun(p.x_opt)), p.f_opt, rtol=1e-9)
    np.testing.assert_array_equal(np.asarray(p.init(jax.random.PRNGKey(0))), np.zeros(dim))


def test_ill_conditioned_gradient():
    p = quadratics.ill_conditioned_quadratic(20, 1e3)
    x = jax.random.normal(jax.random.PRNGKey(1), (20,))
    assert check_grad(p.fun, x).relative_error < 1e-6


def test_ill_conditioned_keys():
    make = lambda key: quadratics.ill_conditioned_quadratic(5, 10.0, key=key)  # noqa: E731
    a, b = make(jax.random.PRNGKey(3)), make(jax.random.key(3))  # raw and typed keys agree
    np.testing.assert_array_equal(np.asarray(a.x_opt), np.asarray(b.x_opt))
    np.testing.assert_array_equal(np.asarray(make(7).x_opt), np.asarray(make(7).x_opt))  # deterministic
    assert not np.allclose(np.asarray(make(7).x_opt), np.asarray(make(8).x_opt))
    with pytest.raises(TypeError, match="key"):
        make(jnp.zeros(2))
    with pytest.raises(ValueError, match="key"):
        make(-1)


def test_ill_conditioned_bad_input():
    with pytest.raises(ValueError, match="condition_number"):
        quadratics.ill_conditioned_quadratic(10, 0.5)
    with pytest.raises(ValueError, match="condition_number"):
        quadratics.ill_conditioned_quadratic(10, float("inf"))
    with pytest.raises(ValueError, match="dim"):
        quadratics.ill_conditioned_quadratic(0, 10.0)
    with pytest.raises(TypeError, match="dim"):
        quadratics.ill_conditioned_quadratic(2.5, 10.0)


def test_float32_when_x64_is_off():
    with jax.enable_x64(False):
        p = quadratics.ill_conditioned_quadratic(10, 1e2)
        x0 = p.init(jax.random.PRNGKey(0))
        assert x0.dtype == jnp.float32 and p.fun(x0).dtype == jnp.float32
        np.testing.assert_allclose(float(p.fun(p.x_opt)), p.f_opt, rtol=1e-5)


# ------------------------------------------------------------------------------------------
# DeepOBS's noisy quadratic
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def noisy():
    return quadratics.noisy_quadratic()


def test_noisy_quadratic_protocol(noisy):
    p = noisy
    assert p.dim == 100 and p.convex and {"quadratic", "stochastic"} <= p.tags
    x_train, x_test = np.asarray(p.train_data["x"]), np.asarray(p.test_data["x"])
    assert x_train.shape == (1000, 100) and x_test.shape == (1000, 100)
    np.testing.assert_allclose(x_train.std(), 0.6, rtol=0.02)
    np.testing.assert_allclose(x_train.mean(), 0.0, atol=0.01)
    assert not np.allclose(x_train, x_test)
    # The Hessian: 90 eigenvalues in (0, 1), 10 in (30, 60).
    h, _ = _hessian_and_linear_term(p)
    eig = np.linalg.eigvalsh(h)
    assert np.all(eig[:90] > 0) and np.all(eig[:90] < 1)
    assert np.all(eig[90:] > 30) and np.all(eig[90:] < 60)
    np.testing.assert_array_equal(np.asarray(p.init(jax.random.PRNGKey(0))), np.ones(100))


def test_noisy_quadratic_losses_and_optimum(noisy):
    p = noisy
    h, _ = _hessian_and_linear_term(p)
    x_train = np.asarray(p.train_data["x"])
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(100)
    # The per-example loss 0.5 (theta - x_i)^T H (theta - x_i), averaged over a batch.
    batch = x_train[:32]
    per_example = 0.5 * np.einsum("bi,ij,bj->b", theta - batch, h, theta - batch)
    np.testing.assert_allclose(float(p.batch_loss(jnp.asarray(theta), {"x": jnp.asarray(batch)})), per_example.mean(), rtol=1e-12)
    full = float(p.fun(jnp.asarray(theta)))
    assert float(p.batch_loss(jnp.asarray(theta), p.train_data)) == full
    # Minibatches of 100 average to the full loss; their gradients scatter around the full one.
    batches = {"x": p.train_data["x"].reshape(10, 100, 100)}
    values = jax.vmap(p.batch_loss, in_axes=(None, 0))(jnp.asarray(theta), batches)
    np.testing.assert_allclose(float(jnp.mean(values)), full, rtol=1e-12)
    grads = jax.vmap(jax.grad(p.batch_loss), in_axes=(None, 0))(jnp.asarray(theta), batches)
    assert float(jnp.std(grads, axis=0).max()) > 1e-3
    # The minimiser is the training mean (solve grad = H (theta - mean) = 0 by LU), f_opt the
    # mean loss there.
    x_bar = x_train.mean(axis=0)
    g0 = np.asarray(jax.grad(p.fun)(jnp.zeros(100)))  # = -H x_bar
    np.testing.assert_allclose(np.linalg.solve(h, -g0), x_bar, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(np.asarray(p.x_opt), x_bar, rtol=1e-12)
    f_ref = np.mean(0.5 * np.einsum("bi,ij,bj->b", x_bar - x_train, h, x_bar - x_train))
    np.testing.assert_allclose(p.f_opt, f_ref, rtol=1e-10)
    np.testing.assert_allclose(float(p.fun(p.x_opt)), p.f_opt, rtol=1e-12)


def test_noisy_quadratic_gradient(noisy):
    x = 1.0 + 0.1 * jax.random.normal(jax.random.PRNGKey(2), (100,))
    assert check_grad(noisy.fun, x).relative_error < 1e-6
    assert check_grad(noisy.batch_loss, x, {"x": noisy.train_data["x"][:8]}).relative_error < 1e-6


def test_noisy_quadratic_other_dims():
    p = quadratics.noisy_quadratic(10, num_train=50, num_test=20, noise_std=1.0, key=1)
    eig = np.linalg.eigvalsh(_hessian_and_linear_term(p)[0])
    assert np.sum(eig < 1) == 9 and np.sum(eig > 30) == 1
    assert p.train_data["x"].shape == (50, 10) and p.test_data["x"].shape == (20, 10)
    with pytest.raises(ValueError, match="noise_std"):
        quadratics.noisy_quadratic(10, noise_std=-1.0)


def test_quadratic_problems_list():
    problems = quadratics.quadratic_problems()
    names = [p.name for p in problems]
    assert len(names) == len(set(names)) == 3
    for p in problems:
        assert "quadratic" in p.tags and p.f_opt is not None and p.x_opt is not None
