"""The Moré-Garbow-Hillstrom set: ml_opt's second-order solvers against scipy.optimize.minimize.

    python -m benchmarks.mgh_vs_scipy                      # all 35 problems, standard starts (~8 min, 2 cores)
    python -m benchmarks.mgh_vs_scipy --start-scale 10     # from 10 x0, MGH's harder start (also 100)
    python -m benchmarks.mgh_vs_scipy --solvers lbfgs bfgs --out mgh.md
    python -m benchmarks.mgh_vs_scipy --other-sizes        # the variable-size problems at other n, m
    python -m benchmarks.mgh_vs_scipy --perturbed-starts 1 2 3   # random starts near x0 (~4 min)

Pairs (ml_opt solver, its scipy counterpart), every MGH problem, float64::

    bfgs()                             BFGS
    lbfgs()                            L-BFGS-B
    nonlinear_cg("polak_ribiere_plus") CG              (scipy's CG is Polak-Ribière+)
    newton_cg()                        Newton-CG       (Hessian-vector products)
    newton()                           trust-exact     (the dense Hessian; "damped" by its line search:
                                                        damping=0, a fixed damping > 0 makes
                                                        convergence linear)
    trust_region_newton()              trust-exact     (the same algorithm: the dense Hessian, the
                                                        model minimised within a trust radius)

**Starts.** The standard starting point :math:`x_0` of each problem, or :math:`s x_0` with
``--start-scale s``: Moré, Garbow & Hillstrom (1981) recommend 10 and 100 as harder starts
(several problems then have other stationary points within reach, or overflow).

**Other sizes.** ``--other-sizes`` runs, instead of the 35 standard problems, the 19 problems with
free sizes at 33 sizes other than the standard ones (:data:`OTHER_SIZES`: n = 20 to 50 for the
variable-dimension problems, more residuals for the fixed-n ones, the sizes for which the paper
gives other minimum values). Where no minimum value is known for a size (penalty1 with n = 30,
penalty2 with n = 20, jennrich_sampson with m = 20, brown_dennis with m = 30), neither side counts
as solving it.

**Perturbed starts.** ``--perturbed-starts SEED ...`` runs every problem once per seed from a
random move of its start (:func:`perturbed_start`: each coordinate by up to half its size, or 0.5):
starts that no one tuned for. From there either side may stop at another stationary point, so the
runs are judged against each other (:func:`summarize_perturbed`): which passed the gradient test;
where both did at the same value, the ratio of evaluations; where at different values, whose is lower.

**Same stopping rule.** Both sides stop at ``||grad f||_inf <= GTOL``: ml_opt by its driver; scipy by
its own ``gtol`` (BFGS, CG and L-BFGS-B use the infinity norm) and, for every method, a callback
that ends the run as soon as the iterate's gradient passes that test (trust-exact uses the 2-norm,
Newton-CG has no gradient test at all; L-BFGS-B's relative-decrease test is switched off with
``ftol=0``). **Solved** means the known minimum value reached, that is the final value within
``1e-5 |v| + 1e-8`` of the paper's ``f_opt`` (the paper prints six digits), or of one of the other
local minima where the problem has several (:data:`ml_opt.problems.mgh.LOCAL_MINIMA`). Passing the
gradient test alone is not success: on powell_badly_scaled scipy's L-BFGS-B passes it at
f = 1.27e-7 (f* = 0), a point of the curved valley where both components of the gradient happen to
be below 1e-6 at once. A scipy run that raises (trust-exact's norm of a Hessian that overflowed,
from far starts) counts as not solved. **Function evaluations** are ml_opt's
``Result.num_fun_evals`` and scipy's ``nfev`` (objective evaluations; gradients and Hessians are
counted apart on both sides).

The issue's targets (asserted by ``tests/test_mgh_vs_scipy.py`` at the standard starts): solve every
problem scipy's counterpart solves; over the problems both solve, the median of (ml_opt evaluations
/ scipy evaluations) at most 1, and no ratio above 2.

References:
  Moré, Garbow & Hillstrom, Testing unconstrained optimization software, ACM TOMS 7(1), 1981.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import zlib

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

import ml_opt  # noqa: E402
from ml_opt.conjugate_gradient import nonlinear_cg  # noqa: E402
from ml_opt.newton import newton, newton_cg  # noqa: E402
from ml_opt.problems.base import Problem  # noqa: E402
from ml_opt.problems.mgh import LOCAL_MINIMA, mgh_problem, mgh_problems  # noqa: E402
from ml_opt.quasi_newton import bfgs, lbfgs  # noqa: E402
from ml_opt.trust_region import trust_region_newton  # noqa: E402

GTOL = 1e-6
MAX_STEPS = 5000

# name -> (make the ml_opt solver, the scipy method)
PAIRS = {
    "bfgs": (bfgs, "BFGS"),
    "lbfgs": (lbfgs, "L-BFGS-B"),
    "nonlinear_cg": (lambda: nonlinear_cg("polak_ribiere_plus"), "CG"),
    "newton_cg": (newton_cg, "Newton-CG"),
    "newton": (newton, "trust-exact"),
    "trust_region_newton": (trust_region_newton, "trust-exact"),
}
PAIR_NAMES = list(PAIRS)

# Sizes other than the standard ones, for the problems that have free sizes (``--other-sizes``).
OTHER_SIZES = {
    "extended_rosenbrock": [{"n": 20}, {"n": 50}],
    "extended_powell_singular": [{"n": 20}, {"n": 40}],
    "penalty1": [{"n": 4}, {"n": 30}],
    "penalty2": [{"n": 4}, {"n": 20}],
    "variably_dimensioned": [{"n": 20}, {"n": 50}],
    "trigonometric": [{"n": 20}, {"n": 50}],
    "brown_almost_linear": [{"n": 20}, {"n": 50}],
    "discrete_boundary_value": [{"n": 20}, {"n": 50}],
    "discrete_integral_equation": [{"n": 20}, {"n": 50}],
    "broyden_tridiagonal": [{"n": 20}, {"n": 50}],
    "broyden_banded": [{"n": 20}, {"n": 50}],
    "linear_full_rank": [{"n": 10, "m": 20}],
    "linear_rank1": [{"n": 10, "m": 20}],
    "linear_rank1_zero_columns_rows": [{"n": 10, "m": 20}],
    "chebyquad": [{"n": 7}, {"n": 9}, {"n": 10}],
    "watson": [{"n": 9}, {"n": 12}],
    "jennrich_sampson": [{"m": 20}],
    "box_3d": [{"m": 20}],
    "brown_dennis": [{"m": 30}],
}


def other_size_problems() -> list[Problem]:
    """The problems of :data:`OTHER_SIZES`, at those sizes."""
    return [mgh_problem(key, **size) for key, sizes in OTHER_SIZES.items() for size in sizes]


@dataclasses.dataclass
class Outcome:
    value: float
    grad_norm: float
    nfev: int
    solved: bool
    note: str = ""


def known_values(problem):
    return ([problem.f_opt] if problem.f_opt is not None else []) + list(LOCAL_MINIMA.get(problem.name, ()))


def same_value(value, reference):
    """``value`` agrees with ``reference`` to the six digits the paper prints: ``1e-5 |ref| + 1e-8``."""
    return abs(value - reference) <= 1e-5 * abs(reference) + 1e-8


def is_solved(problem, value):
    return any(same_value(value, v) for v in known_values(problem))


def scaled_start(problem: Problem, scale: float) -> Problem:
    """The problem started from ``scale`` times its standard start."""
    if scale == 1:
        return problem
    return dataclasses.replace(problem, init=lambda key: scale * problem.init(key))


def perturbed_start(problem: Problem, seed: int) -> Problem:
    """The problem started from its standard start moved at random, ``x0 + 0.5 max(|x0|, 1) u`` with
    ``u`` uniform in ``[-1, 1]^n`` (each coordinate moves by up to half its size, or 0.5), drawn from
    ``seed`` and the problem's name, so that a problem's start does not depend on which others run.
    The name says the seed."""
    x0 = np.asarray(problem.init(jax.random.key(0)), np.float64)
    rng = np.random.default_rng([seed, zlib.crc32(problem.name.encode())])
    start = x0 + 0.5 * np.maximum(np.abs(x0), 1.0) * rng.uniform(-1.0, 1.0, x0.shape)
    return dataclasses.replace(problem, name=f"{problem.name} (seed {seed})",
                               init=lambda key: jnp.asarray(start))


def run_ml_opt(problem, optimizer) -> Outcome:
    res = ml_opt.minimize(problem.fun, problem.init(jax.random.key(0)), optimizer, gtol=GTOL, max_steps=MAX_STEPS)
    value, grad_norm = float(res.value), float(res.grad_norm)
    return Outcome(value, grad_norm, int(res.num_fun_evals), is_solved(problem, value),
                   ml_opt.Status(int(res.status)).name)


def run_scipy(problem, method, trajectory: list | None = None) -> Outcome:
    """scipy's ``method`` on ``problem`` with the same stopping rule as ml_opt's driver.

    If ``trajectory`` is a list, ``(evaluations so far, value)`` is appended to it at every iterate.
    """
    fun = jax.jit(problem.fun)
    grad = jax.jit(jax.grad(problem.fun))
    x0 = np.asarray(problem.init(jax.random.key(0)), np.float64)

    def jac(x):
        return np.asarray(grad(x))

    evaluations = 0

    def value(x):
        nonlocal evaluations
        evaluations += 1
        return float(fun(x))

    def stop_at_gtol(intermediate_result):
        if trajectory is not None:
            trajectory.append((evaluations, float(fun(intermediate_result.x))))
        if np.max(np.abs(jac(intermediate_result.x))) <= GTOL:
            raise StopIteration

    options = {"maxiter": MAX_STEPS}
    kwargs = {}
    if method in ("BFGS", "CG", "trust-exact"):
        options["gtol"] = GTOL
    if method == "L-BFGS-B":
        options.update(gtol=GTOL, ftol=0.0, maxfun=100 * MAX_STEPS)
    if method == "Newton-CG":
        options["xtol"] = 1e-30  # no early stop on the step size: the callback's gradient test decides
        hvp = jax.jit(lambda x, v: jax.jvp(jax.grad(problem.fun), (x,), (v,))[1])
        kwargs["hessp"] = lambda x, v: np.asarray(hvp(x, v))
    if method == "trust-exact":
        hess = jax.jit(jax.hessian(problem.fun))
        kwargs["hess"] = lambda x: np.asarray(hess(x))
    try:
        with np.errstate(all="ignore"):
            res = scipy.optimize.minimize(value, x0, jac=jac, method=method, callback=stop_at_gtol,
                                          options=options, **kwargs)
    except (ValueError, np.linalg.LinAlgError) as error:  # e.g. a Hessian that overflowed
        return Outcome(float("nan"), float("nan"), 0, False, f"raised {type(error).__name__}")
    value = float(fun(res.x))
    grad_norm = float(np.max(np.abs(jac(res.x))))
    return Outcome(value, grad_norm, int(res.nfev), is_solved(problem, value), str(res.message)[:40])


def compare(problems, names):
    """Runs every pair on every problem: {name: [(problem, ours, theirs), ...]}.

    JAX's caches are cleared after each pair: XLA:CPU runs out of memory for code when about 1000
    executables are alive.
    """
    results = {}
    for name in names:
        make, method = PAIRS[name]
        optimizer = make()  # one optimizer object per pair
        results[name] = [(p, run_ml_opt(p, optimizer), run_scipy(p, method)) for p in problems]
        jax.clear_caches()
    return results


def write_table(table: str, out: str | None) -> None:
    """Prints the Markdown ``table``, and writes it to the file ``out`` too if given."""
    print(table)
    if out:
        with open(out, "w") as f:
            f.write(table + "\n")


def summarize(rows):
    both = [ours.nfev / theirs.nfev for _, ours, theirs in rows if ours.solved and theirs.solved]
    missed = [p.name for p, ours, theirs in rows if theirs.solved and not ours.solved]
    worst = max(((ours.nfev / theirs.nfev, p.name) for p, ours, theirs in rows if ours.solved and theirs.solved),
                default=(float("nan"), ""))
    return {
        "solved": sum(ours.solved for _, ours, _ in rows),
        "scipy_solved": sum(theirs.solved for _, _, theirs in rows),
        "missed": missed,
        "median": float(np.median(both)) if both else float("nan"),
        "max": worst[0],
        "worst": worst[1],
    }


def markdown(results, gtol=GTOL, start_scale=1.0, problem_set="MGH set") -> str:
    pairs = {name: method for name, (_, method) in PAIRS.items()}
    names = list(results)
    starts = "standard starts" if start_scale == 1 else f"starts {start_scale:g} x0"
    lines = [f"## {problem_set}, float64, {starts}, gtol = {gtol:g} (ml_opt vs scipy.optimize.minimize)", ""]
    lines.append("| solver (scipy) | solved | scipy solved | solved by scipy only | median nfev ratio | max nfev ratio |")
    lines.append("|---|---|---|---|---|---|")
    n = len(next(iter(results.values())))
    for name in names:
        s = summarize(results[name])
        lines.append(f"| {name} ({pairs[name]}) | {s['solved']}/{n} | {s['scipy_solved']}/{n} | "
                     f"{', '.join(s['missed']) or '-'} | {s['median']:.2f} | {s['max']:.2f} ({s['worst']}) |")
    lines += ["", "Function evaluations, ml_opt / scipy (x: not solved):", ""]
    lines.append("| problem | " + " | ".join(f"{name} / {pairs[name]}" for name in names) + " |")
    lines.append("|---|" + "---|" * len(names))
    for i in range(n):
        problem = results[names[0]][i][0]
        cells = []
        for name in names:
            _, ours, theirs = results[name][i]
            cells.append(f"{ours.nfev}{'' if ours.solved else ' x'} / {theirs.nfev}{'' if theirs.solved else ' x'}")
        lines.append(f"| {problem.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def converged(outcome: Outcome) -> bool:
    """The run ended with a finite value and ``||grad f||_inf <= GTOL``, wherever that was."""
    return math.isfinite(outcome.value) and outcome.grad_norm <= GTOL


def judge_runs(rows, same) -> dict:
    """Runs judged against each other where neither value is known to be the minimum.

    ``rows = [(problem, ours, theirs), ...]``; ``same(ours, theirs)`` says whether two converged
    runs (:func:`converged`) stopped at the same minimum. Counted: which side converged; where both
    did at the same minimum, the evaluation ratios (``max`` is ``(ratio, name)``, ``above_2x`` the
    names above 2); where both did at different values, whose is lower (``different``: the names).
    """
    both = [(p, ours, theirs) for p, ours, theirs in rows if converged(ours) and converged(theirs)]
    ratios = sorted((ours.nfev / theirs.nfev, p.name) for p, ours, theirs in both if same(ours, theirs))
    apart = [(p.name, ours.value, theirs.value) for p, ours, theirs in both if not same(ours, theirs)]
    return {
        "runs": len(rows),
        "passed": sum(converged(ours) for _, ours, _ in rows),
        "scipy_passed": sum(converged(theirs) for _, _, theirs in rows),
        "missed": [p.name for p, ours, theirs in rows if converged(theirs) and not converged(ours)],
        "same": len(ratios),
        "median": float(np.median([r for r, _ in ratios])) if ratios else float("nan"),
        "max": ratios[-1] if ratios else (float("nan"), ""),
        "above_2x": [name for r, name in ratios if r > 2],
        "different": [name for name, _, _ in apart],
        "lower": sum(o < t for _, o, t in apart),
        "higher": sum(o > t for _, o, t in apart),
    }


def summarize_perturbed(rows):
    """From a perturbed start either side may stop at another stationary point than the known
    minimum, so runs are judged against each other (:func:`judge_runs`), the same minimum meaning
    the same value to the paper's six digits (:func:`same_value`)."""
    return judge_runs(rows, lambda ours, theirs: same_value(ours.value, theirs.value))


def markdown_perturbed(results, seeds, gtol=GTOL, problem_set="MGH set") -> str:
    pairs = {name: method for name, (_, method) in PAIRS.items()}
    lines = [f"## {problem_set}, float64, perturbed starts (seeds {', '.join(map(str, seeds))}), gtol = {gtol:g} "
             "(ml_opt vs scipy.optimize.minimize)", "",
             "Passed: the gradient test, at whatever stationary point. Where both passed at the same value, "
             "evaluations are compared; elsewhere the values are.", "",
             "| solver (scipy) | runs | passed | scipy passed | passed by scipy only | same value: runs, median "
             "nfev ratio, max | different values: ours lower, higher | ratios above 2 |",
             "|---|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        s = summarize_perturbed(rows)
        lines.append(f"| {name} ({pairs[name]}) | {s['runs']} | {s['passed']} | {s['scipy_passed']} | "
                     f"{', '.join(s['missed']) or '-'} | {s['same']}, {s['median']:.2f}, {s['max'][0]:.2f} "
                     f"({s['max'][1]}) | {s['lower']}, {s['higher']} | {', '.join(s['above_2x']) or '-'} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start-scale", type=float, default=1.0,
                        help="start from this multiple of each standard start (MGH: 1, 10, 100)")
    parser.add_argument("--other-sizes", action="store_true",
                        help="the problems with free sizes at other sizes (OTHER_SIZES) instead of the standard set")
    parser.add_argument("--perturbed-starts", type=int, nargs="+", metavar="SEED",
                        help="start every problem from random moves of its start, one per seed (perturbed_start)")
    parser.add_argument("--solvers", nargs="+", choices=PAIR_NAMES, default=PAIR_NAMES, help="ml_opt solvers to run")
    parser.add_argument("--out", help="also write the Markdown tables to this file")
    args = parser.parse_args(argv)
    problem_set = "MGH problems at other sizes" if args.other_sizes else "MGH set"
    problems = [scaled_start(p, args.start_scale) for p in (other_size_problems() if args.other_sizes else mgh_problems())]
    if args.perturbed_starts:
        problems = [perturbed_start(p, seed) for seed in args.perturbed_starts for p in problems]
        table = markdown_perturbed(compare(problems, args.solvers), args.perturbed_starts, problem_set=problem_set)
    else:
        table = markdown(compare(problems, args.solvers), start_scale=args.start_scale, problem_set=problem_set)
    write_table(table, args.out)


if __name__ == "__main__":
    main()
