"""minimize compiles with ml_opt.solver_compiler_options, which reorder its kernels and change no result.

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


def test_minimize_compiles_with_the_options():
    """The program minimize runs is the one compiled with the options, and not the default one."""
    args = (extended_rosenbrock, ml_opt.lbfgs(), X0, (), np.int32(1000), 1e-6)
    statics = ("fun", "optimizer")
    ours = _optimized_hlo(minimize_module._compiled_minimize(True), *args)
    with_options = _optimized_hlo(jax.jit(minimize_module._minimize, static_argnames=statics,
                                          compiler_options=ml_opt.solver_compiler_options()), *args)
    default = _optimized_hlo(jax.jit(minimize_module._minimize, static_argnames=statics), *args)
    assert ours == with_options
    assert ours != default  # the option reaches XLA: it reorders the program


@pytest.mark.parametrize("make", [ml_opt.lbfgs, ml_opt.bfgs, ml_opt.nonlinear_cg, ml_opt.trust_region_newton])
def test_same_iterates_as_the_default_compilation(make):
    """Bit for bit: the scheduler orders the same kernels; it does not change the arithmetic."""
    opt = make()
    ours = ml_opt.minimize(extended_rosenbrock, X0, opt, gtol=1e-8)
    default = jax.jit(lambda x: ml_opt.minimize(extended_rosenbrock, x, opt, gtol=1e-8))(X0)
    np.testing.assert_array_equal(ours.params, default.params)
    assert int(ours.num_fun_evals) == int(default.num_fun_evals)
    assert int(ours.num_steps) == int(default.num_steps)
    assert bool(ours.converged)


def test_minimize_runs_inside_jit_and_vmap_where_jit_refuses_compiler_options():
    """Inside another transformation minimize compiles as part of it (a nested jax.jit with
    compiler_options raises ValueError), with the same result as a single solve at top level."""
    opt = ml_opt.lbfgs()
    alone = ml_opt.minimize(extended_rosenbrock, X0, opt)
    jitted = jax.jit(lambda x: ml_opt.minimize(extended_rosenbrock, x, opt))(X0)
    batched = jax.vmap(lambda x: ml_opt.minimize(extended_rosenbrock, x, opt))(jnp.stack([X0, X0]))
    np.testing.assert_array_equal(jitted.params, alone.params)
    np.testing.assert_array_equal(batched.params, jnp.stack([alone.params, alone.params]))


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
    """Let a test change the probed option; the cached answer is dropped before and after."""
    compilation._schedule_option_known.cache_clear()
    yield monkeypatch
    monkeypatch.undo()
    compilation._schedule_option_known.cache_clear()


def test_a_jaxlib_without_the_option_gets_no_options(fresh_probe):
    fresh_probe.setattr(compilation, "_MEMORY_OPTIMIZED_SCHEDULE", {"xla_cpu_no_such_option": "1"})
    assert ml_opt.solver_compiler_options() == {}


def test_an_unknown_value_of_the_option_gets_no_options(fresh_probe):
    fresh_probe.setattr(compilation, "_MEMORY_OPTIMIZED_SCHEDULE", {"xla_cpu_scheduler_type": "NO_SUCH_SCHEDULER"})
    assert ml_opt.solver_compiler_options() == {}


def test_a_jax_whose_jit_takes_no_compiler_options_gets_none(fresh_probe):
    real_jit = jax.jit

    def jit_before_0_4_36(fun, *, static_argnames=None):  # jax 0.4.35's jit has no compiler_options
        return real_jit(fun, static_argnames=static_argnames)

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
    from benchmarks.compiler_options_ab import main

    main(["--solvers", "lbfgs", "--sizes", "2", "--rounds", "2"])
    row = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| lbfgs | 2 |")]
    assert len(row) == 1 and row[0].endswith("| yes |"), row


def test_ab_benchmark_names_a_bad_solver(capsys):
    from benchmarks.compiler_options_ab import main

    with pytest.raises(SystemExit) as exit_info:
        main(["--solvers", "no_such_solver"])
    assert exit_info.value.code == 2
    assert "--solvers" in capsys.readouterr().err
