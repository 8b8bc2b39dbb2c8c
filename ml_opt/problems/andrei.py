"""Large unconstrained test functions from Andrei's collection (2008), 20 of them from CUTE.

A second test set besides :mod:`ml_opt.problems.mgh`, for solvers at large ``n`` (the collection's
customary n = 1000): separable sums over pairs or blocks of four, banded and arrow-head sums, and
diagonal functions. For the functions the collection takes from CUTE (named in capitals, e.g.
DQDRTIC) the formula is CUTE's; the others are the collection's own and its extensions of classic
2-D and 4-D functions (Rosenbrock, Beale, Powell, Wood). Each problem's ``source`` states the
formula used. Indices below are 1-based, as in the paper; "pairs" means ``n`` even and
``a = x_{2i-1}``, ``b = x_{2i}`` for ``i = 1..n/2``; "quads" means ``n`` a multiple of 4 and blocks
``(x_{4i-3}, ..., x_{4i})``.

==============================  =======  ==========================================================
key (``andrei/...``)            n        f_opt (where known in closed form)
==============================  =======  ==========================================================
extended_freudenstein_roth      pairs    0 at (5, 4); local minima with 48.9842 per pair
extended_trigonometric          any      0 at 0
extended_rosenbrock             pairs    0 at 1
generalized_rosenbrock          >= 2     0 at 1
extended_white_holst            pairs    0 at 1
extended_beale                  pairs    0 at (3, 0.5)
extended_penalty                >= 2     -
raydan1                         any      n (n + 1) / 20 at 0
raydan2                         any      n at 0
diagonal1                       any      sum (i - i ln i) at x_i = ln i
diagonal2                       any      sum (1 + ln i) / i at x_i = -ln i
diagonal3                       any      -
hager                           any      sum sqrt(i) (1 - ln(i) / 2) at x_i = ln(i) / 2
extended_tet                    pairs    n sqrt(2) exp(-0.1) at (-ln(2) / 2, 0)
extended_himmelblau             pairs    0 at (3, 2) (and three other minima per pair)
extended_powell                 quads    0 at 0
extended_wood                   quads    0 at 1
extended_hiebert                pairs    0 at (10, 5000)
extended_tridiagonal1           pairs    0 at (1, 2)
quadratic_qf2                   any      -
perturbed_quadratic             any      0 at 0
almost_perturbed_quadratic      any      0 at 0
diagonal4                       pairs    0 at 0
diagonal5                       any      n ln 2 at 0
extended_denschnb               pairs    0 at (2, -1)
extended_denschnf               pairs    0 at (1, 1)
himmelbg                        pairs    0 at 0
liarwhd                         any      0 at 1
power                           any      0 at 0
engval1                         >= 2     -
edensch                         >= 2     -
quartc                          any      0 at 1
tridia                          >= 2     0 at x_i = 2^(1 - i)
eg2                             >= 2     -
fletchcr                        >= 2     0 at 1
dqdrtic                         >= 3     0 at 0
cube                            >= 2     0 at 1
sinquad                         >= 3     -
dixon3dq                        >= 2     0 at 1
biggsb1                         >= 2     0 at 1
arwhead                         >= 2     0 at (1, ..., 1, 0)
nondia                          >= 2     0 at 1
nondquar                        >= 3     0 at 0
bdqrtic                         >= 5     -
==============================  =======  ==========================================================

Every function takes a 1-D array of any floating dtype and computes in that dtype; ``init(key)``
ignores the key and returns the collection's starting point in the default JAX float dtype.
``x_opt`` (a float64 NumPy array) and ``f_opt`` are given where the table gives them, None
otherwise; each problem's ``source`` states its formula and start.

References:
    N. Andrei, "An unconstrained optimization test functions collection", Advanced Modeling and
    Optimization 10(1), 147-161, 2008.
    I. Bongartz, A. R. Conn, N. Gould and Ph. L. Toint, "CUTE: Constrained and unconstrained testing
    environment", ACM Transactions on Mathematical Software 21(1), 123-160, 1995.
"""

from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

import jax.numpy as jnp
import numpy as np

from ml_opt.problems.base import Problem
from ml_opt.problems.mgh import _as_vector, _check_size, _default_float, _frozen

Array = Any

REFERENCE = (
    'N. Andrei, "An unconstrained optimization test functions collection", Adv. Model. Optim. 10(1), '
    "147-161, 2008"
)

__all__ = ["ANDREI_KEYS", "andrei_problem", "andrei_problems"]


class _Spec(NamedTuple):
    title: str
    size: str | int  # "any", "pairs", "quads", or the least n
    fun: Callable[[Array], Array]
    x0: Callable[[int], Any]
    formula: str
    x_opt: Callable[[int], Any] | None = None
    f_opt: Callable[[int], float] | None = None
    convex: bool = False


_SPECS: dict[str, _Spec] = {}


def _andrei(key: str, title: str, size: str | int, formula: str, x0: Callable[[int], Any], *,
            x_opt: Callable[[int], Any] | None = None, f_opt: Callable[[int], float] | None = None,
            convex: bool = False) -> Callable[[Callable[[Array], Array]], Callable[[Array], Array]]:
    """Registers ``fun(x)`` under ``key`` with what is known about it."""

    def register(fun: Callable[[Array], Array]) -> Callable[[Array], Array]:
        _SPECS[key] = _Spec(title, size, fun, x0, formula, x_opt, f_opt, convex)
        return fun

    return register


def _index(x: Array) -> Array:
    """``(1, 2, ..., n)`` in ``x``'s dtype: the paper's 1-based index ``i``."""
    return jnp.arange(1, x.shape[0] + 1, dtype=x.dtype)


def _pairs(x: Array) -> tuple[Array, Array]:
    """``a = x_{2i-1}``, ``b = x_{2i}``."""
    return x[0::2], x[1::2]


def _quads(x: Array) -> tuple[Array, Array, Array, Array]:
    """The blocks ``(x_{4i-3}, x_{4i-2}, x_{4i-1}, x_{4i})`` as four arrays."""
    return x[0::4], x[1::4], x[2::4], x[3::4]


def _i(n: int) -> np.ndarray:
    """``(1, 2, ..., n)`` as float64, for the closed forms."""
    return np.arange(1.0, n + 1)


def _constant(value: float) -> Callable[[int], np.ndarray]:
    return lambda n: np.full(n, value)


def _alternating(*values: float) -> Callable[[int], np.ndarray]:
    return lambda n: np.resize(np.array(values, dtype=np.float64), n)


def _zero_at(x_opt: Callable[[int], Any]) -> dict:
    return {"x_opt": x_opt, "f_opt": lambda n: 0.0}


_ZERO = _constant(0.0)
_ONES = _constant(1.0)


# --------------------------------------------------------------------------------------------
# Separable over pairs and blocks of four
# --------------------------------------------------------------------------------------------


@_andrei("extended_freudenstein_roth", "Extended Freudenstein & Roth function", "pairs",
         "(-13 + a + ((5 - b) b - 2) b)^2 + (-29 + a + ((b + 1) b - 14) b)^2 over pairs", _alternating(0.5, -2.0),
         **_zero_at(_alternating(5.0, 4.0)))
def _extended_freudenstein_roth(x):
    a, b = _pairs(x)
    return jnp.sum((-13.0 + a + ((5.0 - b) * b - 2.0) * b) ** 2 + (-29.0 + a + ((b + 1.0) * b - 14.0) * b) ** 2)


@_andrei("extended_rosenbrock", "Extended Rosenbrock function", "pairs",
         "100 (b - a^2)^2 + (1 - a)^2 over pairs", _alternating(-1.2, 1.0), **_zero_at(_ONES))
def _extended_rosenbrock(x):
    a, b = _pairs(x)
    return jnp.sum(100.0 * (b - a ** 2) ** 2 + (1.0 - a) ** 2)


@_andrei("extended_white_holst", "Extended White & Holst function", "pairs",
         "100 (b - a^3)^2 + (1 - a)^2 over pairs", _alternating(-1.2, 1.0), **_zero_at(_ONES))
def _extended_white_holst(x):
    a, b = _pairs(x)
    return jnp.sum(100.0 * (b - a ** 3) ** 2 + (1.0 - a) ** 2)


@_andrei("extended_beale", "Extended Beale function", "pairs",
         "(1.5 - a (1 - b))^2 + (2.25 - a (1 - b^2))^2 + (2.625 - a (1 - b^3))^2 over pairs",
         _alternating(1.0, 0.8), **_zero_at(_alternating(3.0, 0.5)))
def _extended_beale(x):
    a, b = _pairs(x)
    return jnp.sum((1.5 - a * (1.0 - b)) ** 2 + (2.25 - a * (1.0 - b ** 2)) ** 2 + (2.625 - a * (1.0 - b ** 3)) ** 2)


@_andrei("extended_tet", "Extended TET (three exponential terms) function", "pairs",
         "exp(a + 3 b - 0.1) + exp(a - 3 b - 0.1) + exp(-a - 0.1) over pairs", _constant(0.1),
         x_opt=_alternating(-0.5 * math.log(2.0), 0.0), f_opt=lambda n: n * math.sqrt(2.0) * math.exp(-0.1),
         convex=True)
def _extended_tet(x):
    a, b = _pairs(x)
    return jnp.sum(jnp.exp(a + 3.0 * b - 0.1) + jnp.exp(a - 3.0 * b - 0.1) + jnp.exp(-a - 0.1))


@_andrei("extended_himmelblau", "Extended Himmelblau function", "pairs",
         "(a^2 + b - 11)^2 + (a + b^2 - 7)^2 over pairs", _ONES, **_zero_at(_alternating(3.0, 2.0)))
def _extended_himmelblau(x):
    a, b = _pairs(x)
    return jnp.sum((a ** 2 + b - 11.0) ** 2 + (a + b ** 2 - 7.0) ** 2)


@_andrei("extended_powell", "Extended Powell function", "quads",
         "(x1 + 10 x2)^2 + 5 (x3 - x4)^2 + (x2 - 2 x3)^4 + 10 (x1 - x4)^4 over blocks of four",
         _alternating(3.0, -1.0, 0.0, 1.0), **_zero_at(_ZERO), convex=True)
def _extended_powell(x):
    x1, x2, x3, x4 = _quads(x)
    return jnp.sum((x1 + 10.0 * x2) ** 2 + 5.0 * (x3 - x4) ** 2 + (x2 - 2.0 * x3) ** 4 + 10.0 * (x1 - x4) ** 4)


@_andrei("extended_wood", "Extended Wood function", "quads",
         "100 (x1^2 - x2)^2 + (x1 - 1)^2 + 90 (x3^2 - x4)^2 + (1 - x3)^2 + 10.1 ((x2 - 1)^2 + (x4 - 1)^2) "
         "+ 19.8 (x2 - 1)(x4 - 1) over blocks of four", _alternating(-3.0, -1.0, -3.0, -1.0), **_zero_at(_ONES))
def _extended_wood(x):
    x1, x2, x3, x4 = _quads(x)
    return jnp.sum(100.0 * (x1 ** 2 - x2) ** 2 + (x1 - 1.0) ** 2 + 90.0 * (x3 ** 2 - x4) ** 2 + (1.0 - x3) ** 2
                   + 10.1 * ((x2 - 1.0) ** 2 + (x4 - 1.0) ** 2) + 19.8 * (x2 - 1.0) * (x4 - 1.0))


@_andrei("extended_hiebert", "Extended Hiebert function", "pairs",
         "(a - 10)^2 + (a b - 50000)^2 over pairs", _ZERO, **_zero_at(_alternating(10.0, 5000.0)))
def _extended_hiebert(x):
    a, b = _pairs(x)
    return jnp.sum((a - 10.0) ** 2 + (a * b - 50000.0) ** 2)


@_andrei("extended_tridiagonal1", "Extended Tridiagonal 1 function", "pairs",
         "(a + b - 3)^2 + (a - b + 1)^4 over pairs", _constant(2.0), **_zero_at(_alternating(1.0, 2.0)),
         convex=True)
def _extended_tridiagonal1(x):
    a, b = _pairs(x)
    return jnp.sum((a + b - 3.0) ** 2 + (a - b + 1.0) ** 4)


@_andrei("diagonal4", "Diagonal 4 function", "pairs", "0.5 (a^2 + 100 b^2) over pairs", _ONES,
         **_zero_at(_ZERO), convex=True)
def _diagonal4(x):
    a, b = _pairs(x)
    return jnp.sum(0.5 * (a ** 2 + 100.0 * b ** 2))


@_andrei("extended_denschnb", "Extended DENSCHNB function (CUTE)", "pairs",
         "(a - 2)^2 + (a - 2)^2 b^2 + (b + 1)^2 over pairs", _ONES, **_zero_at(_alternating(2.0, -1.0)))
def _extended_denschnb(x):
    a, b = _pairs(x)
    return jnp.sum((a - 2.0) ** 2 + (a - 2.0) ** 2 * b ** 2 + (b + 1.0) ** 2)


@_andrei("extended_denschnf", "Extended DENSCHNF function (CUTE)", "pairs",
         "(2 (a + b)^2 + (a - b)^2 - 8)^2 + (5 a^2 + (b - 3)^2 - 9)^2 over pairs", _alternating(2.0, 0.0),
         **_zero_at(_ONES))
def _extended_denschnf(x):
    a, b = _pairs(x)
    return jnp.sum((2.0 * (a + b) ** 2 + (a - b) ** 2 - 8.0) ** 2 + (5.0 * a ** 2 + (b - 3.0) ** 2 - 9.0) ** 2)


@_andrei("himmelbg", "HIMMELBG function (CUTE)", "pairs", "(2 a^2 + 3 b^2) exp(-a - b) over pairs",
         _constant(1.5), **_zero_at(_ZERO))
def _himmelbg(x):
    a, b = _pairs(x)
    return jnp.sum((2.0 * a ** 2 + 3.0 * b ** 2) * jnp.exp(-a - b))


# --------------------------------------------------------------------------------------------
# Diagonal and separable functions of each x_i
# --------------------------------------------------------------------------------------------


@_andrei("raydan1", "Raydan 1 function", "any", "sum_i (i / 10) (exp(x_i) - x_i)", _ONES,
         x_opt=_ZERO, f_opt=lambda n: n * (n + 1) / 20, convex=True)
def _raydan1(x):
    return jnp.sum(_index(x) / 10.0 * (jnp.exp(x) - x))


@_andrei("raydan2", "Raydan 2 function", "any", "sum_i (exp(x_i) - x_i)", _ONES,
         x_opt=_ZERO, f_opt=lambda n: float(n), convex=True)
def _raydan2(x):
    return jnp.sum(jnp.exp(x) - x)


@_andrei("diagonal1", "Diagonal 1 function", "any", "sum_i (exp(x_i) - i x_i)", lambda n: np.full(n, 1.0 / n),
         x_opt=lambda n: np.log(_i(n)), f_opt=lambda n: float(np.sum(_i(n) - _i(n) * np.log(_i(n)))), convex=True)
def _diagonal1(x):
    return jnp.sum(jnp.exp(x) - _index(x) * x)


@_andrei("diagonal2", "Diagonal 2 function", "any", "sum_i (exp(x_i) - x_i / i)", lambda n: 1.0 / _i(n),
         x_opt=lambda n: -np.log(_i(n)), f_opt=lambda n: float(np.sum((1.0 + np.log(_i(n))) / _i(n))), convex=True)
def _diagonal2(x):
    return jnp.sum(jnp.exp(x) - x / _index(x))


@_andrei("diagonal3", "Diagonal 3 function", "any", "sum_i (exp(x_i) - i sin(x_i))", _ONES)
def _diagonal3(x):
    return jnp.sum(jnp.exp(x) - _index(x) * jnp.sin(x))


@_andrei("hager", "Hager function", "any", "sum_i (exp(x_i) - sqrt(i) x_i)", _ONES,
         x_opt=lambda n: 0.5 * np.log(_i(n)),
         f_opt=lambda n: float(np.sum(np.sqrt(_i(n)) * (1.0 - 0.5 * np.log(_i(n))))), convex=True)
def _hager(x):
    return jnp.sum(jnp.exp(x) - jnp.sqrt(_index(x)) * x)


@_andrei("diagonal5", "Diagonal 5 function", "any", "sum_i ln(exp(x_i) + exp(-x_i))", _constant(1.1),
         x_opt=_ZERO, f_opt=lambda n: n * math.log(2.0), convex=True)
def _diagonal5(x):
    return jnp.sum(jnp.logaddexp(x, -x))


@_andrei("quadratic_qf2", "Quadratic QF2 function", "any", "0.5 sum_i i (x_i^2 - 1)^2 - x_n", _constant(0.5))
def _quadratic_qf2(x):
    return 0.5 * jnp.sum(_index(x) * (x ** 2 - 1.0) ** 2) - x[-1]


@_andrei("power", "POWER function (CUTE)", "any", "sum_i (i x_i)^2", _ONES, **_zero_at(_ZERO), convex=True)
def _power(x):
    return jnp.sum((_index(x) * x) ** 2)


@_andrei("quartc", "QUARTC function (CUTE)", "any", "sum_i (x_i - 1)^4", _constant(2.0), **_zero_at(_ONES),
         convex=True)
def _quartc(x):
    return jnp.sum((x - 1.0) ** 4)


# --------------------------------------------------------------------------------------------
# Coupled through sums, bands or one variable
# --------------------------------------------------------------------------------------------


@_andrei("extended_trigonometric", "Extended Trigonometric function", "any",
         "sum_i (n - sum_j cos(x_j) + i (1 - cos(x_i)) - sin(x_i))^2", _constant(0.2), **_zero_at(_ZERO))
def _extended_trigonometric(x):
    cos = jnp.cos(x)
    return jnp.sum((x.shape[0] - jnp.sum(cos) + _index(x) * (1.0 - cos) - jnp.sin(x)) ** 2)


@_andrei("generalized_rosenbrock", "Generalized Rosenbrock function", 2,
         "sum_{i=1}^{n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2", _alternating(-1.2, 1.0), **_zero_at(_ONES))
def _generalized_rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


@_andrei("extended_penalty", "Extended Penalty function", 2,
         "sum_{i=1}^{n-1} (x_i - 1)^2 + (sum_j x_j^2 - 0.25)^2", _i)
def _extended_penalty(x):
    return jnp.sum((x[:-1] - 1.0) ** 2) + (jnp.sum(x ** 2) - 0.25) ** 2


@_andrei("perturbed_quadratic", "Perturbed Quadratic function", "any", "sum_i i x_i^2 + (sum_i x_i)^2 / 100",
         _constant(0.5), **_zero_at(_ZERO), convex=True)
def _perturbed_quadratic(x):
    return jnp.sum(_index(x) * x ** 2) + jnp.sum(x) ** 2 / 100.0


@_andrei("almost_perturbed_quadratic", "Almost Perturbed Quadratic function", "any",
         "sum_i i x_i^2 + (x_1 + x_n)^2 / 100", _constant(0.5), **_zero_at(_ZERO), convex=True)
def _almost_perturbed_quadratic(x):
    return jnp.sum(_index(x) * x ** 2) + (x[0] + x[-1]) ** 2 / 100.0


@_andrei("liarwhd", "LIARWHD function (CUTE)", "any", "sum_i 4 (x_i^2 - x_1)^2 + (x_i - 1)^2", _constant(4.0),
         **_zero_at(_ONES))
def _liarwhd(x):
    return jnp.sum(4.0 * (x ** 2 - x[0]) ** 2 + (x - 1.0) ** 2)


@_andrei("engval1", "ENGVAL1 function (CUTE)", 2, "sum_{i=1}^{n-1} (x_i^2 + x_{i+1}^2)^2 + (-4 x_i + 3)",
         _constant(2.0), convex=True)
def _engval1(x):
    return jnp.sum((x[:-1] ** 2 + x[1:] ** 2) ** 2 + (3.0 - 4.0 * x[:-1]))


@_andrei("edensch", "EDENSCH function (CUTE)", 2,
         "16 + sum_{i=1}^{n-1} (x_i - 2)^4 + (x_i x_{i+1} - 2 x_{i+1})^2 + (x_{i+1} + 1)^2", _ZERO)
def _edensch(x):
    u, v = x[:-1], x[1:]
    return 16.0 + jnp.sum((u - 2.0) ** 4 + (u * v - 2.0 * v) ** 2 + (v + 1.0) ** 2)


@_andrei("tridia", "TRIDIA function (CUTE)", 2, "(x_1 - 1)^2 + sum_{i=2}^n i (2 x_i - x_{i-1})^2", _ONES,
         **_zero_at(lambda n: 2.0 ** -np.arange(n)), convex=True)
def _tridia(x):
    return (x[0] - 1.0) ** 2 + jnp.sum(_index(x)[1:] * (2.0 * x[1:] - x[:-1]) ** 2)


@_andrei("eg2", "EG2 function (CUTE)", 2, "sum_{i=1}^{n-1} sin(x_1 + x_i^2 - 1) + sin(x_n^2) / 2", _ONES)
def _eg2(x):
    return jnp.sum(jnp.sin(x[0] + x[:-1] ** 2 - 1.0)) + 0.5 * jnp.sin(x[-1] ** 2)


@_andrei("fletchcr", "FLETCHCR function (CUTE)", 2, "sum_{i=1}^{n-1} 100 (x_{i+1} - x_i + 1 - x_i^2)^2", _ZERO,
         **_zero_at(_ONES))
def _fletchcr(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] + 1.0 - x[:-1] ** 2) ** 2)


@_andrei("dqdrtic", "DQDRTIC function (CUTE)", 3, "sum_{i=1}^{n-2} (x_i^2 + 100 x_{i+1}^2 + 100 x_{i+2}^2)",
         _constant(3.0), **_zero_at(_ZERO), convex=True)
def _dqdrtic(x):
    return jnp.sum(x[:-2] ** 2 + 100.0 * x[1:-1] ** 2 + 100.0 * x[2:] ** 2)


@_andrei("cube", "CUBE function (CUTE)", 2, "(x_1 - 1)^2 + sum_{i=2}^n 100 (x_i - x_{i-1}^3)^2",
         _alternating(-1.2, 1.0), **_zero_at(_ONES))
def _cube(x):
    return (x[0] - 1.0) ** 2 + jnp.sum(100.0 * (x[1:] - x[:-1] ** 3) ** 2)


@_andrei("sinquad", "SINQUAD function (CUTE)", 3,
         "(x_1 - 1)^4 + sum_{i=2}^{n-1} (sin(x_i - x_n) - x_1^2 + x_i^2)^2 + (x_n^2 - x_1^2)^2", _constant(0.1))
def _sinquad(x):
    inner = x[1:-1]
    return ((x[0] - 1.0) ** 4 + jnp.sum((jnp.sin(inner - x[-1]) - x[0] ** 2 + inner ** 2) ** 2)
            + (x[-1] ** 2 - x[0] ** 2) ** 2)


@_andrei("dixon3dq", "DIXON3DQ function (CUTE)", 2,
         "(x_1 - 1)^2 + sum_{i=2}^{n-1} (x_i - x_{i+1})^2 + (x_n - 1)^2", _constant(-1.0), **_zero_at(_ONES),
         convex=True)
def _dixon3dq(x):
    return (x[0] - 1.0) ** 2 + jnp.sum((x[1:-1] - x[2:]) ** 2) + (x[-1] - 1.0) ** 2


@_andrei("biggsb1", "BIGGSB1 function (CUTE)", 2,
         "(x_1 - 1)^2 + sum_{i=1}^{n-1} (x_{i+1} - x_i)^2 + (1 - x_n)^2", _ZERO, **_zero_at(_ONES), convex=True)
def _biggsb1(x):
    return (x[0] - 1.0) ** 2 + jnp.sum((x[1:] - x[:-1]) ** 2) + (1.0 - x[-1]) ** 2


@_andrei("arwhead", "ARWHEAD function (CUTE)", 2, "sum_{i=1}^{n-1} (-4 x_i + 3) + (x_i^2 + x_n^2)^2", _ONES,
         **_zero_at(lambda n: np.concatenate([np.ones(n - 1), [0.0]])), convex=True)
def _arwhead(x):
    return jnp.sum(3.0 - 4.0 * x[:-1] + (x[:-1] ** 2 + x[-1] ** 2) ** 2)


@_andrei("nondia", "NONDIA function (CUTE)", 2, "(x_1 - 1)^2 + sum_{i=2}^n 100 (x_1 - x_{i-1}^2)^2",
         _constant(-1.0), **_zero_at(_ONES))
def _nondia(x):
    return (x[0] - 1.0) ** 2 + jnp.sum(100.0 * (x[0] - x[:-1] ** 2) ** 2)


@_andrei("nondquar", "NONDQUAR function (CUTE)", 3,
         "(x_1 - x_2)^2 + sum_{i=1}^{n-2} (x_i + x_{i+1} + x_n)^4 + (x_{n-1} + x_n)^2", _alternating(1.0, -1.0),
         **_zero_at(_ZERO), convex=True)
def _nondquar(x):
    return (x[0] - x[1]) ** 2 + jnp.sum((x[:-2] + x[1:-1] + x[-1]) ** 4) + (x[-2] + x[-1]) ** 2


@_andrei("bdqrtic", "BDQRTIC function (CUTE)", 5,
         "sum_{i=1}^{n-4} (-4 x_i + 3)^2 + (x_i^2 + 2 x_{i+1}^2 + 3 x_{i+2}^2 + 4 x_{i+3}^2 + 5 x_n^2)^2", _ONES,
         convex=True)
def _bdqrtic(x):
    m = x.shape[0] - 4
    quartic = x[:m] ** 2 + 2.0 * x[1:m + 1] ** 2 + 3.0 * x[2:m + 2] ** 2 + 4.0 * x[3:m + 3] ** 2 + 5.0 * x[-1] ** 2
    return jnp.sum((3.0 - 4.0 * x[:m]) ** 2 + quartic ** 2)


# --------------------------------------------------------------------------------------------
# The set
# --------------------------------------------------------------------------------------------

#: The keys, in the order of the module docstring's table.
ANDREI_KEYS: tuple[str, ...] = (
    "extended_freudenstein_roth", "extended_trigonometric", "extended_rosenbrock", "generalized_rosenbrock",
    "extended_white_holst", "extended_beale", "extended_penalty", "raydan1", "raydan2", "diagonal1", "diagonal2",
    "diagonal3", "hager", "extended_tet", "extended_himmelblau", "extended_powell", "extended_wood",
    "extended_hiebert", "extended_tridiagonal1", "quadratic_qf2", "perturbed_quadratic",
    "almost_perturbed_quadratic", "diagonal4", "diagonal5", "extended_denschnb", "extended_denschnf", "himmelbg",
    "liarwhd", "power", "engval1", "edensch", "quartc", "tridia", "eg2", "fletchcr", "dqdrtic", "cube", "sinquad",
    "dixon3dq", "biggsb1", "arwhead", "nondia", "nondquar", "bdqrtic",
)

_CACHE: dict[tuple[str, int], Problem] = {}


def _check_n(key: str, size: str | int, n: Any) -> int:
    if size == "pairs":
        n = _check_size(n, "n", minimum=2)
        if n % 2:
            raise ValueError(f"andrei/{key}: n must be even, got {n}")
    elif size == "quads":
        n = _check_size(n, "n", minimum=4)
        if n % 4:
            raise ValueError(f"andrei/{key}: n must be a multiple of 4, got {n}")
    else:
        n = _check_size(n, "n", minimum=1 if size == "any" else size)
    return n


def andrei_problem(key: str, n: int = 1000) -> Problem:
    """One function of the collection at size ``n``.

    Args:
      key: a key of :data:`ANDREI_KEYS` (``"cube"``, or ``"andrei/cube"``).
      n: the number of variables; the function's rule (module docstring) applies: even for the
        "pairs" functions, a multiple of 4 for the "quads", at least 2, 3 or 5 for the banded ones.

    Returns:
      The :class:`Problem` named ``"andrei/" + key``; the same object for the same arguments.

    Example:
      >>> from ml_opt.problems.andrei import andrei_problem
      >>> p = andrei_problem("cube", n=4)
      >>> p.name, p.dim, p.f_opt
      ('andrei/cube', 4, 0.0)

    Reference: Andrei (2008); Bongartz, Conn, Gould & Toint (1995).
    """
    if not isinstance(key, str):
        raise TypeError(f"key must be a str, got {type(key).__name__}")
    key = key.removeprefix("andrei/")
    if key not in _SPECS:
        raise ValueError(f"key: unknown function {key!r}; known: {', '.join(ANDREI_KEYS)}")
    spec = _SPECS[key]
    n = _check_n(key, spec.size, n)
    if (key, n) not in _CACHE:
        _CACHE[key, n] = _build(key, spec, n)
    return _CACHE[key, n]


def andrei_problems(n: int = 1000) -> list[Problem]:
    """All 44 functions at size ``n`` (which must suit every rule: a multiple of 4, at least 8).

    Example:
      >>> from ml_opt.problems.andrei import andrei_problems
      >>> len(andrei_problems(8))
      44

    Reference: Andrei (2008).
    """
    return [andrei_problem(key, n) for key in ANDREI_KEYS]


def _build(key: str, spec: _Spec, n: int) -> Problem:
    name = f"andrei/{key}"
    x0 = _frozen(spec.x0(n))
    raw = spec.fun

    def fun(x: Any) -> Array:
        return raw(_as_vector(x, n, name))

    def init(key: Any = None) -> Array:
        del key  # the collection's starting point is deterministic
        return jnp.asarray(x0, dtype=_default_float())

    return Problem(
        name=name,
        dim=n,
        fun=fun,
        init=init,
        convex=spec.convex,
        f_opt=None if spec.f_opt is None else float(spec.f_opt(n)),
        source=f"{REFERENCE}: {spec.title}, n = {n}. f(x) = {spec.formula}; x0 = {_describe(x0)}.",
        x_opt=None if spec.x_opt is None else _frozen(spec.x_opt(n)),
        tags=frozenset({"andrei", "convex" if spec.convex else "nonconvex"}),
    )


def _describe(x0: np.ndarray) -> str:
    head = ", ".join(f"{v:g}" for v in x0[:4])
    return f"({head}{', ...' if x0.size > 4 else ''})"
