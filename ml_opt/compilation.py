"""The XLA compiler options that :func:`ml_opt.minimize` compiles its solver loop with.

XLA:CPU runs a compiled program as a sequence of *thunks*: one per fused kernel, loop or library
call. XLA's executor runs a sequence in order only when its thunks form a chain, number 8 or
fewer, or touch no buffer over 512 bytes. Otherwise it treats the sequence as a dataflow graph,
and thunks that become ready at the same time go to the threads of XLA's pool. A solver step on
a vector of more than 64 float64 entries is such a graph.

A step of ``lbfgs``, ``bfgs`` or ``nonlinear_cg`` is a few hundred thunks. Each does well under a
microsecond of work on scalars and n-vectors. Handing them from thread to thread costs more than
the work it spreads: pinned to one core, so that the pool has no second thread, ``lbfgs`` solved
extended Rosenbrock at n = 1000 in 1.0 ms instead of 1.3-1.9 ms (issue 3's notes).

XLA's *memory-optimised* scheduler orders the thunks so that buffers are reused. For an ``lbfgs``
step at n = 1000 (a ``jax.profiler`` trace), it cut the hand-offs to the pool from 3.3 per step to
1.1. In one process, alternating with the default schedule (``python -m
benchmarks.compiler_options_ab``; 2-core AMD EPYC, jax 0.10.2):

- ``lbfgs`` on extended Rosenbrock solved in 0.75-0.97x the time at n = 100 (0.87 or less in 8 of 9
  runs) and 0.82-0.99x at n = 1000 (9 runs);
- ``bfgs`` at n = 100 took 0.35-0.54x the time (five runs);
- ``newton``, ``trust_region_newton`` and ``newton_cg`` at n = 100-200 took 0.81-1.03x;
- ``nonlinear_cg`` at every size, every solver at n = 2, and ``lbfgs``, ``nonlinear_cg`` and
  ``newton_cg`` at n = 10^4 and 10^5 took 0.94-1.07x, unchanged within the machine's noise.

The iterates were the same bit for bit: the scheduler orders the same kernels, it does not change
them.

The training loop of :func:`ml_opt.fit` does not use these options. Its matrix products do gain
from running side by side: 10,100-10,600 steps per second under them against 12,900-13,200
without (``python -m benchmarks.fit_throughput``). Programs that vmap a solver over many starts
measured 0.90-1.07x, neither clearly faster nor slower.

Other backends ignore the option. A JAX or jaxlib that does not have it gets no options.
"""

from __future__ import annotations

import functools
import inspect

import jax

try:  # JAX's private test that no transformation is tracing; see not_traced
    from jax._src.core import trace_state_clean as _trace_state_clean
except ImportError:  # a JAX without it: programs compile without the options
    _trace_state_clean = None

_MEMORY_OPTIMIZED_SCHEDULE = {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}


@functools.cache
def _schedule_option_known() -> bool:
    """Whether ``jax.jit`` takes compiler options (from jax 0.4.36) and this jaxlib knows the
    scheduler option (compiles a one-op program to find out)."""
    if "compiler_options" not in inspect.signature(jax.jit).parameters:
        return False
    try:
        jax.jit(lambda x: x, compiler_options=_MEMORY_OPTIMIZED_SCHEDULE).lower(0.0).compile()
    except RuntimeError as err:  # XLA's INVALID_ARGUMENT: "No such compile option", "not a valid enum value"
        if "option" not in str(err):
            raise
        return False
    return True


def not_traced() -> bool:
    """Whether no JAX transformation (``jit``, ``vmap``, ``grad``, a loop body) is tracing the caller.

    ``jax.jit`` accepts ``compiler_options`` only for a program compiled on its own: one traced
    inside another transformation raises ``ValueError``. This reads JAX's trace state through
    ``jax._src.core.trace_state_clean``, the private function that ``jax.jit`` itself consults.
    With a JAX that lacks it, the answer is ``False``: programs then compile without the options,
    and run as before.
    """
    return _trace_state_clean is not None and bool(_trace_state_clean())


def solver_compiler_options() -> dict[str, str]:
    """The options for ``jax.jit(..., compiler_options=...)`` of a program that runs a solver loop.

    :func:`ml_opt.minimize` compiles with them. When you ``jax.jit`` a function that calls
    ``minimize``, its own options are not used, because the outer program is compiled as a
    whole. Pass these to that ``jax.jit`` instead, or to ``.lower(...).compile(...)``. See the
    module docstring for what they do and what they were measured to change.

    Returns:
      A new dict. It is empty where the installed jaxlib has no such option, or ``jax.jit`` takes
      no compiler options (before jax 0.4.36).

    Example:
      >>> import jax, jax.numpy as jnp, ml_opt
      >>> fun = lambda x: jnp.sum((x - 1.0) ** 2)
      >>> solve = jax.jit(lambda x: ml_opt.minimize(fun, x, ml_opt.lbfgs()),
      ...                 compiler_options=ml_opt.solver_compiler_options())
      >>> bool(solve(jnp.zeros(3)).converged)
      True
    """
    return dict(_MEMORY_OPTIMIZED_SCHEDULE) if _schedule_option_known() else {}
