r"""Levenberg-Marquardt on NIST StRD nonlinear-regression models: ml_opt against MINPACK.

    python -m benchmarks.nist_lm_vs_minpack              # 9 models x 2 starts (~40 s, 2 cores)
    python -m benchmarks.nist_lm_vs_minpack --out nist.md

Problems that the library's tests do not tune for: nine models of NIST's Statistical Reference
Datasets for nonlinear regression (Misra1a, Chwirut, Lanczos, Gauss, Thurber, BoxBOD, Eckerle4,
Rat43, Bennett5: lower, average and higher difficulty), each from NIST's two starting points. NIST's
data are not shipped by any package, so the data are generated: the model at parameters near NIST's
certified ones, at abscissae spanning NIST's range, plus Gaussian noise of about NIST's size seeded
by the model's name (:data:`MODELS`). The minimum is then not NIST's certified one, and MINPACK's
final value is the reference.

Contenders, float64, exact Jacobians (``jax.jacfwd``):

* ``ml_opt.minimize(f, x0, levenberg_marquardt(r), gtol=GTOL)`` with :math:`f = \|r\|^2`: it stops
  at the gradient test or, at the rounding floor, as ``stalled``;
* MINPACK's ``lmder`` through ``scipy.optimize.least_squares(method="lm", x_scale="jac")``, once with
  its default tolerances (what a user gets) and once with ``ftol = xtol = gtol = 1e-15`` (run to its
  own floor, as ours is).

**Solved**: the final :math:`\|r\|^2` within ``1e-8`` (relative) of the lower of the two final
values (ours, MINPACK's tight run). **Evaluations**: residual vectors (ours ``num_residual_evals``,
MINPACK's ``nfev``) and Jacobians (``num_jac_evals``, ``njev``), counted apart; the ratio is of
residual evaluations against the tight MINPACK run, summarised over the runs both solve. Ours also
evaluates :math:`f` and its gradient at each accepted point, for the driver's stopping test
(``num_grad_evals``), which MINPACK does not.

References:
  NIST Statistical Reference Datasets, nonlinear regression, https://www.itl.nist.gov/div898/strd/.
  Moré, Garbow & Hillstrom, User guide for MINPACK-1, Argonne ANL-80-74, 1980.
"""

from __future__ import annotations

import argparse
import statistics
import zlib
from typing import Callable, NamedTuple

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.optimize  # noqa: E402

import ml_opt  # noqa: E402
from benchmarks.mgh_vs_scipy import write_table  # noqa: E402
from ml_opt.least_squares import levenberg_marquardt  # noqa: E402

GTOL = 1e-10
MAX_STEPS = 2000


class Model(NamedTuple):
    """A NIST StRD model ``y = model(b, t)``: the parameters and abscissae its data are generated at,
    the noise's standard deviation, and NIST's two starting points."""

    name: str
    model: Callable
    params: tuple
    t: np.ndarray
    noise: float
    starts: tuple


MODELS = [
    Model("misra1a", lambda b, t: b[0] * (1 - jnp.exp(-b[1] * t)), (238.9, 5.5e-4),
          np.linspace(77.6, 790.3, 14), 0.1, ((500.0, 1e-4), (250.0, 5e-4))),
    Model("chwirut", lambda b, t: jnp.exp(-b[0] * t) / (b[1] + b[2] * t), (0.19, 0.0061, 0.0105),
          np.linspace(0.5, 6.0, 60), 1.0, ((0.1, 0.01, 0.02), (0.15, 0.008, 0.010))),
    Model("lanczos", lambda b, t: b[0] * jnp.exp(-b[1] * t) + b[2] * jnp.exp(-b[3] * t) + b[4] * jnp.exp(-b[5] * t),
          (0.0951, 1.0, 0.8607, 3.0, 1.5576, 5.0), np.linspace(0.0, 1.15, 24), 1e-5,
          ((1.2, 0.3, 5.6, 5.5, 6.5, 7.6), (0.5, 0.7, 3.6, 4.2, 4.0, 6.3))),
    Model("gauss", lambda b, t: (b[0] * jnp.exp(-b[1] * t) + b[2] * jnp.exp(-((t - b[3]) / b[4]) ** 2)
                                 + b[5] * jnp.exp(-((t - b[6]) / b[7]) ** 2)),
          (98.8, 0.0105, 100.5, 107.6, 23.6, 72.0, 153.2, 19.5), np.linspace(1.0, 250.0, 250), 2.5,
          ((97.0, 0.009, 100.0, 65.0, 20.0, 70.0, 178.0, 16.5), (94.0, 0.0105, 99.0, 63.0, 25.0, 71.0, 180.0, 20.0))),
    Model("thurber", lambda b, t: ((b[0] + b[1] * t + b[2] * t ** 2 + b[3] * t ** 3)
                                   / (1 + b[4] * t + b[5] * t ** 2 + b[6] * t ** 3)),
          (1288.1, 1491.1, 583.2, 75.4, 0.966, 0.398, 0.0497), np.linspace(-3.07, 2.2, 37), 10.0,
          ((1000.0, 1000.0, 400.0, 40.0, 0.7, 0.3, 0.03), (1300.0, 1500.0, 500.0, 75.0, 1.0, 0.4, 0.05))),
    Model("boxbod", lambda b, t: b[0] * (1 - jnp.exp(-b[1] * t)), (213.8, 0.547),
          np.array([1.0, 2.0, 3.0, 5.0, 7.0, 10.0]), 10.0, ((1.0, 1.0), (100.0, 0.75))),
    Model("eckerle4", lambda b, t: b[0] / b[1] * jnp.exp(-0.5 * ((t - b[2]) / b[1]) ** 2), (1.554, 4.089, 451.5),
          np.linspace(400.0, 500.0, 35), 2e-4, ((1.0, 10.0, 500.0), (1.5, 5.0, 450.0))),
    Model("rat43", lambda b, t: b[0] / (1 + jnp.exp(b[1] - b[2] * t)) ** (1 / b[3]), (699.6, 5.28, 0.76, 1.28),
          np.linspace(1.0, 15.0, 15), 10.0, ((100.0, 10.0, 1.0, 1.0), (700.0, 5.0, 0.75, 1.3))),
    Model("bennett5", lambda b, t: b[0] * (b[1] + t) ** (-1 / b[2]), (-2523.5, 46.7, 0.932),
          np.linspace(7.447, 11.77, 154), 0.002, ((-2000.0, 50.0, 0.8), (-1500.0, 45.0, 0.85))),
]


class Run(NamedTuple):
    value: float  # ||r||^2 at the end
    nfev: int  # residual evaluations
    njev: int  # Jacobian evaluations


class Row(NamedTuple):
    """One model from one start: ours, MINPACK with its default and with tight tolerances."""

    name: str  # model / start
    ours: Run
    grads: int  # ours: evaluations of f and its gradient
    message: str
    default: Run
    tight: Run
    solved: bool
    minpack_solved: bool


def residual_function(model: Model) -> Callable:
    """``b -> model(b, t) - y``, with ``y`` the model at ``model.params`` plus noise (seeded by the name)."""
    rng = np.random.default_rng(zlib.crc32(model.name.encode()))
    t = jnp.asarray(model.t)
    y = np.asarray(model.model(jnp.asarray(model.params), t)) + model.noise * rng.standard_normal(model.t.shape)
    return lambda b: model.model(b, t) - y


def run_ml_opt(fun: Callable, residuals: Callable, x0: np.ndarray) -> tuple[Run, int, str]:
    res = ml_opt.minimize(fun, jnp.asarray(x0), levenberg_marquardt(residuals), gtol=GTOL, max_steps=MAX_STEPS)
    st = res.opt_state
    return Run(float(res.value), int(st.num_residual_evals), int(st.num_jac_evals)), int(st.num_grad_evals), res.message


def run_minpack(r: Callable, jac: Callable, x0: np.ndarray, tight: bool) -> Run:
    tolerances = dict(ftol=1e-15, xtol=1e-15, gtol=1e-15) if tight else {}
    out = scipy.optimize.least_squares(lambda b: np.asarray(r(b)), x0, jac=lambda b: np.asarray(jac(b)),
                                       method="lm", x_scale="jac", max_nfev=10000, **tolerances)
    return Run(2 * float(out.cost), int(out.nfev), int(out.njev))


def compare(models=MODELS) -> list[Row]:
    """Every model from both of its starts. The functions are made once per model, so that each
    compiles once for all the runs on it."""
    rows = []
    for model in models:
        residuals = residual_function(model)
        fun = lambda b, residuals=residuals: jnp.sum(residuals(b) ** 2)  # noqa: E731
        r, jac = jax.jit(residuals), jax.jit(jax.jacfwd(residuals))
        for i, start in enumerate(model.starts, start=1):
            x0 = np.array(start)
            ours, grads, message = run_ml_opt(fun, residuals, x0)
            tight = run_minpack(r, jac, x0, tight=True)
            best = min(ours.value, tight.value)
            rows.append(Row(f"{model.name} / {i}", ours, grads, message, run_minpack(r, jac, x0, tight=False), tight,
                            ours.value <= best * (1 + 1e-8), tight.value <= best * (1 + 1e-8)))
    return rows


def markdown(rows: list[Row]) -> str:
    """The table, and which runs were not solved and the ratios of residual evaluations where both were."""
    lines = ["| model / start | ml_opt ||r||^2 | nfev / njev (+ grads) | MINPACK ||r||^2 | nfev / njev (default) "
             "| nfev / njev (tight) | nfev ratio (tight) |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(f"| {row.name} | {row.ours.value:.9g}{'' if row.solved else ' (not solved)'} | "
                     f"{row.ours.nfev} / {row.ours.njev} (+ {row.grads}) | {row.tight.value:.9g}"
                     f"{'' if row.minpack_solved else ' (not solved)'} | {row.default.nfev} / {row.default.njev} | "
                     f"{row.tight.nfev} / {row.tight.njev} | {row.ours.nfev / row.tight.nfev:.2f} |")
    ratios = [row.ours.nfev / row.tight.nfev for row in rows if row.solved and row.minpack_solved]
    unsolved = [f"{who} {row.name}" for row in rows
                for who, ok in (("ml_opt", row.solved), ("MINPACK", row.minpack_solved)) if not ok]
    lines.append("")
    lines.append(f"Not solved: {', '.join(unsolved) or 'none'}. Where both solved ({len(ratios)} runs), residual "
                 f"evaluations against MINPACK's tight run: median {statistics.median(ratios):.2f}, "
                 f"max {max(ratios):.2f}.")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="also write the Markdown table to this file")
    args = parser.parse_args(argv)
    write_table(markdown(compare()), args.out)


if __name__ == "__main__":
    main()
