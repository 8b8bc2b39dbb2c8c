"""Solve times of ``minimize`` compiled with and without ``ml_opt.solver_compiler_options()``, A/B in one process.

    python -m benchmarks.compiler_options_ab                   # lbfgs, bfgs, nonlinear_cg; n = 2, 100, 1000
    python -m benchmarks.compiler_options_ab --solvers newton trust_region_newton newton_cg --sizes 2 100

For each solver and size, on extended Rosenbrock (MGH 21; 2-D Rosenbrock at n = 2) from the standard
start, the same ``jax.jit(lambda x: minimize(...))`` program is compiled twice: with XLA's default
options, and with the options ``minimize`` compiles with. Both compilations are timed. Then, in each
round, each program solves twice in turn, and the second, warm, solve is timed. A ratio is the median
of the per-round ratios (with options / default). A slow spell of a shared machine then falls on both.
The last column says whether the two programs reach the same iterate bit for bit. They should: the
scheduler orders the same kernels and does not change them.
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
from benchmarks.second_order_timing import GTOL, make_rosenbrock, max_steps_for, paired, standard_start  # noqa: E402


SOLVERS = ("lbfgs", "bfgs", "nonlinear_cg", "newton", "newton_cg", "saddle_free_newton", "trust_region_newton")


def compiled_pair(make_opt, n):
    """``{"default": compiled, "options": compiled}`` and their compile seconds: one lowered program,
    compiled twice."""
    fun, opt, x0 = make_rosenbrock(), make_opt(), standard_start(n)
    lowered = jax.jit(lambda x: ml_opt.minimize(fun, x, opt, gtol=GTOL, max_steps=max_steps_for(n))).lower(x0)
    programs, seconds = {}, {}
    for label, options in (("default", {}), ("options", ml_opt.solver_compiler_options())):
        start = time.perf_counter()
        programs[label] = lowered.compile(options)
        seconds[label] = time.perf_counter() - start
    return programs, seconds, x0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--solvers", nargs="*", default=["lbfgs", "bfgs", "nonlinear_cg"], choices=SOLVERS,
                        help="ml_opt solvers, each made with its defaults")
    parser.add_argument("--sizes", type=int, nargs="*", default=[2, 100, 1000], help="problem sizes n (even)")
    parser.add_argument("--rounds", type=int, default=30, help="timing rounds")
    args = parser.parse_args(argv)

    print(f"# minimize with and without solver_compiler_options\n\njax {jax.__version__} on "
          f"{jax.devices()[0].platform}; options {ml_opt.solver_compiler_options()}; {args.rounds} rounds; "
          f"float64; gtol {GTOL:g}.\n")
    print("| solver | n | default solve | with options | ratio | default compile | with options | nfev | "
          "same iterate |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.solvers:
        for n in args.sizes:
            programs, seconds, x0 = compiled_pair(getattr(ml_opt, name), n)
            times = paired({label: functools.partial(program, x0) for label, program in programs.items()},
                           args.rounds)
            default, options = (program(x0) for program in programs.values())
            ratio = statistics.median(o / d for o, d in zip(times["options"], times["default"]))
            same = bool(jnp.all(default.params == options.params)) and int(default.num_fun_evals) == int(
                options.num_fun_evals)
            print(f"| {name} | {n} | {1e3 * statistics.median(times['default']):.3f} ms | "
                  f"{1e3 * statistics.median(times['options']):.3f} ms | {ratio:.2f} | {seconds['default']:.2f} s | "
                  f"{seconds['options']:.2f} s | {int(default.num_fun_evals)} | {'yes' if same else 'NO'} |",
                  flush=True)


if __name__ == "__main__":
    main()
