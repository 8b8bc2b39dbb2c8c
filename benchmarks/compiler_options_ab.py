"""Solve and compile times of ``minimize`` under two sets of XLA compiler options, A/B in one process.

    python -m benchmarks.compiler_options_ab                   # lbfgs, bfgs, nonlinear_cg; n = 2, 100, 1000
    python -m benchmarks.compiler_options_ab --solvers newton trust_region_newton newton_cg --sizes 2 100
    python -m benchmarks.compiler_options_ab --emitters        # the elemental IR emitters, at every size

For each solver and size, on extended Rosenbrock (MGH 21; 2-D Rosenbrock at n = 2) from the standard
start, the same ``jax.jit(lambda x: minimize(...))`` program is compiled twice, and both compilations
are timed. By default: with XLA's default options (A), and with the options ``minimize`` compiles
that program with (B: ``ml_opt.solver_compiler_options`` of its jaxpr and lowering). With ``--emitters``: with
the memory-optimised schedule alone (A), and with the schedule and XLA:CPU's elemental IR emitters
(B), whatever the program's size (``minimize`` selects them for programs whose arrays all take at most
16 KiB; see ``ml_opt.compilation``). Then, in each round, each program solves twice in turn, and the
second, warm, solve is timed. A ratio is the median of the per-round ratios (B / A). A slow spell of a
shared machine then falls on both. The last column says whether the two programs reach the same
iterate bit for bit. They should, but for a program with a small call (``ml_opt.small_call``: by
default, B compiles it at LLVM's optimisation level 1), whose code then rounds differently.
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402

import ml_opt  # noqa: E402
from ml_opt import compilation  # noqa: E402
from benchmarks.second_order_timing import GTOL, make_rosenbrock, max_steps_for, paired, standard_start  # noqa: E402


SOLVERS = ("lbfgs", "bfgs", "nonlinear_cg", "newton", "newton_cg", "saddle_free_newton", "trust_region_newton")


def option_sets(traced, lowered, emitters):
    """``{"A": options, "B": options}`` for the program ``traced`` (see the module docstring)."""
    if emitters:
        schedule = ml_opt.solver_compiler_options()
        return {"A": schedule, "B": {**schedule, **compilation._ELEMENTAL_IR_EMITTERS}}
    return {"A": {}, "B": ml_opt.solver_compiler_options(traced.jaxpr, lowered)}


def compiled_pair(make_opt, n, emitters=False):
    """``{"A": compiled, "B": compiled}``, their compile seconds and options: one traced and lowered
    program, compiled twice."""
    fun, opt, x0 = make_rosenbrock(), make_opt(), standard_start(n)
    traced = jax.jit(lambda x: ml_opt.minimize(fun, x, opt, gtol=GTOL, max_steps=max_steps_for(n))).trace(x0)
    lowered = traced.lower()
    programs, seconds, options = {}, {}, option_sets(traced, lowered, emitters)
    for label, chosen in options.items():
        start = time.perf_counter()
        programs[label] = lowered.compile(chosen)
        seconds[label] = time.perf_counter() - start
    return programs, seconds, options, x0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solvers", nargs="*", default=["lbfgs", "bfgs", "nonlinear_cg"], choices=SOLVERS,
                        help="ml_opt solvers, each made with its defaults")
    parser.add_argument("--sizes", type=int, nargs="*", default=[2, 100, 1000], help="problem sizes n (even)")
    parser.add_argument("--rounds", type=int, default=30, help="timing rounds")
    parser.add_argument("--emitters", action="store_true",
                        help="A: the memory-optimised schedule; B: it and the elemental IR emitters")
    args = parser.parse_args(argv)

    compared = ("the memory-optimised schedule (A) against it and the elemental IR emitters (B)" if args.emitters
                else "XLA's default options (A) against minimize's (B)")
    print(f"# minimize compiled with two sets of options\n\njax {jax.__version__} on "
          f"{jax.devices()[0].platform}; {compared}; {args.rounds} rounds; float64; gtol {GTOL:g}.\n")
    print("| solver | n | B's options | solve A | solve B | B / A | compile A | compile B | B / A | nfev | "
          "same iterate |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name in args.solvers:
        for n in args.sizes:
            programs, seconds, options, x0 = compiled_pair(getattr(ml_opt, name), n, args.emitters)
            times = paired({label: functools.partial(program, x0) for label, program in programs.items()},
                           args.rounds)
            a, b = (program(x0) for program in programs.values())
            ratio = statistics.median(tb / ta for ta, tb in zip(times["A"], times["B"]))
            same = bool(jnp.all(a.params == b.params)) and int(a.num_fun_evals) == int(b.num_fun_evals)
            named = ", ".join(f"{key.removeprefix('xla_cpu_')}={value}" for key, value in options["B"].items())
            print(f"| {name} | {n} | {named} | {1e3 * statistics.median(times['A']):.3f} ms | "
                  f"{1e3 * statistics.median(times['B']):.3f} ms | {ratio:.2f} | {seconds['A']:.2f} s | "
                  f"{seconds['B']:.2f} s | {seconds['B'] / seconds['A']:.2f} | {int(a.num_fun_evals)} | "
                  f"{'yes' if same else 'NO'} |", flush=True)


if __name__ == "__main__":
    main()
