"""The first-order rules (seed 002 Algorithms 8.1-8.7, seed 003) against independent references.

The references are written here, not taken from ``ml_opt``:

* NumPy float64 transcriptions of the algorithm boxes of Goodfellow, Bengio & Courville, *Deep
  Learning*, ch. 8 (the Nesterov boxes, 8.3 and 8.6, as written: gradient at the look-ahead point
  theta + alpha v, compared through the change of variables phi = theta + alpha v);
* the seed-003 momentum form w_{t+1} = w_t - eta g_t + beta (w_t - w_{t-1});
* optax, where the design says a rule *equals* an optax optimizer.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import ml_opt

NUM_STEPS = 100
RTOL = 1e-10
ATOL = 1e-12  # entries are O(1); this only matters for entries that pass through ~0

# Non-default hyperparameters, so a swapped or ignored argument shows; eps large enough that where
# it sits (inside or outside the root) shows at rtol 1e-10.
HYPER = {
    "sgd": dict(learning_rate=0.05),
    "momentum": dict(learning_rate=0.05, beta=0.7),
    "nesterov": dict(learning_rate=0.05, beta=0.7),
    "adagrad": dict(learning_rate=0.1, eps=1e-2),
    "rmsprop": dict(learning_rate=0.01, decay=0.8, eps=1e-2),
    "rmsprop_nesterov": dict(learning_rate=0.01, decay=0.8, momentum=0.7, eps=1e-2),
    "adam": dict(learning_rate=0.01, b1=0.8, b2=0.95, eps=1e-3),
}
RULES = list(HYPER)


# ----------------------------------------------------------------------------------------------
# The problem: a nested pytree of several shapes, and gradients from a fixed nonlinear function
# ----------------------------------------------------------------------------------------------


def make_params(dtype=jnp.float64, seed=0):
    rng = np.random.default_rng(seed)

    def leaf(*shape):
        return jnp.asarray(rng.normal(size=shape), dtype)

    return {
        "dense": {"kernel": leaf(3, 4), "bias": leaf(4)},
        "blocks": [leaf(2, 3, 2), leaf()],
        "pair": (leaf(5), leaf(2, 2)),
    }


def gradient_leaves(leaves, xp):
    """g_i = x_i + 0.5 sin(3 x_i) + 0.05 sum_j sum tanh(x_j): nonlinear, couples all leaves."""
    coupling = sum(xp.sum(xp.tanh(x)) for x in leaves)
    return [x + 0.5 * xp.sin(3 * x) + 0.05 * coupling for x in leaves]


def gradient(params):
    leaves, treedef = jax.tree.flatten(params)
    return jax.tree.unflatten(treedef, gradient_leaves(leaves, jnp))


def np_gradient(leaves):
    return gradient_leaves(leaves, np)


def np_leaves(params):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(params)]


def run_ours(opt, params, num_steps=NUM_STEPS, grad_fn=gradient):
    """The trajectory params_1..params_n (a list of leaf lists), the whole loop jit-compiled."""

    def body(carry, _):
        p, state = carry
        updates, state = opt.update(grad_fn(p), state, p)
        p = optax.apply_updates(p, updates)
        return (p, state), p

    @jax.jit
    def run(p):
        _, trajectory = jax.lax.scan(body, (p, opt.init(p)), None, length=num_steps)
        return trajectory

    trajectory = jax.tree.leaves(run(params))
    return [[np.asarray(leaf[k]) for leaf in trajectory] for k in range(num_steps)]


def assert_trajectories_close(ours, reference, rtol=RTOL, atol=ATOL):
    assert len(ours) == len(reference)
    for k, (a, b) in enumerate(zip(ours, reference)):
        for a_leaf, b_leaf in zip(a, b):
            np.testing.assert_allclose(a_leaf, b_leaf, rtol=rtol, atol=atol, err_msg=f"step {k + 1}")


# ----------------------------------------------------------------------------------------------
# NumPy float64 transcriptions of the boxes (Deep Learning, ch. 8). `lrs[k]` is epsilon_k.
# Each returns the trajectory theta_1..theta_n as lists of leaves.
# ----------------------------------------------------------------------------------------------


def box_sgd(theta, lrs, learning_rate=None, grad=np_gradient):
    """Algorithm 8.1: theta <- theta - eps_k g."""
    trajectory = []
    for eps in lrs:
        g = grad(theta)
        theta = [t - eps * gi for t, gi in zip(theta, g)]
        trajectory.append(theta)
    return trajectory


def box_momentum(theta, lrs, beta, learning_rate=None, grad=np_gradient):
    """Algorithm 8.2: v <- alpha v - eps g;  theta <- theta + v."""
    v = [np.zeros_like(t) for t in theta]
    trajectory = []
    for eps in lrs:
        g = grad(theta)
        v = [beta * vi - eps * gi for vi, gi in zip(v, g)]
        theta = [t + vi for t, vi in zip(theta, v)]
        trajectory.append(theta)
    return trajectory


def box_nesterov(theta, lrs, beta, learning_rate=None, grad=np_gradient):
    """Algorithm 8.3, as written: the gradient at the interim point theta + alpha v.

    Returned through the change of variables: phi = theta + alpha v (what our params are).
    """
    alpha = beta
    v = [np.zeros_like(t) for t in theta]
    trajectory = []
    for eps in lrs:
        interim = [t + alpha * vi for t, vi in zip(theta, v)]
        g = grad(interim)
        v = [alpha * vi - eps * gi for vi, gi in zip(v, g)]
        theta = [t + vi for t, vi in zip(theta, v)]
        trajectory.append([t + alpha * vi for t, vi in zip(theta, v)])
    return trajectory


def box_adagrad(theta, lrs, eps, learning_rate=None, grad=np_gradient):
    """Algorithm 8.4: r <- r + g*g;  dtheta = -eps / (delta + sqrt(r)) * g."""
    delta = eps
    r = [np.zeros_like(t) for t in theta]
    trajectory = []
    for lr in lrs:
        g = grad(theta)
        r = [ri + gi * gi for ri, gi in zip(r, g)]
        theta = [t - lr / (delta + np.sqrt(ri)) * gi for t, ri, gi in zip(theta, r, g)]
        trajectory.append(theta)
    return trajectory


def box_rmsprop(theta, lrs, decay, eps, learning_rate=None, grad=np_gradient):
    """Algorithm 8.5: r <- rho r + (1 - rho) g*g;  dtheta = -eps / sqrt(delta + r) * g."""
    rho, delta = decay, eps
    r = [np.zeros_like(t) for t in theta]
    trajectory = []
    for lr in lrs:
        g = grad(theta)
        r = [rho * ri + (1 - rho) * gi * gi for ri, gi in zip(r, g)]
        theta = [t - lr / np.sqrt(delta + ri) * gi for t, ri, gi in zip(theta, r, g)]
        trajectory.append(theta)
    return trajectory


def box_rmsprop_nesterov(theta, lrs, decay, momentum, eps, learning_rate=None, grad=np_gradient):
    """Algorithm 8.6, as written (gradient at theta + alpha v), with delta under the root as in 8.5.

    v <- alpha v - eps / sqrt(delta + r) * g;  theta <- theta + v;  returned as phi = theta + alpha v.
    """
    rho, alpha, delta = decay, momentum, eps
    r = [np.zeros_like(t) for t in theta]
    v = [np.zeros_like(t) for t in theta]
    trajectory = []
    for lr in lrs:
        interim = [t + alpha * vi for t, vi in zip(theta, v)]
        g = grad(interim)
        r = [rho * ri + (1 - rho) * gi * gi for ri, gi in zip(r, g)]
        v = [alpha * vi - lr / np.sqrt(delta + ri) * gi for vi, ri, gi in zip(v, r, g)]
        theta = [t + vi for t, vi in zip(theta, v)]
        trajectory.append([t + alpha * vi for t, vi in zip(theta, v)])
    return trajectory


def box_adam(theta, lrs, b1, b2, eps, learning_rate=None, grad=np_gradient):
    """Algorithm 8.7: s, r moments; s_hat = s / (1 - rho1^t); dtheta = -eps s_hat / (sqrt(r_hat) + delta)."""
    rho1, rho2, delta = b1, b2, eps
    s = [np.zeros_like(x) for x in theta]
    r = [np.zeros_like(x) for x in theta]
    t = 0
    trajectory = []
    for lr in lrs:
        g = grad(theta)
        t += 1
        s = [rho1 * si + (1 - rho1) * gi for si, gi in zip(s, g)]
        r = [rho2 * ri + (1 - rho2) * gi * gi for ri, gi in zip(r, g)]
        s_hat = [si / (1 - rho1**t) for si in s]
        r_hat = [ri / (1 - rho2**t) for ri in r]
        theta = [x - lr * sh / (np.sqrt(rh) + delta) for x, sh, rh in zip(theta, s_hat, r_hat)]
        trajectory.append(theta)
    return trajectory


BOXES = {
    "sgd": box_sgd,
    "momentum": box_momentum,
    "nesterov": box_nesterov,
    "adagrad": box_adagrad,
    "rmsprop": box_rmsprop,
    "rmsprop_nesterov": box_rmsprop_nesterov,
    "adam": box_adam,
}


def cosine_lrs(lr0, num_steps=NUM_STEPS, alpha=0.1):
    """eps_k = lr0 (alpha + (1 - alpha)(1 + cos(pi k / n)) / 2), k = 0..n-1 (NumPy, not optax)."""
    k = np.arange(num_steps)
    return lr0 * (alpha + (1 - alpha) * 0.5 * (1 + np.cos(np.pi * k / num_steps)))


# ----------------------------------------------------------------------------------------------
# Against the boxes
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RULES)
def test_rule_matches_transcription_of_its_algorithm_box(name):
    hyper = HYPER[name]
    params = make_params()
    ours = run_ours(getattr(ml_opt, name)(**hyper), params)
    reference = BOXES[name](np_leaves(params), [hyper["learning_rate"]] * NUM_STEPS, **hyper)
    assert_trajectories_close(ours, reference)


@pytest.mark.parametrize("name", RULES)
def test_rule_with_optax_schedule_matches_box_with_eps_k(name):
    hyper = dict(HYPER[name])
    lr0 = hyper.pop("learning_rate")
    schedule = optax.cosine_decay_schedule(lr0, NUM_STEPS, alpha=0.1)
    params = make_params(seed=1)
    ours = run_ours(getattr(ml_opt, name)(schedule, **hyper), params)
    reference = BOXES[name](np_leaves(params), cosine_lrs(lr0), **hyper)
    assert_trajectories_close(ours, reference)


@pytest.mark.parametrize("name", ["nesterov", "rmsprop_nesterov"])
def test_look_ahead_rule_differs_from_plain_momentum(name):
    """The Nesterov tests above are not vacuous: without the look-ahead the trajectory differs."""
    hyper = HYPER[name]
    params = make_params()
    ours = run_ours(getattr(ml_opt, name)(**hyper), params, num_steps=10)
    if name == "nesterov":
        plain = box_momentum(np_leaves(params), [hyper["learning_rate"]] * 10, beta=hyper["beta"])
    else:
        # Algorithm 8.6 with the gradient at theta (not theta + alpha v), reported as theta.
        plain = run_ours(
            optax.chain(
                optax.scale_by_rms(decay=hyper["decay"], eps=hyper["eps"], eps_in_sqrt=True),
                optax.trace(decay=hyper["momentum"]),
                optax.scale(-hyper["learning_rate"]),
            ),
            params,
            num_steps=10,
        )
    assert not np.allclose(ours[-1][0], plain[-1][0], rtol=1e-6)


def test_rmsprop_nesterov_with_zero_eps_is_the_box_exactly():
    """Algorithm 8.6 divides by sqrt(r), without delta: eps=0 recovers it."""
    hyper = dict(HYPER["rmsprop_nesterov"], eps=0.0)
    params = make_params(seed=2)
    ours = run_ours(ml_opt.rmsprop_nesterov(**hyper), params)
    reference = box_rmsprop_nesterov(np_leaves(params), [hyper["learning_rate"]] * NUM_STEPS, **hyper)
    assert_trajectories_close(ours, reference)


def seed003_momentum(w0, lrs, beta):
    """Seed 003: w_{t+1} = w_t - eta_t g_t + beta (w_t - w_{t-1}), with w_{-1} = w_0."""
    w_prev, w = w0, w0
    trajectory = []
    for eta in lrs:
        g = np_gradient(w)
        w, w_prev = [wi - eta * gi + beta * (wi - wp) for wi, gi, wp in zip(w, g, w_prev)], w
        trajectory.append(w)
    return trajectory


def test_momentum_equals_seed003_form():
    params = make_params(seed=3)
    ours = run_ours(ml_opt.momentum(0.05, beta=0.7), params)
    assert_trajectories_close(ours, seed003_momentum(np_leaves(params), [0.05] * NUM_STEPS, beta=0.7))


def test_momentum_equals_seed003_form_with_schedule():
    params = make_params(seed=4)
    ours = run_ours(ml_opt.momentum(optax.cosine_decay_schedule(0.05, NUM_STEPS, alpha=0.1), beta=0.7), params)
    assert_trajectories_close(ours, seed003_momentum(np_leaves(params), cosine_lrs(0.05), beta=0.7))


# ----------------------------------------------------------------------------------------------
# Against optax, where the design says "equals"
# ----------------------------------------------------------------------------------------------

OPTAX_EQUIVALENTS = {
    "momentum": lambda lr: (
        ml_opt.momentum(lr, beta=0.7),
        optax.sgd(lr, momentum=0.7),
    ),
    "nesterov": lambda lr: (
        ml_opt.nesterov(lr, beta=0.7),
        optax.sgd(lr, momentum=0.7, nesterov=True),
    ),
    "adam": lambda lr: (
        ml_opt.adam(lr, b1=0.8, b2=0.95, eps=1e-3),
        optax.adam(lr, b1=0.8, b2=0.95, eps=1e-3),
    ),
    "rmsprop": lambda lr: (
        ml_opt.rmsprop(lr, decay=0.8, eps=1e-2),
        optax.rmsprop(lr, decay=0.8, eps=1e-2, eps_in_sqrt=True),
    ),
    "sgd": lambda lr: (ml_opt.sgd(lr), optax.sgd(lr)),
}


@pytest.mark.parametrize("name", list(OPTAX_EQUIVALENTS))
def test_rule_equals_optax(name):
    """Equal trajectories; sgd, rmsprop and adam also under a schedule.

    Where optax multiplies by lr_k last (sgd, rmsprop, adam) a schedule keeps the two equal; optax's
    momentum and nesterov scale the trace by lr_k where the box scales the gradient, so under a
    schedule those differ by design (the box tests above cover them with a schedule).
    """
    constant = 0.02
    if name in ("momentum", "nesterov"):
        learning_rate = constant
    else:
        learning_rate = optax.exponential_decay(constant, transition_steps=10, decay_rate=0.7)
    ours_opt, theirs_opt = OPTAX_EQUIVALENTS[name](learning_rate)
    params = make_params(seed=5)
    assert_trajectories_close(run_ours(ours_opt, params), run_ours(theirs_opt, params))


# ----------------------------------------------------------------------------------------------
# jit, vmap, dtypes
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", [False, True], ids=["constant-float32", "schedule-bfloat16"])
@pytest.mark.parametrize("name", RULES)
def test_jitted_step_traces_once(name, schedule):
    """A jitted step traces once over many steps: the state keeps its types and shapes.

    (float32 and bfloat16 params under x64: a slot promoted to float64 would retrace.)
    """
    hyper = dict(HYPER[name])
    dtype = jnp.float32
    if schedule:
        hyper["learning_rate"] = optax.exponential_decay(hyper["learning_rate"], 5, 0.5)
        dtype = jnp.bfloat16
    opt = getattr(ml_opt, name)(**hyper)
    traces = 0

    @jax.jit
    def step(params, state):
        nonlocal traces
        traces += 1
        updates, state = opt.update(gradient(params), state, params)
        return optax.apply_updates(params, updates), state

    params = make_params(dtype)
    state = opt.init(params)
    for _ in range(12):
        params, state = step(params, state)
    jax.block_until_ready(params)
    assert traces == 1
    assert int(state.count) == 12
    assert all(leaf.dtype == dtype for leaf in jax.tree.leaves((params, state[1:])))


def _run_final(opt, params, num_steps=20):
    def body(carry, _):
        p, s = carry
        updates, s = opt.update(gradient(p), s, p)
        return (optax.apply_updates(p, updates), s), None

    (p, _), _ = jax.lax.scan(body, (params, opt.init(params)), None, length=num_steps)
    return p


@pytest.mark.parametrize("name", RULES)
def test_vmap_over_learning_rates_equals_separate_runs(name):
    """8 learning rates (JAX scalars) in one vmapped run equal 8 separate runs.

    The other hyperparameters are vmapped over too (each may be a JAX scalar), so a rule that
    branches on a hyperparameter in Python, or closes over it wrongly, fails here.
    """
    scale = np.linspace(0.5, 1.0, 8)
    batched_hyper = {k: jnp.asarray(v * scale) for k, v in HYPER[name].items()}
    params = make_params()
    run = jax.jit(lambda h: _run_final(getattr(ml_opt, name)(**h), params))
    batched = jax.jit(jax.vmap(run))(batched_hyper)
    for i in range(8):
        one = run({k: v[i] for k, v in batched_hyper.items()})
        for b, s in zip(jax.tree.leaves(batched), jax.tree.leaves(one)):
            np.testing.assert_allclose(b[i], s, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", RULES)
def test_dtypes_are_kept_in_updates_and_state(name):
    hyper = dict(HYPER[name])
    constant = hyper["learning_rate"]
    schedule = optax.exponential_decay(constant, 5, 0.5)  # its values are float64 here (x64 is on)
    num_steps = 3
    reference = BOXES[name](np_leaves(make_params()), [constant] * num_steps, **hyper)[-1]
    for dtype, learning_rate in [(jnp.float32, constant), (jnp.bfloat16, constant), (jnp.bfloat16, schedule)]:
        opt = getattr(ml_opt, name)(**dict(hyper, learning_rate=learning_rate))

        # Eagerly (op by op: cheap to run, and typed exactly as under jit); the jitted step is
        # checked for float32 and bfloat16 in test_jitted_step_traces_once, where a dtype that
        # changed between steps would force a second trace.
        params = make_params(dtype)
        state = opt.init(params)
        for _ in range(num_steps):
            updates, state = opt.update(gradient(params), state, params)
            new_params = optax.apply_updates(params, updates)
            for tree in (updates, new_params, *state[1:]):
                assert jax.tree.structure(tree) == jax.tree.structure(params)
                for leaf, p in zip(jax.tree.leaves(tree), jax.tree.leaves(params)):
                    assert leaf.dtype == dtype, (leaf.dtype, dtype)
                    assert leaf.shape == p.shape
            assert state.count.dtype == jnp.int32
            params = new_params
        if learning_rate is constant:
            # The values, too, are those of the float64 box, to the precision of the dtype.
            tol = {jnp.float32: 1e-5, jnp.bfloat16: 5e-2}[dtype]
            for leaf, ref in zip(jax.tree.leaves(params), reference):
                np.testing.assert_allclose(np.asarray(leaf, np.float64), ref, rtol=tol, atol=tol)


# ----------------------------------------------------------------------------------------------
# Composition: optax.chain and flax.nnx.Optimizer
# ----------------------------------------------------------------------------------------------


def clipped_np_gradient(leaves, max_norm=1.0):
    """The gradient clipped to global norm max_norm, in NumPy."""
    g = np_gradient(leaves)
    norm = np.sqrt(sum(np.sum(gi * gi) for gi in g))
    return [gi * (max_norm / norm) for gi in g] if norm > max_norm else g


@pytest.mark.parametrize("name", RULES)
def test_rule_inside_optax_chain_after_clipping(name):
    hyper = HYPER[name]
    chained = optax.chain(optax.clip_by_global_norm(1.0), getattr(ml_opt, name)(**hyper))
    params = make_params(seed=7)
    num_steps = 20
    ours = run_ours(chained, params, num_steps=num_steps)
    reference = BOXES[name](np_leaves(params), [hyper["learning_rate"]] * num_steps, **hyper, grad=clipped_np_gradient)
    # The clipping is active all along (else this would test the rule alone).
    assert all(np.sqrt(sum(np.sum(g * g) for g in np_gradient(theta))) > 1.0 for theta in reference)
    assert_trajectories_close(ours, reference)


@pytest.mark.parametrize("name", RULES)
def test_rule_in_flax_nnx_optimizer(name):
    rule = getattr(ml_opt, name)(**HYPER[name])
    model = nnx.Linear(3, 2, param_dtype=jnp.float64, dtype=jnp.float64, rngs=nnx.Rngs(0))
    rng = np.random.default_rng(8)
    x, y = jnp.asarray(rng.normal(size=(16, 3))), jnp.asarray(rng.normal(size=(16, 2)))

    def loss_fn(kernel, bias):
        return jnp.mean((jnp.tanh(x @ kernel + bias) - y) ** 2)

    params = {"kernel": jnp.array(model.kernel[...]), "bias": jnp.array(model.bias[...])}
    optimizer = nnx.Optimizer(model, rule, wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer):
        grads = nnx.grad(lambda m: loss_fn(m.kernel[...], m.bias[...]))(model)
        optimizer.update(model, grads)

    @jax.jit
    def step_by_hand(params, state):
        grads = jax.grad(lambda p: loss_fn(p["kernel"], p["bias"]))(params)
        updates, state = rule.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    state = rule.init(params)
    for _ in range(5):
        train_step(model, optimizer)
        params, state = step_by_hand(params, state)
    np.testing.assert_allclose(model.kernel[...], params["kernel"], rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(model.bias[...], params["bias"], rtol=RTOL, atol=ATOL)
    assert not np.allclose(model.kernel[...], nnx.Linear(3, 2, param_dtype=jnp.float64, rngs=nnx.Rngs(0)).kernel[...])


# ----------------------------------------------------------------------------------------------
# Bad input: a clear, early error naming the argument
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("bad_lr", [-0.1, 0.0, math.nan, math.inf, -math.inf, np.float32(np.nan), jnp.asarray(-1.0)])
def test_bad_learning_rate_raises_naming_it(name, bad_lr):
    hyper = dict(HYPER[name], learning_rate=bad_lr)
    with pytest.raises(ValueError, match="learning_rate"):
        getattr(ml_opt, name)(**hyper)


@pytest.mark.parametrize("name", RULES)
@pytest.mark.parametrize("bad_lr", [jnp.ones(2), "0.1", True], ids=["vector", "string", "bool"])
def test_learning_rate_of_wrong_kind_raises_naming_it(name, bad_lr):
    with pytest.raises((TypeError, ValueError), match="learning_rate"):
        getattr(ml_opt, name)(**dict(HYPER[name], learning_rate=bad_lr))


BAD_HYPERPARAMETERS = [
    ("momentum", "beta", 1.0),
    ("momentum", "beta", -0.1),
    ("momentum", "beta", math.nan),
    ("nesterov", "beta", 1.5),
    ("nesterov", "beta", -1e-3),
    ("adagrad", "eps", -1e-7),
    ("adagrad", "eps", math.inf),
    ("rmsprop", "decay", 1.0),
    ("rmsprop", "decay", -0.5),
    ("rmsprop", "eps", -1e-6),
    ("rmsprop_nesterov", "decay", 1.0),
    ("rmsprop_nesterov", "momentum", 1.0),
    ("rmsprop_nesterov", "momentum", -0.1),
    ("rmsprop_nesterov", "eps", math.nan),
    ("adam", "b1", 1.0),
    ("adam", "b1", -0.1),
    ("adam", "b2", 1.0),
    ("adam", "b2", 2.0),
    ("adam", "eps", -1e-8),
]


@pytest.mark.parametrize("name,argument,value", BAD_HYPERPARAMETERS)
def test_out_of_range_hyperparameter_raises_naming_it(name, argument, value):
    with pytest.raises(ValueError, match=rf"\b{argument}\b"):
        getattr(ml_opt, name)(**dict(HYPER[name], **{argument: value}))


@pytest.mark.parametrize("name", RULES)
def test_integer_params_raise_naming_params(name):
    opt = getattr(ml_opt, name)(**HYPER[name])
    with pytest.raises(TypeError, match=r"params.*\['b'\].*int"):
        opt.init({"a": jnp.zeros(3), "b": jnp.arange(3)})


@pytest.mark.parametrize("name", RULES)
def test_grads_with_another_tree_raise_naming_grads(name):
    opt = getattr(ml_opt, name)(**HYPER[name])
    params = make_params()
    state = opt.init(params)
    grads = gradient(params)
    wrong_tree = dict(grads, extra=jnp.zeros(2))
    with pytest.raises(ValueError, match="grads.*tree structure"):
        opt.update(wrong_tree, state, params)
    wrong_container = dict(grads, pair=list(grads["pair"]))
    with pytest.raises(ValueError, match="grads.*tree structure"):
        opt.update(wrong_container, state, params)


@pytest.mark.parametrize("name", RULES)
def test_grads_with_other_shapes_raise_naming_grads(name):
    opt = getattr(ml_opt, name)(**HYPER[name])
    params = make_params()
    state = opt.init(params)
    grads = gradient(params)
    grads["dense"]["bias"] = jnp.zeros(5)
    with pytest.raises(ValueError, match=r"grads.*shape.*\(5,\)"):
        opt.update(grads, state, params)
    with pytest.raises(ValueError, match=r"grads.*shape.*\(5,\)"):
        jax.jit(opt.update)(grads, state, params)


# ----------------------------------------------------------------------------------------------
# update without params (optax allows it; the sgd docstring example does it)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", RULES)
def test_update_without_params(name):
    opt = getattr(ml_opt, name)(**HYPER[name])
    params = make_params()
    with_params, _ = opt.update(gradient(params), opt.init(params), params)
    without, _ = opt.update(gradient(params), opt.init(params))
    for a, b in zip(jax.tree.leaves(with_params), jax.tree.leaves(without)):
        np.testing.assert_array_equal(a, b)
