"""One optimizer step on 10M float32 params: ml_opt against optax, and against the memory roofline.

Run from the repository root::

    python benchmarks/step_roofline.py                 # sgd, momentum, adam; 10M params
    python benchmarks/step_roofline.py --size 1000000 --reps 200 --hlo

What is timed: ``update(grads, state, params) -> (updates, new_state)``, jit-compiled, with the
gradient and the state donated (as a training step donates them: both are dead after the update,
so the updates and the new state may be written in place). Ours and optax's run interleaved in one
process, each repetition on freshly made gradients (made outside the timed region); the median
over repetitions is reported, each call ended by ``block_until_ready``.

The roofline: an element-wise rule must stream its operands through memory once. The bytes it
must move per element (float32):

    sgd       reads g           writes u           8 bytes
    momentum  reads g, v        writes u, v       16 bytes
    adam      reads g, s, r     writes u, s, r    24 bytes

The achievable bandwidth is measured on this machine with the plainest such pass, ``x * c`` on a
donated ``x`` (8 bytes per element); ``fraction of roofline`` is (bytes / bandwidth) / time, 1.0
meaning the step runs at the speed of a memory copy. Targets: ours/optax <= 1.05, fraction >= 0.9.

``--hlo`` prints, per step, the fusions of the compiled program and its input/output aliases: the
first place to look when a step is slower (an extra pass over memory shows as an extra fusion, a
missed in-place update as a missing alias).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import time

# Run as a script, sys.path[0] is benchmarks/, whose module names (cli, report, ...) could shadow
# others; the repository root is what should be importable.
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = _ROOT

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

import ml_opt  # noqa: E402

LEARNING_RATE = 1e-3

# (ours, optax's, bytes moved per element)
RULES = {
    "sgd": (lambda: ml_opt.sgd(LEARNING_RATE), lambda: optax.sgd(LEARNING_RATE), 8),
    "momentum": (
        lambda: ml_opt.momentum(LEARNING_RATE, beta=0.9),
        lambda: optax.sgd(LEARNING_RATE, momentum=0.9),
        16,
    ),
    "adam": (lambda: ml_opt.adam(LEARNING_RATE), lambda: optax.adam(LEARNING_RATE), 24),
}


class Step:
    """A jitted ``update`` with donated gradient and state, run on fresh gradients each call."""

    def __init__(self, opt: optax.GradientTransformation, params: jax.Array):
        self.params = params
        self.state = opt.init(params)
        self.fn = jax.jit(lambda g, s, p: opt.update(g, s, p), donate_argnums=(0, 1))
        self.compiled = self.fn.lower(params, self.state, params).compile()

    def __call__(self, grads: jax.Array) -> float:
        start = time.perf_counter()
        updates, self.state = self.compiled(grads, self.state, self.params)
        jax.block_until_ready((updates, self.state))
        elapsed = time.perf_counter() - start
        del updates  # freed after the clock stops
        return elapsed


class Scale:
    """The roofline kernel: ``x * c`` on a donated ``x`` (reads and writes 4 bytes per element)."""

    def __init__(self, x: jax.Array):
        self.compiled = jax.jit(lambda x: x * 1.0001, donate_argnums=0).lower(x).compile()

    def __call__(self, x: jax.Array) -> float:
        start = time.perf_counter()
        y = jax.block_until_ready(self.compiled(x))
        elapsed = time.perf_counter() - start
        del y  # freed after the clock stops, as a step's outputs are
        return elapsed


def hlo_traffic(compiled, n: int) -> tuple[int, int, int]:
    """Bytes per param the compiled program moves, read off its HLO: (bytes, passes, scalar kernels).

    Every top-level instruction of the entry computation that makes an array of ``n`` elements
    (a fusion, a copy, a multi-output fusion) is one pass over memory: it reads each operand of
    ``n`` elements and writes each output of ``n`` elements (4 bytes each, float32).
    """
    text = compiled.as_text()
    entry = text[text.index("\nENTRY") :]
    big = re.compile(rf"\bf32\[{n}\]")
    shapes: dict[str, str] = {}
    bytes_per_param = passes = scalar_kernels = 0
    for line in entry.splitlines()[1:]:
        match = re.match(r"\s*(?:ROOT )?%(\S+) = (.+?) (\w+)\((.*?)\)", line)
        if not match:
            continue
        name, shape, op, operands = match.groups()
        shapes[name] = shape
        if op in ("parameter", "tuple", "get-tuple-element", "constant", "bitcast"):
            continue
        writes = len(big.findall(shape))
        if not writes:
            scalar_kernels += 1
            continue
        reads = sum(1 for operand in re.findall(r"%([\w.\-]+)", operands) if big.search(shapes.get(operand, "")))
        bytes_per_param += 4 * (reads + writes)
        passes += 1
    return bytes_per_param, passes, scalar_kernels


def hlo_summary(compiled) -> str:
    """The fusions and copies of the entry computation, and the input/output aliases."""
    text = compiled.as_text()
    entry = text[text.index("\nENTRY") :]
    kernels = re.findall(r"= \S+ (fusion|copy)\(", entry)
    aliases = text.count("may-alias") + text.count("must-alias")
    return f"{len(kernels)} kernel(s) ({', '.join(kernels)}); {aliases} output(s) aliased to donated inputs"


def paired_ratio(ours: list[float], theirs: list[float]) -> float:
    """The median over rounds of ours / theirs, both timed in the same round."""
    return statistics.median(a / b for a, b in zip(ours, theirs))


def paired_fraction(needed: int, roofline: list[float], step: list[float]) -> float:
    """The median over rounds of the roofline time of the step (from that round's ``x * c``) over its time."""
    return statistics.median(needed / 8 * r / t for r, t in zip(roofline, step))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=10_000_000, help="number of float32 params")
    parser.add_argument("--reps", type=int, default=100, help="timed repetitions of each step")
    parser.add_argument("--warmup", type=int, default=5, help="untimed repetitions first")
    parser.add_argument("--rules", nargs="+", default=list(RULES), choices=list(RULES))
    parser.add_argument("--hlo", action="store_true", help="print each compiled step's kernels and aliases")
    args = parser.parse_args(argv)

    n = args.size
    params = jnp.linspace(-1.0, 1.0, n, dtype=jnp.float32)
    gradient = jax.random.normal(jax.random.key(0), (n,), jnp.float32)
    copy = jax.jit(jnp.copy)

    def fresh():
        """A new buffer holding the gradient (each step donates, i.e. consumes, its own)."""
        return jax.block_until_ready(copy(gradient))

    kernels: dict[str, Step | Scale] = {"roofline": Scale(fresh())}
    for name in args.rules:
        ours, theirs, _ = RULES[name]
        kernels[f"{name}/ours"] = Step(ours(), params)
        kernels[f"{name}/optax"] = Step(theirs(), params)

    times: dict[str, list[float]] = {k: [] for k in kernels}
    for rep in range(args.warmup + args.reps):
        # Interleaved: every kernel once per round, the order rotating, so drifts in machine load
        # fall on all of them alike.
        order = list(kernels)
        shift = rep % len(order)
        for key in order[shift:] + order[:shift]:
            t = kernels[key](fresh())
            if rep >= args.warmup:
                times[key].append(t)

    median = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    bandwidth = 8 * n / median["roofline"]

    device = jax.devices()[0]
    print(f"# One optimizer step on {n:,} float32 params: ml_opt vs optax\n")
    print(
        f"device: {device.platform} ({device.device_kind}); {os.cpu_count()} CPU(s) visible; "
        f"{platform.machine()}; jax {jax.__version__}, optax {optax.__version__}  "
    )
    print(f"median of {args.reps} interleaved repetitions (after {args.warmup} warm-up); gradient and state donated  ")
    print(
        f"roofline: `x * c` on a donated x, {8 * n / 1e6:.0f} MB moved: median {median['roofline'] * 1e3:.3f} ms "
        f"-> {bandwidth / 1e9:.1f} GB/s (best {8 * n / best['roofline'] / 1e9:.1f} GB/s)\n"
    )
    print(
        "| rule | bytes/param needed | time ours (ms) | time optax (ms) | ours / optax "
        "| fraction of roofline, ours | fraction, optax | HLO bytes/param, ours / optax | ceiling on XLA's program |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name in args.rules:
        needed = RULES[name][2]
        ours_times, optax_times = times[f"{name}/ours"], times[f"{name}/optax"]
        hlo_ours = hlo_traffic(kernels[f"{name}/ours"].compiled, n)[0]
        hlo_optax = hlo_traffic(kernels[f"{name}/optax"].compiled, n)[0]
        print(
            f"| {name} | {needed} | {median[f'{name}/ours'] * 1e3:.3f} | {median[f'{name}/optax'] * 1e3:.3f} "
            f"| {paired_ratio(ours_times, optax_times):.3f} "
            f"| {paired_fraction(needed, times['roofline'], ours_times):.2f} "
            f"| {paired_fraction(needed, times['roofline'], optax_times):.2f} "
            f"| {hlo_ours} / {hlo_optax} | {needed / hlo_ours:.2f} |"
        )
    print(
        "\nTimes: medians. `ours / optax` and the fractions: medians over rounds of the ratio of times taken in the "
        "same round (robust to drifts in machine load); fraction = (bytes needed / 8) x time of `x * c` / time of "
        "the step. `HLO bytes/param`: what the compiled program moves (one pass per fusion or copy over the "
        "params); `ceiling` = needed / HLO bytes, the best fraction that program can reach."
    )
    spread = {k: (min(v) * 1e3, max(v) * 1e3) for k, v in times.items()}
    print("\nmin / max (ms): " + "; ".join(f"{k} {lo:.2f}/{hi:.2f}" for k, (lo, hi) in spread.items()))

    if args.hlo:
        print()
        for key, kernel in kernels.items():
            traffic, passes, scalars = hlo_traffic(kernel.compiled, n)
            print(
                f"- {key}: {hlo_summary(kernel.compiled)}; {passes} pass(es) over the params moving "
                f"{traffic} bytes/param; {scalars} scalar kernel(s)"
            )


if __name__ == "__main__":
    main()
