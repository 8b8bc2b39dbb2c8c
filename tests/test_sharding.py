"""Training under jax.sharding on 8 simulated CPU devices.

``--xla_force_host_platform_device_count=8`` must be set before JAX initialises its backends, so
the checks run in a fresh Python process (this test's process keeps its single device). The child
script asserts and exits non-zero on failure; its output is shown when it does.

Checked: params sharded FSDP-style (each weight split over the mesh axis along one dimension) and
data split over the examples; the optimizer state built from sharded params has the params'
shardings; a jitted optax step and :func:`ml_opt.training.fit` keep those shardings on output and
give the same numbers as the unsharded single-device run (to float32 tolerance); a data-parallel
run on a mesh with Explicit axes (``jax.make_mesh`` + ``jax.set_mesh``) does too.
"""

import os
import pathlib
import subprocess
import sys
import textwrap

REPO = pathlib.Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    r"""
    import numpy as np
    import jax, jax.numpy as jnp, optax
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    import ml_opt
    from ml_opt.problems.networks import digits_mlp
    from ml_opt.training import fit

    assert jax.device_count() == 8, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("data",))

    def fsdp(x):
        # Split the largest dimension divisible by the mesh size; replicate small leaves.
        for axis in np.argsort(x.shape)[::-1]:
            if x.shape[axis] % 8 == 0:
                spec = [None] * x.ndim
                spec[axis] = "data"
                return NamedSharding(mesh, P(*spec))
        return NamedSharding(mesh, P())

    def check_state_shardings(params, state, name):
        by_shape = {}
        for p in jax.tree.leaves(params):
            by_shape.setdefault(p.shape, set()).add(p.sharding)
        n = 0
        for leaf in jax.tree.leaves(state):
            if leaf.ndim and leaf.shape in by_shape:
                assert any(leaf.sharding.is_equivalent_to(s, leaf.ndim) for s in by_shape[leaf.shape]), \
                    (name, leaf.shape, leaf.sharding)
                n += 1
        assert n >= len(jax.tree.leaves(params)), (name, n)

    def check_param_shardings(out, ref, name):
        for a, b in zip(jax.tree.leaves(out), jax.tree.leaves(ref)):
            assert a.sharding.is_equivalent_to(b.sharding, a.ndim), (name, a.shape, a.sharding, b.sharding)

    def close(a, b, name, rtol=2e-5, atol=2e-6):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol, err_msg=name)

    problem = digits_mlp(hidden=(128,))
    params = problem.init(jax.random.key(0))
    data = jax.tree.map(lambda a: a[:1344], problem.train_data)  # 1344 = 8 * 168
    params_s = jax.tree.map(lambda x: jax.device_put(x, fsdp(x)), params)
    data_s = jax.tree.map(lambda x: jax.device_put(x, NamedSharding(mesh, P("data"))), data)
    assert any(len(x.sharding.device_set) == 8 and not x.sharding.is_fully_replicated
               for x in jax.tree.leaves(params_s))

    for name, tx, with_fit in [("ml_opt.adam", ml_opt.adam(1e-3), True), ("optax.adam", optax.adam(1e-3), False)]:
        # 1. The optimizer state inherits the params' sharding.
        state_s = tx.init(params_s)
        check_state_shardings(params_s, state_s, name + " init")

        # 2. One jitted training step, data-parallel batch, FSDP params and state.
        @jax.jit
        def step(params, state, batch):
            value, grad = jax.value_and_grad(problem.batch_loss)(params, batch)
            updates, state = tx.update(grad, state, params, value=value, grad=grad)
            return optax.apply_updates(params, updates), state, value

        batch = jax.tree.map(lambda a: a[:256], data)
        batch_s = jax.tree.map(lambda x: jax.device_put(x, NamedSharding(mesh, P("data"))), batch)
        p1, s1, v1 = step(params, tx.init(params), batch)
        p8, s8, v8 = step(params_s, state_s, batch_s)
        close((p8, s8, v8), (p1, s1, v1), name + " step")
        check_param_shardings(p8, params_s, name + " step")
        check_state_shardings(params_s, s8, name + " step state")

        # 3. fit: the whole epoch loop, sharded, against the single-device run.
        if not with_fit:
            continue
        r1 = fit(problem.batch_loss, params, tx, data, epochs=2, batch_size=64, key=jax.random.key(1))
        r8 = fit(problem.batch_loss, params_s, tx, data_s, epochs=2, batch_size=64, key=jax.random.key(1),
                 opt_state=state_s)
        close(r8[0], r1[0], name + " fit params")
        close(r8[2].loss, r1[2].loss, name + " fit loss")
        check_param_shardings(r8[0], params_s, name + " fit")
        check_state_shardings(params_s, r8[1], name + " fit state")
        assert int(r8[2].nonfinite_step) == -1

    # 4. Data-parallel on a mesh with Explicit axes: minibatches stay split over the examples.
    explicit = jax.make_mesh((8,), ("data",), axis_types=(jax.sharding.AxisType.Explicit,))
    with jax.set_mesh(explicit):
        params_r = jax.tree.map(lambda x: jax.device_put(x, NamedSharding(explicit, P())), params)
        data_e = jax.tree.map(lambda x: jax.device_put(x, NamedSharding(explicit, P("data"))), data)
        tx = ml_opt.adam(1e-3)  # a new transformation: both runs below compile afresh
        re = fit(problem.batch_loss, params_r, tx, data_e, epochs=2, batch_size=64, key=jax.random.key(1))
    r1 = fit(problem.batch_loss, params, tx, data, epochs=2, batch_size=64, key=jax.random.key(1))
    close(re[0], r1[0], "explicit fit params")
    close(re[2].loss, r1[2].loss, "explicit fit loss")
    print("SHARDING OK")
    """
)


def test_training_under_an_8_device_mesh_matches_one_device():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=8").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0 and "SHARDING OK" in proc.stdout, (
        f"child exited {proc.returncode}\n--- stdout ---\n{proc.stdout[-4000:]}\n--- stderr ---\n{proc.stderr[-8000:]}")
