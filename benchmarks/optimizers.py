"""The optimizers the harness knows: ml_opt's rules, optax's equivalents, scipy.optimize's methods.

Each is an :class:`OptimizerSpec`: a name, how to build it from hyperparameters (JAX scalars welcome,
so a learning-rate grid is one ``jax.vmap``), the grid to sweep, and which driver runs it.

Names: ml_opt's rules under their own names (``adam``, ``bfgs``, ``polak_ribiere_plus_cg``), baselines
prefixed by their library (``optax.adam``, ``scipy.BFGS``). Groups (``first_order``,
``second_order``, ``ml_opt``, ``optax``, ``scipy``, ``all``) expand to their members on the command line.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Any, Callable

import numpy as np
import optax

#: The default learning-rate grid: half-decades from 1e-4 to 1.
LEARNING_RATES: tuple[float, ...] = tuple(float(f"{v:.3g}") for v in np.logspace(-4, 0, 9))


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer as the harness runs it.

    Attributes:
      name: the harness's name (what ``--optimizers`` takes and the report shows).
      family: ``ml_opt``, ``optax`` or ``scipy``.
      order: 1 for rules that use gradients only, 2 for those that use curvature or a line search
        on the objective (they need the full-batch objective: deterministic problems only).
      build: ``build(learning_rate)`` (or ``build()`` when there is no grid) returns the
        ``optax.GradientTransformation``; None for scipy.
      sweep: whether the learning-rate grid is swept (the factory takes a learning rate).
      fixed: the hyperparameters held fixed, recorded with every run.
      driver: ``minimize`` (:func:`ml_opt.minimize`, or :func:`ml_opt.training.fit` on minibatch
        problems), ``optax_lbfgs`` (the jitted ``optax.lbfgs`` loop) or ``scipy``.
      scipy_method: the ``method=`` of ``scipy.optimize.minimize``.
      max_dim: the largest problem it is run on (dense Hessians and dense inverse-Hessian updates
        cost O(n^2) memory); None for no limit.
      minibatch: whether it runs on minibatch (``fit``) problems.
      description: one line for ``--list``.
    """

    name: str
    family: str
    order: int
    build: Callable[..., optax.GradientTransformation] | None
    sweep: bool
    fixed: dict
    driver: str
    description: str
    scipy_method: str | None = None
    max_dim: int | None = None
    minibatch: bool = True

    def transformation(self, learning_rate: Any = None) -> optax.GradientTransformation:
        """The transformation for one learning rate (ignored when the optimizer has no grid)."""
        return self.build(learning_rate) if self.sweep else self.build()


def _lazy(module: str, name: str) -> Callable[..., Any]:
    """``ml_opt.<module>.<name>``, imported when first called (so ``--list`` needs no import)."""

    def factory(*args, **kwargs):
        return getattr(importlib.import_module(f"ml_opt.{module}"), name)(*args, **kwargs)

    return factory


def _first_order(name: str, description: str, **fixed: Any) -> OptimizerSpec:
    rule = _lazy("first_order", name)
    return OptimizerSpec(
        name=name,
        family="ml_opt",
        order=1,
        build=lambda lr: rule(lr, **fixed),
        sweep=True,
        fixed=dict(fixed),
        driver="minimize",
        description=description,
    )


def _optax(name: str, factory: Callable[[Any], optax.GradientTransformation], fixed: dict, description: str) -> OptimizerSpec:
    return OptimizerSpec(
        name=f"optax.{name}", family="optax", order=1, build=factory, sweep=True, fixed=fixed,
        driver="minimize", description=description,
    )


def _second_order(name: str, module: str, factory: str, description: str, max_dim: int | None = None,
                  **kwargs: Any) -> OptimizerSpec:
    make = _lazy(module, factory)
    return OptimizerSpec(
        name=name,
        family="ml_opt",
        order=2,
        build=lambda: make(**kwargs),
        sweep=False,
        fixed=dict(kwargs),
        driver="minimize",
        description=description,
        max_dim=max_dim,
        minibatch=False,
    )


def _scipy(method: str, description: str, max_dim: int | None = None) -> OptimizerSpec:
    return OptimizerSpec(
        name=f"scipy.{method}", family="scipy", order=2, build=None, sweep=False, fixed={},
        driver="scipy", description=description, scipy_method=method, max_dim=max_dim, minibatch=False,
    )


def _registry() -> dict[str, OptimizerSpec]:
    specs = [
        # ml_opt, first order (seed 002, Algorithms 8.1-8.7)
        _first_order("sgd", "gradient descent / SGD (Alg. 8.1)"),
        _first_order("momentum", "heavy-ball momentum, beta 0.9 (Alg. 8.2)", beta=0.9),
        _first_order("nesterov", "Nesterov momentum, beta 0.9 (Alg. 8.3)", beta=0.9),
        _first_order("adagrad", "AdaGrad (Alg. 8.4)"),
        _first_order("rmsprop", "RMSProp, decay 0.9 (Alg. 8.5)", decay=0.9),
        _first_order("rmsprop_nesterov", "RMSProp with Nesterov momentum (Alg. 8.6)"),
        _first_order("adam", "Adam (Alg. 8.7)"),
        # ml_opt, second order and line-search methods
        _second_order("newton", "newton", "newton", "damped Newton, dense Hessian (Alg. 8.8)", max_dim=1000),
        _second_order("saddle_free_newton", "newton", "saddle_free_newton",
                      "saddle-free Newton, |H| by eigendecomposition (Dauphin et al. 2014)", max_dim=1000),
        _second_order("newton_cg", "newton", "newton_cg", "truncated Newton-CG on Hessian-vector products"),
        _second_order("trust_region_newton", "trust_region", "trust_region_newton",
                      "trust-region Newton, exact subproblem by eigendecomposition (N&W Alg. 4.1)", max_dim=1000),
        _second_order("fletcher_reeves_cg", "conjugate_gradient", "nonlinear_cg",
                      "nonlinear CG, Fletcher-Reeves (Alg. 8.9)", method="fletcher_reeves"),
        _second_order("polak_ribiere_plus_cg", "conjugate_gradient", "nonlinear_cg",
                      "nonlinear CG, Polak-Ribiere+ (Alg. 8.9, beta clipped at 0)", method="polak_ribiere_plus"),
        _second_order("hestenes_stiefel_cg", "conjugate_gradient", "nonlinear_cg",
                      "nonlinear CG, Hestenes-Stiefel", method="hestenes_stiefel"),
        _second_order("dai_yuan_cg", "conjugate_gradient", "nonlinear_cg",
                      "nonlinear CG, Dai-Yuan", method="dai_yuan"),
        _second_order("bfgs", "quasi_newton", "bfgs", "BFGS, inverse Hessian (Alg. 8.10)", max_dim=5000),
        _second_order("lbfgs", "quasi_newton", "lbfgs", "L-BFGS, two-loop recursion, memory 10", memory_size=10),
        # optax baselines
        _optax("sgd", lambda lr: optax.sgd(lr), {}, "optax.sgd"),
        _optax("momentum", lambda lr: optax.sgd(lr, momentum=0.9), {"momentum": 0.9}, "optax.sgd(momentum=0.9)"),
        _optax("nesterov", lambda lr: optax.sgd(lr, momentum=0.9, nesterov=True), {"momentum": 0.9, "nesterov": True},
               "optax.sgd(momentum=0.9, nesterov=True)"),
        _optax("adagrad", lambda lr: optax.adagrad(lr), {}, "optax.adagrad (optax defaults)"),
        _optax("rmsprop", lambda lr: optax.rmsprop(lr), {}, "optax.rmsprop (optax defaults)"),
        _optax("adam", lambda lr: optax.adam(lr), {}, "optax.adam"),
        OptimizerSpec(
            name="optax.lbfgs", family="optax", order=2, build=lambda: optax.lbfgs(), sweep=False, fixed={},
            driver="optax_lbfgs", minibatch=False,
            description="optax.lbfgs (zoom line search) in a jitted loop with value_and_grad_from_state",
        ),
        # scipy baselines
        _scipy("BFGS", "scipy.optimize.minimize(method='BFGS'), jitted JAX gradient", max_dim=5000),
        _scipy("L-BFGS-B", "scipy.optimize.minimize(method='L-BFGS-B'), jitted JAX gradient"),
        _scipy("CG", "scipy.optimize.minimize(method='CG'), jitted JAX gradient"),
        _scipy("Newton-CG", "scipy.optimize.minimize(method='Newton-CG'), jitted JAX Hessian-vector product"),
    ]
    return {s.name: s for s in specs}


OPTIMIZERS: dict[str, OptimizerSpec] = _registry()


def groups() -> dict[str, list[str]]:
    """Named groups of optimizers, for the command line."""
    names = list(OPTIMIZERS)
    return {
        "all": names,
        "ml_opt": [n for n in names if OPTIMIZERS[n].family == "ml_opt"],
        "optax": [n for n in names if OPTIMIZERS[n].family == "optax"],
        "scipy": [n for n in names if OPTIMIZERS[n].family == "scipy"],
        "first_order": [n for n in names if OPTIMIZERS[n].order == 1],
        "second_order": [n for n in names if OPTIMIZERS[n].order == 2],
    }


def resolve(names: list[str]) -> list[str]:
    """Expands groups and checks names; raises ``KeyError`` with the unknown name."""
    g = groups()
    out: list[str] = []
    for name in names:
        members = g.get(name, [name] if name in OPTIMIZERS else None)
        if members is None:
            raise KeyError(name)
        out.extend(m for m in members if m not in out)
    return out
