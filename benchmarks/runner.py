"""The runner: every (problem, optimizer, hyperparameters, seed) through one driver, timed and recorded.

How a (problem, optimizer) pair is run
--------------------------------------
1. **The sweep** (optimizers with a learning rate). Every learning rate of the grid and every seed go
   through *one* compiled call, ``jax.jit(vmap_lr(vmap_seed(run)))``, where ``run`` is
   :func:`ml_opt.minimize` (deterministic problems) or :func:`ml_opt.training.fit` (minibatch
   problems) and the optimizer is built inside it from a JAX-scalar learning rate. Compilation is
   timed apart (``jax.jit(f).lower(...).compile()``), then the compiled call is timed with
   ``jax.block_until_ready``. Every run gets a record (:mod:`benchmarks.records`); the compile and
   run seconds are the call's, shared by ``batch_size`` runs. The learning rate with the best
   :func:`benchmarks.records.selection_key` over the seeds is *selected*.
2. **The selected run, alone.** The selected learning rate (or the optimizer's only setting) is
   compiled again without the learning-rate axis (vmapped over seeds when there are several) and run
   twice with the *same* compiled program:

   * the **timed run**: recording off. Its wall time is the per-run time the report compares (the
     sweep's time is shared by the whole grid), and for optimizers without a grid it is the sweep;
   * the **trajectory pass**: recording on. The optimizer is wrapped by :func:`recording`, a
     transformation that passes every update through untouched and writes into fixed-size buffers
     of its own state the objective at the current iterate (the ``value`` that ``minimize`` hands
     every update), the solver's evaluation counters, and for 2-D problems the iterate. Recording is
     a runtime flag of the compiled program: when it is off the buffer index points past the end and
     the writes leave the buffers as they are (:func:`_write_row`), so both runs share one compilation,
     one ``lax.while_loop`` and one stopping rule: the trajectory is the timed run's own, recorded
     with no host callback and no ``jax.debug``.

   Minibatch training needs no recording: ``fit`` returns the minibatch loss before every step.

Baselines run in the same process on the same problems and starting points: optax's rules through the
same ``minimize`` (they are ``GradientTransformation`` s), ``optax.lbfgs`` through its own jitted loop
(:func:`optax_lbfgs_minimize`, same runtime recording flag), scipy through
:mod:`benchmarks.scipy_baseline`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import traceback
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.flatten_util import ravel_pytree
from optax import tree_utils as otu

import ml_opt
from ml_opt.problems.base import Problem

from benchmarks import records as rec
from benchmarks.optimizers import LEARNING_RATES, OptimizerSpec

PyTree = Any

_COUNTERS = ("num_fun_evals", "num_grad_evals", "num_hvp_evals")


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every run of a suite shares.

    Attributes:
      max_steps: the most iterations of a full-batch run (``minimize``'s ``max_steps``, scipy's
        ``maxiter``, the ``optax.lbfgs`` loop's bound).
      gtol: stop when ``||grad f||_inf <= gtol`` (scipy: its ``gtol`` where the method has one).
      tol: success when ``f - f_opt <= tol * max(1, |f_opt|)``.
      seeds: the seeds; each picks a starting point (problems with random starts) or an
        initialisation and a shuffling (minibatch training).
      learning_rates: the grid swept for every optimizer with a learning rate.
      epochs, batch_size: minibatch training.
    """

    max_steps: int = 2000
    gtol: float = 1e-6
    tol: float = 1e-5
    seeds: tuple[int, ...] = (0,)
    learning_rates: tuple[float, ...] = LEARNING_RATES
    epochs: int = 10
    batch_size: int = 64


def is_minibatch(problem: Problem) -> bool:
    """Problems trained by minibatches (``fit``): the networks and the stochastic losses."""
    return problem.batch_loss is not None and bool({"nn", "stochastic"} & set(problem.tags))


def applicable(problem: Problem, spec: OptimizerSpec) -> bool:
    """Whether the harness runs ``spec`` on ``problem`` (see :class:`OptimizerSpec`)."""
    if spec.max_dim is not None and problem.dim > spec.max_dim:
        return False
    if is_minibatch(problem):
        return spec.minibatch and spec.driver == "minimize"
    return True


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def _stack(trees: list[PyTree]) -> PyTree:
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def _param_dtype(params: PyTree):
    return jnp.result_type(jax.tree.leaves(params)[0])


def _solver_counts(state: PyTree) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The solver's own cumulative evaluation counters (summed over its state tree)."""
    out = []
    for name in _COUNTERS:
        fields = [v for _, v in otu.tree_get_all_with_path(state, name)]
        out.append(sum((jnp.asarray(v, jnp.int32) for v in fields), jnp.zeros([], jnp.int32)))
    return tuple(out)


class Program:
    """One jitted program of a run, compiled ahead of time and called with its compile time apart.

    ``lower()`` traces and lowers ``jax.jit(fn)`` for ``args`` (Python; done on the main thread),
    ``compile()`` compiles the lowered program (XLA; may run on a worker thread), ``compile_seconds``
    is the sum of both wall times. Calling it runs the compiled program on new arguments of the same
    shapes and returns ``(output on the host, wall seconds)``, timed with ``block_until_ready``.
    """

    def __init__(self, fn: Callable, *args):
        self.fn, self.args = fn, args
        self._lowered = None
        self.compiled = None
        self.compile_seconds = 0.0

    def lower(self) -> "Program":
        start = time.perf_counter()
        self._lowered = jax.jit(self.fn).lower(*self.args)
        self.compile_seconds += time.perf_counter() - start
        return self

    def compile(self) -> "Program":
        if self._lowered is None:
            self.lower()
        start = time.perf_counter()
        self.compiled = self._lowered.compile()
        self.compile_seconds += time.perf_counter() - start
        self._lowered = None
        return self

    def __call__(self, *args) -> tuple[Any, float]:
        if self.compiled is None:
            self.compile()
        args = args or self.args
        start = time.perf_counter()
        out = jax.block_until_ready(self.compiled(*args))
        seconds = time.perf_counter() - start
        return jax.device_get(out), seconds


@dataclasses.dataclass
class Plan:
    """The programs of one (problem, optimizer) pair and how to run them.

    ``programs`` can all be compiled before anything runs (a learning rate is a runtime argument);
    ``execute()`` then runs them, timed, and returns the pair's records.
    """

    problem: Problem
    spec: OptimizerSpec
    programs: dict[str, Program]
    execute: Callable[[], list[dict]]


_STATUS_MESSAGES = {int(s): ml_opt.Result(*([None] * len(ml_opt.Result._fields)))._replace(status=int(s)).message
                    for s in ml_opt.Status}


def status_message(code: int) -> str:
    """``minimize``'s sentence for a status code."""
    return _STATUS_MESSAGES.get(int(code), f"status {int(code)}")


# --------------------------------------------------------------------------------------------
# The recording wrapper (the trajectory pass)
# --------------------------------------------------------------------------------------------


class RecordingState(NamedTuple):
    """State of :func:`recording`: the wrapped optimizer's state and the buffers it fills.

    Field names avoid the ones ``minimize`` reads (``value``, ``grad``, ``num_*_evals``,
    ``stalled``): those are read from the wrapped state, as without the wrapper.
    """

    inner: PyTree
    index: jax.Array
    losses: jax.Array
    solver_fun: jax.Array
    solver_grad: jax.Array
    solver_hvp: jax.Array
    iterates: jax.Array


def _write_row(buffer: jax.Array, i: jax.Array, value: Any) -> jax.Array:
    """``buffer`` with row ``i`` set to ``value``, or unchanged where ``i`` is past its end.

    A ``dynamic_update_slice`` of the row (the old row again when ``i`` is past the end), not a
    scatter: XLA:CPU compiles a loop with no scatter in it as one function
    (:mod:`ml_opt.small_call`), so the recorded run keeps the compiled code of the plain one.
    """
    last = buffer.shape[0] - 1
    j = jnp.minimum(i, last)
    old = jax.lax.dynamic_index_in_dim(buffer, j, keepdims=False)
    row = jnp.where(i <= last, jnp.asarray(value, buffer.dtype), old)
    return jax.lax.dynamic_update_index_in_dim(buffer, row, j, 0)


def recording(inner: optax.GradientTransformation, length: int, record_params: bool,
              enabled: jax.Array | bool = True) -> optax.GradientTransformationExtraArgs:
    """Wraps an optimizer so that each ``update`` records the loss at the current iterate.

    The update itself is the wrapped optimizer's, untouched. Update ``k`` writes, at index ``k`` of
    buffers of ``length`` entries: the ``value`` keyword argument (``f(x_k)``, which ``minimize``
    passes), the wrapped optimizer's evaluation counters before the update, and, if
    ``record_params``, the flattened ``x_k``. Updates beyond ``length`` are not recorded.

    Args:
      inner: the optimizer.
      length: the buffers' length (``max_steps + 1`` records a whole ``minimize`` run).
      record_params: whether to record the iterates too (for contour plots).
      enabled: a boolean, possibly traced: when False nothing is written (the writes target an
        index past the end and leave the buffers as they are), so one compiled program serves a timed run and a
        recorded one.
    """
    inner = optax.with_extra_args_support(inner)

    def init(params):
        flat = ravel_pytree(params)[0]
        width = flat.shape[0] if record_params else 0
        zeros_i = jnp.zeros(length, jnp.int32)
        return RecordingState(
            inner=inner.init(params),
            index=jnp.zeros([], jnp.int32),
            losses=jnp.full(length, jnp.nan, flat.dtype),
            solver_fun=zeros_i,
            solver_grad=zeros_i,
            solver_hvp=zeros_i,
            iterates=jnp.zeros((length, width), flat.dtype),
        )

    def update(updates, state, params=None, **extra):
        i = jnp.where(enabled, state.index, length)  # past the end: nothing is written
        losses = state.losses
        if extra.get("value") is not None:
            losses = _write_row(losses, i, extra["value"])
        fun_n, grad_n, hvp_n = _solver_counts(state.inner)
        iterates = state.iterates
        if record_params and params is not None:
            iterates = _write_row(iterates, i, ravel_pytree(params)[0])
        new_updates, inner_state = inner.update(updates, state.inner, params, **extra)
        return new_updates, RecordingState(
            inner=inner_state,
            index=state.index + 1,
            losses=losses,
            solver_fun=_write_row(state.solver_fun, i, fun_n),
            solver_grad=_write_row(state.solver_grad, i, grad_n),
            solver_hvp=_write_row(state.solver_hvp, i, hvp_n),
            iterates=iterates,
        )

    return optax.GradientTransformationExtraArgs(init, update)


def make_trajectory(steps, losses, evals, seconds, params=None, **extra) -> dict:
    """A record's ``trajectory``: the arrays subsampled to :data:`records.MAX_POINTS` points."""
    steps = np.asarray(steps)
    idx = rec.subsample_indices(len(steps))
    traj = {
        "step": steps[idx],
        "loss": np.asarray(losses, float)[idx],
        "evals": np.asarray(evals, float)[idx],
        "seconds": np.asarray(seconds, float)[idx],
    }
    if params is not None:
        traj["params"] = np.asarray(params, float)[idx]
    traj.update(extra)
    return traj


def minimize_trajectory(out: dict, j: int, seconds_per_run: float, with_params: bool) -> dict:
    """Turns the recorded buffers of seed ``j`` (a recorded ``minimize`` output) into a trajectory.

    Cumulative evaluations at ``x_k``: the driver's (``minimize`` evaluates ``f`` and ``grad f`` at
    ``x_0`` and, unless the solver hands them back from its line search, after every update) plus
    the solver's own counters before update ``k``. Whether the driver evaluated after each update is
    read off the final counts: ``num_fun_evals`` minus the solver's is 1 (only at ``x_0``) or
    ``steps + 1``. Wall time at ``x_k`` is ``k / steps`` of the timed run's (steps cost alike).
    """
    n = int(out["num_steps"][j])
    losses = np.append(out["hist_losses"][j][:n], out["value"][j])
    driver_total = int(out["num_fun_evals"][j]) - int(out["final_solver_fun"][j])
    k = np.arange(n + 1)
    driver = np.ones(n + 1) if (driver_total == 1 and n > 0) else k + 1.0
    solver = (out["hist_solver_fun"][j][:n] + out["hist_solver_grad"][j][:n]
              + out["hist_solver_hvp"][j][:n]).astype(float)
    total = float(out["num_fun_evals"][j]) + float(out["num_grad_evals"][j]) + float(out["num_hvp_evals"][j])
    evals = np.append(2.0 * driver[:n] + solver, total)
    params = None
    if with_params:
        params = np.concatenate([out["hist_iterates"][j][:n], out["final_flat"][j][None, :]], axis=0)
    return make_trajectory(k, losses, evals, seconds_per_run * k / max(n, 1), params)


# --------------------------------------------------------------------------------------------
# Programs: the sweep and the selected run
# --------------------------------------------------------------------------------------------


def start(problem: Problem, seed: int) -> PyTree:
    """The starting point of seed ``seed``.

    ``problem.init(key(seed))``: problems with a random initialisation (networks) draw it from the
    seed, problems with a standard start (MGH, the data-set losses) return it for every seed. For
    the 2-D functions with a plotting domain, seed 0 is the problem's fixed start and seed ``s > 0``
    a point drawn uniformly from the domain (``ml_opt.problems.analytic.sample_starts``).
    """
    if seed != 0 and problem.dim == 2 and problem.domain is not None:
        from ml_opt.problems.analytic import sample_starts

        x0 = problem.init(jax.random.key(seed))
        if isinstance(x0, jax.Array) and x0.shape == (2,):
            return sample_starts(problem, jax.random.key(seed), 1)[0].astype(x0.dtype)
    return problem.init(jax.random.key(seed))


def _starts(problem: Problem, seeds: tuple[int, ...]) -> PyTree:
    return _stack([start(problem, s) for s in seeds])


def problem_data(problem: Problem) -> dict:
    """The problem's data, passed to the compiled programs as *arguments*: ``{"train", "test"}``.

    A data problem's objective is evaluated as ``batch_loss(params, data["train"])`` (equal to
    ``fun(params)`` by the ``Problem`` contract) rather than through ``fun``, which closes over the
    data: captured arrays become constants of the program, and XLA then spends seconds
    constant-folding expressions of them (e.g. the loss at a fixed starting point).
    """
    return {"train": problem.train_data if problem.batch_loss is not None else None,
            "test": problem.test_data if problem.accuracy is not None else None}


def objective(problem: Problem) -> Callable[[PyTree, Any], jax.Array]:
    """``loss(params, train_data)``: ``batch_loss`` for data problems, ``fun`` (ignoring the data) else."""
    if problem.batch_loss is not None and problem.train_data is not None:
        return problem.batch_loss
    return _ignore_data(problem.fun)


def _ignore_data(fun):
    def loss(params, data):
        del data
        return fun(params)

    return loss


def _accuracy(problem: Problem, params: PyTree, data: dict, out: dict) -> None:
    if problem.accuracy is not None and data["test"] is not None:
        out["test_accuracy"] = problem.accuracy(params, data["test"])


def _batched(one: Callable, n_seed: int, lr_axis: bool) -> Callable:
    """``f(lrs, x0s, *rest)`` over a ``(n_lr, n_seed)`` grid from ``one(lr, x0, *rest)``.

    An axis of size one is not vmapped (a smaller program, and ``lax.cond`` stays a branch); the
    outputs get it back as a leading axis of size 1, so every output is ``(n_lr, n_seed, ...)``.
    """

    def f(lrs, x0s, *rest):
        g = one
        if n_seed > 1:
            g = jax.vmap(g, in_axes=(None, 0) + (None,) * len(rest))
        else:
            x0s = jax.tree.map(lambda a: a[0], x0s)
        if lr_axis:
            g = jax.vmap(g, in_axes=(0, None) + (None,) * len(rest))
        out = g(lrs, x0s, *rest)
        if n_seed == 1:
            out = jax.tree.map(lambda a: a[:, None] if lr_axis else a[None], out)
        if not lr_axis:
            out = jax.tree.map(lambda a: a[None], out)
        return out

    return f


def _minimize_one(problem: Problem, spec: OptimizerSpec, settings: Settings, *, with_recorder: bool) -> Callable:
    """``one(lr, x0[, record]) -> dict`` of arrays: one ``minimize`` run.

    With ``with_recorder`` the optimizer is wrapped by :func:`recording`, enabled by the traced
    boolean ``record``.
    """
    loss = objective(problem)
    with_params = problem.dim <= 2

    def one(lr, x0, data, record=None):
        lr = None if lr is None else jnp.asarray(lr, _param_dtype(x0))
        opt = spec.transformation(lr)
        if with_recorder:
            opt = recording(opt, settings.max_steps + 1, with_params, enabled=record)
        res = ml_opt.minimize(loss, x0, opt, args=(data["train"],), max_steps=settings.max_steps, gtol=settings.gtol)
        out = {
            "initial_loss": loss(x0, data["train"]),
            "value": res.value,
            "grad_norm": res.grad_norm,
            "num_steps": res.num_steps,
            "num_fun_evals": res.num_fun_evals,
            "num_grad_evals": res.num_grad_evals,
            "num_hvp_evals": res.num_hvp_evals,
            "status": res.status,
            "converged": res.converged,
        }
        _accuracy(problem, res.params, data, out)
        if with_recorder:
            st = res.opt_state
            out.update(
                hist_losses=st.losses,
                hist_solver_fun=st.solver_fun,
                hist_solver_grad=st.solver_grad,
                hist_solver_hvp=st.solver_hvp,
                final_solver_fun=_solver_counts(st.inner)[0],
            )
            if with_params:
                out["hist_iterates"] = st.iterates
                out["final_flat"] = ravel_pytree(res.params)[0]
        return out

    return one


def _base_record(problem: Problem, spec: OptimizerSpec, settings: Settings, driver: str) -> dict:
    return {
        "problem": problem.name,
        "optimizer": spec.name,
        "family": spec.family,
        "driver": driver,
        "dim": int(problem.dim),
        "convex": bool(problem.convex),
        "tags": sorted(problem.tags),
        "f_opt": problem.f_opt,
        "trajectory": None,
        "selected": False,
        "error": None,
        "test_accuracy": None,
    }


def local_minima(problem: Problem) -> tuple[float, ...]:
    """The documented local minima of an MGH problem (empty for the others)."""
    if not problem.name.startswith("mgh/"):
        return ()
    from ml_opt.problems import mgh

    return tuple(mgh.LOCAL_MINIMA.get(problem.name, ()))


def _finish_record(r: dict, problem: Problem, settings: Settings) -> dict:
    ok, kind = rec.is_success(r["final_loss"], problem.f_opt, settings.tol, local_minima(problem))
    r["success"], r["success_kind"] = ok, kind
    return r


def _records_from_out(out: dict, problem: Problem, spec: OptimizerSpec, settings: Settings, hypers: list[dict],
                      compile_seconds: float, run_seconds: float, driver: str,
                      status_text: Callable[[int, int], str | None] = lambda i, j: None) -> list[dict]:
    """One record per (hyperparameter setting, seed) of an output whose arrays are ``(n_hyper, n_seed)``."""
    n_h, n_s = np.shape(out["value"])
    records = []
    for i in range(n_h):
        for j, seed in enumerate(settings.seeds):
            r = _base_record(problem, spec, settings, driver)
            r.update(
                hyperparameters={**spec.fixed, **hypers[i]},
                seed=int(seed),
                initial_loss=float(out["initial_loss"][i, j]),
                final_loss=float(out["value"][i, j]),
                grad_norm=float(out["grad_norm"][i, j]),
                steps=int(out["num_steps"][i, j]),
                fun_evals=int(out["num_fun_evals"][i, j]),
                grad_evals=int(out["num_grad_evals"][i, j]),
                hvp_evals=int(out["num_hvp_evals"][i, j]),
                compile_seconds=compile_seconds,
                run_seconds=run_seconds,
                batch_size=n_h * n_s,
                status=status_text(i, j) or status_message(int(out["status"][i, j])),
                converged=bool(out["converged"][i, j]),
            )
            if "test_accuracy" in out:
                r["test_accuracy"] = float(out["test_accuracy"][i, j])
            records.append(_finish_record(r, problem, settings))
    return records


def _select(records: list[dict], n_hyper: int, n_seed: int) -> int:
    """The index of the hyperparameter setting with the best selection key."""
    keys = [rec.selection_key(records[i * n_seed:(i + 1) * n_seed]) for i in range(n_hyper)]
    return int(min(range(n_hyper), key=lambda i: keys[i]))


def _row(out: dict, i: int) -> dict:
    """Hyperparameter row ``i`` of a ``(n_hyper, n_seed, ...)`` output: arrays ``(n_seed, ...)``."""
    return {k: np.asarray(v)[i] for k, v in out.items()}


def _sweep_program(problem: Problem, settings: Settings, one: Callable) -> Program:
    """The learning-rate sweep: every rate and every seed in one program."""
    lrs = jnp.asarray(np.asarray(settings.learning_rates, float))
    return Program(_batched(one, len(settings.seeds), lr_axis=True), lrs, _starts(problem, settings.seeds),
                   problem_data(problem))


def _hypers(settings: Settings) -> list[dict]:
    return [{"learning_rate": float(lr)} for lr in settings.learning_rates]


def _selected_program(problem: Problem, settings: Settings, one: Callable, sweep: bool) -> Program:
    """The selected setting alone (``one(lr, x0, data, record)``); the learning rate and the
    recording switch are runtime arguments, so it compiles before the sweep has chosen."""
    lr = jnp.asarray(settings.learning_rates[0], float) if sweep else None
    return Program(_batched(one, len(settings.seeds), lr_axis=False), lr, _starts(problem, settings.seeds),
                   problem_data(problem), jnp.asarray(False))


def _timed_and_recorded(program: Program, lr) -> tuple[dict, dict, float]:
    """Runs the selected program twice: timed with recording off, then with recording on."""
    lr_arg = None if lr is None else jnp.asarray(lr, float)
    _, x0s, data, _ = program.args
    timed, seconds = program(lr_arg, x0s, data, jnp.asarray(False))
    recorded, _ = program(lr_arg, x0s, data, jnp.asarray(True))
    return timed, recorded, seconds


def plan_minimize(problem: Problem, spec: OptimizerSpec, settings: Settings) -> Plan:
    """The sweep (if any), the timed run and the trajectory pass of one optimizer (``minimize``)."""
    n_seed = len(settings.seeds)
    programs = {"selected": _selected_program(problem, settings,
                                              _minimize_one(problem, spec, settings, with_recorder=True), spec.sweep)}
    if spec.sweep:
        programs["sweep"] = _sweep_program(problem, settings,
                                           _minimize_one(problem, spec, settings, with_recorder=False))

    def execute() -> list[dict]:
        selected = programs["selected"]
        if spec.sweep:
            sweep = programs["sweep"]
            out, r_s = sweep()
            hypers = _hypers(settings)
            records = _records_from_out(out, problem, spec, settings, hypers, sweep.compile_seconds, r_s, "minimize")
            best = _select(records, len(hypers), n_seed)
            timed, recorded, t_r = _timed_and_recorded(selected, hypers[best]["learning_rate"])
        else:
            timed, recorded, t_r = _timed_and_recorded(selected, None)
            strip = {k: v for k, v in timed.items() if not k.startswith(("hist_", "final_"))}
            records = _records_from_out(strip, problem, spec, settings, [{}], selected.compile_seconds, t_r,
                                        "minimize")
            best = 0
        recorded = _row(recorded, 0)
        for j in range(n_seed):
            r = records[best * n_seed + j]
            r["selected"] = True
            traj = minimize_trajectory(recorded, j, t_r / n_seed, with_params=problem.dim <= 2)
            traj.update(compile_seconds=selected.compile_seconds, run_seconds=t_r, batch_size=n_seed)
            r["trajectory"] = traj
            if int(recorded["num_steps"][j]) != r["steps"] or not _same(recorded["value"][j], r["final_loss"]):
                traj["warning"] = "the recorded pass ended elsewhere than the timed run (non-deterministic run?)"
        return records

    return Plan(problem, spec, programs, execute)


def _same(a: float, b: float) -> bool:
    a, b = float(a), float(b)
    return (math.isnan(a) and math.isnan(b)) or a == b or abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))


# --------------------------------------------------------------------------------------------
# ml_opt.training.fit (minibatch problems)
# --------------------------------------------------------------------------------------------


def plan_fit(problem: Problem, spec: OptimizerSpec, settings: Settings) -> Plan:
    """One optimizer on a minibatch problem, through :func:`ml_opt.training.fit`.

    Each seed ``s`` gives the initialisation key and the shuffling key (``split(key(s))``). The sweep
    runs the grid in one call; the selected learning rate runs again alone (timed); its ``fit``
    history, the minibatch loss before every step, is the trajectory. The final loss, gradient norm
    and accuracy are the full-batch ones at the trained params.
    """
    from ml_opt.training import fit

    data = problem_data(problem)
    n_train = jax.tree.leaves(data["train"])[0].shape[0]
    batch_size = min(settings.batch_size, n_train)
    steps_per_epoch = n_train // batch_size
    keys = jnp.stack([jax.random.key_data(jax.random.key(s)) for s in settings.seeds])
    n_seed = len(settings.seeds)

    def one(lr, key_data, data):
        init_key, shuffle_key = jax.random.split(jax.random.wrap_key_data(key_data))
        params0 = problem.init(init_key)
        opt = spec.transformation(None if lr is None else jnp.asarray(lr, _param_dtype(params0)))
        params, state, hist = fit(problem.batch_loss, params0, opt, data["train"], epochs=settings.epochs,
                                  batch_size=batch_size, key=shuffle_key)
        value, grad = jax.value_and_grad(problem.batch_loss)(params, data["train"])
        fun_n, grad_n, hvp_n = _solver_counts(state)
        out = {
            "initial_loss": problem.batch_loss(params0, data["train"]),
            "value": value,
            "grad_norm": otu.tree_norm(grad, ord=jnp.inf),
            "num_steps": hist.num_updates,
            "num_fun_evals": hist.num_updates + fun_n,
            "num_grad_evals": hist.num_updates + grad_n,
            "num_hvp_evals": hvp_n,
            "status": jnp.where(hist.nonfinite_step >= 0, int(ml_opt.Status.NONFINITE), int(ml_opt.Status.MAX_STEPS)),
            "converged": jnp.zeros([], bool),
            "hist_loss": hist.loss.reshape(-1),
        }
        _accuracy(problem, params, data, out)
        return out

    def status_text(out):
        def text(i, j):
            if int(out["status"][i, j]) == int(ml_opt.Status.NONFINITE):
                return "stopped: a minibatch loss, gradient or update became non-finite"
            return f"trained {settings.epochs} epochs of {steps_per_epoch} minibatches of {batch_size}"
        return text

    def to_records(out, hypers, c_s, r_s):
        recs = _records_from_out(out, problem, spec, settings, hypers, c_s, r_s, "fit", status_text(out))
        for r in recs:
            r["hyperparameters"].update(epochs=settings.epochs, batch_size=batch_size)
        return recs

    programs = {"selected": Program(_batched(one, n_seed, lr_axis=False),
                                    jnp.asarray(settings.learning_rates[0], float) if spec.sweep else None, keys, data)}
    if spec.sweep:
        programs["sweep"] = Program(_batched(one, n_seed, lr_axis=True),
                                    jnp.asarray(np.asarray(settings.learning_rates, float)), keys, data)

    def execute() -> list[dict]:
        selected = programs["selected"]
        if spec.sweep:
            out, r_s = programs["sweep"]()
            hypers = _hypers(settings)
            records = to_records(out, hypers, programs["sweep"].compile_seconds, r_s)
            best = _select(records, len(hypers), n_seed)
            t_out, t_r = selected(jnp.asarray(hypers[best]["learning_rate"], float), keys, data)
        else:
            t_out, t_r = selected()
            records = to_records(t_out, [{}], selected.compile_seconds, t_r)
            best = 0
        t_out = _row(t_out, 0)
        for j in range(n_seed):
            r = records[best * n_seed + j]
            r["selected"] = True
            n = int(t_out["num_steps"][j])
            losses = np.append(np.asarray(t_out["hist_loss"][j], float)[:n], float(t_out["value"][j]))
            k = np.arange(n + 1)
            evals = 2.0 * k + 2.0  # one minibatch value_and_grad per step (f and grad f)
            per_epoch = np.asarray(t_out["hist_loss"][j], float).reshape(settings.epochs, steps_per_epoch)
            r["trajectory"] = make_trajectory(
                k, losses, evals, (t_r / n_seed) * k / max(n, 1), None, compile_seconds=selected.compile_seconds,
                run_seconds=t_r, batch_size=n_seed,
                loss_kind="minibatch loss before each step; last point: full-batch loss",
                epoch_step=(np.arange(settings.epochs) + 1) * steps_per_epoch,
                epoch_loss=np.nanmean(per_epoch, axis=1) if np.any(np.isfinite(per_epoch)) else per_epoch[:, 0])
        return records

    return Plan(problem, spec, programs, execute)


# --------------------------------------------------------------------------------------------
# optax.lbfgs in a jitted loop
# --------------------------------------------------------------------------------------------


class _LbfgsCarry(NamedTuple):
    params: PyTree
    state: PyTree
    value: jax.Array
    grad: PyTree
    num_steps: jax.Array
    evals: jax.Array
    status: jax.Array
    losses: jax.Array
    counts: jax.Array
    iterates: jax.Array


def optax_lbfgs_minimize(fun: Callable, x0: PyTree, *, max_steps: int, gtol: float,
                         record: jax.Array | bool = False, record_params: bool = False) -> dict:
    """``optax.lbfgs()`` (its default zoom line search) in one ``lax.while_loop``, as optax documents it.

    Each iteration: ``value, grad = value_and_grad_from_state(params, state=state)`` (the value and
    gradient the line search computed at the accepted point, so no new evaluation), then
    ``opt.update(grad, state, params, value=value, grad=grad, value_fn=fun)``. Stopping rules as
    :func:`ml_opt.minimize`: ``||grad||_inf <= gtol``, ``max_steps``, a non-finite value (the last
    finite iterate is kept), or no progress (a zero update). Evaluations: one ``value_and_grad`` at
    ``x_0`` plus one per line-search step (``ZoomLinesearchInfo.num_linesearch_steps``), each
    counted as one objective and one gradient evaluation. ``record`` (a possibly traced boolean)
    turns on the trajectory buffers (``max_steps + 1`` entries), as :func:`recording` does.
    """
    opt = optax.lbfgs()
    value_and_grad = optax.value_and_grad_from_state(fun)
    v0, g0 = jax.value_and_grad(fun)(x0)
    state0 = otu.tree_set(opt.init(x0), value=v0, grad=g0)
    length = max_steps + 1
    width = ravel_pytree(x0)[0].shape[0] if record_params else 0
    dtype = jnp.result_type(v0)
    Status = ml_opt.Status

    def inf_norm(g):
        return otu.tree_norm(g, ord=jnp.inf)

    def finite(v, g):
        return jnp.isfinite(v) & jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(g)]))

    def status_of(v, g, k, stalled):
        return jnp.select([~finite(v, g), inf_norm(g) <= gtol, stalled, k >= max_steps],
                          [Status.NONFINITE, Status.CONVERGED, Status.STALLED, Status.MAX_STEPS],
                          Status.RUNNING).astype(jnp.int32)

    zero = jnp.zeros([], jnp.int32)
    init = _LbfgsCarry(x0, state0, v0, g0, zero, zero + 1, status_of(v0, g0, zero, False),
                       jnp.full(length, jnp.nan, dtype), jnp.zeros(length, jnp.int32),
                       jnp.zeros((length, width), dtype))

    def body(c: _LbfgsCarry) -> _LbfgsCarry:
        value, grad = value_and_grad(c.params, state=c.state)
        i = jnp.where(record, c.num_steps, length)  # past the end when not recording: nothing is written
        losses = _write_row(c.losses, i, value)
        counts = _write_row(c.counts, i, c.evals)
        iterates = c.iterates
        if record_params:
            iterates = _write_row(iterates, i, ravel_pytree(c.params)[0])
        updates, state = opt.update(grad, c.state, c.params, value=value, grad=grad, value_fn=fun)
        params = optax.apply_updates(c.params, updates)
        new_value, new_grad = otu.tree_get(state, "value"), otu.tree_get(state, "grad")
        evals = c.evals + jnp.asarray(otu.tree_get(state, "info").num_linesearch_steps, jnp.int32)
        stalled = otu.tree_norm(updates, ord=jnp.inf) == 0
        k = c.num_steps + 1
        status = status_of(new_value, new_grad, k, stalled)
        new = _LbfgsCarry(params, state, new_value, new_grad, k, evals, status, losses, counts, iterates)
        return otu.tree_where(status == Status.NONFINITE,
                              new._replace(params=c.params, value=c.value, grad=c.grad), new)

    final = jax.lax.while_loop(lambda c: c.status == Status.RUNNING, body, init)
    out = {
        "initial_loss": v0,
        "value": final.value,
        "grad_norm": inf_norm(final.grad),
        "num_steps": final.num_steps,
        "num_fun_evals": final.evals,
        "num_grad_evals": final.evals,
        "num_hvp_evals": zero,
        "status": final.status,
        "converged": final.status == Status.CONVERGED,
        "params": final.params,
        "hist_losses": final.losses,
        "hist_evals": final.counts,
    }
    if record_params:
        out.update(hist_iterates=final.iterates, final_flat=ravel_pytree(final.params)[0])
    return out


def plan_optax_lbfgs(problem: Problem, spec: OptimizerSpec, settings: Settings) -> Plan:
    """``optax.lbfgs`` on a deterministic problem: one program, run timed then recorded."""
    with_params = problem.dim <= 2
    n_seed = len(settings.seeds)

    loss = objective(problem)

    def one(lr, x0, data, record):
        del lr
        out = optax_lbfgs_minimize(lambda p: loss(p, data["train"]), x0, max_steps=settings.max_steps,
                                   gtol=settings.gtol, record=record, record_params=with_params)
        _accuracy(problem, out.pop("params"), data, out)
        return out

    programs = {"selected": _selected_program(problem, settings, one, sweep=False)}

    def execute() -> list[dict]:
        selected = programs["selected"]
        timed, recorded, t_r = _timed_and_recorded(selected, None)
        strip = {k: v for k, v in timed.items() if not k.startswith(("hist_", "final_"))}
        records = _records_from_out(strip, problem, spec, settings, [{}], selected.compile_seconds, t_r,
                                    "optax_lbfgs")
        recorded = _row(recorded, 0)
        for j, r in enumerate(records):
            n = int(recorded["num_steps"][j])
            k = np.arange(n + 1)
            losses = np.append(recorded["hist_losses"][j][:n], recorded["value"][j])
            evals = 2.0 * np.append(recorded["hist_evals"][j][:n], recorded["num_fun_evals"][j])
            params = None
            if with_params:
                params = np.concatenate([recorded["hist_iterates"][j][:n], recorded["final_flat"][j][None]], axis=0)
            r["selected"] = True
            r["trajectory"] = make_trajectory(k, losses, evals, (t_r / n_seed) * k / max(n, 1), params,
                                              compile_seconds=selected.compile_seconds, run_seconds=t_r,
                                              batch_size=n_seed)
        return records

    return Plan(problem, spec, programs, execute)


# --------------------------------------------------------------------------------------------
# Dispatch
# --------------------------------------------------------------------------------------------


def plan_pair(problem: Problem, spec: OptimizerSpec, settings: Settings) -> Plan:
    """The plan of one optimizer on one problem (its driver chosen by the optimizer and the problem)."""
    if spec.driver == "scipy":
        from benchmarks.scipy_baseline import plan_scipy

        return plan_scipy(problem, spec, settings)
    if spec.driver == "optax_lbfgs":
        return plan_optax_lbfgs(problem, spec, settings)
    if is_minibatch(problem):
        return plan_fit(problem, spec, settings)
    return plan_minimize(problem, spec, settings)


def error_record(problem: Problem, spec: OptimizerSpec, settings: Settings, error: BaseException) -> dict:
    """The record of a pair that raised: the error in one line (and the traceback, for the curious)."""
    r = _base_record(problem, spec, settings, spec.driver)
    text = str(error).strip()
    message = f"{type(error).__name__}: {text.splitlines()[0] if text else ''}"
    r.update(hyperparameters=dict(spec.fixed), seed=None, initial_loss=None, final_loss=None, grad_norm=None,
             steps=0, fun_evals=0, grad_evals=0, hvp_evals=0, compile_seconds=0.0, run_seconds=0.0, batch_size=0,
             status=f"error: {message}", converged=False,
             success=False if problem.f_opt is not None else None, success_kind=None, error=message,
             traceback="".join(traceback.format_exception(type(error), error, error.__traceback__, limit=8)))
    return r


def run_pair(problem: Problem, spec: OptimizerSpec, settings: Settings) -> list[dict]:
    """All runs of one optimizer on one problem, compiled then run. An exception becomes one error
    record (a suite goes on)."""
    try:
        plan = plan_pair(problem, spec, settings)
        for program in plan.programs.values():
            program.compile()
        return plan.execute()
    except Exception as e:  # noqa: BLE001 - reported in the record and the report, never hidden
        return [error_record(problem, spec, settings, e)]


# --------------------------------------------------------------------------------------------
# Surfaces of the 2-D functions (for the contour plots) and the suite loop
# --------------------------------------------------------------------------------------------


def _domain_from_runs(problem: Problem, records: list[dict]) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """A plotting box for a 2-D problem without a ``domain``: the start, the known minimiser and the
    final points of the runs that did not diverge, padded by a quarter on each side."""
    points = []
    for r in records:
        t = r.get("trajectory")
        if not t or t.get("params") is None:
            continue
        p = np.asarray(t["params"], float)
        points.append(p[0])
        if r.get("final_loss") is not None and math.isfinite(r["final_loss"]) and r["final_loss"] <= r["initial_loss"]:
            points.append(p[-1])
    if problem.x_opt is not None:
        points.append(np.asarray(ravel_pytree(problem.x_opt)[0], float))
    points = [p for p in points if np.all(np.isfinite(p)) and np.all(np.abs(p) < 1e6)]
    if not points:
        return None
    pts = np.stack(points)
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    width = np.maximum(hi - lo, 1e-3 * np.maximum(1.0, np.abs(hi)))
    lo, hi = lo - 0.25 * width, hi + 0.25 * width
    return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def save_surface(problem: Problem, records: list[dict], out_dir: str, size: int = 161) -> str | None:
    """Evaluates a 2-D problem on a grid over its domain and saves it (``surfaces/<name>.npz``)."""
    if problem.dim != 2 or is_minibatch(problem):
        return None
    domain = problem.domain or _domain_from_runs(problem, records)
    if domain is None:
        return None
    (x0, x1), (y0, y1) = domain
    xs, ys = np.linspace(x0, x1, size), np.linspace(y0, y1, size)
    flat0, unravel = ravel_pytree(problem.init(jax.random.key(0)))
    grid = jnp.asarray(np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2), flat0.dtype)
    z = np.asarray(jax.jit(jax.vmap(lambda v: problem.fun(unravel(v))))(grid), float).reshape(size, size)
    from benchmarks.plots import slug

    path = os.path.join(out_dir, "surfaces", f"{slug(problem.name)}.npz")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    arrays = {"x": xs, "y": ys, "z": z}
    if problem.x_opt is not None:
        arrays["x_opt"] = np.asarray(ravel_pytree(problem.x_opt)[0], float)
    np.savez_compressed(path, **arrays)
    return path


def run_suite(problems: list[Problem], specs: list[OptimizerSpec], settings: Settings, out_dir: str, *,
              progress: bool = True, compile_workers: int | None = None,
              minibatch_optimizers: tuple[str, ...] | None = None) -> list[dict]:
    """Runs every applicable (problem, optimizer) pair; returns all records.

    One problem at a time, in two phases. **Compile**: the problem's pairs are lowered on the main
    thread and compiled by ``compile_workers`` threads (XLA compiles outside the GIL), all before
    any of them is timed. **Run**: its pairs run one after the other on the main thread, with nothing
    else running in the process; each pair's records are appended to ``out_dir/records.jsonl`` as
    soon as it ends, and its compiled programs are freed. (Compiling the whole suite first would
    keep every executable alive at once: the MGH suite's thousand programs exhaust the process's
    memory mappings.) A pair that raises in either phase gets an error record; the suite goes on.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    workers = compile_workers or max(1, min(4, os.cpu_count() or 1))
    path = os.path.join(out_dir, rec.RECORDS_FILE)
    bar_format = "{desc}{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]"

    def wanted(problem: Problem, spec: OptimizerSpec) -> bool:
        return applicable(problem, spec) and not (
                minibatch_optimizers is not None and is_minibatch(problem) and spec.name not in minibatch_optimizers)

    per_problem = [(problem, [s for s in specs if wanted(problem, s)]) for problem in problems]
    all_records: list[dict] = []
    with ThreadPoolExecutor(max_workers=workers) as pool, \
            tqdm(total=sum(len(mine) for _, mine in per_problem), disable=not progress, unit="pair",
                 dynamic_ncols=True, bar_format=bar_format) as bar:
        for problem, mine in per_problem:
            if not mine:
                continue
            bar.set_description(f"compiling {problem.name[:24]} ", refresh=True)
            plans = _compile_pairs(pool, problem, mine, settings)
            problem_records = []
            for plan in plans:
                if isinstance(plan, dict):  # failed to build or compile
                    records = [plan]
                else:
                    bar.set_description(f"running {problem.name[:24]}, {plan.spec.name[:20]} ", refresh=False)
                    try:
                        records = plan.execute()
                    except Exception as e:  # noqa: BLE001
                        records = [error_record(problem, plan.spec, settings, e)]
                    plan.programs.clear()  # free the executables
                rec.append_records(path, records)
                problem_records += records
                bar.update(1)
            save_surface(problem, problem_records, out_dir)
            all_records += problem_records
    return all_records


def _compile_pairs(pool, problem: Problem, specs: list[OptimizerSpec], settings: Settings) -> list[Plan | dict]:
    """The plans of ``problem`` with each optimizer of ``specs``, every program compiled by ``pool``
    (all submitted before any is waited for, so they compile concurrently); a pair that fails to
    build or compile becomes its error record."""
    pending = []
    for spec in specs:
        try:
            plan = plan_pair(problem, spec, settings)
            for program in plan.programs.values():
                program.lower()
            pending.append((spec, plan, [pool.submit(program.compile) for program in plan.programs.values()]))
        except Exception as e:  # noqa: BLE001 - becomes the pair's error record
            pending.append((spec, error_record(problem, spec, settings, e), []))
    plans: list[Plan | dict] = []
    for spec, plan, futures in pending:
        try:
            for future in futures:
                future.result()
            plans.append(plan)
        except Exception as e:  # noqa: BLE001
            plans.append(error_record(problem, spec, settings, e))
    return plans
