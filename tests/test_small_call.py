"""ml_opt.small_call: which loops are marked for XLA:CPU to compile as one function, and that marked
loops compute what the loop computes."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ml_opt
from ml_opt import small_call as sc

jax.config.update("jax_enable_x64", True)


def _loop(step, n_iter=5):
    """A while loop applying ``step`` to a carry ``x`` ``n_iter`` times."""
    return lambda x: jax.lax.while_loop(lambda c: c[1] < n_iter, lambda c: (step(c[0]), c[1] + 1), (x, 0))[0]


def _marked(fn, *args, platforms=None):
    """Whether the program ``fn(*args)`` is lowered with a call marked as a small call."""
    jitted = jax.jit(lambda *a: sc.small_call(fn, *a))
    if platforms is None:
        return sc.has_small_call(jitted.lower(*args))
    return 'xla_cpu_small_call = "true"' in jax.export.export(jitted, platforms=platforms)(*args).mlir_module()


def _axpy(x):
    return 0.5 * x + jnp.sin(x) * (x @ x) / x.size


def test_values_match_the_loop_under_jit_vmap_and_jvp():
    x = jnp.linspace(-1.0, 1.0, 50)
    loop = _loop(_axpy)
    marked = jax.jit(lambda x: sc.small_call(loop, x))
    np.testing.assert_allclose(marked(x), loop(x), rtol=1e-13, atol=0)
    xs = jnp.stack([x, 2 * x, -x])
    np.testing.assert_allclose(jax.vmap(marked)(xs), jax.vmap(loop)(xs), rtol=1e-13, atol=0)
    out, tangent = jax.jvp(marked, (x,), (jnp.ones_like(x),))
    out_ref, tangent_ref = jax.jvp(loop, (x,), (jnp.ones_like(x),))
    np.testing.assert_allclose(out, out_ref, rtol=1e-13, atol=0)
    np.testing.assert_allclose(tangent, tangent_ref, rtol=1e-12, atol=0)
    assert sc.small_call(loop, x).shape == x.shape  # called outside any transformation too


def test_xla_keeps_the_marked_call_and_compiles_it():
    x = jnp.ones(100)
    compiled = jax.jit(lambda x: sc.small_call(_loop(_axpy), x)).lower(x).compile()
    calls = [line for line in compiled.as_text().splitlines() if " call(" in line and "inlineable" in line]
    assert calls and all('xla_cpu_small_call="true"' in line for line in calls)
    np.testing.assert_allclose(compiled(x), _loop(_axpy)(x), rtol=1e-13, atol=0)


def test_elementwise_loops_and_inner_products_are_marked():
    assert _marked(_loop(_axpy), jnp.ones(100))
    matrix = jnp.eye(30) + 0.01
    assert _marked(_loop(lambda x: matrix @ x / jnp.max(jnp.abs(matrix @ x))), jnp.ones(30))  # matrix-vector


def test_not_marked_for_other_platforms():
    assert not _marked(_loop(_axpy), jnp.ones(100), platforms=["cuda"])
    assert not _marked(_loop(_axpy), jnp.ones(100), platforms=["cpu", "cuda"])
    assert _marked(_loop(_axpy), jnp.ones(100), platforms=["cpu"])


@pytest.mark.parametrize("step, x, reason", [
    (lambda a: jnp.linalg.cholesky(a @ a.T + jnp.eye(3)), jnp.eye(3), "custom call (LAPACK)"),
    (lambda a: a @ a / jnp.max(a), jnp.eye(3), "matrix-matrix product"),
    (lambda x: x.at[jnp.argmax(x)].add(1.0), jnp.ones(8), "scatter"),
    (lambda x: jnp.sort(x) * 0.5, jnp.ones(8), "sort"),
])
def test_loops_the_emitter_cannot_compile_are_not_marked(step, x, reason):
    assert not _marked(_loop(step), x), reason
    jax.jit(lambda x: sc.small_call(_loop(step), x))(x).block_until_ready()  # compiled unmarked, and runs


def test_reductions_are_marked_below_the_limit_only():
    n = sc.REDUCTION_LIMIT
    assert _marked(_loop(lambda x: x * 0.5 + jnp.sum(x) / n), jnp.ones(n - 1))
    assert not _marked(_loop(lambda x: x * 0.5 + jnp.sum(x) / n), jnp.ones(n))
    assert _marked(_loop(lambda x: x * 0.5 + x @ x / n), jnp.ones(n - 1))
    assert not _marked(_loop(lambda x: x * 0.5 + x @ x / n), jnp.ones(n))
    # a reduction along one axis counts the whole array (64 x 64 = 4096 elements)
    assert _marked(_loop(lambda a: a * 0.5 + jnp.sum(a, axis=1, keepdims=True)), jnp.ones((64, 63)))
    assert not _marked(_loop(lambda a: a * 0.5 + jnp.sum(a, axis=1, keepdims=True)), jnp.ones((64, 64)))
    # batched inner products (vmap of x @ x) likewise
    rows = jnp.ones((n // 2 - 1, 2))
    assert _marked(_loop(lambda a: a * 0.5 + jax.vmap(lambda r: r @ r)(a)[:, None]), rows)
    assert not _marked(_loop(lambda a: a * 0.5 + jax.vmap(lambda r: r @ r)(a)[:, None]), jnp.ones((n // 2, 2)))


def test_the_reduction_limit_is_where_xla_cpu_hands_reductions_to_ynnpack():
    """Below the limit a marked loop with inner products compiles and runs (XLA emits the reduction
    itself); at the limit XLA:CPU gives a reduction to a YNNPACK fusion, which the small call's
    emitter cannot compile. A jaxlib that moves the threshold fails here."""
    n = sc.REDUCTION_LIMIT

    def kinds(f, x):
        text = jax.jit(f).lower(x).compile().as_text()
        return {line.split("kind=")[1].split(",")[0] for line in text.splitlines() if "kind=" in line}

    assert "kCustom" not in kinds(lambda x: x @ x, jnp.ones(n - 1)) and "kCustom" in kinds(lambda x: x @ x, jnp.ones(n))
    row_sums = functools.partial(jnp.sum, axis=1)
    assert "kCustom" not in kinds(row_sums, jnp.ones((64, 63))) and "kCustom" in kinds(row_sums, jnp.ones((64, 64)))
    loop = _loop(lambda x: x * 0.5 + x @ x / n)
    np.testing.assert_allclose(jax.jit(lambda x: sc.small_call(loop, x))(jnp.ones(n - 1)), loop(jnp.ones(n - 1)),
                               rtol=1e-13, atol=0)


def test_arrays_over_the_bound_are_not_marked():
    rows = sc.LARGEST_ARRAY_BYTES // (8 * 64)
    assert _marked(_loop(lambda a: a * 0.5), jnp.ones((rows, 64)))
    assert not _marked(_loop(lambda a: a * 0.5), jnp.ones((rows + 1, 64)))


def test_minimize_marks_its_loop_where_it_fits():
    def rosen(x):
        return jnp.sum(100.0 * (x[1::2] - x[::2] ** 2) ** 2 + (1.0 - x[::2]) ** 2)

    x0 = jnp.tile(jnp.array([-1.2, 1.0]), 50)

    def marked(optimizer):
        return sc.has_small_call(jax.jit(lambda x: ml_opt.minimize(rosen, x, optimizer)).lower(x0))

    assert marked(ml_opt.lbfgs())
    assert not marked(ml_opt.newton())  # its factorizations are LAPACK calls


def test_constant_operands_are_not_marked():
    """XLA:CPU aborts compiling a small call that takes a constant array as an operand; such a call
    is left unmarked (and runs)."""
    data = jnp.asarray(np.random.default_rng(0).normal(size=(455, 30)))
    jitted = jax.jit(lambda x: sc.small_call(lambda x, a: _loop(lambda c: c - 1e-4 * (a.T @ (a @ c)))(x), x, data))
    assert not sc.has_small_call(jitted.lower(jnp.ones(30)))
    np.testing.assert_allclose(jitted(jnp.ones(30)), _loop(lambda c: c - 1e-4 * (data.T @ (data @ c)))(jnp.ones(30)),
                               rtol=1e-12)


def test_minimize_with_data_closed_over_is_marked_and_solves_least_squares():
    """The data an objective closes over are constants inside minimize's call (not operands), so the
    call is marked; the solution is numpy's least-squares one."""
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(455, 30)), rng.normal(size=455)
    a_jax, b_jax = jnp.asarray(a), jnp.asarray(b)

    def fun(x):
        return 0.5 * jnp.sum((a_jax @ x - b_jax) ** 2)

    lowered = jax.jit(lambda x: ml_opt.minimize(fun, x, ml_opt.lbfgs(), gtol=1e-9)).lower(jnp.zeros(30))
    assert sc.has_small_call(lowered)
    res = ml_opt.minimize(fun, jnp.zeros(30), ml_opt.lbfgs(), gtol=1e-9)
    assert bool(res.converged)
    np.testing.assert_allclose(res.params, np.linalg.lstsq(a, b, rcond=None)[0], rtol=1e-7, atol=1e-9)


def test_has_small_call():
    assert sc.has_small_call(jax.jit(lambda x: sc.small_call(_loop(_axpy), x)).lower(jnp.ones(10)))
    assert not sc.has_small_call(jax.jit(_loop(_axpy)).lower(jnp.ones(10)))


def test_arguments_of_an_inner_function_count_as_possible_constants():
    """A call inside an inner jax.jit whose arguments are the outer program's constants: XLA inlines
    the inner function and the call would take a constant array; it is left unmarked (and runs)."""
    data = jnp.asarray(np.random.default_rng(0).normal(size=(455, 30)))

    def outer(x):
        inner = jax.jit(lambda x, a: ml_opt.minimize(lambda w: jnp.sum((a @ w) ** 2) + jnp.sum(w ** 2), x,
                                                     ml_opt.lbfgs()))
        return inner(x, data)

    assert not sc.has_small_call(jax.jit(outer).lower(jnp.ones(30)))
    res = jax.jit(outer)(jnp.ones(30))
    assert bool(res.converged) and float(res.value) < 1e-10  # the minimum, 0 at w = 0
