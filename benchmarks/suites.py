"""The suites: which problems, which optimizers, which budgets.

================  ==========================================================================================
suite             contents
================  ==========================================================================================
``quick``         the default, a few minutes on a laptop CPU: three 2-D functions (Rosenbrock, Himmelblau,
                  six-hump camel), three MGH problems (helical valley, Powell singular, Wood), an
                  ill-conditioned quadratic (n = 50, kappa = 1e4), logistic regression on breast cancer,
                  and a Flax MLP on the digits (minibatch: momentum, Adam, optax's Adam); ml_opt's main
                  first- and second-order methods against optax and scipy
``convex``        every convex deterministic problem (quadratics, sklearn data sets, the seeds' convex
                  losses), every optimizer
``nonconvex``     the 2-D functions and the seeds' nonconvex losses, every optimizer
``mgh``           the 35 Moré-Garbow-Hillstrom problems, every full-batch optimizer
``ml``            the sklearn data-set losses (digits, breast cancer, diabetes) and the seed losses
``nn``            Flax MLP, CNN and RNN, minibatch training with the first-order rules
``all``           all of the above
================  ==========================================================================================

Problems are built only when a suite is run (some compute their reference optimum at construction).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Callable

from ml_opt.problems.base import Problem

from benchmarks.optimizers import groups

QUICK_OPTIMIZERS = (
    "sgd", "momentum", "adam",
    "newton", "newton_cg", "polak_ribiere_plus_cg", "bfgs", "lbfgs",
    "optax.adam", "optax.lbfgs",
    "scipy.BFGS", "scipy.L-BFGS-B", "scipy.CG", "scipy.Newton-CG",
)


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named set of problems and optimizers with its budgets.

    Attributes:
      name, description: for ``--list`` and the report.
      problems: builds the problems (called once per run).
      optimizers: the optimizer names run by default.
      max_steps: iteration budget of full-batch runs.
      epochs, batch_size: minibatch training budget.
      minibatch_optimizers: if set, the only optimizers run on the minibatch (``fit``) problems.
    """

    name: str
    description: str
    problems: Callable[[], list[Problem]]
    optimizers: tuple[str, ...]
    max_steps: int = 2000
    epochs: int = 10
    batch_size: int = 64
    minibatch_optimizers: tuple[str, ...] | None = None


def _analytic(names: tuple[str, ...] | None = None) -> list[Problem]:
    from ml_opt.problems.analytic import analytic_problems

    problems = analytic_problems()
    return problems if names is None else [p for p in problems if p.name in names]


def _mgh(names: tuple[str, ...] | None = None) -> list[Problem]:
    from ml_opt.problems import mgh

    if names is None:
        return mgh.mgh_problems()
    return [mgh.mgh_problem(n) for n in names]


def _quadratics() -> list[Problem]:
    from ml_opt.problems.quadratics import quadratic_problems

    return quadratic_problems()


def _datasets() -> list[Problem]:
    from ml_opt.problems.datasets import dataset_problems

    return dataset_problems()


def _seeds() -> list[Problem]:
    from ml_opt.problems.seeds import seed_problems

    return seed_problems()


def _networks() -> list[Problem]:
    from ml_opt.problems.networks import digits_cnn, digits_mlp, sequence_rnn

    return [digits_mlp(), digits_cnn(), sequence_rnn()]


def _quick() -> list[Problem]:
    from ml_opt.problems.datasets import breast_cancer_logistic
    from ml_opt.problems.networks import digits_mlp
    from ml_opt.problems.quadratics import ill_conditioned_quadratic

    return [
        *_analytic(("rosenbrock", "himmelblau", "six_hump_camel")),
        *_mgh(("helical_valley", "powell_singular", "wood")),
        ill_conditioned_quadratic(50, 1e4),
        breast_cancer_logistic(),
        digits_mlp(hidden=(64,)),
    ]


def _convex() -> list[Problem]:
    return [p for p in _dedupe(_quadratics() + _datasets() + _seeds() + _analytic()) if p.convex]


def _nonconvex() -> list[Problem]:
    return [p for p in _dedupe(_analytic() + _seeds()) if not p.convex]


def _ml() -> list[Problem]:
    return _dedupe(_datasets() + _seeds())


def _all() -> list[Problem]:
    return _dedupe(_analytic() + _mgh() + _quadratics() + _datasets() + _seeds() + _networks())


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if p.name not in seen:
            seen.add(p.name)
            out.append(p)
    return out


_EVERY = tuple(groups()["all"])
_FIRST = tuple(groups()["first_order"])

SUITES: dict[str, Suite] = {
    s.name: s
    for s in [
        Suite("quick", "the default: 2-D functions, MGH, an ill-conditioned quadratic, logistic regression, "
              "an MLP on digits; main methods vs optax and scipy (a few minutes on a laptop CPU)",
              _quick, QUICK_OPTIMIZERS, max_steps=2000, epochs=10, batch_size=64,
              minibatch_optimizers=("momentum", "adam", "optax.adam")),
        Suite("convex", "convex problems: quadratics, sklearn data-set losses, convex seed losses",
              _convex, _EVERY),
        Suite("nonconvex", "nonconvex 2-D functions and seed losses", _nonconvex, _EVERY),
        Suite("mgh", "the 35 Moré-Garbow-Hillstrom problems (standard starts)", _mgh, _EVERY, max_steps=5000),
        Suite("ml", "sklearn data sets (digits, breast cancer, diabetes) and the seeds' losses", _ml, _EVERY),
        Suite("nn", "Flax MLP, CNN and RNN, minibatch training", _networks, _FIRST, epochs=20),
        Suite("all", "everything above", _all, _EVERY, max_steps=5000, epochs=20),
    ]
}


def select_problems(problems: list[Problem], patterns: list[str] | None) -> list[Problem]:
    """The problems whose name matches one of the patterns (exact names or shell globs like ``mgh/*``).

    Raises:
      KeyError: naming a pattern that matches no problem.
    """
    if not patterns:
        return problems
    out = []
    for pattern in patterns:
        matched = [p for p in problems if p.name == pattern or fnmatch.fnmatchcase(p.name, pattern)]
        if not matched:
            raise KeyError(pattern)
        out.extend(p for p in matched if p not in out)
    return out


__all__ = ["SUITES", "Suite", "select_problems"]
