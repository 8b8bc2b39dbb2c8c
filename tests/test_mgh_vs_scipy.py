"""The Moré-Garbow-Hillstrom set: ml_opt's second-order solvers against scipy.optimize.minimize.

Pairs (ml_opt solver, its scipy counterpart), every MGH problem, float64, from the standard start::

    bfgs()                             BFGS
    lbfgs()                            L-BFGS-B
    nonlinear_cg("polak_ribiere_plus") CG              (scipy's CG is Polak-Ribière+)
    newton_cg()                        Newton-CG       (Hessian-vector products)
    newton()                           trust-exact     (the dense Hessian; "damped" by its line search:
                                                        damping=0, a fixed damping > 0 makes
                                                        convergence linear)

**Same stopping rule.** Both sides stop at ``||grad f||_inf <= GTOL``: ml_opt by its driver; scipy by
its own ``gtol`` (BFGS, CG and L-BFGS-B use the infinity norm) and, for every method, a callback
that ends the run as soon as the iterate's gradient passes that test (trust-exact uses the 2-norm,
Newton-CG has no gradient test at all; L-BFGS-B's relative-decrease test is switched off with
``ftol=0``). **Solved** means what the issue asks: the known minimum value reached, that is the
final value within ``1e-5 |v| + 1e-8`` of the paper's ``f_opt`` (the paper prints six digits), or of
one of the other local minima where the problem has several
(:data:`ml_opt.problems.mgh.LOCAL_MINIMA`). Passing the gradient test alone is not success: on
powell_badly_scaled scipy's L-BFGS-B passes it at f = 1.27e-7 (f* = 0), a point of the curved
valley where both components of the gradient happen to be below 1e-6 at once. **Function evaluations** are
ml_opt's ``Result.num_fun_evals`` and scipy's ``nfev`` (objective evaluations; gradients and
Hessians are counted apart on both sides).

Targets: solve every problem scipy's counterpart solves; over the problems both solve, the median
of (ml_opt evaluations / scipy evaluations) at most 1, and no ratio above 2.

* ``pytest tests/test_mgh_vs_scipy.py`` (CI): the targets on a fixed subset, every 12th problem
  (MGH numbers 1, 13, 25: rosenbrock, powell_singular, variably_dimensioned), chosen by that rule,
  not by results.
* ``pytest tests/test_mgh_vs_scipy.py -m slow -s``: all 35 problems; prints a Markdown table (and
  writes it to the file named by the environment variable ``ML_OPT_MGH_TABLE``, if set) and asserts
  the targets for every pair.

Every pair reaches the targets over all 35 problems. A pair that does not reach them on the CI
subset is listed in ``SUBSET_SHORTFALLS`` with what was measured, and its test is a strict xfail:
it fails as soon as the solver reaches the targets there, so that the entry is removed then.
"""

from __future__ import annotations

import dataclasses
import os

import jax
import numpy as np
import pytest
import scipy.optimize

import ml_opt
from ml_opt.conjugate_gradient import nonlinear_cg
from ml_opt.newton import newton, newton_cg
from ml_opt.problems.mgh import LOCAL_MINIMA, mgh_problem, mgh_problems
from ml_opt.quasi_newton import bfgs, lbfgs

GTOL = 1e-6
MAX_STEPS = 5000
CI_SUBSET = [1, 13, 25]


# name -> (make the ml_opt solver, the scipy method)
PAIRS = {
    "bfgs": (bfgs, "BFGS"),
    "lbfgs": (lbfgs, "L-BFGS-B"),
    "nonlinear_cg": (lambda: nonlinear_cg("polak_ribiere_plus"), "CG"),
    "newton_cg": (newton_cg, "Newton-CG"),
    "newton": (newton, "trust-exact"),
}
PAIR_NAMES = list(PAIRS)


@dataclasses.dataclass
class Outcome:
    value: float
    grad_norm: float
    nfev: int
    solved: bool
    note: str = ""


def known_values(problem):
    return ([problem.f_opt] if problem.f_opt is not None else []) + list(LOCAL_MINIMA.get(problem.name, ()))


def is_solved(problem, value):
    return any(abs(value - v) <= 1e-5 * abs(v) + 1e-8 for v in known_values(problem))


def run_ml_opt(problem, optimizer) -> Outcome:
    res = ml_opt.minimize(problem.fun, problem.init(jax.random.key(0)), optimizer, gtol=GTOL, max_steps=MAX_STEPS)
    value, grad_norm = float(res.value), float(res.grad_norm)
    return Outcome(value, grad_norm, int(res.num_fun_evals), is_solved(problem, value),
                   ml_opt.Status(int(res.status)).name)


def run_scipy(problem, method) -> Outcome:
    fun = jax.jit(problem.fun)
    grad = jax.jit(jax.grad(problem.fun))
    x0 = np.asarray(problem.init(jax.random.key(0)), np.float64)

    def jac(x):
        return np.asarray(grad(x))

    def stop_at_gtol(intermediate_result):
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
    with np.errstate(all="ignore"):
        res = scipy.optimize.minimize(lambda x: float(fun(x)), x0, jac=jac, method=method, callback=stop_at_gtol,
                                      options=options, **kwargs)
    value = float(fun(res.x))
    grad_norm = float(np.max(np.abs(jac(res.x))))
    return Outcome(value, grad_norm, int(res.nfev), is_solved(problem, value), str(res.message)[:40])


def compare(problems, names):
    """Runs every pair on every problem: {name: [(problem, ours, theirs), ...]}."""
    results = {}
    for name in names:
        make, method = PAIRS[name]
        optimizer = make()  # one optimizer object per pair
        results[name] = [(p, run_ml_opt(p, optimizer), run_scipy(p, method)) for p in problems]
    return results


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


def markdown(results, gtol=GTOL) -> str:
    pairs = {name: method for name, (_, method) in PAIRS.items()}
    names = list(results)
    lines = [f"## MGH set, float64, standard starts, gtol = {gtol:g} (ml_opt vs scipy.optimize.minimize)", ""]
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


def assert_targets(rows, name):
    s = summarize(rows)
    assert not s["missed"], f"{name}: scipy solves {s['missed']}, ml_opt does not"
    assert s["median"] <= 1.0, f"{name}: median evaluation ratio {s['median']:.2f} > 1"
    assert s["max"] <= 2.0, f"{name}: evaluation ratio {s['max']:.2f} > 2 on {s['worst']}"


# ------------------------------------------------------------------------------------------
# Targets not reached on the CI subset (measured; strict: the marker must go when they are)
# ------------------------------------------------------------------------------------------

SUBSET_SHORTFALLS = {
    "lbfgs": "on the three CI problems lbfgs's median evaluation ratio to L-BFGS-B is 1.02 "
             "(rosenbrock 49 / 45, powell_singular 53 / 52, variably_dimensioned 20 / 20); over all 35 "
             "problems it is 1.00 (max 1.27, osborne2)",
}


def subset_params():
    return [pytest.param(name, marks=pytest.mark.xfail(reason=SUBSET_SHORTFALLS[name], strict=True))
            if name in SUBSET_SHORTFALLS else name for name in PAIR_NAMES]


# ------------------------------------------------------------------------------------------
# CI: the subset
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", subset_params())
def test_mgh_subset_targets(name):
    problems = [mgh_problem(number) for number in CI_SUBSET]
    rows = compare(problems, [name])[name]
    for p, ours, theirs in rows:
        assert np.isfinite(ours.value) and np.isfinite(ours.grad_norm), p.name
    assert_targets(rows, name)


# ------------------------------------------------------------------------------------------
# The full sweep
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full_sweep():
    """Every available pair on all 35 problems; prints the Markdown table (and writes it to the
    file named by ``ML_OPT_MGH_TABLE``)."""
    results = compare(mgh_problems(), PAIR_NAMES)
    table = markdown(results)
    print("\n" + table)
    path = os.environ.get("ML_OPT_MGH_TABLE")
    if path:
        with open(path, "w") as f:
            f.write(table + "\n")
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", PAIR_NAMES)
def test_mgh_full_sweep(full_sweep, name):
    assert_targets(full_sweep[name], name)
