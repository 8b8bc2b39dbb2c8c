"""Tests for ml_opt.checkpoint: lossless save/restore, and resuming training from a checkpoint."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import ml_opt
from ml_opt.checkpoint import restore, save
from ml_opt.problems.networks import MLP, digits_data
from ml_opt.training import fit


def _assert_identical(a, b):
    """Same structure and container types, same leaves bit for bit (dtype included)."""
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        assert type(x) is type(y) or (isinstance(x, jax.Array) and isinstance(y, jax.Array))
        if hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert x.dtype == y.dtype
            np.testing.assert_array_equal(jax.random.key_data(x), jax.random.key_data(y))
        else:
            assert np.asarray(x).dtype == np.asarray(y).dtype
            np.testing.assert_array_equal(np.atleast_1d(x).view(np.uint8), np.atleast_1d(y).view(np.uint8))


def test_round_trip_keeps_types_and_bits(tmp_path):
    params = {
        "w": jax.random.normal(jax.random.key(0), (5, 3), jnp.float32),
        "b": jnp.array([1.0 / 3.0, -0.0, jnp.nan, jnp.inf], jnp.float64),
        "h": jnp.linspace(-1, 1, 7, dtype=jnp.bfloat16),
        "layers": {0: jnp.arange(4, dtype=jnp.int8), 1: jnp.ones((), jnp.uint32)},  # integer keys
    }
    tx = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(1e-3))
    opt_state = tx.init({k: v for k, v in params.items() if k in ("w", "b", "h")})
    tree = {"params": params, "opt_state": opt_state, "epoch": 7, "lr": 0.25, "key": jax.random.key(42),
            "raw_key": jax.random.PRNGKey(1), "host": np.arange(3.0)}
    save(tmp_path / "ckpt.npz", tree)
    restored = restore(tmp_path / "ckpt.npz", tree)
    _assert_identical(restored, tree)
    assert type(restored["opt_state"]) is tuple
    assert type(restored["opt_state"][1][0]) is optax.ScaleByAdamState
    assert type(restored["epoch"]) is int and restored["epoch"] == 7
    assert isinstance(restored["host"], np.ndarray)


def test_restore_into_abstract_target(tmp_path):
    params = {"w": jnp.ones((4, 2), jnp.float32)}
    tx = ml_opt.adam(1e-2)
    state = tx.init(params)
    _, state = tx.update(params, state, params)
    save(tmp_path / "c.npz", (params, state))
    target = jax.eval_shape(lambda: (params, tx.init(params)))
    restored = restore(tmp_path / "c.npz", target)
    _assert_identical(restored, (params, state))
    assert type(restored[1]).__name__ == "AdamState" and int(restored[1].count) == 1


def test_nnx_state_with_rng_and_batch_stats_round_trips(tmp_path):
    class Net(nnx.Module):
        def __init__(self, rngs):
            self.linear = nnx.Linear(3, 4, rngs=rngs)
            self.norm = nnx.BatchNorm(4, rngs=rngs)
            self.dropout = nnx.Dropout(0.5, rngs=rngs)

    model = Net(nnx.Rngs(0))
    state = nnx.state(model)
    save(tmp_path / "m.npz", state)
    fresh = Net(nnx.Rngs(1))
    restored = restore(tmp_path / "m.npz", nnx.state(fresh))
    _assert_identical(restored, state)
    nnx.update(fresh, restored)
    np.testing.assert_array_equal(fresh.linear.kernel[...], model.linear.kernel[...])


def test_mismatches_are_reported(tmp_path):
    save(tmp_path / "c.npz", {"w": jnp.zeros(3), "b": jnp.zeros(2)})
    with pytest.raises(ValueError, match="structure"):
        restore(tmp_path / "c.npz", {"w": jnp.zeros(3)})
    with pytest.raises(ValueError, match=r"\['w'\].*shape"):
        restore(tmp_path / "c.npz", {"w": jnp.zeros(4), "b": jnp.zeros(2)})
    with pytest.raises(ValueError, match="dtype"):
        restore(tmp_path / "c.npz", {"w": jnp.zeros(3, jnp.float32), "b": jnp.zeros(2)})
    with pytest.raises(FileExistsError, match="path"):
        save(tmp_path / "c.npz", {"w": jnp.zeros(3)}, overwrite=False)
    np.savez(tmp_path / "other.npz", __header__=np.frombuffer(b'{"format": "x"}', np.uint8))
    with pytest.raises(ValueError, match="not an ml_opt checkpoint"):
        restore(tmp_path / "other.npz", {})


@pytest.mark.parametrize("make_tx", [lambda: ml_opt.adam(3e-3), lambda: optax.chain(
    optax.clip_by_global_norm(1.0), optax.sgd(optax.cosine_decay_schedule(0.1, 400), momentum=0.9))])
def test_resumed_training_follows_the_uninterrupted_trajectory(tmp_path, make_tx):
    train, _ = digits_data()
    train = jax.tree.map(lambda a: a[:512], train)
    problem_model = MLP((64, 32, 10), rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(problem_model)
    params = nnx.to_pure_dict(params)

    def loss(p, batch):
        logits = nnx.merge(graphdef, p)(batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()

    tx, key = make_tx(), jax.random.key(7)
    full_params, full_state, full_history = fit(loss, params, tx, train, epochs=4, batch_size=64, key=key)

    first_params, first_state, first_history = fit(loss, params, tx, train, epochs=2, batch_size=64, key=key)
    save(tmp_path / "ckpt.npz", {"params": first_params, "opt_state": first_state, "epoch": 2})
    del first_params, first_state

    target = {"params": params, "opt_state": tx.init(params), "epoch": 0}
    ckpt = restore(tmp_path / "ckpt.npz", target)
    resumed_params, resumed_state, second_history = fit(
            loss, ckpt["params"], tx, train, epochs=2, batch_size=64, key=key, opt_state=ckpt["opt_state"],
            start_epoch=ckpt["epoch"])

    _assert_identical(resumed_params, full_params)
    _assert_identical(resumed_state, full_state)
    np.testing.assert_array_equal(np.concatenate([first_history.loss, second_history.loss]), full_history.loss)
