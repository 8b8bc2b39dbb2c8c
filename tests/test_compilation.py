"""minimize compiles with ml_opt.solver_compiler_options, which reorder its kernels (and, for a small
program, emit them otherwise) and change no result.

The speed it buys is measured by ``python -m benchmarks.second_order_timing`` (issue 3's notes), not
asserted here.
"""

from __future__ import annotations

import re
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ml_opt
from ml_opt import compilation
from ml_opt.small_call import has_small_call

minimize_module = sys.modules["ml_opt.minimize"]  # ml_opt.minimize is the function


def extended_rosenbrock(x):
    return jnp.sum(100.0 * (x[1::2] - x[::2] ** 2) ** 2 + (1.0 - x[::2]) ** 2)


X0 = jnp.tile(jnp.array([-1.2, 1.0]), 50)


def _optimized_hlo(jitted, *args) -> str:
    """The compiled program's HLO, less the metadata (source lines) that name the jit."""
    return re.sub(r"metadata=\{[^}]*\}", "", jitted.lower(*args).compile().as_text())


def test_options_are_the_memory_optimized_schedule_on_this_jaxlib():
    assert ml_opt.solver_compiler_options() == {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}


def test_each_call_returns_a_new_dict():
    options = ml_opt.solver_compiler_options()
    options.clear()
    assert ml_opt.solver_compiler_options()


@pytest.mark.parametrize("x0, small", [(X0, True), (jnp.tile(X0, 3), False)])
def test_minimize_compiles_with_the_options_of_its_program(x0, small):
    """The program minimize runs is the one compiled with the options of its jaxpr: at n = 100 the
    largest array of lbfgs's program is its history, 10 x 100 float64 (8000 bytes), so the options
    select the elemental IR emitters; at n = 300 (24,000 bytes) they do not."""
    args = (extended_rosenbrock, ml_opt.lbfgs(), x0, (), np.int32(1000), 1e-6)
    statics = ("fun", "optimizer")
    plain = jax.jit(minimize_module._minimize, static_argnames=statics)
    options = ml_opt.solver_compiler_options(plain.trace(*args).jaxpr)
    assert ("xla_cpu_use_fusion_emitters" in options) == small
    ours = _optimized_hlo(minimize_module._program(*args), *args)
    with_options = _optimized_hlo(jax.jit(minimize_module._minimize, static_argnames=statics,
                                          compiler_options=options), *args)
    default = _optimized_hlo(plain, *args)
    assert ours == with_options
    assert ours != default  # the options reach XLA: they reorder the program


def _largest_at(nbytes, dtype=jnp.float64):
    """A program whose largest array, an intermediate inside a while loop, takes ``nbytes``."""
    def body(c):
        return c[0] + 1, c[1] + jnp.sum(jnp.ones(nbytes // jnp.dtype(dtype).itemsize, dtype))

    return jax.make_jaxpr(lambda x: jax.lax.while_loop(lambda c: c[0] < 1, body, (0, x))[1])(jnp.zeros((), dtype))


def test_small_program_bound_is_16_kib():
    assert "xla_cpu_use_fusion_emitters" not in ml_opt.solver_compiler_options()
    at_bound = ml_opt.solver_compiler_options(_largest_at(16 * 1024))
    assert at_bound == {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED",
                        "xla_cpu_use_fusion_emitters": False}
    assert ml_opt.solver_compiler_options(_largest_at(16 * 1024 + 8)) == ml_opt.solver_compiler_options()


def test_largest_array_bytes_looks_into_constants_and_nested_programs():
    table = np.ones((3, 1000), np.float32)  # a closed-over constant: 12,000 bytes

    def f(x):
        def body(c):
            i, v = c
            outer = jnp.outer(v, v)  # 60 x 60 float64 inside the loop body: 28,800 bytes
            return i + 1, v + jax.lax.cond(i > 0, lambda: outer.sum(0), lambda: jnp.zeros(60))
        return jnp.sum(table) + jax.lax.while_loop(lambda c: c[0] < 3, body, (0, x))[1]

    x = jnp.zeros(60, jnp.float64)
    assert compilation.largest_array_bytes(jax.make_jaxpr(f)(x)) == 60 * 60 * 8
    assert compilation.largest_array_bytes(jax.make_jaxpr(lambda x: jnp.sum(table) + x)(x)) == 3 * 1000 * 4
    # the same program inside a jit and a scan: the sizes are found through both
    nested = jax.make_jaxpr(lambda x: jax.lax.scan(lambda c, _: (jax.jit(f)(c), None), x, None, length=2)[0])(x)
    assert compilation.largest_array_bytes(nested) == 60 * 60 * 8


@pytest.mark.parametrize("x0", [X0[:2], X0], ids=["n=2", "n=100"])
@pytest.mark.parametrize("make", [ml_opt.lbfgs, ml_opt.bfgs, ml_opt.nonlinear_cg, ml_opt.trust_region_newton])
def test_same_iterates_as_the_default_compilation(make, x0):
    """Bit for bit: the scheduler orders the same kernels, and the elemental IR emitters (every
    program at n = 2, lbfgs and nonlinear_cg at n = 100) compute the same arithmetic. (LLVM's
    optimisation level, which minimize sets for a program with a small call, changes the rounding:
    the default compilation here gets the same level.)"""
    opt = make()
    ours = ml_opt.minimize(extended_rosenbrock, x0, opt, gtol=1e-8)
    solve = jax.jit(lambda x: ml_opt.minimize(extended_rosenbrock, x, opt, gtol=1e-8))
    lowered = solve.trace(x0).lower()
    level = compilation._SMALL_CALL_OPTIMIZATION if has_small_call(lowered) else {}
    default = lowered.compile(level)(x0)
    np.testing.assert_array_equal(ours.params, default.params)
    assert int(ours.num_fun_evals) == int(default.num_fun_evals)
    assert int(ours.num_steps) == int(default.num_steps)
    assert bool(ours.converged)


def test_minimize_runs_inside_jit_and_vmap_where_jit_refuses_compiler_options():
    """Inside another transformation minimize compiles as part of it (a nested jax.jit with
    compiler_options raises ValueError), with the result of a single solve at top level: the same
    steps, and the same iterate but for the last bits, which LLVM's optimisation level (2 at top
    level for a program with a small call, the default 3 inside) rounds differently."""
    opt = ml_opt.lbfgs()
    alone = ml_opt.minimize(extended_rosenbrock, X0, opt)
    jitted = jax.jit(lambda x: ml_opt.minimize(extended_rosenbrock, x, opt))(X0)
    batched = jax.vmap(lambda x: ml_opt.minimize(extended_rosenbrock, x, opt))(jnp.stack([X0, X0]))
    for result in (jitted, jax.tree.map(lambda v: v[0], batched), jax.tree.map(lambda v: v[1], batched)):
        assert int(result.num_steps) == int(alone.num_steps) and int(result.num_fun_evals) == int(alone.num_fun_evals)
        np.testing.assert_allclose(result.params, alone.params, rtol=1e-12, atol=0)


def test_not_traced_at_top_level_only():
    seen = []

    def record(x):
        seen.append(compilation.not_traced())
        return x

    assert compilation.not_traced()
    jax.jit(record)(1.0)
    jax.vmap(record)(jnp.ones(2))
    jax.lax.scan(lambda c, x: (record(c), None), 0.0, jnp.ones(2))
    assert seen == [False, False, False]


def test_not_traced_is_false_where_jax_lacks_the_trace_state(monkeypatch):
    monkeypatch.setattr(compilation, "_trace_state_clean", None)
    assert not compilation.not_traced()


@pytest.fixture
def fresh_probe(monkeypatch):
    """Let a test change the probed options; the cached answers (and the options minimize chose for
    its programs) are dropped before and after."""
    compilation._option_known.cache_clear()
    minimize_module._PROGRAM_OPTIONS.clear()
    yield monkeypatch
    monkeypatch.undo()
    compilation._option_known.cache_clear()
    minimize_module._PROGRAM_OPTIONS.clear()


def test_a_jaxlib_without_the_option_gets_no_options(fresh_probe):
    fresh_probe.setattr(compilation, "_MEMORY_OPTIMIZED_SCHEDULE", {"xla_cpu_no_such_option": "1"})
    assert ml_opt.solver_compiler_options() == {}


def test_an_unknown_value_of_the_option_gets_no_options(fresh_probe):
    fresh_probe.setattr(compilation, "_MEMORY_OPTIMIZED_SCHEDULE", {"xla_cpu_scheduler_type": "NO_SUCH_SCHEDULER"})
    assert ml_opt.solver_compiler_options() == {}


def test_a_jaxlib_without_the_emitters_option_gets_the_schedule_alone(fresh_probe):
    fresh_probe.setattr(compilation, "_ELEMENTAL_IR_EMITTERS", {"xla_cpu_no_such_option": False})
    schedule = {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}
    assert ml_opt.solver_compiler_options(_largest_at(8)) == schedule
    result = ml_opt.minimize(extended_rosenbrock, X0[:2], ml_opt.lbfgs())
    assert bool(result.converged)


def test_a_jax_whose_jit_takes_no_compiler_options_gets_none(fresh_probe):
    real_jit = jax.jit

    def jit_before_0_4_36(fun, *, static_argnames=None, inline=False):  # jax 0.4.35's: no compiler_options
        return real_jit(fun, static_argnames=static_argnames, inline=inline)

    fresh_probe.setattr(compilation.jax, "jit", jit_before_0_4_36)
    assert ml_opt.solver_compiler_options() == {}
    minimize_module._compiled_minimize.cache_clear()  # made again with this jit, then dropped
    try:
        result = ml_opt.minimize(extended_rosenbrock, X0, ml_opt.lbfgs())
    finally:
        fresh_probe.undo()
        minimize_module._compiled_minimize.cache_clear()
    assert bool(result.converged)


def test_another_compile_error_is_raised(fresh_probe):
    def broken_jit(fun, *, compiler_options=None):
        raise RuntimeError("INTERNAL: the backend is gone")

    fresh_probe.setattr(compilation.jax, "jit", broken_jit)
    with pytest.raises(RuntimeError, match="backend is gone"):
        ml_opt.solver_compiler_options()


def test_ab_benchmark_reports_the_same_iterate(capsys):
    """For a program without a small call (newton's factorizations are LAPACK calls), whose options
    do not change its arithmetic."""
    from benchmarks.compiler_options_ab import main

    main(["--solvers", "newton", "--sizes", "2", "--rounds", "2"])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| newton | 2 |")]
    assert len(row) == 1 and row[0].endswith("| yes |"), row


def test_ab_benchmark_compares_the_emitters_at_any_size(capsys):
    """``--emitters``: B adds the elemental IR emitters to the schedule even where minimize would
    not (lbfgs at n = 300, whose history takes 24,000 bytes), and the iterates stay the same."""
    from benchmarks.compiler_options_ab import main

    main(["--solvers", "lbfgs", "--sizes", "300", "--rounds", "1", "--emitters"])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| lbfgs | 300 |")]
    assert len(row) == 1 and "use_fusion_emitters=False" in row[0] and row[0].endswith("| yes |"), row


def test_ab_benchmark_names_a_bad_solver(capsys):
    from benchmarks.compiler_options_ab import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--solvers", "no_such_solver"])
    assert exit_info.value.code == 2
    assert "--solvers" in capsys.readouterr().err
