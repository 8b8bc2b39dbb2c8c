"""The report's figures (matplotlib, Agg backend), drawn from records alone.

Every figure is drawn from the saved records (and, for contour plots, the saved surface grids), so
``python -m benchmarks report DIR`` re-draws them without running anything.

Colours are fixed per optimizer (the registry's order), line styles per library: solid for ml_opt,
dashed for optax, dotted for scipy.
"""

from __future__ import annotations

import math
import os
import re
from typing import Iterable, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402
from matplotlib.ticker import LogFormatterSciNotation, LogLocator  # noqa: E402

from benchmarks import profiles  # noqa: E402
from benchmarks.optimizers import OPTIMIZERS  # noqa: E402

_STYLE = {"ml_opt": "-", "optax": "--", "scipy": ":"}
_MARKER = {"ml_opt": "o", "optax": "s", "scipy": "^"}
plt.rcParams.update({"font.size": 9, "axes.titlesize": 10, "legend.fontsize": 8, "figure.dpi": 110})


def slug(name: str) -> str:
    """A file-name-safe version of a problem name (``mgh/wood`` -> ``mgh_wood``)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")


#: One colour per method; a baseline takes the colour of the ml_opt method it implements, and its
#: library shows in the line style (ml_opt solid, optax dashed, scipy dotted).
_COLORS = {
    "sgd": "#1f77b4", "momentum": "#ff7f0e", "nesterov": "#8c564b", "adagrad": "#bcbd22", "rmsprop": "#17becf",
    "rmsprop_nesterov": "#7f7f7f", "adam": "#e377c2", "newton": "#d62728", "saddle_free_newton": "#ff9896",
    "newton_cg": "#9467bd", "fletcher_reeves_cg": "#6b8e23", "polak_ribiere_plus_cg": "#2ca02c",
    "hestenes_stiefel_cg": "#98df8a", "dai_yuan_cg": "#b15928", "bfgs": "#000000", "lbfgs": "#393b79",
    "trust_region_newton": "#8c6d31",
}
_EXTRA = ["#c49c94", "#dbdb8d", "#9edae5", "#c5b0d5", "#f7b6d2"]
_SAME_METHOD = {
    "optax.sgd": "sgd", "optax.momentum": "momentum", "optax.nesterov": "nesterov", "optax.adagrad": "adagrad",
    "optax.rmsprop": "rmsprop", "optax.adam": "adam", "optax.lbfgs": "lbfgs", "scipy.BFGS": "bfgs",
    "scipy.L-BFGS-B": "lbfgs", "scipy.CG": "polak_ribiere_plus_cg", "scipy.Newton-CG": "newton_cg",
}


def color_of(optimizer: str) -> str:
    """The optimizer's colour: its method's (see :data:`_SAME_METHOD`), fixed across all figures."""
    method = _SAME_METHOD.get(optimizer, optimizer)
    return _COLORS.get(method) or _EXTRA[sum(map(ord, method)) % len(_EXTRA)]


def style_of(record: dict) -> dict:
    fam = record.get("family", "ml_opt")
    return {"color": color_of(record["optimizer"]), "linestyle": _STYLE.get(fam, "-")}


def label_of(record: dict) -> str:
    lr = (record.get("hyperparameters") or {}).get("learning_rate")
    return f"{record['optimizer']} (lr {lr:g})" if lr is not None else record["optimizer"]


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, bbox_inches="tight")
    plt.close(fig)
    return path


def _gap(values: np.ndarray, f_opt: float | None) -> tuple[np.ndarray, str]:
    """What to plot on the loss axis: ``f - f*`` (floored) when ``f*`` is known, else the loss."""
    values = np.asarray(values, float)
    if f_opt is None:
        return values, "loss"
    floor = 1e-16 * max(1.0, abs(f_opt))
    return np.maximum(values - f_opt, floor), "f(x) − f*"


def _use_log(arrays: Iterable[np.ndarray]) -> bool:
    """Log scale when every finite value is positive and they span more than two decades."""
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays] or [np.array([])])
    if finite.size == 0 or np.any(finite <= 0):
        return False
    return finite.max() > 100 * finite.min()  # (no overflow when the smallest is tiny)


def _y_limits(arrays: Sequence[np.ndarray], log: bool) -> tuple[float, float] | None:
    """Limits that show every curve from its start down, cutting off divergence above the starts.

    Runs on problems unbounded below (the saddles) can reach -1e300: below, the limit stops at the
    1st percentile of all values, so one such run does not flatten every other curve.
    """
    finite = [a[np.isfinite(a)] for a in arrays]
    finite = [a for a in finite if a.size]
    if not finite:
        return None
    starts = np.array([a[0] for a in finite])
    every = np.concatenate(finite)
    low = float(every.min()) if log else float(np.percentile(every, 1))
    high = max(float(starts.max()), min(float(every.max()), float(starts.max()) * (10 if log else 1)))
    if log:
        lim = (low / 3, high * 3)
    else:
        pad = 0.05 * (high - low) if high > low else 1.0
        lim = (low - pad, high + pad)
    return lim if all(np.isfinite(lim)) and lim[0] < lim[1] else None


def _symlog_limits(finite: np.ndarray, linthresh: float) -> tuple[float, float]:
    """Limits of a symmetric log axis: a decade beyond the extreme values, within the float range.

    Set explicitly: matplotlib's automatic limits overflow when a run unbounded below reaches
    -1e308, and the axis collapses to the linear region around 0.
    """
    big = np.finfo(float).max
    low, high = float(finite.min()), float(finite.max())
    low = max(10 * low, -big) if low < -linthresh else -linthresh
    high = min(10 * high, big) if high > linthresh else linthresh
    return low, high


def loss_curves(problem: str, runs: list[dict], path: str) -> str | None:
    """Loss against steps (left) and against wall time (right) for the selected run of each optimizer.

    ``runs``: one record per optimizer (seed 0 of the selected setting), each with a trajectory.
    """
    runs = [r for r in runs if r.get("trajectory")]
    if not runs:
        return None
    f_opt = runs[0].get("f_opt")
    minibatch = runs[0].get("driver") == "fit"
    ys = [_gap(r["trajectory"]["loss"], f_opt)[0] for r in runs]
    ylabel = _gap(np.zeros(1), f_opt)[1]
    if minibatch:
        ylabel = "minibatch loss (faint: each step; bold: epoch mean)" if f_opt is None else \
            "minibatch f(x) − f* (faint: each step; bold: epoch mean)"
    log = _use_log(ys)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for r, y in zip(runs, ys):
        t = r["trajectory"]
        kw = style_of(r)
        sec = np.asarray(t["seconds"], float)
        keep = sec > 0  # the start (t = 0) has no place on a log axis
        if t.get("epoch_loss") is not None:
            # Minibatch losses are noisy: each step faintly, the mean over each epoch boldly.
            axes[0].plot(np.asarray(t["step"], float), y, lw=0.6, alpha=0.3, **kw)
            axes[1].plot(sec[keep], y[keep], lw=0.6, alpha=0.3, **kw)
            e_step = np.asarray(t["epoch_step"], float)
            e_y = _gap(np.asarray(t["epoch_loss"], float), f_opt)[0]
            e_sec = np.interp(e_step, np.asarray(t["step"], float), sec)
            axes[0].plot(e_step, e_y, lw=1.8, marker="o", ms=3, label=label_of(r) + ", epoch mean", **kw)
            axes[1].plot(e_sec, e_y, lw=1.8, marker="o", ms=3, **kw)
            continue
        # A run of a step or two is a point or two on the time axis: markers, or it would not show.
        short = {"marker": "o", "ms": 3} if len(y) <= 3 else {}
        axes[0].plot(np.asarray(t["step"], float), y, label=label_of(r), lw=1.4, **short, **kw)
        axes[1].plot(sec[keep], y[keep], lw=1.4, **short, **kw)
    axes[0].set_xscale("symlog", linthresh=1)
    axes[0].set_xlabel("iteration (symlog scale)")
    axes[1].set_xscale("log")
    axes[1].set_xlabel("wall time [s] (log scale; compile time excluded)")
    finite = np.concatenate([y[np.isfinite(y)] for y in ys] or [np.zeros(0)])
    starts = np.abs([y[np.isfinite(y)][0] for y in ys if np.any(np.isfinite(y))] or [1.0])
    scale = max(float(np.max(starts)), 1e-12)
    # Values of both signs spanning decades (problems unbounded below): a symmetric log axis.
    symlog = not log and finite.size > 0 and float(np.max(np.abs(finite))) > 1e3 * scale
    for ax in axes:
        if symlog:
            ax.set_yscale("symlog", linthresh=scale)
        else:
            ax.set_yscale("log" if log else "linear")
        ax.grid(True, which="major", alpha=0.3)
    lim = _symlog_limits(finite, scale) if symlog else _y_limits(ys, log)
    if lim:
        axes[0].set_ylim(*lim)
    if symlog:
        ylabel += " (symlog scale)"
    axes[0].set_ylabel(ylabel)
    dim = runs[0].get("dim")
    fig.suptitle(f"{problem} (n = {dim})" + (" — minibatch training" if minibatch else ""))
    _legend_right(fig, axes[0])
    return _save(fig, path)


def _legend_right(fig, ax) -> None:
    """The legend of ``ax``'s lines, outside the figure's right edge."""
    handles, labels = ax.get_legend_handles_labels()
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)


def profile_costs(instances: dict, solvers: list[str], tau: float, cost: str) -> tuple[np.ndarray, list[int]]:
    """The cost matrix ``t[p, s]`` for the profiles: the cost at which each solver's trajectory first
    passes the Moré-Wild test at ``tau`` (``inf`` if never).

    Args:
      instances: ``{(problem, seed): {solver: record}}``, records with trajectories.
      solvers: the column order.
      tau: the tolerance of the test.
      cost: ``"evals"`` or ``"seconds"``.

    Returns:
      ``(costs, dims)``; instances whose start already passes the test (nothing to measure) are left out.
    """
    rows, dims = [], []
    for key, by_solver in instances.items():
        recs = list(by_solver.values())
        f0 = float(recs[0]["trajectory"]["loss"][0])
        finals = [float(np.nanmin(np.asarray(r["trajectory"]["loss"], float))) for r in recs
                  if np.any(np.isfinite(np.asarray(r["trajectory"]["loss"], float)))]
        f_opt = recs[0].get("f_opt")
        f_low = min(finals + ([f_opt] if f_opt is not None else [])) if finals else f0
        if not f0 - f_low > 0:
            continue
        row = []
        for s in solvers:
            r = by_solver.get(s)
            if r is None:
                row.append(np.inf)
                continue
            t = r["trajectory"]
            c = profiles.cost_to_pass(t["loss"], t[cost], f0, f_low, tau)
            if cost == "seconds" and np.isfinite(c):
                c = max(c, 1e-7)  # a pass at x_0 costs ~nothing; keep the ratios defined
            row.append(max(c, 1.0) if cost == "evals" and np.isfinite(c) else c)
        rows.append(row)
        dims.append(int(recs[0]["dim"]))
    return np.asarray(rows, float).reshape(len(rows), len(solvers)), dims


def _solver_style(name: str) -> dict:
    fam = OPTIMIZERS[name].family if name in OPTIMIZERS else name.split(".")[0]
    return {"color": color_of(name), "linestyle": _STYLE.get(fam, "-")}


def performance_profiles(instances: dict, solvers: list[str], tau: float, path: str) -> str | None:
    """Dolan-Moré performance profiles, cost = evaluations (left) and wall time (right)."""
    if not instances or not solvers:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    n_instances = 0
    for ax, cost, title in zip(axes, ("evals", "seconds"), ("evaluations (f + ∇f + Hv)", "wall time")):
        costs, _ = profile_costs(instances, solvers, tau, cost)
        n_instances = costs.shape[0]
        if n_instances == 0:
            continue
        ratios = profiles.performance_ratios(costs)
        finite = ratios[np.isfinite(ratios)]
        tau_max = max(2.0, float(finite.max()) * 1.5) if finite.size else 2.0
        taus = np.geomspace(1.0, tau_max, 400)
        rho = profiles.performance_profile(costs, taus)
        for s, name in enumerate(solvers):
            ax.plot(taus, rho[:, s], drawstyle="steps-post", lw=1.5, label=name, **_solver_style(name))
        ax.set_xscale("log", base=2)
        ax.set_xlim(1, tau_max)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("performance ratio τ (cost / best cost on the problem), log2")
        ax.set_title(f"cost: {title}")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("fraction of problems solved within τ × best")
    fig.suptitle(f"Dolan–Moré performance profiles ({n_instances} problem instances; "
                 f"solved: f ≤ f_L + {tau:g}·(f(x₀) − f_L))")
    _legend_right(fig, axes[0])
    return _save(fig, path)


def data_profiles(instances: dict, solvers: list[str], tau: float, path: str) -> str | None:
    """Moré-Wild data profiles: evaluations in units of ``n_p + 1`` (left) and wall time (right)."""
    if not instances or not solvers:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    n_instances = 0
    for ax, cost in zip(axes, ("evals", "seconds")):
        costs, dims = profile_costs(instances, solvers, tau, cost)
        n_instances = costs.shape[0]
        if n_instances == 0:
            continue
        if cost == "evals":
            units = costs / (np.asarray(dims, float)[:, None] + 1.0)
            budgets_dims = dims
            xlabel = "budget α: evaluations / (n + 1)"
        else:
            units = costs
            budgets_dims = [0] * len(dims)  # n + 1 = 1: plain seconds
            xlabel = "budget: wall time [s]"
        finite = units[np.isfinite(units)]
        lo = float(finite.min()) / 1.5 if finite.size else 1e-3
        hi = float(finite.max()) * 1.5 if finite.size else 1.0
        alphas = np.geomspace(max(lo, 1e-9), max(hi, lo * 10), 400)
        d = profiles.data_profile(costs, budgets_dims, alphas)
        for s, name in enumerate(solvers):
            ax.plot(alphas, d[:, s], drawstyle="steps-post", lw=1.5, label=name, **_solver_style(name))
        ax.set_xscale("log")
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel(xlabel)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("fraction of problems solved within budget")
    axes[0].set_title("cost: evaluations (f + ∇f + Hv) per (n + 1)")
    axes[1].set_title("cost: wall time")
    fig.suptitle(f"Moré–Wild data profiles ({n_instances} problem instances; "
                 f"solved: f ≤ f_L + {tau:g}·(f(x₀) − f_L))")
    _legend_right(fig, axes[0])
    return _save(fig, path)


def lr_sensitivity(by_problem: dict, path: str, ncols: int = 3) -> str | None:
    """Final loss against learning rate, log-log, one panel per problem, one line per swept optimizer.

    Args:
      by_problem: ``{problem: {optimizer: [(lr, final values over seeds...)]}}`` with the records.
    """
    problems = [p for p, d in by_problem.items() if d]
    if not problems:
        return None
    n = len(problems)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.3 * nrows), squeeze=False)
    handles = {}
    for ax, problem in zip(axes.flat, problems):
        runs_by_opt = by_problem[problem]
        f_opt = next(iter(runs_by_opt.values()))[0].get("f_opt")
        all_y = []
        for opt, runs in runs_by_opt.items():
            lrs = sorted({r["hyperparameters"]["learning_rate"] for r in runs})
            med = []
            for lr in lrs:
                vals = [r["final_loss"] for r in runs if r["hyperparameters"]["learning_rate"] == lr]
                vals = np.asarray([v if v is not None else np.nan for v in vals], float)
                med.append(np.nan if np.any(~np.isfinite(vals)) else float(np.median(vals)))
            y, _ = _gap(np.asarray(med), f_opt)
            # Diverged: non-finite, or ended 1000 times further from f* (or 0) than it started.
            start = _gap(np.asarray([runs[0].get("initial_loss") or 0.0]), f_opt)[0][0]
            y = np.where(np.abs(y) > 1e3 * max(abs(start), 1e-12), np.nan, y)
            all_y.append(y)
            (h,) = ax.plot(lrs, y, marker=_MARKER.get(runs[0]["family"], "o"), ms=3.5, lw=1.3, **style_of(runs[0]))
            handles[opt] = h
        log = _use_log(all_y)
        ax.set_xscale("log")
        ax.set_yscale("log" if log else "linear")
        finite = np.concatenate([y[np.isfinite(y)] for y in all_y]) if all_y else np.array([])
        if finite.size:
            top = float(finite.max())
            for opt, runs in runs_by_opt.items():
                y = all_y[list(runs_by_opt).index(opt)]
                lrs = sorted({r["hyperparameters"]["learning_rate"] for r in runs})
                bad = [lr for lr, v in zip(lrs, y) if not np.isfinite(v)]
                if bad:
                    ax.scatter(bad, [top] * len(bad), marker="x", s=28, color=color_of(opt), zorder=3)
        if f_opt is not None and finite.size:
            tol_line = 1e-5 * max(1.0, abs(f_opt))
            ax.axhline(tol_line, color="0.5", lw=0.8, ls="-.")
        ax.set_title(problem, fontsize=9)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("final f − f*" if f_opt is not None else "final loss")
        ax.grid(True, alpha=0.3)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    fig.suptitle("Learning-rate sensitivity: final value after the budget (median over seeds); "
                 "× = diverged (non-finite, or 1000× further from f* than the start); dash-dot = success threshold",
                 fontsize=10)
    fig.legend(list(handles.values()), list(handles.keys()), loc="upper center",
               bbox_to_anchor=(0.5, 0.0), ncol=min(6, len(handles)), frameon=False)
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    return _save(fig, path)


def contour_trajectories(problem: str, surface: dict, runs: list[dict], path: str) -> str | None:
    """Iterates of each optimizer on a contour plot of a 2-D function (log-spaced levels).

    ``surface``: ``x`` (nx,), ``y`` (ny,), ``z`` (ny, nx) values of ``f`` on the grid, ``x_opt``
    (optional). ``runs``: the selected run of each optimizer, with ``trajectory["params"]``.
    """
    runs = [r for r in runs if r.get("trajectory") and r["trajectory"].get("params") is not None]
    if not runs:
        return None
    x, y, z = (np.asarray(surface[k], float) for k in ("x", "y", "z"))
    shift = z - np.nanmin(z)
    positive = shift[shift > 0]
    eps = float(positive.min()) if positive.size else 1e-12
    top = float(np.nanmax(shift)) + eps
    levels = np.geomspace(max(eps, top * 1e-6), top, 25)
    fig, ax = plt.subplots(figsize=(7.4, 5.6))
    cs = ax.contourf(x, y, shift + eps, levels=levels, norm=LogNorm(), cmap="Greys_r", alpha=0.9)
    ax.contour(x, y, shift + eps, levels=levels, norm=LogNorm(), colors="k", linewidths=0.25, alpha=0.5)
    cbar = fig.colorbar(cs, ax=ax, shrink=0.85, ticks=LogLocator(), format=LogFormatterSciNotation())
    cbar.set_label("f(x) − min f on the grid (log scale)")
    (xmin, xmax), (ymin, ymax) = (x.min(), x.max()), (y.min(), y.max())
    for r in runs:
        p = np.asarray(r["trajectory"]["params"], float)
        kw = style_of(r)
        ax.plot(p[:, 0], p[:, 1], lw=1.3, marker=_MARKER.get(r["family"], "o"), ms=1.8, label=label_of(r),
                color=kw["color"], linestyle=kw["linestyle"])
        ax.plot(p[-1, 0], p[-1, 1], marker="*", ms=9, color=kw["color"], mec="k", mew=0.4)
    p0 = np.asarray(runs[0]["trajectory"]["params"], float)[0]
    ax.plot(p0[0], p0[1], marker="o", ms=8, mfc="none", mec="red", mew=1.5, label="start")
    x_opt = surface.get("x_opt")
    if x_opt is not None and np.size(x_opt) == 2:
        ax.plot(x_opt[0], x_opt[1], marker="+", ms=12, color="red", mew=1.5, label="known minimiser")
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_xlabel("x₁")
    ax.set_ylabel("x₂")
    ax.set_title(f"{problem}: iterates of each optimizer (★ = final point)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=3, frameon=False)
    return _save(fig, path)
