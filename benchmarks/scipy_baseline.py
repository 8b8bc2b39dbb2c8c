"""The scipy.optimize baseline: ``scipy.optimize.minimize`` on the same problems and starting points.

The objective, its gradient and (for Newton-CG) its Hessian-vector product are JAX functions of the
flattened params (``jax.flatten_util.ravel_pytree``), jitted and compiled ahead of time; their
compile time is the record's ``compile_seconds``, and ``scipy.optimize.minimize``'s wall time is its
``run_seconds``. Counts are scipy's own (``nfev``, ``njev``, ``nhev``, ``nit``). The trajectory comes
from scipy's ``callback(intermediate_result)``, with the evaluations counted by wrappers around the
three functions at that moment and the wall time since the start.

scipy's BLAS runs single-threaded during the runs (``threadpoolctl``): OpenBLAS's worker threads
spinning against XLA's thread pool made L-BFGS-B's Fortran/C core about 35 times slower on a 2-core
machine, which would have measured the contention, not the method.
"""

from __future__ import annotations

import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import scipy.optimize
from threadpoolctl import threadpool_limits
from jax.flatten_util import ravel_pytree

from ml_opt.problems.base import Problem

from benchmarks.optimizers import OptimizerSpec
from benchmarks.runner import (Plan, Program, Settings, _base_record, _finish_record, make_trajectory,
                               objective, problem_data, start)

def _options(method: str, settings: Settings) -> dict[str, Any]:
    """Stopping options passed to each method (the others are scipy's defaults)."""
    options: dict[str, Any] = {"maxiter": settings.max_steps}
    if method in ("BFGS", "CG", "L-BFGS-B"):
        options["gtol"] = settings.gtol  # BFGS and CG: ||g||_inf by default; L-BFGS-B: projected gradient
    return options


def plan_scipy(problem: Problem, spec: OptimizerSpec, settings: Settings) -> Plan:
    """One ``scipy.optimize.minimize`` run per seed; the JAX functions it calls compile first."""
    method = spec.scipy_method
    flat0, unravel = ravel_pytree(start(problem, settings.seeds[0]))
    dtype = flat0.dtype

    loss = objective(problem)
    data = problem_data(problem)

    def f(v, train):
        return loss(unravel(v), train)

    def hvp(v, p, train):
        return jax.jvp(lambda w: jax.grad(f)(w, train), (v,), (p,))[1]

    # The data are arguments of the programs (see benchmarks.runner.problem_data), bound below.
    programs = {"f": Program(f, flat0, data["train"]), "g": Program(jax.grad(f), flat0, data["train"])}
    if method == "Newton-CG":
        programs["hvp"] = Program(hvp, flat0, flat0, data["train"])
    if problem.accuracy is not None and data["test"] is not None:
        programs["accuracy"] = Program(lambda v, test: problem.accuracy(unravel(v), test), flat0, data["test"])

    def execute() -> list[dict]:
        return _run(problem, spec, settings, programs, dtype, data)

    return Plan(problem, spec, programs, execute)


def _run(problem: Problem, spec: OptimizerSpec, settings: Settings, programs: dict, dtype, data: dict) -> list[dict]:
    method = spec.scipy_method
    train, test = data["train"], data["test"]
    f_x, g_x = programs["f"].compiled, programs["g"].compiled
    h_x = programs["hvp"].compiled if "hvp" in programs else None
    a_x = programs["accuracy"].compiled if "accuracy" in programs else None

    def f_c(v):
        return f_x(v, train)

    def g_c(v):
        return g_x(v, train)

    def h_c(v, p):
        return h_x(v, p, train)

    def acc_c(v):
        return a_x(v, test)

    # The accuracy is not part of the method's work: its compile time is left out.
    compile_seconds = sum(p.compile_seconds for k, p in programs.items() if k != "accuracy")

    records = []
    for seed in settings.seeds:
        x0 = np.asarray(ravel_pytree(start(problem, seed))[0], np.float64)
        counts = {"f": 0, "g": 0, "h": 0}
        history: list[tuple[float, int, float]] = []

        def fun(v):
            counts["f"] += 1
            return float(f_c(jnp.asarray(v, dtype)))

        def jac(v):
            counts["g"] += 1
            return np.asarray(g_c(jnp.asarray(v, dtype)), np.float64)

        def hessp(v, p):
            counts["h"] += 1
            return np.asarray(h_c(jnp.asarray(v, dtype), jnp.asarray(p, dtype)), np.float64)

        path: list[np.ndarray] = []

        def callback(intermediate_result):
            history.append((float(intermediate_result.fun), counts["f"] + counts["g"] + counts["h"],
                            time.perf_counter() - t_start))
            if problem.dim <= 2:
                path.append(np.array(intermediate_result.x, float))

        initial_loss = float(f_c(jnp.asarray(x0, dtype)))
        kwargs = {"hessp": hessp} if method == "Newton-CG" else {}
        with threadpool_limits(limits=1, user_api="blas"):
            t_start = time.perf_counter()
            res = scipy.optimize.minimize(fun, x0, jac=jac, method=method, callback=callback,
                                          options=_options(method, settings), **kwargs)
            run_seconds = time.perf_counter() - t_start

        x = jnp.asarray(res.x, dtype)
        final_loss = float(f_c(x))
        grad_norm = float(np.max(np.abs(np.asarray(g_c(x)))))
        nfev, njev, nhev = int(res.get("nfev", 0)), int(res.get("njev", 0)), int(res.get("nhev", 0))
        r = _base_record(problem, spec, settings, "scipy")
        r.update(
            hyperparameters={"method": method, **_options(method, settings)},
            seed=int(seed),
            initial_loss=initial_loss,
            final_loss=final_loss,
            grad_norm=grad_norm,
            steps=int(res.get("nit", len(history))),
            fun_evals=nfev,
            grad_evals=njev,
            hvp_evals=nhev,
            compile_seconds=compile_seconds,
            run_seconds=run_seconds,
            batch_size=1,
            status=str(res.message),
            converged=bool(res.success),
            selected=True,
        )
        if a_x is not None:
            r["test_accuracy"] = float(acc_c(x))
        # The trajectory: x_0 (its first f and grad), then every iterate scipy reports.
        losses = [initial_loss] + [h[0] for h in history]
        evals = [2] + [h[1] for h in history]
        seconds = [0.0] + [h[2] for h in history]
        params = None
        if problem.dim <= 2:
            params = np.array([x0] + path) if path else np.array([x0])
        r["trajectory"] = make_trajectory(np.arange(len(losses)), losses, evals, seconds, params,
                                          compile_seconds=compile_seconds, run_seconds=run_seconds, batch_size=1)
        records.append(_finish_record(r, problem, settings))
    return records
