"""Timing of ml_opt's second-order solvers against scipy.optimize and optax.lbfgs, in one run.

    python -m benchmarks.second_order_timing            # full run (a few minutes on a laptop CPU)
    python -m benchmarks.second_order_timing --quick    # fewer repeats, 200 scipy multi-start solves

What is measured (float64, ``||grad||_inf <= gtol``, same ``gtol`` for everyone):

* **Per solve**, on 2-D Rosenbrock from (-1.2, 1) and extended Rosenbrock (MGH 21) with n = 100 and
  n = 1000 from the standard start:

  - ``ml_opt.minimize`` with ``bfgs()``, ``lbfgs()``, ``nonlinear_cg()``: *first call* (trace and
    compile included: a fresh objective function, so nothing is cached), *compile* alone (ahead of
    time: ``traced = jax.jit(...).trace(x0)``, ``lowered = traced.lower()``, then
    ``lowered.compile(ml_opt.solver_compiler_options(traced.jaxpr, lowered))``, as ``minimize``
    compiles, on another fresh objective, in rounds alternating
    with optax.lbfgs's; the ratio is the median of the per-round ratios) and *steady state*
    (``ml_opt.minimize`` called as a user calls it, ``block_until_ready``);
  - ``scipy.optimize.minimize`` with BFGS, L-BFGS-B (``ftol=0``: the same gradient stopping rule)
    and CG, objective and gradient one ``jax.jit``-compiled ``value_and_grad`` (``jac=True``);
    *first call* is compiling that function plus a solve; for n >= 1000 one solve is timed (scipy's
    BFGS update costs O(n^3) per step there);
  - ``optax.lbfgs()`` in its documented loop (``optax.value_and_grad_from_state``, the update with
    ``value``, ``grad`` and ``value_fn``) inside a jitted ``lax.while_loop`` with the same stopping
    rule; first call and compile alone measured the same way. Its table also compares the time per
    update (steady time over the number of updates) of ``lbfgs`` with optax.lbfgs's: the two take
    about as many updates, so this separates the cost of an update from the number of them.

  Steady times are *paired*: in each round every contender solves twice, in turn, and the second
  solve is timed, so that a slow spell of a shared machine falls on all of them and no contender is
  timed cold, right after another one's work (a solve of well under a millisecond following scipy's
  BFGS at n = 100 took twice its warm time: caches and worker threads are then another program's); a
  time is the median over rounds, a speed-up the median of the per-round ratios.

* **Multi-start throughput**: 1000 starting points of 2-D Rosenbrock, uniform in [-2, 2]^2, solved
  by ``jax.jit(jax.vmap(minimize))`` (steady state) against a Python loop of scipy solves of the
  same points (with ``--quick`` the loop runs 200 of them and is scaled to 1000).

Targets: steady state <= 1/10 of scipy's time; compile <= optax.lbfgs's; multi-start >= 100x
scipy's throughput. The run prints Markdown tables. Timings on a shared machine are noisy: compare
within one run.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import scipy  # noqa: E402
import scipy.optimize  # noqa: E402
from optax import tree_utils as otu  # noqa: E402

import ml_opt  # noqa: E402
from ml_opt.conjugate_gradient import nonlinear_cg  # noqa: E402
from ml_opt.quasi_newton import bfgs, lbfgs  # noqa: E402

GTOL = 1e-5
PAIRS = [("bfgs", bfgs, "BFGS"), ("lbfgs", lbfgs, "L-BFGS-B"), ("nonlinear_cg", nonlinear_cg, "CG")]


def make_rosenbrock():
    """A fresh extended-Rosenbrock function object (so no jit cache is shared between first calls)."""

    def fun(x):
        return jnp.sum(100.0 * (x[1::2] - x[::2] ** 2) ** 2 + (1.0 - x[::2]) ** 2)

    return fun


def standard_start(n):
    return jnp.tile(jnp.array([-1.2, 1.0]), n // 2)


def max_steps_for(n):
    return max(1000, 200 * n)


def timed(fn):
    """``(seconds, result)`` of one call, waiting for the result."""
    t = time.perf_counter()
    out = jax.block_until_ready(fn())
    return time.perf_counter() - t, out


def paired(solvers, rounds):
    """Runs every solver twice per round, in turn, and times the second, warm, solve (a slow spell of
    a shared machine falls on all of them; none is timed right after another one's work):
    ``{name: [seconds, one per round]}``."""
    times = {name: [] for name in solvers}
    for _ in range(rounds):
        for name, solve in solvers.items():
            jax.block_until_ready(solve())
            times[name].append(timed(solve)[0])
    return times


def _time(fn, repeats):
    """Median seconds over ``repeats`` calls, and the last result."""
    runs = [timed(fn) for _ in range(repeats)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


# --------------------------------------------------------------------------------------------
# The contenders
# --------------------------------------------------------------------------------------------


def ml_opt_solver(make_opt, n):
    """A fresh objective and optimizer; ``solve()`` calls ``ml_opt.minimize`` as a user does."""
    fun, opt, x0 = make_rosenbrock(), make_opt(), standard_start(n)
    return lambda: ml_opt.minimize(fun, x0, opt, gtol=GTOL, max_steps=max_steps_for(n))


def compile_ml_opt(make_opt, n):
    """Trace + XLA compile alone, ahead of time, on a fresh objective, with the compiler options
    that ``ml_opt.minimize`` compiles with (those of the program's jaxpr and lowering)."""
    fun, opt = make_rosenbrock(), make_opt()
    t = time.perf_counter()
    traced = jax.jit(lambda x: ml_opt.minimize(fun, x, opt, gtol=GTOL, max_steps=max_steps_for(n))).trace(
        standard_start(n))
    lowered = traced.lower()
    lowered.compile(ml_opt.solver_compiler_options(traced.jaxpr, lowered))
    return time.perf_counter() - t


def compile_optax_lbfgs(n):
    solve = optax_lbfgs_solver(make_rosenbrock(), max_steps_for(n))
    t = time.perf_counter()
    solve.lower(standard_start(n)).compile()
    return time.perf_counter() - t


def _scipy_solve(value_and_grad, x0, method, n):
    options = dict(gtol=GTOL, maxiter=max_steps_for(n))
    if method == "L-BFGS-B":
        options.update(ftol=0.0, maxfun=100 * max_steps_for(n))

    def fg(x):
        v, g = value_and_grad(x)
        return float(v), np.asarray(g)

    return scipy.optimize.minimize(fg, np.asarray(x0), jac=True, method=method, options=options)


def scipy_solver(method, n):
    """``solve()`` runs scipy from the standard start; the jitted value_and_grad is compiled here."""
    value_and_grad = jax.jit(jax.value_and_grad(make_rosenbrock()))
    x0 = np.asarray(standard_start(n))
    t = time.perf_counter()
    jax.block_until_ready(value_and_grad(x0))
    compile_s = time.perf_counter() - t
    return (lambda: _scipy_solve(value_and_grad, x0, method, n)), value_and_grad, compile_s


def optax_lbfgs_solver(fun, max_steps):
    """optax.lbfgs in its documented loop, in one jitted lax.while_loop."""
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(fun)

    def step(carry):
        params, state = carry
        value, grad = value_and_grad(params, state=state)
        updates, state = opt.update(grad, state, params, value=value, grad=grad, value_fn=fun)
        return optax.apply_updates(params, updates), state

    def keep_going(carry):
        _, state = carry
        count = otu.tree_get(state, "count")
        grad = otu.tree_get(state, "grad")
        return (count == 0) | ((count < max_steps) & (otu.tree_norm(grad, ord=jnp.inf) > GTOL))

    @jax.jit
    def solve(x0):
        params, state = jax.lax.while_loop(keep_going, step, (x0, opt.init(x0)))
        return params, otu.tree_get(state, "value"), otu.tree_get(state, "count")

    return solve


# --------------------------------------------------------------------------------------------
# Multi-start
# --------------------------------------------------------------------------------------------


def multistart(make_opt, method, starts, scipy_count, repeats):
    fun = make_rosenbrock()
    opt = make_opt()
    solve = jax.jit(jax.vmap(lambda x0: ml_opt.minimize(fun, x0, opt, gtol=GTOL, max_steps=1000)))
    jax.block_until_ready(solve(starts))  # compile
    ours, res = _time(lambda: solve(starts), repeats)
    value_and_grad = jax.jit(jax.value_and_grad(fun))
    value_and_grad(starts[0])  # compile
    np_starts = np.asarray(starts)
    t = time.perf_counter()
    ok = 0
    for x0 in np_starts[:scipy_count]:
        r = _scipy_solve(value_and_grad, x0, method, 2)
        ok += bool(np.max(np.abs(np.asarray(value_and_grad(r.x)[1]))) <= GTOL)
    theirs = (time.perf_counter() - t) * len(np_starts) / scipy_count
    return dict(ours=ours, theirs=theirs, ours_ok=int(jnp.sum(res.converged)), theirs_ok=ok, scipy_count=scipy_count)


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def _ms(t):
    return f"{1e3 * t:.2f} ms" if t < 1 else f"{t:.2f} s"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats; 200 scipy multi-start solves")
    parser.add_argument("--sizes", type=int, nargs="*", default=[2, 100, 1000], help="problem sizes n (even)")
    parser.add_argument("--starts", type=int, default=1000, help="multi-start: number of starting points")
    args = parser.parse_args(argv)
    repeats = 3 if args.quick else 9
    compile_rounds = 3 if args.quick else 5

    print(f"# ml_opt second-order timing\n\njax {jax.__version__} on {jax.devices()[0].platform} "
          f"({jax.devices()[0].device_kind}), optax {optax.__version__}, scipy {scipy.__version__}, "
          f"numpy {np.__version__}, {platform.processor() or platform.machine()}; float64; gtol {GTOL:g} "
          f"(inf-norm of the gradient); {repeats} timing rounds; "
          f"XLA_FLAGS {os.environ.get('XLA_FLAGS', '(unset)')!r}.\n")
    print("## Per solve\n")
    print("Steady times are medians over rounds in which every contender solves twice, in turn, and its "
          "second (warm) solve is timed; the speed-up "
          "is the median of the per-round ratios (scipy / ml_opt), and the compile ratio the median of "
          f"per-round ratios (ml_opt / optax.lbfgs) over {compile_rounds} rounds of fresh compilations.\n")
    print("| problem | n | ml_opt solver | steady | first call | compile | nfev | scipy method | steady | first call "
          "| nfev | steady speed-up | compile / optax.lbfgs's |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary, optax_rows = [], []
    for n in args.sizes:
        name = "rosenbrock" if n == 2 else "extended_rosenbrock"
        compiles = {label: [] for label, _, _ in PAIRS} | {"optax.lbfgs": []}
        for _ in range(compile_rounds):
            for label, make_opt, _ in PAIRS:
                compiles[label].append(compile_ml_opt(make_opt, n))
            compiles["optax.lbfgs"].append(compile_optax_lbfgs(n))

        solvers, first, results, one_solve, scipy_ok = {}, {}, {}, {}, {}
        for label, make_opt, method in PAIRS:
            solvers[label] = ml_opt_solver(make_opt, n)
            first[label], results[label] = timed(solvers[label])
            solve, value_and_grad, compile_s = scipy_solver(method, n)
            one_solve[method], results[method] = timed(solve)
            first[method] = compile_s + one_solve[method]
            scipy_ok[method] = bool(np.max(np.abs(np.asarray(value_and_grad(results[method].x)[1]))) <= GTOL)
            if not (method == "BFGS" and n >= 1000):  # scipy's BFGS is O(n^3) per step there: one solve
                solvers[method] = solve
        optax_solve = optax_lbfgs_solver(make_rosenbrock(), max_steps_for(n))
        x0 = standard_start(n)
        first["optax.lbfgs"], (_, _, optax_updates) = timed(lambda: optax_solve(x0))
        solvers["optax.lbfgs"] = lambda: optax_solve(x0)
        times = paired(solvers, repeats)
        times.setdefault("BFGS", [one_solve["BFGS"]])
        # Time per update, lbfgs against optax.lbfgs: the median of the per-round ratios.
        ours_updates = int(results["lbfgs"].num_steps)
        per_update = statistics.median((o / ours_updates) / (t / int(optax_updates))
                                       for o, t in zip(times["lbfgs"], times["optax.lbfgs"]))
        optax_rows.append((name, n, statistics.median(times["optax.lbfgs"]), first["optax.lbfgs"],
                           statistics.median(compiles["optax.lbfgs"]), int(optax_updates), ours_updates, per_update))

        for label, _, method in PAIRS:
            ours, theirs = times[label], times[method]
            speedup = statistics.median(t / o for o, t in zip(ours, theirs)) if len(theirs) == len(ours) \
                else theirs[0] / statistics.median(ours)
            compile_ratio = statistics.median(c / o for c, o in zip(compiles[label], compiles["optax.lbfgs"]))
            res, ref = results[label], results[method]
            print(f"| {name} | {n} | {label} | {_ms(statistics.median(ours))} | {_ms(first[label])} | "
                  f"{_ms(statistics.median(compiles[label]))} | {int(res.num_fun_evals)}"
                  f"{'' if bool(res.converged) else ' (not converged)'} | {method} | {_ms(statistics.median(theirs))} | "
                  f"{_ms(first[method])} | {int(ref.nfev)}{'' if scipy_ok[method] else ' (not converged)'} | "
                  f"{speedup:.1f}x | {compile_ratio:.2f} |", flush=True)
            summary.append((name, n, label, speedup, compile_ratio))

    print("\n### optax.lbfgs, in the same rounds\n")
    print("The last column is lbfgs's time per update over optax.lbfgs's (steady time / updates, the "
          "median of the per-round ratios).\n")
    print("| problem | n | steady | first call | compile | updates | lbfgs updates | "
          "time per update, lbfgs / optax.lbfgs |")
    print("|---|---|---|---|---|---|---|---|")
    for name, n, steady, first_s, compile_s, updates, ours_updates, per_update in optax_rows:
        print(f"| {name} | {n} | {_ms(steady)} | {_ms(first_s)} | {_ms(compile_s)} | {updates} | "
              f"{ours_updates} | {per_update:.2f} |")

    print(f"\n## Multi-start: {args.starts} starts of 2-D Rosenbrock in [-2, 2]^2\n")
    print("| ml_opt solver | vmapped steady | converged | scipy method | Python loop | converged | throughput ratio |")
    print("|---|---|---|---|---|---|---|")
    starts = jax.random.uniform(jax.random.key(0), (args.starts, 2), minval=-2.0, maxval=2.0, dtype=jnp.float64)
    scipy_count = min(args.starts, 200 if args.quick else args.starts)
    ratios = []
    for label, make_opt, method in PAIRS:
        m = multistart(make_opt, method, starts, scipy_count, repeats)
        ratio = m["theirs"] / m["ours"]
        ratios.append((label, ratio))
        loop = _ms(m["theirs"]) + ("" if scipy_count == args.starts else f" (scaled from {scipy_count})")
        print(f"| {label} | {_ms(m['ours'])} | {m['ours_ok']}/{args.starts} | {method} | {loop} | "
              f"{m['theirs_ok']}/{scipy_count} | {ratio:.0f}x |", flush=True)

    print("\n## Targets\n")
    for name, n, label, speedup, compile_ratio in summary:
        print(f"- {name} n={n} {label}: steady {speedup:.1f}x scipy ({'met' if speedup >= 10 else 'MISSED'}: >= 10x); "
              f"compile {compile_ratio:.2f}x optax.lbfgs's ({'met' if compile_ratio <= 1 else 'MISSED'}: <= 1)")
    for label, ratio in ratios:
        print(f"- multi-start {label}: {ratio:.0f}x scipy ({'met' if ratio >= 100 else 'MISSED'}: >= 100x)")


if __name__ == "__main__":
    main()
