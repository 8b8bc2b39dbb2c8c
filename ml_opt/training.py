"""Minibatch training: :func:`fit`, the whole epoch loop in one compiled program.

:func:`fit` runs ``epochs`` passes over ``data``. Each epoch draws a fresh permutation of the
examples (``jax.random.permutation`` with ``fold_in(key, epoch)``), cuts it into
``N // batch_size`` minibatches and takes one optimizer step per minibatch::

    for epoch e:                      # lax.scan over epochs
        perm = permutation(fold_in(key, e), N)
        for s in range(N // batch_size):      # lax.scan over minibatches
            batch   = data[perm[s*B:(s+1)*B]]
            value, g = value_and_grad(loss)(params, batch)
            updates, state = optimizer.update(g, state, params, value=value, grad=g,
                                              value_fn=lambda p: loss(p, batch))
            params  = optax.apply_updates(params, updates)

Both loops live inside one ``jax.jit``-compiled program; nothing returns to Python between steps.
Because every step passes ``value``, ``grad`` and ``value_fn`` (the loss closed over *this*
minibatch), the second-order rules (``lbfgs``, ``newton_cg``, ``bfgs``, ... and ``optax.lbfgs``)
drop in beside the first-order ones; the first-order rules ignore the extra arguments.

Conventions:

* **Last partial batch.** The ``N % batch_size`` examples left over by each epoch's permutation
  are not used in that epoch (they are different examples every epoch, so every example is seen
  in expectation). ``batch_size > N`` is an error.
* **Non-finite values** are reported, never absorbed. A step is *non-finite* when the minibatch
  loss is NaN or infinite, or the norm of its gradient or of the optimizer's update is (a NaN or an
  infinity in any entry, or a norm that overflows). ``History.nonfinite_step`` records the index of
  the first such step (``-1`` if none). With ``stop_on_nonfinite=True`` (the default) the run stops
  updating there:

  - a non-finite loss or gradient is caught *before* the optimizer runs, so that step is not
    applied: the returned params and state are the (finite) ones at which it appeared;
  - an update that is non-finite although the loss and gradient were finite (an overflow inside
    the optimizer) has been applied when it is seen; the run stops right after it, so the
    returned params are that non-finite iterate, and ``nonfinite_step`` says where it came from.
    (Taking it back needs a select of old against new params and state at every step; on the
    digits MLP on CPU that roughly halved the steps per second.)

  No later step is applied (the fixed-shape program still evaluates their minibatch losses) and
  their ``History.loss`` and ``grad_norm`` entries are NaN. With ``stop_on_nonfinite=False``
  every step is applied, as a plain optax loop would, and only the index is recorded.
* **Compilation.** The compiled program is cached: a later call with the same ``loss`` and
  ``optimizer`` objects, the same ``epochs``, ``batch_size`` and options, and arguments with the
  same tree structure, shapes, dtypes and shardings runs without tracing or compiling again.
  :func:`compile_fit` does the compilation alone and reports its time, so compile time can be
  measured apart from run time. Note that ``optax.adam(1e-3)`` builds a new transformation (new
  functions) each time it is called: build the optimizer once and pass the same object, or
  ``jax.vmap`` over a JAX-scalar learning rate, to reuse the program.
* **Transformations.** :func:`fit` works under ``jax.vmap`` (over seeds, over learning rates:
  build the optimizer inside the vmapped function) and under ``jax.jit``; it then inlines the
  same program into the caller's.
* **Sharding.** Params, optimizer state and data may be sharded ``jax.Array`` s (e.g. FSDP:
  params and state split over a mesh axis; data split over the example axis). The program keeps
  the params' and state's shardings on output, and each minibatch is constrained to
  ``batch_sharding`` (by default, the sharding of ``data`` where that is a ``NamedSharding``),
  which makes the step data-parallel.

Flax NNX
--------
``fit`` accepts an ``nnx.Module`` in place of ``params``; ``loss`` then takes ``(model, batch)``.
The module is split with ``nnx.split(model, nnx.Param, ...)``; the optimizer sees the
``nnx.Param`` variables (as a pure ``nnx.State`` of arrays, as ``nnx.Optimizer`` does); other
variables (``BatchStat``, RNG counters of ``nnx.Dropout``) are carried from each gradient
evaluation to the next. ``fit`` returns a *new* module; the one passed in is left untouched::

    model = MLP(64, 128, 10, rngs=nnx.Rngs(0))
    def loss(model, batch):
        logits = model(batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()
    model, opt_state, history = fit(loss, model, ml_opt.adam(1e-3), data,
                                    epochs=20, batch_size=32, key=jax.random.key(0))

The step-by-step NNX loop, with ``nnx.Optimizer``, works with every optimizer. First-order::

    optimizer = nnx.Optimizer(model, ml_opt.adam(1e-3), wrt=nnx.Param)

    @nnx.jit
    def train_step(model, optimizer, batch):
        grads = nnx.grad(loss)(model, batch)
        optimizer.update(model, grads)

Second-order rules need the objective. ``nnx.Optimizer.update(model, grads, **kwargs)`` (flax
0.12) forwards ``kwargs`` to ``tx.update`` after ``nnx.as_pure``, and it hands the rule the params
as a pure ``nnx.State`` of the ``wrt`` variables; so ``value_fn`` takes that state and merges it
back into a model::

    optimizer = nnx.Optimizer(model, optax.lbfgs(), wrt=nnx.Param)   # or ml_opt.lbfgs()

    @nnx.jit
    def train_step(model, optimizer, batch):
        graphdef, _, rest = nnx.split(model, nnx.Param, ...)
        value_fn = lambda p: loss(nnx.merge(graphdef, p, rest), batch)
        value, grads = nnx.value_and_grad(loss)(model, batch)
        optimizer.update(model, grads, value=value, grad=grads, value_fn=value_fn)

Flax Linen
----------
Pass the variables and close the loss over ``model.apply``::

    variables = model.init(key, x[:1])
    loss = lambda v, batch: cross_entropy(model.apply(v, batch["x"]), batch["y"])
    variables, opt_state, history = fit(loss, variables, ml_opt.adam(1e-3), data, ...)

With ``flax.training.train_state.TrainState``, ``state.apply_gradients(grads=grads)`` works for
every first-order rule. Its ``**kwargs`` are *not* forwarded to ``tx.update`` (they replace
fields of the state), so for second-order rules subclass it::

    class ObjectiveTrainState(train_state.TrainState):
        def apply_gradients(self, *, grads, **extra):  # extra: value, grad, value_fn
            updates, opt_state = self.tx.update(grads, self.opt_state, self.params, **extra)
            return self.replace(step=self.step + 1, opt_state=opt_state,
                                params=optax.apply_updates(self.params, updates))

    state = state.apply_gradients(grads=g, value=v, grad=g,
                                  value_fn=lambda p: loss_fn(p, batch))
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from ml_opt._base import check_integer, check_params

try:  # whether we are inside a transformation (jit, vmap, grad) being traced
    from jax._src.core import trace_state_clean as _trace_state_clean
except ImportError:  # pragma: no cover - a future jax; take jax.jit's own cache, which is always right
    def _trace_state_clean() -> bool:
        return False

Array = jax.Array
PyTree = Any

__all__ = ["History", "CompiledFit", "fit", "compile_fit"]


class History(NamedTuple):
    """What :func:`fit` records.

    Attributes:
      loss: ``(epochs, steps_per_epoch)``; the minibatch loss at the params *before* each step.
        NaN for the steps after the first non-finite one (``stop_on_nonfinite=True``).
      grad_norm: ``(epochs, steps_per_epoch)``; the Euclidean norm of each minibatch gradient
        (NaN where skipped).
      nonfinite_step: int32 scalar; the index ``epoch * steps_per_epoch + step`` of the first step
        whose loss, gradient or update was non-finite, or ``-1``.
      num_updates: int32 scalar; the number of updates applied (with ``stop_on_nonfinite``, the
        non-finite step itself is counted only when its update, not its loss or gradient, was
        the non-finite part).
    """

    loss: Array
    grad_norm: Array
    nonfinite_step: Array
    num_updates: Array


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


def _check_optimizer(optimizer: Any) -> None:
    if isinstance(optimizer, optax.GradientTransformation):
        return
    if isinstance(optimizer, nnx.Optimizer):
        raise TypeError(
                "optimizer must be an optax.GradientTransformation; got an nnx.Optimizer. "
                "Pass its transformation (e.g. ml_opt.adam(1e-3)), not the nnx wrapper."
        )
    if callable(optimizer) and not hasattr(optimizer, "init"):
        name = getattr(optimizer, "__name__", type(optimizer).__name__)
        raise TypeError(
                f"optimizer must be an optax.GradientTransformation; got the callable {name!r}. "
                f"Did you mean {name}(...) (call the factory)?"
        )
    raise TypeError(
            "optimizer must be an optax.GradientTransformation (with init and update), "
            f"got {type(optimizer).__name__}"
    )


def _check_data(data: PyTree) -> int:
    leaves = jax.tree_util.tree_leaves_with_path(data)
    if not leaves:
        raise ValueError("data has no array leaves")
    sizes = {}
    for path, leaf in leaves:
        where = jax.tree_util.keystr(path) or "(the root)"
        if jnp.ndim(leaf) < 1:
            raise ValueError(f"data leaves need the examples on axis 0; the leaf at {where} is a scalar")
        sizes[where] = jnp.shape(leaf)[0]
    if len(set(sizes.values())) > 1:
        listing = ", ".join(f"{w}: {n}" for w, n in sizes.items())
        raise ValueError(f"data leaves must all have the same number of examples on axis 0; got {listing}")
    n = next(iter(sizes.values()))
    if n == 0:
        raise ValueError("data has no examples (axis 0 has size 0)")
    return n


def _check_key(key: Any) -> Array:
    if not isinstance(key, (jax.Array, jax.core.Tracer)):
        raise TypeError(f"key must be a JAX PRNG key (jax.random.key(seed)), got {type(key).__name__}")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if key.shape != ():
            raise ValueError(f"key must be a single PRNG key, got a key array of shape {key.shape}")
        return key
    if key.dtype == jnp.uint32 and key.shape == (2,):
        return key
    raise TypeError(f"key must be a JAX PRNG key (jax.random.key(seed)), got {key.dtype}{list(key.shape)}")


def _as_array(x: Any) -> Any:
    return x if isinstance(x, (jax.Array, jax.core.Tracer)) else jnp.asarray(x)


# --------------------------------------------------------------------------------------------
# The compiled program
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Config:
    """Everything static about a run; the key of the compilation cache (with the argument specs)."""

    loss: Callable
    optimizer: optax.GradientTransformation
    epochs: int
    batch_size: int
    stop_on_nonfinite: bool
    graphdef: Any  # nnx.GraphDef for a module, None for plain params
    batch_sharding: Any  # a tuple of shardings, one per data leaf, or None
    carry_sharding: Any  # (params shardings, state shardings) as tuples of leaves, or None


def _explicitly_sharded(x: Array) -> bool:
    """Whether ``x``'s type carries its sharding (a mesh with Explicit axes): no constraint needed."""
    spec = getattr(getattr(jax.typeof(x), "sharding", None), "spec", None)
    return spec is not None and any(axis is not None for axis in spec)


def _constrain(tree: PyTree, shardings: tuple | None) -> PyTree:
    if shardings is None:
        return tree
    leaves, treedef = jax.tree.flatten(tree)
    leaves = [x if s is None or _explicitly_sharded(x) else jax.lax.with_sharding_constraint(x, s)
              for x, s in zip(leaves, shardings)]
    return treedef.unflatten(leaves)


def _gather(x: Array, idx: Array) -> Array:
    """``x[idx]``; under an Explicit-axes mesh the rows stay sharded as ``x``'s are."""
    sharding = getattr(jax.typeof(x), "sharding", None)
    spec = getattr(sharding, "spec", None)
    if spec is not None and any(axis is not None for axis in spec):
        return x.at[idx].get(out_sharding=sharding)
    return jnp.take(x, idx, axis=0)


def _run(cfg: _Config, params, opt_state, rest, data, key, start_epoch):
    """The whole training run; traced once per cache entry."""
    optimizer = optax.with_extra_args_support(cfg.optimizer)
    n = jax.tree.leaves(data)[0].shape[0]
    steps = n // cfg.batch_size
    param_shardings, state_shardings = cfg.carry_sharding or (None, None)

    if cfg.graphdef is None:
        def objective(p, r, batch):
            return cfg.loss(p, batch), r
    else:
        def objective(p, r, batch):
            model = nnx.merge(cfg.graphdef, p, r)
            value = cfg.loss(model, batch)
            _, _, new_rest = nnx.split(model, nnx.Param, ...)
            return value, nnx.as_pure(new_rest)

    def checked(p, r, batch):
        try:
            value, new_rest = objective(p, r, batch)
        except (TypeError, ValueError) as error:  # e.g. a dot_general shape mismatch
            shapes = jax.tree.map(lambda x: tuple(x.shape), batch)
            raise ValueError(
                    f"loss failed on a minibatch of data with shapes {shapes} (the batch axis first); "
                    f"check that each example of data has the shape the model takes as input. "
                    f"The error was: {error}"
            ) from error
        if jnp.shape(value) != () or not jnp.issubdtype(jnp.result_type(value), jnp.floating):
            raise TypeError(
                    f"loss must return a floating-point scalar; got shape {jnp.shape(value)} "
                    f"dtype {jnp.result_type(value)}"
            )
        return value, new_rest

    value_and_grad = jax.value_and_grad(checked, has_aux=True)

    def step(carry, idx):
        params, opt_state, rest, t, first_bad, num_updates = carry
        batch = _constrain(jax.tree.map(lambda x: _gather(x, idx), data), cfg.batch_sharding)
        (value, new_rest), grad = value_and_grad(params, rest, batch)
        grad_norm = optax.tree.norm(grad)
        # A NaN or an infinity anywhere in the gradient (or a norm that overflows) makes its norm
        # non-finite: one reduction, which the history records anyway.
        evaluated_ok = jnp.isfinite(value) & jnp.isfinite(grad_norm)

        def value_fn(p):
            return checked(p, rest, batch)[0]

        def apply_step():
            updates, new_state = optimizer.update(grad, opt_state, params, value=value, grad=grad,
                                                  value_fn=value_fn)
            new_params = optax.apply_updates(params, updates)
            return new_params, new_state, new_rest, jnp.isfinite(optax.tree.norm(updates))

        if cfg.stop_on_nonfinite:
            # The update runs only from a finite loss and gradient, and only until the first
            # non-finite step; lax.cond (not a select of new against old values) so that the
            # update writes the carry in place.
            stopped = first_bad >= 0
            apply = evaluated_ok & ~stopped
            new_params, new_state, new_rest, update_ok = jax.lax.cond(
                    apply, apply_step, lambda: (params, opt_state, rest, jnp.asarray(True)))
            value = jnp.where(stopped, jnp.nan, value)
            grad_norm = jnp.where(stopped, jnp.nan, grad_norm)
        else:
            new_params, new_state, new_rest, update_ok = apply_step()
            apply = jnp.asarray(True)
        ok = evaluated_ok & update_ok
        new_params = _constrain(new_params, param_shardings)
        new_state = _constrain(new_state, state_shardings)
        first_bad = jnp.where((first_bad < 0) & ~ok, t, first_bad)
        carry = (new_params, new_state, new_rest, t + 1, first_bad, num_updates + apply.astype(jnp.int32))
        return carry, (value, grad_norm)

    def epoch(carry, e):
        perm = jax.random.permutation(jax.random.fold_in(key, start_epoch + e), n)
        batches = perm[: steps * cfg.batch_size].reshape(steps, cfg.batch_size)
        return jax.lax.scan(step, carry, batches)

    carry = (params, opt_state, rest, jnp.zeros([], jnp.int32), jnp.full([], -1, jnp.int32),
             jnp.zeros([], jnp.int32))
    carry, (losses, grad_norms) = jax.lax.scan(epoch, carry, jnp.arange(cfg.epochs, dtype=jnp.int32))
    params, opt_state, rest, _, first_bad, num_updates = carry
    return params, opt_state, rest, History(losses, grad_norms, first_bad, num_updates)


_run_jit = jax.jit(_run, static_argnums=0)


# --------------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------------


class _Prepared(NamedTuple):
    cfg: _Config
    args: tuple  # (params, opt_state, rest, data, key, start_epoch)
    traced: bool


def _named_shardings(tree: PyTree) -> tuple | None:
    """The leaves' shardings where some leaf is a multi-device NamedSharding; None otherwise."""
    leaves = jax.tree.leaves(tree)
    shardings = tuple(getattr(x, "sharding", None) for x in leaves)
    if any(isinstance(s, jax.sharding.NamedSharding) and len(s.device_set) > 1 for s in shardings):
        return tuple(s if isinstance(s, jax.sharding.NamedSharding) else None for s in shardings)
    return None


def _prepare(loss, params, optimizer, data, *, epochs, batch_size, key, opt_state, start_epoch,
             stop_on_nonfinite, batch_sharding) -> _Prepared:
    if not callable(loss):
        raise TypeError(f"loss must be callable loss(params, batch) -> scalar, got {type(loss).__name__}")
    _check_optimizer(optimizer)
    check_integer(epochs, "epochs", lower=1, static=True)
    check_integer(batch_size, "batch_size", lower=1, static=True)
    epochs, batch_size = int(epochs), int(batch_size)
    n = _check_data(data)
    if batch_size > n:
        raise ValueError(f"batch_size must be <= the number of examples in data ({n}), got {batch_size}")
    key = _check_key(key)
    if isinstance(start_epoch, bool):
        raise TypeError("start_epoch must be an int")
    start_epoch = jnp.asarray(start_epoch, jnp.int32)

    if isinstance(params, nnx.Module):
        graphdef, param_state, rest = nnx.split(params, nnx.Param, ...)
        # Pure states (arrays, not Variables): merged inside the trace into fresh Variables that
        # the loss may update (batch statistics, RNG counts).
        params, rest = nnx.as_pure(param_state), nnx.as_pure(rest)
        check_params(params, "params (the model's nnx.Param variables)")
    else:
        graphdef, rest = None, None
        check_params(params)
    params = jax.tree.map(_as_array, params)
    data = jax.tree.map(_as_array, data)
    if opt_state is None:
        opt_state = optimizer.init(params)
    elif jax.tree.structure(opt_state) != jax.tree.structure(jax.eval_shape(optimizer.init, params)):
        raise ValueError("opt_state does not have the structure of optimizer.init(params)")

    # Under a transformation the optimizer or loss may close over tracers (jax.vmap over learning
    # rates builds the optimizer inside), so the program is inlined into the caller's trace.
    traced = not _trace_state_clean() or any(
            isinstance(x, jax.core.Tracer) for x in jax.tree.leaves((params, opt_state, rest, data, key, start_epoch)))
    if batch_sharding is not None:
        num_leaves = len(jax.tree.leaves(data))
        if isinstance(batch_sharding, jax.sharding.Sharding):
            batch_sharding = tuple(batch_sharding for _ in range(num_leaves))
        elif (isinstance(batch_sharding, tuple) and len(batch_sharding) == num_leaves
              and all(s is None or isinstance(s, jax.sharding.Sharding) for s in batch_sharding)):
            pass  # one per data leaf (None: unconstrained), as a CompiledFit holds it
        else:
            batch_sharding = tuple(jax.tree.leaves(batch_sharding,
                                                   is_leaf=lambda s: isinstance(s, jax.sharding.Sharding)))
            if len(batch_sharding) != len(jax.tree.leaves(data)):
                raise ValueError("batch_sharding must be one Sharding or a tree of them shaped like data")
    elif not traced:
        batch_sharding = _named_shardings(data)
    carry_sharding = None
    if not traced:
        ps, ss = _named_shardings(params), _named_shardings(opt_state)
        if ps is not None or ss is not None:
            carry_sharding = (ps, ss)
    cfg = _Config(loss, optimizer, epochs, batch_size, bool(stop_on_nonfinite), graphdef,
                  batch_sharding, carry_sharding)
    return _Prepared(cfg, (params, opt_state, rest, data, key, start_epoch), traced)


def _spec(x: Any) -> tuple:
    return (x.shape, x.dtype, getattr(x, "weak_type", False), getattr(x, "sharding", None))


class _Cache:
    """A small LRU cache of compiled programs, keyed by config and argument specs."""

    def __init__(self, maxsize: int = 64):
        self.maxsize = maxsize
        self._entries: collections.OrderedDict = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, k):
        with self._lock:
            value = self._entries.get(k)
            if value is not None:
                self._entries.move_to_end(k)
            return value

    def put(self, k, value):
        with self._lock:
            self._entries[k] = value
            while len(self._entries) > self.maxsize:
                self._entries.popitem(last=False)

    def clear(self):
        with self._lock:
            self._entries.clear()


_cache = _Cache()


@dataclasses.dataclass(frozen=True, eq=False)
class CompiledFit:
    """A compiled training run (see :func:`compile_fit`).

    Attributes:
      compile_seconds: wall time spent tracing, lowering and compiling this program (``0.0`` when
        it came from the cache: see ``from_cache``).
      from_cache: whether the program was already compiled by an earlier call.
      steps_per_epoch: ``N // batch_size``.
    """

    cfg: _Config
    compiled: Any
    arg_key: Any
    compile_seconds: float
    from_cache: bool
    steps_per_epoch: int

    def __call__(self, params, data, *, key, opt_state=None, start_epoch=0):
        """Runs the compiled program; the arguments must match the ones it was compiled for."""
        prepared = _prepare(self.cfg.loss, params, self.cfg.optimizer, data, epochs=self.cfg.epochs,
                            batch_size=self.cfg.batch_size, key=key, opt_state=opt_state,
                            start_epoch=start_epoch, stop_on_nonfinite=self.cfg.stop_on_nonfinite,
                            batch_sharding=self.cfg.batch_sharding)
        if _arg_key(prepared) != self.arg_key:
            raise ValueError("the arguments do not match the shapes, dtypes or shardings this program "
                             "was compiled for; call compile_fit (or fit) with them")
        return _finish(prepared, *self.compiled(*prepared.args))


def _arg_key(prepared: _Prepared):
    leaves, treedef = jax.tree.flatten(prepared.args)
    return prepared.cfg, treedef, tuple(_spec(x) for x in leaves)


def _finish(prepared: _Prepared, params, opt_state, rest, history):
    if prepared.cfg.graphdef is not None:
        params = nnx.merge(prepared.cfg.graphdef, params, rest)
    return params, opt_state, history


def _compile(prepared: _Prepared) -> CompiledFit:
    k = _arg_key(prepared)
    steps = jax.tree.leaves(prepared.args[3])[0].shape[0] // prepared.cfg.batch_size
    entry = _cache.get(k)
    if entry is not None:
        return CompiledFit(prepared.cfg, entry[0], k, 0.0, True, steps)
    start = time.perf_counter()
    compiled = _run_jit.lower(prepared.cfg, *prepared.args).compile()
    seconds = time.perf_counter() - start
    _cache.put(k, (compiled, seconds))
    return CompiledFit(prepared.cfg, compiled, k, seconds, False, steps)


def compile_fit(
        loss: Callable[[PyTree, PyTree], Array],
        params: PyTree,
        optimizer: optax.GradientTransformation,
        data: PyTree,
        *,
        epochs: int,
        batch_size: int,
        key: Array,
        opt_state: PyTree | None = None,
        start_epoch: int | Array = 0,
        stop_on_nonfinite: bool = True,
        batch_sharding: Any = None,
) -> CompiledFit:
    """Compiles (or fetches from the cache) the program :func:`fit` would run, without running it.

    Takes the same arguments as :func:`fit` (their values are not used, only their structure,
    shapes, dtypes and shardings). Use it to time compilation apart from the run::

        compiled = compile_fit(loss, params, opt, data, epochs=5, batch_size=32, key=key)
        print(compiled.compile_seconds)
        params, opt_state, history = compiled(params, data, key=key)   # no tracing, no compiling

    Returns:
      A :class:`CompiledFit`; calling it as ``compiled(params, data, key=..., opt_state=None,
      start_epoch=0)`` returns what :func:`fit` returns.
    """
    prepared = _prepare(loss, params, optimizer, data, epochs=epochs, batch_size=batch_size, key=key,
                        opt_state=opt_state, start_epoch=start_epoch,
                        stop_on_nonfinite=stop_on_nonfinite, batch_sharding=batch_sharding)
    if prepared.traced:
        raise TypeError("compile_fit needs concrete arguments; under jax.jit or jax.vmap call fit instead")
    return _compile(prepared)


def fit(
        loss: Callable[[PyTree, PyTree], Array],
        params: PyTree,
        optimizer: optax.GradientTransformation,
        data: PyTree,
        *,
        epochs: int,
        batch_size: int,
        key: Array,
        opt_state: PyTree | None = None,
        start_epoch: int | Array = 0,
        stop_on_nonfinite: bool = True,
        batch_sharding: Any = None,
) -> tuple[PyTree, PyTree, History]:
    """Minibatch training with shuffling, the whole epoch loop in one compiled program.

    Epoch ``e`` visits the examples in the order ``jax.random.permutation(fold_in(key,
    start_epoch + e), N)``, in ``N // batch_size`` minibatches (the remainder is left out of that
    epoch); each minibatch makes one step::

        value, g = value_and_grad(loss)(params, batch)
        updates, opt_state = optimizer.update(g, opt_state, params, value=value, grad=g,
                                              value_fn=lambda p: loss(p, batch))
        params = optax.apply_updates(params, updates)

    See the module docstring for the conventions (non-finite values, caching, sharding, Flax).

    Args:
      loss: ``loss(params, batch) -> scalar``, ``batch`` a pytree shaped like ``data`` with
        ``batch_size`` examples on axis 0; ``loss(model, batch)`` when ``params`` is an
        ``nnx.Module``. Pass the same function object to reuse the compiled program.
      params: a pytree of floating-point arrays, or an ``nnx.Module``.
      optimizer: an ``optax.GradientTransformation`` (first- or second-order; a plain
        ``GradientTransformation`` is given extra-args support).
      data: a pytree of arrays with the examples on axis 0 (all leaves the same length ``N``).
      epochs: number of passes over ``data``, ``>= 1``.
      batch_size: examples per step, ``1 <= batch_size <= N``.
      key: a PRNG key (``jax.random.key(seed)``); the shuffling depends on it alone.
      opt_state: the optimizer state to resume from; ``optimizer.init(params)`` when None.
      start_epoch: the index of the first epoch, for resuming: a run of ``a`` epochs followed by
        one of ``b`` epochs with ``start_epoch=a``, the returned params and state and the same
        key, follows the same trajectory as one run of ``a + b`` epochs.
      stop_on_nonfinite: stop updating at the first non-finite step (see :class:`History`).
      batch_sharding: a ``jax.sharding.Sharding`` (or a tree of them shaped like ``data``) each
        minibatch is constrained to; by default the sharding of ``data`` when it is a
        multi-device ``NamedSharding``, else none.

    Returns:
      ``(params, opt_state, history)``: the final params (a new module for an ``nnx.Module``),
      the optimizer state, and a :class:`History`.

    Raises:
      TypeError / ValueError naming the argument: ``epochs < 1``, ``batch_size`` outside
      ``[1, N]``, data leaves of different lengths, integer params, an ``optimizer`` that is not an
      optax transformation, a key that is not a PRNG key, a loss that does not return a scalar.

    Example:
      >>> import jax, jax.numpy as jnp, optax
      >>> X = jax.random.normal(jax.random.key(0), (256, 3)); y = X @ jnp.array([1., -2., 3.])
      >>> loss = lambda w, b: jnp.mean((b[0] @ w - b[1]) ** 2)
      >>> w, state, hist = fit(loss, jnp.zeros(3), optax.sgd(0.1), (X, y),
      ...                      epochs=20, batch_size=32, key=jax.random.key(1))
      >>> hist.loss.shape
      (20, 8)

    References:
      Robbins and Monro, "A stochastic approximation method", 1951. Bottou, Curtis and Nocedal,
      "Optimization methods for large-scale machine learning", 2018 (Alg. 4.1, minibatch SG).
    """
    prepared = _prepare(loss, params, optimizer, data, epochs=epochs, batch_size=batch_size, key=key,
                        opt_state=opt_state, start_epoch=start_epoch,
                        stop_on_nonfinite=stop_on_nonfinite, batch_sharding=batch_sharding)
    if prepared.traced:
        return _finish(prepared, *_run_jit(prepared.cfg, *prepared.args))
    compiled = _compile(prepared)
    return _finish(prepared, *compiled.compiled(*prepared.args))
