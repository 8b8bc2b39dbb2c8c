"""Solver loops that XLA:CPU compiles into one function: its *small calls*.

XLA:CPU runs a program as a sequence of *thunks*, one per fused kernel, and a ``while`` loop as a
thunk that runs its body's sequence once per iteration (see :mod:`ml_opt.compilation`). Each thunk
costs a fixed fraction of a microsecond to dispatch, and a step of ``lbfgs`` is a few hundred of
them, each over an n-vector. Up to n of a few thousand that fixed cost, not the arithmetic, sets
the time of a step.

XLA has a second way to compile a loop. A ``call`` instruction with the frontend attribute
``xla_cpu_small_call="true"`` is compiled, loop and all, into one LLVM function by XLA's older IR
emitter, and runs as a single thunk. XLA's ``SmallWhileLoopHoistingPass`` makes such calls of loops
whose iteration touches under 1024 bytes (a threshold settable only for a whole process,
``XLA_FLAGS=--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=...``).
:func:`small_call` makes one of any loop it is given: it runs the loop in an inner ``jax.jit``,
whose lowering is a ``func.call``, and, when the program is lowered for the CPU, gives that call
the attribute, together with ``inlineable="false"`` so that XLA's call inliner keeps it. It does so
only where the called code is made of operations that emitter compiles and that run fast there
(:func:`_fits`):

- no custom calls (LAPACK's factorizations, host callbacks: their symbols are not linked into such
  a function), scatters, sorts, convolutions, FFTs or random-number ops;
- no matrix-matrix products, no reduction of an array of ``REDUCTION_LIMIT`` (4096) elements or
  more, whatever its shape, and no inner product of that length (batched: of operands that large):
  XLA:CPU gives those to its YNNPACK fusions, which that emitter cannot compile;
- no array over ``LARGEST_ARRAY_BYTES`` (2 MiB): there the older emitter's loops are slower than the
  kernels of XLA's fusion emitters (``bfgs`` at n = 1000, with its 8 MB matrix, took 1.3x the time);
- no operand of the call that XLA folds into a constant array (:func:`_folds_to_constant`): XLA:CPU
  aborts the process compiling such a call (a ``Check failed`` in its IR emitter, jaxlib 0.10.2).
  :func:`ml_opt.minimize` therefore makes its whole solve the call, so that the arrays an objective
  closes over are constants inside it, not operands.

On other backends the call is left as it is, and XLA inlines it.

Solves of extended Rosenbrock through :func:`ml_opt.minimize`, with the attribute and without it in
alternation in one process (15-20 rounds, 2-core AMD EPYC, jax 0.10.2, LLVM's default level), took
0.45-0.56x the time for ``lbfgs`` at n = 100-1000 (0.69x at n = 2, 0.70x at n = 2000), 0.41-0.64x for
``nonlinear_cg`` at n = 100-4000 (0.58x at n = 2), 0.58x for ``newton_cg`` at n = 2000 and
0.29-0.41x for ``bfgs`` at n = 20-400; the iterates were the same bit for bit for ``lbfgs``,
``nonlinear_cg`` and ``newton_cg`` from n = 100, and ``bfgs``, whose path on this problem hangs on
rounding, took other paths (at n = 100, 225 evaluations instead of 297). The one large function
takes longer to compile at LLVM's default level, which is why :func:`ml_opt.solver_compiler_options`
lowers the level for a program with a small call (:mod:`ml_opt.compilation`).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

try:  # jaxlib's StableHLO dialect: the dimension numbers of a dot_general
    from jaxlib.mlir.dialects import stablehlo as _stablehlo
except ImportError:  # without it, no call is marked
    _stablehlo = None

ir = mlir.ir

_SMALL_CALL = {"inlineable": "false", "xla_cpu_small_call": "true"}
REDUCTION_LIMIT = 4096
LARGEST_ARRAY_BYTES = 2 * 1024 * 1024

# Operations the older emitter compiles into a small call: elementwise arithmetic, moves of data,
# control flow. ``stablehlo.reduce`` and ``stablehlo.dot_general`` are checked apart (_fits_op).
_ELEMENTWISE = {
    "abs", "add", "and", "atan2", "cbrt", "ceil", "clamp", "compare", "convert", "cosine",
    "count_leading_zeros", "divide", "exponential", "exponential_minus_one", "floor", "is_finite",
    "log", "log_plus_one", "logistic", "maximum", "minimum", "multiply", "negate", "not", "or",
    "popcnt", "power", "remainder", "round_nearest_afz", "round_nearest_even", "rsqrt", "select",
    "shift_left", "shift_right_arithmetic", "shift_right_logical", "sign", "sine", "sqrt",
    "subtract", "tan", "tanh", "xor", "bitcast_convert",
}
_STRUCTURAL = {
    "constant", "iota", "broadcast_in_dim", "reshape", "transpose", "slice", "dynamic_slice",
    "dynamic_update_slice", "concatenate", "pad", "reverse", "while", "if", "case", "return",
    "tuple", "get_tuple_element", "optimization_barrier",
}
_CHLO = {  # decomposed into StableHLO elementwise operations when the program is converted to HLO
    "acos", "acosh", "asin", "asinh", "atan", "atanh", "bessel_i1e", "conj", "cosh", "digamma",
    "erf", "erf_inv", "erfc", "is_inf", "is_neg_inf", "is_pos_inf", "lgamma", "next_after",
    "polygamma", "sinh", "square", "tan", "zeta",
}
_ALLOWED = ({f"stablehlo.{name}" for name in _ELEMENTWISE | _STRUCTURAL}
            | {f"chlo.{name}" for name in _CHLO} | {"func.call", "func.return"})


def _elements(type_: Any) -> int | None:
    """The number of elements of a tensor type with a static shape (None for any other type)."""
    if not isinstance(type_, ir.RankedTensorType) or not type_.has_static_shape:
        return None
    return math.prod(type_.shape)


def _bits(element: Any) -> int:
    if isinstance(element, (ir.FloatType, ir.IntegerType)):
        return element.width
    if isinstance(element, ir.ComplexType):
        return 2 * _bits(element.element_type)
    return 64  # index


def _nbytes(type_: Any) -> int:
    """The bytes of a tensor type (0 for a token; unbounded for a tensor of dynamic shape)."""
    if not isinstance(type_, ir.RankedTensorType):
        return 0
    elements = _elements(type_)
    if elements is None:
        return LARGEST_ARRAY_BYTES + 1
    return elements * max(_bits(type_.element_type), 8) // 8


def _below_reduction_limit(values: Any) -> bool:
    """Whether every one of ``values`` has fewer than ``REDUCTION_LIMIT`` elements (and a static shape)."""
    return all((_elements(v.type) or REDUCTION_LIMIT) < REDUCTION_LIMIT for v in values)


def _fits_op(op: Any) -> bool:
    """Whether one operation (not the ops nested in it) may go into a small call."""
    name = op.name
    if name == "stablehlo.reduce":  # of an array of fewer than REDUCTION_LIMIT elements
        return _below_reduction_limit(op.operands)
    if name == "stablehlo.dot_general":  # a matrix-vector or inner product (batched: as a reduction)
        dims = _stablehlo.DotDimensionNumbers(op.attributes["dot_dimension_numbers"])
        lhs, rhs = (v.type.shape for v in op.operands[:2])
        lhs_free = len(lhs) - len(dims.lhs_batching_dimensions) - len(dims.lhs_contracting_dimensions)
        rhs_free = len(rhs) - len(dims.rhs_batching_dimensions) - len(dims.rhs_contracting_dimensions)
        if min(lhs_free, rhs_free) > 0:
            return False
        if len(dims.lhs_batching_dimensions):
            return _below_reduction_limit(op.operands[:2])
        return math.prod(lhs[d] for d in dims.lhs_contracting_dimensions) < REDUCTION_LIMIT
    return name in _ALLOWED


def _fits(func: Any, functions: dict[str, Any], seen: set[str]) -> bool:
    """Whether the function ``func`` and every function it calls may be compiled as one small call."""
    for block in (b for region in func.regions for b in region.blocks):
        for op in block.operations:
            op = op.operation
            if not _fits_op(op) or any(_nbytes(r.type) > LARGEST_ARRAY_BYTES for r in op.results):
                return False
            if op.name == "func.call":
                callee = ir.FlatSymbolRefAttr(op.attributes["callee"]).value
                if callee not in seen:
                    seen.add(callee)
                    if callee not in functions or not _fits(functions[callee].operation, functions, seen):
                        return False
            if op.regions and not _fits(op, functions, seen):
                return False
    return True


def _folds_to_constant(value: Any) -> bool:
    """Whether XLA's constant folding may make ``value`` a constant array of more than one element: a
    constant, an operation other than a broadcast or an iota on such values, or an argument of a
    function other than the program's entry (``main``), which XLA inlines into a caller that may pass
    a constant."""
    if (_elements(value.type) or 0) <= 1:  # a scalar
        return False
    op = value.owner
    if isinstance(op, ir.Block):  # an argument of a function, or of a loop body
        parent = op.owner.operation
        if parent.name != "func.func":
            return False
        return ir.StringAttr(parent.attributes["sym_name"]).value != "main"
    if op.name == "stablehlo.constant":
        return True
    if op.name in ("stablehlo.broadcast_in_dim", "stablehlo.iota"):
        return False
    return bool(op.operands) and all(_folds_to_constant(v) for v in op.operands)


def _mark_lowering(ctx: Any, *values: Any) -> list[Any]:
    """Marks the ``func.call`` that made ``values`` as a small call, where its code fits, in a program
    lowered for the CPU alone (one lowered for several platforms at once keeps one call for all)."""
    calls = [v.owner for v in values if getattr(v.owner, "name", None) == "func.call"]
    if _stablehlo is None or not calls or tuple(ctx.module_context.platforms) != ("cpu",):
        return list(values)
    functions = {ir.StringAttr(op.attributes["sym_name"]).value: op
                 for op in ctx.module_context.module.body.operations if "sym_name" in op.attributes}
    fits: dict[str, bool] = {}
    for call in calls:
        callee = ir.FlatSymbolRefAttr(call.attributes["callee"]).value
        if callee not in fits:
            fits[callee] = callee in functions and _fits(functions[callee].operation, functions, {callee})
        if fits[callee] and not any(_folds_to_constant(v) for v in call.operands):
            attributes = {}
            if "mhlo.frontend_attributes" in call.attributes:
                attributes = {a.name: a.attr for a in ir.DictAttr(call.attributes["mhlo.frontend_attributes"])}
            attributes.update({k: ir.StringAttr.get(v) for k, v in _SMALL_CALL.items()})
            call.attributes["mhlo.frontend_attributes"] = ir.DictAttr.get(attributes)
    return list(values)


# The identity on the outputs of a jitted call; lowered for the CPU, it marks that call (above).
# (One rule for every platform, which looks at the platform itself: JAX's rules by platform would
# make a program lowered for several a switch between them.)
_mark_p = Primitive("ml_opt_small_call")
_mark_p.multiple_results = True
_mark_p.def_impl(lambda *values: list(values))
_mark_p.def_abstract_eval(lambda *avals: list(avals))
batching.primitive_batchers[_mark_p] = lambda values, dims: (_mark_p.bind(*values), dims)
ad.primitive_jvps[_mark_p] = lambda primals, tangents: (_mark_p.bind(*primals), list(tangents))
mlir.register_lowering(_mark_p, _mark_lowering, cacheable=False)


def has_small_call(lowered: Any) -> bool:
    """Whether a lowered program (``jax.jit(f).lower(...)``) has a call marked as a small call."""

    def marked(op: Any) -> bool:
        attributes = op.attributes
        if op.name == "func.call" and "mhlo.frontend_attributes" in attributes:
            if any(a.name == "xla_cpu_small_call" for a in ir.DictAttr(attributes["mhlo.frontend_attributes"])):
                return True
        return any(marked(inner.operation) for region in op.regions for block in region.blocks
                   for inner in block.operations)

    return marked(lowered.compiler_ir().operation)


def small_call(fn: Callable[..., Any], *args: Any) -> Any:
    """``jax.jit(fn)(*args)``, compiled by XLA:CPU into one function where its code allows.

    Meant for a loop (``lambda carry: jax.lax.while_loop(cond, body, carry)``): the whole loop then
    runs as one thunk instead of one per kernel per iteration (module docstring). The values are
    those of ``fn(*args)``, under every transformation; only the compiled code differs, and with it
    the rounding of some operations.

    Example:
      >>> import jax, jax.numpy as jnp
      >>> from ml_opt.small_call import small_call
      >>> loop = lambda c: jax.lax.while_loop(lambda c: c[1] < 3, lambda c: (2 * c[0], c[1] + 1), c)
      >>> float(jax.jit(lambda x: small_call(loop, (x, 0))[0])(1.5))
      12.0
    """
    out = jax.jit(fn)(*args)
    leaves, tree = jax.tree.flatten(out)
    return jax.tree.unflatten(tree, _mark_p.bind(*leaves)) if leaves else out
