"""Steps per second of ``ml_opt.fit`` against the per-step training loops people write, in one run.

    python -m benchmarks.fit_throughput            # 20 epochs, best of 3 (about a minute on 2 cores)
    python -m benchmarks.fit_throughput --epochs 5

The model is the digits MLP of :mod:`ml_opt.problems.networks` (64-128-10, ReLU), trained with
``ml_opt.adam(1e-3)`` on minibatches of 32, on the same shuffled minibatches in all three:

* ``fit``: whole epochs in ``lax.scan``, compiled ahead of time (:func:`ml_opt.training.compile_fit`;
  compile time reported apart);
* the idiomatic ``flax.nnx.Optimizer`` loop: an ``nnx.jit`` step per minibatch, from Python;
* a plain ``jax.jit`` optax step on ``(graphdef, params)``, from Python.

Each is compiled first, then timed over the same epochs ``--repeats`` times; the best time counts (the
machine may be shared). Targets: ``fit`` >= 5x the ``nnx.Optimizer`` loop and >= 1x the plain jit loop.
Test accuracy is printed so that a fast loop that does not learn shows.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import optax
from flax import nnx

import ml_opt
from ml_opt.problems.networks import MLP, digits_data
from ml_opt.training import compile_fit

WIDTHS = (64, 128, 10)


def cross_entropy(model, batch):
    logits = model(batch["x"])
    return optax.softmax_cross_entropy_with_integer_labels(logits, batch["y"]).mean()


def accuracy(model, data):
    return float(jnp.mean(jnp.argmax(model(data["x"]), -1) == data["y"]))


def best_time(run, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(run())
        best = min(best, time.perf_counter() - start)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs per timed run")
    parser.add_argument("--batch-size", type=int, default=32, help="minibatch size")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per loop (the best counts)")
    args = parser.parse_args(argv)
    if min(args.epochs, args.batch_size, args.repeats) < 1:
        parser.error("--epochs, --batch-size and --repeats must be positive")

    train, test = digits_data()
    n = train["y"].shape[0]
    steps_per_epoch = n // args.batch_size
    steps = args.epochs * steps_per_epoch
    key = jax.random.key(0)
    # fit's own shuffling (one permutation per epoch from fold_in(key, epoch)), replayed for the loops.
    batches = [jax.random.permutation(jax.random.fold_in(key, e), n)[: steps_per_epoch * args.batch_size]
               .reshape(steps_per_epoch, args.batch_size) for e in range(args.epochs)]
    tx = ml_opt.adam(1e-3)
    trained = {}

    # 1. fit: compiled apart, then run.
    model = MLP(WIDTHS, rngs=nnx.Rngs(0))
    compiled = compile_fit(cross_entropy, model, tx, train, epochs=args.epochs, batch_size=args.batch_size, key=key)

    def run_fit():
        trained["fit"], _, history = compiled(model, train, key=key)
        return history.loss

    fit_time = best_time(run_fit, args.repeats)

    # 2. nnx.Optimizer with an nnx.jit step.
    @nnx.jit
    def nnx_step(model, optimizer, batch):
        loss, grads = nnx.value_and_grad(cross_entropy)(model, batch)
        optimizer.update(model, grads)
        return loss

    def run_nnx():
        model = MLP(WIDTHS, rngs=nnx.Rngs(0))
        optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
        for epoch in batches:
            for idx in epoch:
                loss = nnx_step(model, optimizer, jax.tree.map(lambda a: a[idx], train))
        trained["nnx.Optimizer"] = model
        return loss

    warm = MLP(WIDTHS, rngs=nnx.Rngs(0))
    nnx_step(warm, nnx.Optimizer(warm, tx, wrt=nnx.Param), jax.tree.map(lambda a: a[batches[0][0]], train))
    nnx_time = best_time(run_nnx, args.repeats)

    # 3. a plain jax.jit optax step on (graphdef, params).
    graphdef, params0 = nnx.split(MLP(WIDTHS, rngs=nnx.Rngs(0)))
    params0 = nnx.to_pure_dict(params0)

    @jax.jit
    def jit_step(params, opt_state, data, idx):
        batch = jax.tree.map(lambda a: a[idx], data)
        loss, grads = jax.value_and_grad(lambda p: cross_entropy(nnx.merge(graphdef, p), batch))(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def run_jit():
        params, opt_state = params0, tx.init(params0)
        for epoch in batches:
            for idx in epoch:
                params, opt_state, loss = jit_step(params, opt_state, train, idx)
        trained["jax.jit optax step"] = nnx.merge(graphdef, params)
        return loss

    jit_step(params0, tx.init(params0), train, batches[0][0])  # compile
    jit_time = best_time(run_jit, args.repeats)

    print(f"# fit throughput\n\njax {jax.__version__} on {jax.devices()[0].platform}; digits MLP {WIDTHS}, "
          f"ml_opt.adam(1e-3), {args.epochs} epochs x {steps_per_epoch} steps of batch {args.batch_size}; "
          f"best of {args.repeats}.\n")
    print("| loop | steps/s | fit's speed-up | test accuracy |")
    print("|---|---|---|---|")
    rates = {"fit": steps / fit_time, "nnx.Optimizer": steps / nnx_time, "jax.jit optax step": steps / jit_time}
    for name, rate in rates.items():
        note = f" (compile {compiled.compile_seconds:.2f} s, apart)" if name == "fit" else ""
        print(f"| {name}{note} | {rate:.0f} | {rates['fit'] / rate:.2f}x | {accuracy(trained[name], test):.4f} |")
    vs_nnx, vs_jit = rates["fit"] / rates["nnx.Optimizer"], rates["fit"] / rates["jax.jit optax step"]
    print("\n## Targets\n")
    print(f"- fit vs nnx.Optimizer loop: {vs_nnx:.1f}x ({'met' if vs_nnx >= 5 else 'MISSED'}: >= 5x)")
    print(f"- fit vs jax.jit optax loop: {vs_jit:.2f}x ({'met' if vs_jit >= 1 else 'MISSED'}: >= 1x)")


if __name__ == "__main__":
    main()
