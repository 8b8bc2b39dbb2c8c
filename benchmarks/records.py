"""Per-run records: what one run of one optimizer on one problem produced, as one JSON line.

A record is a plain dict (so the report can be re-drawn from the file alone, by anything that reads
JSON). The fields, all written for every run:

=====================  ===========================================================================
``problem``            the problem's name (``ml_opt.problems.Problem.name``)
``optimizer``          the harness's name for the optimizer (``adam``, ``optax.adam``, ``scipy.BFGS``)
``family``             ``ml_opt``, ``optax`` or ``scipy``
``hyperparameters``    the hyperparameters of the run, e.g. ``{"learning_rate": 0.01}`` (``{}`` if none)
``seed``               the seed: it picks the starting point (for problems with random starts) and,
                       for minibatch training, the initialisation and the shuffling
``driver``             how the run was made: ``minimize`` (:func:`ml_opt.minimize`), ``fit``
                       (:func:`ml_opt.training.fit`), ``optax_lbfgs`` (a jitted ``optax.lbfgs`` loop),
                       ``scipy`` (``scipy.optimize.minimize``)
``dim``, ``convex``    the problem's size and convexity
``initial_loss``       the objective at the starting point
``final_loss``         the objective at the returned point (full batch, also after minibatch training)
``grad_norm``          ``||grad f||_inf`` at the returned point (full batch)
``steps``              iterations (updates applied; ``nit`` for scipy)
``fun_evals``          objective evaluations; ``grad_evals``: gradient evaluations; ``hvp_evals``:
                       Hessian-vector products (a dense Hessian counts ``n``). Exact: from the
                       solver's state, from scipy's result (``nfev``, ``njev``, ``nhev``). For
                       minibatch training each count is of minibatch evaluations.
``compile_seconds``    wall time to trace, lower and compile the program that made this run
                       (``jax.jit(f).lower(...).compile()``); for scipy, the jitted objective,
                       gradient and Hessian-vector product. A suite compiles several programs at
                       once in threads (``--jobs``), so these overlap; ``--jobs 1`` isolates them
``run_seconds``        wall time of the compiled call that made this run (``block_until_ready``);
                       for scipy, of ``scipy.optimize.minimize``
``batch_size``         how many runs shared that compiled call (``jax.vmap`` over learning rates and
                       seeds); compile and run seconds are the call's, not divided
``f_opt``              the known optimum, or null
``success``            ``f - f_opt <= tol * max(1, |f_opt|)`` (or within that of a known local minimum
                       for the MGH problems); null when no optimum is known
``success_kind``       ``global``, ``local`` (a known local minimum) or null
``status``             why the run stopped, in words (the driver's or scipy's message)
``converged``          whether the run stopped on its gradient test
``test_accuracy``      for classifiers, the accuracy on the held-out split; else null
``selected``           whether these hyperparameters were the ones picked for this (problem, optimizer)
                       (see :func:`selection_key`); only selected runs carry a trajectory
``trajectory``         null, or the loss along the run: ``step``, ``loss``, ``evals`` (cumulative
                       f + grad + Hessian-vector evaluations), ``seconds`` (wall time), and for 2-D
                       problems ``params`` (the iterates), at up to :data:`MAX_POINTS` points; and
                       ``compile_seconds``, ``run_seconds``, ``batch_size`` of the pass that recorded it
``error``              null, or the one-line error that stopped this optimizer on this problem
=====================  ===========================================================================
"""

from __future__ import annotations

import json
import math
import os
from typing import Any, Iterable, Sequence

import numpy as np

#: The most points of a trajectory kept in a record (log-spaced in the step index beyond that).
MAX_POINTS = 300

RECORDS_FILE = "records.jsonl"
META_FILE = "meta.json"


def is_success(final_loss: float, f_opt: float | None, tol: float, local_minima: Sequence[float] = ()) -> tuple[bool | None, str | None]:
    """Success against the known optimum: ``f - f_opt <= tol * max(1, |f_opt|)``.

    A run that ends within the same distance of a known local minimum value counts as a (local)
    success: gradient methods are local methods, and the MGH set documents such minima.

    Returns:
      ``(success, kind)``: ``(None, None)`` when no optimum is known, ``(True, "global")``,
      ``(True, "local")`` or ``(False, None)``.
    """
    if f_opt is None:
        return None, None
    if final_loss is None or not math.isfinite(final_loss):
        return False, None
    if final_loss - f_opt <= tol * max(1.0, abs(f_opt)):
        return True, "global"
    for f_local in local_minima:
        if abs(final_loss - f_local) <= tol * max(1.0, abs(f_local)):
            return True, "local"
    return False, None


def subsample_indices(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Indices ``0 .. n-1`` to keep: all of them if ``n <= max_points``, else log-spaced (first and last kept)."""
    if n <= max_points:
        return np.arange(n)
    idx = np.unique(np.round(np.geomspace(1, n, max_points - 1)).astype(int) - 1)
    return np.unique(np.concatenate([[0], idx, [n - 1]]))


def _clean(x: Any) -> Any:
    """JSON-safe: NumPy scalars to Python, non-finite floats to strings JSON can carry."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return _clean(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        v = float(x)
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return float(f"{v:.10g}")
    return x


_NONFINITE = {"nan": float("nan"), "inf": float("inf"), "-inf": float("-inf")}


def _restore(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _restore(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_restore(v) for v in x]
    if isinstance(x, str) and x in _NONFINITE:
        return _NONFINITE[x]
    return x


def append_records(path: str, records: Iterable[dict]) -> None:
    """Appends records to a JSON-lines file, one per line, flushed (a killed run keeps what it wrote)."""
    with open(path, "a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(_clean(r), allow_nan=False) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read_records(path: str) -> list[dict]:
    """Reads a JSON-lines file of records (non-finite numbers restored)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                out.append(_restore(json.loads(line)))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{line_no}: not a JSON record ({e.msg})") from None
    return out


def write_json(path: str, obj: dict) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_clean(obj), f, indent=2)
        f.write("\n")


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        return _restore(json.load(f))


def total_evals(record: dict) -> float:
    """Objective + gradient + Hessian-vector evaluations of a run (the harness's cost measure)."""
    return float(record.get("fun_evals") or 0) + float(record.get("grad_evals") or 0) + float(record.get("hvp_evals") or 0)


def wall_seconds(record: dict) -> float:
    """The run's wall time for comparisons between optimizers.

    The trajectory pass runs the selected hyperparameters alone (vmapped over seeds only), so for a
    selected run its time per run is the time to use; otherwise the run's call time divided by the
    number of runs that shared it (an amortised time).
    """
    traj = record.get("trajectory")
    if traj and traj.get("run_seconds") is not None:
        return float(traj["run_seconds"]) / max(1, int(traj.get("batch_size") or 1))
    return float(record.get("run_seconds") or 0.0) / max(1, int(record.get("batch_size") or 1))


def _finite_or_inf(x: Any) -> float:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return math.inf
    return v if math.isfinite(v) else math.inf


def selection_key(runs: Sequence[dict]) -> tuple:
    """How the harness ranks hyperparameter settings (and optimizers) on one problem; smaller is better.

    ``runs`` are the records of one setting, one per seed. Ranked by: more seeds successful first
    (then more of them at the global optimum rather than a documented local minimum); then, if every
    seed succeeded, fewer median evaluations; then lower median final loss. Runs with no known
    optimum (``success`` null) are ranked by median final loss alone.
    """
    n_success = sum(1 for r in runs if r.get("success"))
    n_global = sum(1 for r in runs if r.get("success") and r.get("success_kind") == "global")
    all_ok = n_success == len(runs) and n_success > 0
    median_cost = float(np.median([total_evals(r) for r in runs])) if all_ok else math.inf
    median_loss = float(np.median([_finite_or_inf(r.get("final_loss")) for r in runs]))
    return (-n_success, -n_global, median_cost, median_loss)
