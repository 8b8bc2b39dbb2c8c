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
benchmarks.compiler_options_ab``, before the emitters below; 2-core AMD EPYC, jax 0.10.2):

- ``lbfgs`` on extended Rosenbrock solved in 0.75-0.97x the time at n = 100 (0.87 or less in 8 of 9
  runs) and 0.82-0.99x at n = 1000 (9 runs);
- ``bfgs`` at n = 100 took 0.35-0.54x the time (five runs);
- ``newton``, ``trust_region_newton`` and ``newton_cg`` at n = 100-200 took 0.81-1.03x;
- ``nonlinear_cg`` at every size, every solver at n = 2, and ``lbfgs``, ``nonlinear_cg`` and
  ``newton_cg`` at n = 10^4 and 10^5 took 0.94-1.07x, unchanged within the machine's noise.

The iterates were the same bit for bit: the scheduler orders the same kernels, it does not change
them.

**Small programs.** XLA:CPU compiles each fused kernel on its own: through MLIR with its *fusion
emitters* (the default), or straight to LLVM IR with its older *elemental IR emitters*
(``xla_cpu_use_fusion_emitters=False``). A solver's program is mostly kernels, so compile time
follows their number, and the older emitters compile each one faster. Their loops over arrays of a
thousand elements run slower (an n-vector update ``a x + b y`` at n = 1000: 1.08 us against 0.73; at
n = 10^4, 7.1 against 3.0), but over arrays of a few hundred elements the kernels' fixed cost hides
the difference. Given the program's jaxpr, :func:`solver_compiler_options` therefore adds that
option when every array of the program, its inputs, constants and every intermediate, takes at most
``SMALL_PROGRAM_BYTES`` (16 KiB: 2048 float64 numbers); :func:`ml_opt.minimize` passes it the
jaxpr of each program it compiles. On extended Rosenbrock, compiled and then solved in alternation
with the schedule alone, in one process (``python -m benchmarks.compiler_options_ab --emitters`` and
inline scripts; 2-core AMD EPYC, jax 0.10.2), with the same iterates bit for bit:

- ``lbfgs`` compiled in 0.50-0.59x the time at n = 2 and 0.67-0.75x at n = 100 (its history, 10 x
  100 numbers, is the largest array), and solved in 0.94-1.02x the time up to n = 200;
- ``nonlinear_cg`` compiled in 0.52-0.79x at n = 2, 100 and 1000, and solved in 0.97-1.04x;
- ``bfgs``, ``newton``, ``trust_region_newton`` and ``newton_cg`` at n = 2 and 10 compiled in
  0.39-0.78x and solved in 0.97-1.07x (``trust_region_newton`` at n = 30 0.87x, ``newton_cg`` at
  n = 100 0.86x).

Over the limit the emitters cost run time: ``bfgs`` took 1.15x at n = 50 (a 50 x 50 matrix), 1.8x at
n = 100 and 2.9x at n = 1000, and ``lbfgs`` 1.4x at n = 1000, so there the option is not given. Under
it they can cost some too: ``optax.adam`` through ``minimize`` took 1.12-1.14x at n = 500-2000 (a
step of it is a few elementwise passes with square roots and divisions, which the newer emitters
compile to faster code), ``ml_opt.momentum`` 1.02-1.06x, and ``lbfgs`` at n = 200 0.97-1.06x; a
compile saved there is worth a few hundred such solves. A program can also lose by the rule:
logistic regression on scikit-learn's digits, whose 1797 x 64 data are over the limit, solved with
``lbfgs`` in 0.79x the time with the emitters.

**Programs with a small call.** :func:`ml_opt.minimize` runs its solve as a small call
(:mod:`ml_opt.small_call`): XLA:CPU compiles the whole loop into one LLVM function, and LLVM's
default optimisation level (3) takes its time over so large a function. For a lowered program
that has one, :func:`solver_compiler_options` therefore sets level 2. Compiled at level 3 and then
level 2 in turn, on extended Rosenbrock (inline scripts, 3 rounds; 2-core AMD EPYC, jax 0.10.2):
``lbfgs`` compiled in 0.60-0.72 s instead of 1.06-1.09 s at n = 100 and 0.59 s instead of 0.87 s at
n = 1000, ``nonlinear_cg`` in 0.53-0.63 s instead of 0.89-0.90 s at n = 100 and 0.47 s instead of
0.79 s at n = 1000, ``bfgs`` in 0.54 s instead of 0.77 s at n = 100, and the solves took 0.68-1.0x
the time (``nonlinear_cg`` at n = 100 once 1.26x; ``bfgs`` at n = 100 1.29x, on another path with
218 evaluations instead of 225). Level 1 compiled a little faster still, but
rounded differently enough that ``nonlinear_cg`` no longer solved Gulf research and development
and Osborne 1 of the Moré-Garbow-Hillstrom set at the issue's tolerance (level 2 and 3: Osborne 1,
and ``bfgs`` Penalty II; see the README's known limitations).

The training loop of :func:`ml_opt.fit` does not use these options. Its matrix products do gain
from running side by side: 10,100-10,600 steps per second under them against 12,900-13,200
without (``python -m benchmarks.fit_throughput``). Programs that vmap a solver over many starts
measured 0.90-1.07x, neither clearly faster nor slower.

Other backends ignore these options. A JAX or jaxlib that does not have one does not get it.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

import jax
import numpy as np

from ml_opt.small_call import has_small_call

try:  # JAX's private test that no transformation is tracing; see not_traced
    from jax._src.core import trace_state_clean as _trace_state_clean
except ImportError:  # a JAX without it: programs compile without the options
    _trace_state_clean = None

_MEMORY_OPTIMIZED_SCHEDULE = {"xla_cpu_scheduler_type": "CPU_SCHEDULER_TYPE_MEMORY_OPTIMIZED"}
# For small programs: XLA:CPU's elemental IR emitters, not its MLIR fusion emitters (module docstring).
_ELEMENTAL_IR_EMITTERS = {"xla_cpu_use_fusion_emitters": False}
SMALL_PROGRAM_BYTES = 16 * 1024
# For a program with a small call (ml_opt.small_call): LLVM's optimisation level 2 (module docstring).
_SMALL_CALL_OPTIMIZATION = {"xla_backend_optimization_level": 2}


@functools.cache
def _option_known(name: str, value: Any) -> bool:
    """Whether ``jax.jit`` takes compiler options (from jax 0.4.36) and this jaxlib knows the option
    ``name`` with ``value`` (compiles a one-op program to find out)."""
    if "compiler_options" not in inspect.signature(jax.jit).parameters:
        return False
    try:
        jax.jit(lambda x: x, compiler_options={name: value}).lower(0.0).compile()
    except RuntimeError as err:  # XLA's INVALID_ARGUMENT: "No such compile option", "not a valid enum value"
        if "option" not in str(err):
            raise
        return False
    return True


def _known(options: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``options`` if this JAX and jaxlib know all of them, else an empty dict."""
    return dict(options) if all(_option_known(name, value) for name, value in options.items()) else {}


def _nbytes(aval: Any) -> int:
    shape, dtype = getattr(aval, "shape", None), getattr(aval, "dtype", None)
    if shape is None or not isinstance(getattr(dtype, "itemsize", None), int):
        return 0  # a token, a reference or an extended dtype (PRNG keys): no array buffer of its own
    return int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def largest_array_bytes(jaxpr: Any) -> int:
    """The bytes of the largest array in a program: among its inputs, its constants and every value
    an equation makes, in the jaxprs nested in it too (loop bodies, branches, inner ``jax.jit`` programs).

    Args:
      jaxpr: a ``jax.core.Jaxpr`` or ``ClosedJaxpr``, e.g. ``jax.jit(f).trace(x).jaxpr``.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from ml_opt.compilation import largest_array_bytes
      >>> largest_array_bytes(jax.make_jaxpr(lambda x: jnp.outer(x, x).sum())(jnp.ones(3, jnp.float32)))
      36
    """
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)  # a ClosedJaxpr's Jaxpr
    largest = max((_nbytes(v.aval) for v in (*jaxpr.invars, *jaxpr.constvars)), default=0)
    for eqn in jaxpr.eqns:
        largest = max([largest, *(_nbytes(v.aval) for v in eqn.outvars)])  # (a callback has no outputs)
        for value in eqn.params.values():
            for item in value if isinstance(value, (tuple, list)) else (value,):
                inner = getattr(item, "jaxpr", item)
                if hasattr(inner, "eqns"):
                    largest = max(largest, largest_array_bytes(inner))
    return largest


def not_traced() -> bool:
    """Whether no JAX transformation (``jit``, ``vmap``, ``grad``, a loop body) is tracing the caller.

    ``jax.jit`` accepts ``compiler_options`` only for a program compiled on its own: one traced
    inside another transformation raises ``ValueError``. This reads JAX's trace state through
    ``jax._src.core.trace_state_clean``, the private function that ``jax.jit`` itself consults.
    With a JAX that lacks it, the answer is ``False``: programs then compile without the options,
    and run as before.
    """
    return _trace_state_clean is not None and bool(_trace_state_clean())


def solver_compiler_options(jaxpr: Any = None, lowered: Any = None) -> dict[str, Any]:
    """The options for ``jax.jit(..., compiler_options=...)`` of a program that runs a solver loop.

    :func:`ml_opt.minimize` compiles with them. When you ``jax.jit`` a function that calls
    ``minimize``, its own options are not used, because the outer program is compiled as a
    whole. Pass these to that ``jax.jit`` instead, or to ``.lower(...).compile(...)``. See the
    module docstring for what they do and what they were measured to change.

    Args:
      jaxpr: the program's jaxpr (``jax.jit(f).trace(x).jaxpr``), or ``None``. Given, and where
        every array of the program takes at most ``SMALL_PROGRAM_BYTES``
        (:func:`largest_array_bytes`), the options also select XLA:CPU's elemental IR emitters,
        which compile such a program faster.
      lowered: the program lowered (``traced.lower()``), or ``None``. Given, and where it has a
        small call (:func:`ml_opt.small_call.has_small_call`), the options also set LLVM's
        optimisation level to 2, which compiles that call in 0.55-0.70x the time.

    Returns:
      A new dict: XLA's memory-optimised schedule, for a small program the emitters, and for a
      program with a small call optimisation level 2. It is empty
      where the installed jaxlib does not know the schedule option, or ``jax.jit`` takes no
      compiler options (before jax 0.4.36); the emitters are left out where the jaxlib does not
      know their option.

    Example:
      >>> import jax, jax.numpy as jnp, ml_opt
      >>> fun = lambda x: jnp.sum((x - 1.0) ** 2)
      >>> solve = jax.jit(lambda x: ml_opt.minimize(fun, x, ml_opt.lbfgs()))
      >>> traced = solve.trace(jnp.zeros(3))
      >>> lowered = traced.lower()
      >>> compiled = lowered.compile(ml_opt.solver_compiler_options(traced.jaxpr, lowered))
      >>> bool(compiled(jnp.zeros(3)).converged)
      True
    """
    options = _known(_MEMORY_OPTIMIZED_SCHEDULE)
    if options and jaxpr is not None and largest_array_bytes(jaxpr) <= SMALL_PROGRAM_BYTES:
        options.update(_known(_ELEMENTAL_IR_EMITTERS))
    if options and lowered is not None and has_small_call(lowered):
        options.update(_known(_SMALL_CALL_OPTIMIZATION))
    return options
