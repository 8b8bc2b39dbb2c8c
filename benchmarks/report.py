"""The report: ``report.md`` and its PNG figures, drawn from a results folder alone.

``python -m benchmarks report DIR`` calls :func:`write_report` on a folder written by a run: it reads
``records.jsonl`` (one record per run), ``meta.json`` (the run's settings and machine) and
``surfaces/*.npz`` (grids of the 2-D functions, for contour plots), and writes ``report.md`` and
``plots/*.png``. Nothing is re-run.
"""

from __future__ import annotations

import glob
import math
import os
from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks import plots
from benchmarks import records as rec

#: The tolerance of the Moré-Wild convergence test used by both profiles.
PROFILE_TAU = 1e-3


# --------------------------------------------------------------------------------------------
# Reading and grouping
# --------------------------------------------------------------------------------------------


def load(out_dir: str) -> tuple[dict, list[dict]]:
    """``(meta, records)`` of a results folder; raises ``FileNotFoundError`` naming what is missing."""
    path = os.path.join(out_dir, rec.RECORDS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: is {out_dir!r} a folder written by `python -m benchmarks run`?")
    meta_path = os.path.join(out_dir, rec.META_FILE)
    meta = rec.read_json(meta_path) if os.path.isfile(meta_path) else {}
    return meta, rec.read_records(path)


def _problems_in_order(records: list[dict]) -> list[str]:
    seen: list[str] = []
    for r in records:
        if r["problem"] not in seen:
            seen.append(r["problem"])
    return seen


def _optimizers_in_order(records: list[dict]) -> list[str]:
    seen: list[str] = []
    for r in records:
        if r["optimizer"] not in seen:
            seen.append(r["optimizer"])
    return seen


def selected(records: list[dict]) -> dict[str, dict[str, list[dict]]]:
    """``{problem: {optimizer: [selected run of each seed]}}``; an errored optimizer maps to its error record."""
    out: dict[str, dict[str, list[dict]]] = defaultdict(dict)
    for r in records:
        if r.get("selected") or r.get("error"):
            out[r["problem"]].setdefault(r["optimizer"], []).append(r)
    return out


def _median(values: list[float]) -> float:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.median(vals)) if vals else math.nan


def summarize(runs: list[dict]) -> dict[str, Any]:
    """The seeds of one (problem, optimizer) at its selected setting, summarised."""
    ok = [r.get("success") for r in runs]
    known = [s for s in ok if s is not None]
    return {
        "optimizer": runs[0]["optimizer"],
        "family": runs[0]["family"],
        "hyperparameters": runs[0].get("hyperparameters") or {},
        "final_loss": _median([r.get("final_loss") for r in runs]) if not all(
            r.get("final_loss") is None for r in runs) else math.nan,
        "any_nonfinite": any(r.get("final_loss") is None or not math.isfinite(r["final_loss"]) for r in runs),
        "f_opt": runs[0].get("f_opt"),
        "grad_norm": _median([r.get("grad_norm") for r in runs]),
        "steps": _median([r.get("steps") for r in runs]),
        "evals": _median([rec.total_evals(r) for r in runs]),
        "seconds": _median([rec.wall_seconds(r) for r in runs]),
        "compile_seconds": _median([(r.get("trajectory") or {}).get("compile_seconds", r.get("compile_seconds"))
                                    for r in runs]),
        "solved": sum(1 for s in known if s),
        "known": len(known),
        "seeds": len(runs),
        "success_kind": next((r.get("success_kind") for r in runs if r.get("success_kind")), None),
        "test_accuracy": _median([r.get("test_accuracy") for r in runs]),
        "status": runs[0].get("status", ""),
        "error": runs[0].get("error"),
        "key": rec.selection_key(runs),
    }


def best_per_problem(records: list[dict]) -> dict[str, dict]:
    """The best optimizer on each problem (by :func:`records.selection_key` over its seeds)."""
    out = {}
    for problem, by_opt in selected(records).items():
        summaries = [summarize(runs) for runs in by_opt.values() if not runs[0].get("error")]
        if summaries:
            out[problem] = min(summaries, key=lambda s: s["key"])
    return out


# --------------------------------------------------------------------------------------------
# Tables
# --------------------------------------------------------------------------------------------


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v == int(v) and abs(v) < 1e6:
        return str(int(v))
    return f"{v:.{digits}g}"


def _gap_text(s: dict) -> str:
    if s["any_nonfinite"] and math.isnan(s["final_loss"]):
        return "non-finite"
    if s["f_opt"] is None:
        return f"loss {_fmt(s['final_loss'])}"
    gap = _fmt(max(s["final_loss"] - s["f_opt"], 0.0))
    return gap + " (local min.)" if s["success_kind"] == "local" and s["solved"] else gap


def _hyper_text(h: dict) -> str:
    lr = h.get("learning_rate")
    return f"lr {lr:g}" if lr is not None else ""


def headline_rows(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """The headline table: per problem, the best optimizer, what it reached and what it cost."""
    header = ["problem", "n", "best optimizer", "f − f* (or loss)", "evals", "time [s]", "test acc.", "solved by"]
    best = best_per_problem(records)
    by_problem = selected(records)
    rows = []
    for problem in _problems_in_order(records):
        if problem not in best:
            continue
        s = best[problem]
        summaries = [summarize(runs) for runs in by_problem[problem].values()]
        n_opt = len(summaries)
        known = [x for x in summaries if x["known"]]
        solved = f"{sum(1 for x in known if x['solved'] == x['known'])}/{n_opt}" if known else "(f* unknown)"
        name = s["optimizer"] + (f" ({_hyper_text(s['hyperparameters'])})" if _hyper_text(s["hyperparameters"]) else "")
        dim = next(r["dim"] for r in records if r["problem"] == problem)
        rows.append([problem, str(dim), name, _gap_text(s), _fmt(s["evals"]), _fmt(s["seconds"], 2),
                     _fmt(s["test_accuracy"]), solved])
    return header, rows


def optimizer_rows(records: list[dict]) -> tuple[list[str], list[list[str]]]:
    """Per optimizer, over the problems with a known optimum it ran on: how many it solved and at what cost."""
    header = ["optimizer", "library", "solved", "median evals (solved)", "median time [s] (solved)",
              "median compile [s]", "errors"]
    per_opt: dict[str, list[dict]] = defaultdict(list)
    for problem, by_opt in selected(records).items():
        for opt, runs in by_opt.items():
            per_opt[opt].append(summarize(runs))
    rows = []
    for opt in _optimizers_in_order(records):
        sums = per_opt.get(opt, [])
        errors = sum(1 for s in sums if s["error"])
        known = [s for s in sums if s["known"] and not s["error"]]
        solved = [s for s in known if s["solved"] == s["known"]]
        fam = sums[0]["family"] if sums else ""
        rows.append([opt, fam, f"{len(solved)}/{len(known) + errors}" if known or errors else "–",
                     _fmt(_median([s["evals"] for s in solved])), _fmt(_median([s["seconds"] for s in solved]), 2),
                     _fmt(_median([s["compile_seconds"] for s in sums if not s["error"]]), 2), str(errors)])
    return header, rows


def problem_rows(records: list[dict], problem: str) -> tuple[list[str], list[list[str]]]:
    """Every optimizer on one problem, at its selected setting (median over seeds)."""
    header = ["optimizer", "setting", "f − f* (or loss)", "‖∇f‖∞", "steps", "evals", "run [s]", "compile [s]",
              "solved", "test acc.", "status"]
    rows = []
    by_opt = selected(records).get(problem, {})
    summaries = sorted((summarize(runs) for runs in by_opt.values()), key=lambda s: s["key"])
    for s in summaries:
        if s["error"]:
            rows.append([s["optimizer"], "", "error", "", "", "", "", "", "", "", s["error"]])
            continue
        solved = "–" if not s["known"] else (f"{s['solved']}/{s['known']}" +
                                             (" (local min.)" if s["success_kind"] == "local" else ""))
        rows.append([s["optimizer"], _hyper_text(s["hyperparameters"]), _gap_text(s), _fmt(s["grad_norm"]),
                     _fmt(s["steps"]), _fmt(s["evals"]), _fmt(s["seconds"], 2), _fmt(s["compile_seconds"], 2),
                     solved, _fmt(s["test_accuracy"]), s["status"]])
    return header, rows


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(c: str) -> str:
        return str(c).replace("|", "\\|")

    lines = ["| " + " | ".join(esc(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def text_table(header: list[str], rows: list[list[str]]) -> str:
    """A plain-text table for the terminal."""
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(header)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    lines = [fmt.format(*header), "  ".join("-" * w for w in widths)]
    lines += [fmt.format(*row) for row in rows]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Figures
# --------------------------------------------------------------------------------------------


def _seed0(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: (r.get("seed") is None, r.get("seed") or 0))


def profile_instances(records: list[dict]) -> tuple[dict, list[str]]:
    """``({(problem, seed): {optimizer: record}}, optimizers)`` over the deterministic problems."""
    inst: dict = defaultdict(dict)
    for r in records:
        if r.get("selected") and r.get("trajectory") and r.get("driver") != "fit":
            inst[(r["problem"], r["seed"])][r["optimizer"]] = r
    solvers = [o for o in _optimizers_in_order(records) if any(o in d for d in inst.values())]
    # An optimizer that errored on (or was not run on) a problem counts as failing it.
    return dict(inst), solvers


def draw_figures(out_dir: str, records: list[dict]) -> dict[str, list[str]]:
    """Draws every figure into ``out_dir/plots``; returns ``{kind: [paths relative to out_dir]}``."""
    plot_dir = os.path.join(out_dir, "plots")
    os.makedirs(plot_dir, exist_ok=True)
    for old in glob.glob(os.path.join(plot_dir, "*.png")):
        os.remove(old)
    made: dict[str, list[str]] = defaultdict(list)

    def rel(draw, kind: str) -> None:
        """Draws one figure; a figure that fails is reported (``made["failed"]``), not fatal."""
        try:
            p = draw()
        except Exception as e:  # noqa: BLE001 - listed in the report
            made["failed"].append(f"{kind}: {type(e).__name__}: {e}")
            plots.plt.close("all")
            return
        if p:
            made[kind].append(os.path.relpath(p, out_dir))

    by_problem = selected(records)
    for problem in _problems_in_order(records):
        runs = [_seed0(v) for v in by_problem.get(problem, {}).values() if not v[0].get("error")]
        rel(lambda: plots.loss_curves(problem, runs, os.path.join(plot_dir, f"loss_{plots.slug(problem)}.png")),
            "loss")

    inst, solvers = profile_instances(records)
    if len({k[0] for k in inst}) >= 2:
        rel(lambda: plots.performance_profiles(inst, solvers, PROFILE_TAU,
                                               os.path.join(plot_dir, "performance_profiles.png")), "performance")
        rel(lambda: plots.data_profiles(inst, solvers, PROFILE_TAU, os.path.join(plot_dir, "data_profiles.png")),
            "data")

    sweeps: dict[str, dict[str, list[dict]]] = defaultdict(lambda: defaultdict(list))
    for r in records:
        if (r.get("hyperparameters") or {}).get("learning_rate") is not None and not r.get("error"):
            sweeps[r["problem"]][r["optimizer"]].append(r)
    sweeps = {p: d for p, d in sweeps.items() if any(len({x["hyperparameters"]["learning_rate"] for x in v}) > 1
                                                     for v in d.values())}
    problems = [p for p in _problems_in_order(records) if p in sweeps]
    for page, start in enumerate(range(0, len(problems), 9)):
        chunk = {p: sweeps[p] for p in problems[start:start + 9]}
        name = "lr_sensitivity.png" if page == 0 else f"lr_sensitivity_{page + 1}.png"
        rel(lambda: plots.lr_sensitivity(chunk, os.path.join(plot_dir, name)), "lr")

    for problem in _problems_in_order(records):
        surface_path = os.path.join(out_dir, "surfaces", f"{plots.slug(problem)}.npz")
        if not os.path.isfile(surface_path):
            continue
        with np.load(surface_path) as data:
            surface = {k: data[k] for k in data.files}
        runs = [_seed0(v) for v in by_problem.get(problem, {}).values() if not v[0].get("error")]
        rel(lambda: plots.contour_trajectories(problem, surface, runs,
                                               os.path.join(plot_dir, f"contour_{plots.slug(problem)}.png")),
            "contour")
    return dict(made)


# --------------------------------------------------------------------------------------------
# report.md
# --------------------------------------------------------------------------------------------


_HOW_TO_READ = {
    "loss": "**Loss against iterations and against wall time**, the selected setting of each optimizer "
            "(seed 0). The y axis is f(x) − f* when the optimum f* is known (log scale when it spans "
            "decades), else the loss. Solid lines: ml_opt; dashed: optax; dotted: scipy. The time axis is "
            "the run alone, compile time excluded (ml_opt's and optax's times per step are the measured run "
            "time spread evenly over the steps; scipy's are the times at which its callback fired).",
    "performance": "**Dolan–Moré performance profiles.** For each optimizer, the fraction of problems it "
                   "solves within a factor τ of the cheapest optimizer on that problem. The value at τ = 1 is "
                   "how often it is the cheapest; the value at the right end is how often it solves the problem "
                   "at all. Higher is better. Left: cost in evaluations; right: wall time.",
    "data": "**Moré–Wild data profiles.** For each optimizer, the fraction of problems solved within a budget: "
            "evaluations in units of n + 1 (left), seconds (right). Higher and further left is better.",
    "lr": "**Learning-rate sensitivity.** Final f − f* (or loss) after the budget, against the learning rate, "
          "log-log, for every optimizer with a learning rate (median over seeds). × marks a diverged run "
          "(non-finite); the dash-dot line is the success threshold. A wide, low valley means the method is "
          "easy to tune.",
    "contour": "**Trajectories on contour plots** of the 2-D functions (log-spaced levels of f − min f): the "
               "iterates of each optimizer's selected run from the start (red circle); ★ marks where each "
               "stopped, + a known minimiser.",
}


def write_report(out_dir: str) -> str:
    """Writes ``report.md`` and ``plots/`` in ``out_dir`` from its saved records; returns the report's path."""
    meta, records = load(out_dir)
    figures = draw_figures(out_dir, records)
    lines = [f"# Benchmark report: suite `{meta.get('suite', '?')}`", ""]
    if meta:
        lines += [
            f"- command: `{meta.get('command', '')}`",
            f"- date: {meta.get('date', '?')}; wall time from start to the last run: "
            f"{_fmt(meta.get('wall_seconds_runs'), 3)} s (problem construction, compilation and runs; drawing "
            "this report not included)",
            f"- machine: {meta.get('machine', '?')}",
            f"- versions: {meta.get('versions', '?')}",
            f"- budget: {meta.get('max_steps', '?')} iterations (full batch), {meta.get('epochs', '?')} epochs of "
            f"batch {meta.get('batch_size', '?')} (minibatch); gradient tolerance {meta.get('gtol', '?')}; "
            f"seeds {meta.get('seeds', '?')}; learning-rate grid {meta.get('learning_rates', '?')}",
            f"- success: f − f* ≤ {meta.get('tol', '?')} · max(1, |f*|) (a documented MGH local minimum "
            "counts, marked)",
            "",
        ]
    header, rows = headline_rows(records)
    lines += ["## Headline: the best optimizer on each problem", "",
              "Best = most seeds solved (the global optimum before a local minimum), then fewest evaluations (f + ∇f + Hessian-vector products), then lowest "
              "final value; each optimizer at its best learning rate on that problem. *Solved by* counts the "
              "optimizers that solved every seed.", "", markdown_table(header, rows), ""]
    header, rows = optimizer_rows(records)
    lines += ["## Optimizers over the suite", "", "Over the problems with a known optimum; medians over the "
              "problems each optimizer solved.", "", markdown_table(header, rows), ""]

    for kind, title in (("performance", "Performance profiles"), ("data", "Data profiles"),
                        ("lr", "Learning-rate sensitivity"), ("contour", "Trajectories on 2-D functions")):
        if figures.get(kind):
            lines += [f"## {title}", "", _HOW_TO_READ[kind], ""]
            lines += [f"![{kind}]({p})" for p in figures[kind]]
            lines += [""]

    lines += ["## Per problem", "", _HOW_TO_READ["loss"], ""]
    loss_figs = {os.path.basename(p): p for p in figures.get("loss", [])}
    for problem in _problems_in_order(records):
        first = next(r for r in records if r["problem"] == problem)
        f_opt = first.get("f_opt")
        lines += [f"### {problem}", "", f"n = {first['dim']}, {'convex' if first.get('convex') else 'nonconvex'}, "
                  f"f* = {_fmt(f_opt, 10) if f_opt is not None else 'unknown'}, driver: {first.get('driver')}", ""]
        header, rows = problem_rows(records, problem)
        lines += [markdown_table(header, rows), ""]
        fig = loss_figs.get(f"loss_{plots.slug(problem)}.png")
        if fig:
            lines += [f"![loss curves for {problem}]({fig})", ""]

    if figures.get("failed"):
        lines += ["## Figures that could not be drawn", ""]
        lines += [f"- {f}" for f in figures["failed"]]
        lines += [""]

    errors = [r for r in records if r.get("error")]
    if errors:
        lines += ["## Errors", "", "These optimizer/problem pairs raised instead of running; the traceback is "
                  "in records.jsonl.", ""]
        lines += [f"- `{r['optimizer']}` on `{r['problem']}`: {r['error']}" for r in errors]
        lines += [""]

    lines += ["## How the numbers were measured", "",
              "- Every run goes through `ml_opt.minimize` (full batch) or `ml_opt.training.fit` (minibatch); "
              "optax's rules through the same drivers, `optax.lbfgs` through a jitted loop with "
              "`optax.value_and_grad_from_state`, scipy through `scipy.optimize.minimize` with jitted JAX "
              "gradients and Hessian-vector products.",
              "- A learning-rate grid and the seeds run as one `jax.vmap`-ed, jit-compiled call; the best "
              "learning rate is then compiled alone and timed with compilation apart "
              "(`jax.jit(f).lower(...).compile()`, then the call with `block_until_ready`); all programs are "
              "compiled, several at once in threads (`--jobs`), before any run is timed, so compile times "
              "overlap but run times do not. The same compiled "
              "program then runs again with its recording switched on to give the trajectory (loss at every "
              "iterate, evaluation counts).",
              "- Evaluation counts are exact: the drivers' own counters and the solvers' state, scipy's "
              "`nfev`/`njev`/`nhev`. *Evals* = objective + gradient + Hessian-vector evaluations (a dense "
              "Hessian counts n).",
              f"- Profiles: a run solves a problem at tolerance τ = {PROFILE_TAU:g} when its trajectory first "
              "reaches f ≤ f_L + τ (f(x₀) − f_L), f_L the lowest value any optimizer reached (or f* if lower); "
              "its cost is the evaluations or seconds spent by then. Problems whose start already passes are "
              "left out. Minibatch problems are not in the profiles.",
              "- Records: `records.jsonl` (one JSON object per run; fields documented in "
              "`benchmarks/records.py`). Re-draw this report with `python -m benchmarks report DIR`.", ""]
    path = os.path.join(out_dir, "report.md")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    return path
