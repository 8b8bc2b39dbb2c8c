"""Tests for ml_opt.problems.networks: the Flax NNX classifier problems."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from sklearn.datasets import load_digits

from ml_opt.problems.base import Problem
from ml_opt.problems.networks import (
    CNN,
    MLP,
    ElmanRNN,
    digits_cnn,
    digits_data,
    digits_mlp,
    sequence_data,
    sequence_rnn,
)
from ml_opt.training import fit


def test_digits_split_is_deterministic_stratified_and_standardised():
    train, test = digits_data()
    train2, test2 = digits_data()
    jax.tree.map(np.testing.assert_array_equal, (train, test), (train2, test2))
    x_all, y_all = load_digits(return_X_y=True)
    assert train["x"].shape == (1347, 64) and test["x"].shape == (450, 64)
    assert train["x"].dtype == jnp.float32 and train["y"].dtype == jnp.int32
    # Every example lands in exactly one part; classes keep their proportions.
    assert train["y"].shape[0] + test["y"].shape[0] == y_all.shape[0]
    np.testing.assert_allclose(np.bincount(np.asarray(test["y"])) / 450, np.bincount(y_all) / y_all.size, atol=0.01)
    x = np.asarray(train["x"], np.float64)
    np.testing.assert_allclose(x.mean(axis=0), 0.0, atol=1e-5)
    varying = x_all[:, :].std(axis=0) > 0
    std = x.std(axis=0)
    np.testing.assert_allclose(std[std > 0], 1.0, atol=1e-4)
    assert (std > 0).sum() <= varying.sum()
    images, _ = digits_data(images=True)
    np.testing.assert_array_equal(images["x"].reshape(-1, 64), train["x"])


def test_sequence_labels_are_sum_and_parity():
    train, test = sequence_data(length=7, task="sum", num_train=50, num_test=20)
    assert train["x"].shape == (50, 7, 1) and test["x"].shape == (20, 7, 1)
    np.testing.assert_array_equal(train["y"], np.asarray(train["x"])[..., 0].sum(axis=1))
    parity, _ = sequence_data(length=7, task="parity", num_train=50, num_test=20)
    np.testing.assert_array_equal(parity["y"], np.asarray(train["y"]) % 2)
    with pytest.raises(ValueError, match="task"):
        sequence_data(task="mean")


@pytest.mark.parametrize("make", [digits_mlp, digits_cnn, sequence_rnn])
def test_problem_contract(make):
    problem = make()
    assert isinstance(problem, Problem)
    assert not problem.convex and problem.f_opt is None and problem.tags == frozenset({"nn"})
    params = problem.init(jax.random.key(0))
    assert isinstance(params, dict)
    assert problem.dim == sum(x.size for x in jax.tree.leaves(params))

    @jax.jit
    def evaluate(params):
        return (problem.fun(params), problem.batch_loss(params, problem.train_data),
                problem.accuracy(params, problem.test_data), jax.grad(problem.fun)(params))

    value, batch_value, acc, grad = evaluate(params)
    # fun is the batch loss on the training set; a fresh network is near chance.
    np.testing.assert_allclose(value, batch_value, rtol=1e-6)
    classes = int(jnp.max(problem.train_data["y"])) + 1
    assert abs(float(value) - np.log(classes)) < 1.5
    assert 0.0 <= float(acc) <= 1.0
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(grad))
    # init is fresh per key and deterministic.
    other = problem.init(jax.random.key(1))
    assert not all(np.allclose(a, b) for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(other)))
    jax.tree.map(np.testing.assert_array_equal, params, problem.init(jax.random.key(0)))


def test_init_is_vmappable_over_keys():
    problem = digits_mlp(hidden=(8,))
    keys = jax.random.split(jax.random.key(0), 2)
    batched = jax.vmap(problem.init)(keys)
    for i in range(2):
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a[i], b, rtol=1e-6), batched, problem.init(keys[i]))


def test_params_rebuild_the_module():
    """``init(key)`` holds the weights of ``MLP(sizes, rngs=nnx.Rngs(key))``, and merged into the
    module's graphdef they compute relu(x W1 + b1) W2 + b2 (a float64 NumPy reference). ``init`` is
    compiled and the module is built op by op, which may round the initializers' arithmetic
    differently (they do on a GPU, by up to 4 ulps of the weights' scale, 0.3)."""
    problem = digits_mlp()
    params = problem.init(jax.random.key(0))
    model = MLP((64, 128, 10), rngs=nnx.Rngs(jax.random.key(0)))
    ulps = 8 * np.finfo(np.float32).eps * 0.3
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=ulps), params,
                 nnx.to_pure_dict(nnx.state(model, nnx.Param)))
    graphdef, _ = nnx.split(model)
    x = problem.test_data["x"][:5]
    (w1, b1), (w2, b2) = [(np.asarray(p["kernel"], np.float64), np.asarray(p["bias"], np.float64))
                          for p in (params["layers"][0], params["layers"][1])]
    expected = np.maximum(np.asarray(x, np.float64) @ w1 + b1, 0.0) @ w2 + b2
    # float32 sums of 64 and 128 terms of size ~0.1-1 round at ~1e-6; a wrong weight shows at ~0.1.
    # (A GPU's default float32 matmul rounds its inputs to TF32, 1e-3 here: ask for float32.)
    with jax.default_matmul_precision("float32"):
        out = nnx.merge(graphdef, params)(x)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_models_shapes():
    assert MLP((4, 3, 2), rngs=nnx.Rngs(0))(jnp.ones((5, 4))).shape == (5, 2)
    assert nnx.eval_shape(lambda: CNN(10, rngs=nnx.Rngs(0))(jnp.ones((5, 8, 8, 1)))).shape == (5, 10)
    assert ElmanRNN(1, 6, 3, rngs=nnx.Rngs(0))(jnp.ones((5, 9, 1))).shape == (5, 3)
    with pytest.raises(ValueError, match="sizes"):
        MLP((4,), rngs=nnx.Rngs(0))


def test_elman_rnn_matches_a_python_loop():
    rnn = ElmanRNN(2, 5, 3, rngs=nnx.Rngs(0), param_dtype=jnp.float64)
    x = jax.random.normal(jax.random.key(1), (4, 6, 2), jnp.float64)
    w_x, b = np.asarray(rnn.input.kernel[...]), np.asarray(rnn.input.bias[...])
    w_h = np.asarray(rnn.recurrent.kernel[...])
    h = np.zeros((4, 5))
    for t in range(6):
        h = np.tanh(np.asarray(x[:, t]) @ w_x + b + h @ w_h)
    expected = h @ np.asarray(rnn.readout.kernel[...]) + np.asarray(rnn.readout.bias[...])
    np.testing.assert_allclose(rnn(x), expected, rtol=1e-12)


def test_rnn_learns_the_sum_task():
    problem = sequence_rnn(length=6, num_train=1000, num_test=300)
    params, _, history = fit(problem.batch_loss, problem.init(jax.random.key(0)), optax.adam(1e-2),
                             problem.train_data, epochs=15, batch_size=50, key=jax.random.key(1))
    assert int(history.nonfinite_step) == -1
    assert float(problem.accuracy(params, problem.test_data)) >= 0.95


@pytest.mark.slow
def test_cnn_learns_digits():
    problem = digits_cnn()
    params, _, _ = fit(problem.batch_loss, problem.init(jax.random.key(0)), optax.adam(1e-3), problem.train_data,
                       epochs=20, batch_size=32, key=jax.random.key(1))
    assert float(problem.accuracy(params, problem.test_data)) >= 0.95
