"""The 35 test problems of Moré, Garbow and Hillstrom (1981), as :class:`Problem` values.

Every problem is a nonlinear least-squares problem: ``m`` residuals ``r_i(x)`` in ``n`` variables,
and the objective is **MGH's convention, without a factor 1/2**::

    fun(x) = sum_{i=1}^m r_i(x)^2

(the ``source`` of every problem says so; :class:`Problem`'s default reading of ``residuals`` is
``0.5 * ||r||^2``, so code that builds a Gauss-Newton model from ``residuals`` must double it).

=== ================================  =====  =====  ==================================================
 #  name (``mgh/...``)                  n      m     f_opt (paper)
=== ================================  =====  =====  ==================================================
 1  rosenbrock                           2      2     0 at (1, 1)
 2  freudenstein_roth                    2      2     0 at (5, 4); local 48.9842...
 3  powell_badly_scaled                  2      2     0
 4  brown_badly_scaled                   2      3     0 at (1e6, 2e-6)
 5  beale                                2      3     0 at (3, 0.5)
 6  jennrich_sampson                     2    m=10    124.362 (m = 10)
 7  helical_valley                       3      3     0 at (1, 0, 0)
 8  bard                                 3     15     8.21487e-3; 17.4286 at (0.8406, -inf, -inf)
 9  gaussian                             3     15     1.12793e-8
10  meyer                                3     16     87.9458
11  gulf_research_development            3    m=99    0 at (50, 25, 1.5)
12  box_3d                               3    m=10    0 at (1, 10, 1)
13  powell_singular                      4      4     0 at 0
14  wood                                 4      6     0 at (1, 1, 1, 1)
15  kowalik_osborne                      4     11     3.07505e-4; 1.02734e-3 at (inf, -14.07, -inf, -inf)
16  brown_dennis                         4    m=20    85822.2 (m = 20)
17  osborne1                             5     33     5.46489e-5
18  biggs_exp6                           6    m=13    0 at (1, 10, 1, 5, 4, 3); 5.65565e-3 (m = 13)
19  osborne2                            11     65     4.01377e-2
20  watson                             n=6     31     2.28767e-3 (n=6), 1.39976e-6 (9), 4.72238e-10 (12)
21  extended_rosenbrock                n=10     n     0 at (1, ..., 1)
22  extended_powell_singular           n=12     n     0 at 0
23  penalty1                           n=10   n+1     2.24997e-5 (n=4), 7.08765e-5 (n=10)
24  penalty2                           n=10    2n     9.37629e-6 (n=4), 2.93660e-4 (n=10)
25  variably_dimensioned               n=10   n+2     0 at (1, ..., 1)
26  trigonometric                      n=10     n     0; local 2.79506e-5 (n = 10; not in MGH)
27  brown_almost_linear                n=10     n     0 at (1, ..., 1); 1 at (0, ..., 0, n+1); local
                                                     0.917900 (n = 10; not in MGH)
28  discrete_boundary_value            n=10     n     0
29  discrete_integral_equation         n=10     n     0
30  broyden_tridiagonal                n=10     n     0
31  broyden_banded                     n=10     n     0
32  linear_full_rank                   n=5    m=10    m - n at (-1, ..., -1)
33  linear_rank1                       n=5    m=10    m(m-1) / (2(2m+1))
34  linear_rank1_zero_columns_rows     n=5    m=10    (m^2 + 3m - 6) / (2(2m-3))
35  chebyquad                          n=8    m=n     0 (m = n <= 7, n = 9); 3.51687e-3 (8); 4.77271e-3 (10,
                                                     best known; the paper's 6.50395e-3 is a local minimum)
=== ================================  =====  =====  ==================================================

The paper leaves ``n`` (and for some problems ``m``) free. The defaults here, the sizes of
``mgh_problems()``, are: m = 10, 99, 10, 20, 13 for problems 6, 11, 12, 16, 18 (the sizes of the
authors' drivers, MINPACK and Algorithm 566); n = 6 for Watson and n = 5, m = 10 for the linear
functions (MINPACK's first sizes); n = 10 for problems 21 and 23-31 (MINPACK's size for 25-31, and
the size at which the paper gives the minima of 23 and 24); n = 12 for extended Powell (a multiple
of 4); n = m = 8 for Chebyquad, a size with a published nonzero minimum. Every factory takes the free
sizes as keyword arguments; a problem of non-standard size is named with them, e.g.
``"mgh/watson[n=9]"``, and has ``f_opt`` where the paper gives the value for that size, None
otherwise.

Other known local minima (or limits at infinity) besides ``f_opt`` are in :data:`LOCAL_MINIMA` (and
:func:`mgh_info`), so that a solver that stops at one can be scored as having reached a stationary
point rather than as having failed: those the paper lists, two that descent methods reach from
the standard starts, checked here (trigonometric, n = 10: 2.79506e-5; Chebyquad, n = 10, whose
paper value 6.50395e-3 turns out to be a local minimum above the best known 4.77271e-3), and one
that BFGS reaches from 10 x0, also checked here (Brown almost-linear, n = 10: 0.917900).

Every residual function takes a 1-D array of any floating dtype and computes in that dtype (the data
are cast to it); ``init(key)`` ignores the key and returns the standard starting point in the default
JAX float dtype (float64 when ``jax_enable_x64`` is on). ``x_opt`` is given (as a float64 NumPy array)
only where the paper gives the minimiser exactly.

Reference:
    J. J. Moré, B. S. Garbow and K. E. Hillstrom, "Testing Unconstrained Optimization Software",
    ACM Transactions on Mathematical Software 7(1), 17-41, 1981. The formulas follow section 3 of the
    paper; the one misprint known in it (problem 11, where "y_i m i x_2" stands for ``|y_i - x_2|``)
    is read as in the authors' Fortran, Algorithm 566 (same journal, 136-140).
"""

from __future__ import annotations

import functools
import inspect
import math
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ml_opt._base import check_integer
from ml_opt.problems.base import Problem

Array = jax.Array

REFERENCE = (
    'J. J. Moré, B. S. Garbow and K. E. Hillstrom, "Testing Unconstrained Optimization Software", '
    "ACM Trans. Math. Software 7(1), 17-41, 1981"
)

__all__ = [
    "LOCAL_MINIMA",
    "MGHInfo",
    "mgh_info",
    "mgh_problem",
    "mgh_problems",
    # the 35 factories, in MGH order
    "rosenbrock",
    "freudenstein_roth",
    "powell_badly_scaled",
    "brown_badly_scaled",
    "beale",
    "jennrich_sampson",
    "helical_valley",
    "bard",
    "gaussian",
    "meyer",
    "gulf_research_development",
    "box_3d",
    "powell_singular",
    "wood",
    "kowalik_osborne",
    "brown_dennis",
    "osborne1",
    "biggs_exp6",
    "osborne2",
    "watson",
    "extended_rosenbrock",
    "extended_powell_singular",
    "penalty1",
    "penalty2",
    "variably_dimensioned",
    "trigonometric",
    "brown_almost_linear",
    "discrete_boundary_value",
    "discrete_integral_equation",
    "broyden_tridiagonal",
    "broyden_banded",
    "linear_full_rank",
    "linear_rank1",
    "linear_rank1_zero_columns_rows",
    "chebyquad",
]


# --------------------------------------------------------------------------------------------
# Registry and construction
# --------------------------------------------------------------------------------------------


class MGHInfo(NamedTuple):
    """What :class:`Problem` has no field for, for one MGH problem.

    Attributes:
      number: the problem's number in the paper, 1 to 35.
      key: the snake-case name, e.g. ``"watson"`` (the problem's name is ``"mgh/" + key``, followed
        by its sizes when they are not the standard ones).
      title: the paper's name, e.g. ``"Watson function"``.
      n: number of variables.
      m: number of residuals.
      local_minima: values of other known local minima (or of limits at infinity) besides
        ``f_opt``: the paper's, plus the two documented in the module docstring; may be empty.
      standard: whether the sizes are the defaults of :func:`mgh_problems`.
    """

    number: int
    key: str
    title: str
    n: int
    m: int
    local_minima: tuple[float, ...]
    standard: bool


#: Other known local-minimum values (besides ``f_opt``) by problem name (see the module docstring for
#: where they come from). Holds the standard-size problems from import on, and every problem of
#: another size once it is built; problems with none have no entry.
LOCAL_MINIMA: dict[str, tuple[float, ...]] = {}

_INFO: dict[str, MGHInfo] = {}
_FACTORIES: dict[int, Callable[..., Problem]] = {}
_KEYS: dict[str, int] = {}


class _Spec(NamedTuple):
    """What a problem's builder returns; :func:`_mgh` makes the :class:`Problem` from it."""

    title: str
    residuals: Callable[[Array], Array]
    x0: Any
    m: int
    f_opt: float | None
    x_opt: Any = None
    convex: bool = False
    local_minima: tuple[float, ...] = ()
    formula: str = ""


def _default_float() -> Any:
    """The default JAX float dtype now (float64 when x64 is enabled, float32 otherwise)."""
    return jnp.zeros(()).dtype


def _as_vector(x: Any, n: int, name: str) -> Array:
    """``x`` as a floating 1-D JAX array of length ``n``, or a ValueError naming the problem."""
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.inexact):
        x = x.astype(_default_float())
    if x.shape != (n,):
        raise ValueError(f"{name}: x must be a 1-D array of shape ({n},), got shape {x.shape}")
    return x


def _const(values: Any, x: Array) -> Array:
    """Data as an array in ``x``'s dtype, so a float32 point is evaluated in float32."""
    return jnp.asarray(values, dtype=x.dtype)


def _frozen(values: Any) -> np.ndarray:
    a = np.array(values, dtype=np.float64)
    a.setflags(write=False)
    return a


def _check_size(value: Any, name: str, *, minimum: int) -> int:
    check_integer(value, name, lower=minimum, static=True)
    return int(value)


def _mgh(
        number: int,
        key: str,
        normalize: Callable[..., dict] | None = None,
) -> Callable[[Callable[..., _Spec]], Callable[..., Problem]]:
    """Turns a builder ``build(**sizes) -> _Spec`` into a cached factory ``f(**sizes) -> Problem``.

    The builder's keyword defaults are the standard sizes; ``normalize(**sizes)`` resolves sizes
    that default to others (Chebyquad's ``m = n``). The factory returns the same :class:`Problem`
    object for the same sizes, so jit caches keyed on the problem are reused.
    """
    normalize = normalize or (lambda **sizes: sizes)

    def decorate(build: Callable[..., _Spec]) -> Callable[..., Problem]:
        signature = inspect.signature(build)
        defaults = normalize(**{k: p.default for k, p in signature.parameters.items()})
        cache: dict[tuple, Problem] = {}

        @functools.wraps(build)
        def factory(*args: Any, **kwargs: Any) -> Problem:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as e:
                raise TypeError(f"mgh/{key}: {e}; its sizes are {list(defaults)}") from None
            bound.apply_defaults()
            sizes = normalize(**bound.arguments)
            sizes = {k: _check_size(v, k, minimum=1) for k, v in sizes.items()}
            cache_key = tuple(sizes.items())
            if cache_key not in cache:
                cache[cache_key] = _build(number, key, build(**sizes), sizes, defaults)
            return cache[cache_key]

        factory.__signature__ = signature.replace(return_annotation=Problem)
        factory.__annotations__ = {**build.__annotations__, "return": Problem}
        _FACTORIES[number] = factory
        _KEYS[key] = number
        return factory

    return decorate


def _build(number: int, key: str, spec: _Spec, sizes: dict, defaults: dict) -> Problem:
    standard = sizes == defaults
    suffix = "" if standard else "[" + ",".join(f"{k}={v}" for k, v in sizes.items()) + "]"
    name = f"mgh/{key}{suffix}"
    x0 = _frozen(spec.x0)
    n, m = x0.size, spec.m
    raw_residuals = spec.residuals

    def residuals(x: Any) -> Array:
        return raw_residuals(_as_vector(x, n, name))

    def fun(x: Any) -> Array:
        r = residuals(x)
        return jnp.sum(r * r)

    def init(key: Any = None) -> Array:
        del key  # the standard starting point is deterministic
        return jnp.asarray(x0, dtype=_default_float())

    where = "" if standard else " (" + ", ".join(f"{k} = {v}" for k, v in sizes.items()) + ")"
    source = (
        f"{REFERENCE}, problem {number} ({spec.title}){where}: n = {n}, m = {m}. "
        f"fun(x) = sum_i r_i(x)^2 (MGH's convention: no factor 1/2). {spec.formula}"
    ).strip()
    if spec.f_opt is None:
        residual_tag = ()
    else:
        residual_tag = ("zero_residual",) if spec.f_opt == 0 else ("nonzero_residual",)
    tags = frozenset(
        {"mgh", "least_squares", "convex" if spec.convex else "nonconvex", *residual_tag}
        | ({"variable_size"} if defaults else set())
    )
    problem = Problem(
        name=name,
        dim=n,
        fun=fun,
        init=init,
        convex=spec.convex,
        f_opt=None if spec.f_opt is None else float(spec.f_opt),
        source=source,
        x_opt=None if spec.x_opt is None else _frozen(spec.x_opt),
        residuals=residuals,
        tags=tags,
    )
    local = tuple(float(v) for v in spec.local_minima)
    _INFO[name] = MGHInfo(number, key, spec.title, n, m, local, standard)
    if local:
        LOCAL_MINIMA[name] = local
    return problem


# --------------------------------------------------------------------------------------------
# Problems 1-19: fixed n
# --------------------------------------------------------------------------------------------


@_mgh(1, "rosenbrock")
def rosenbrock() -> _Spec:
    """MGH problem 1, Rosenbrock function: n = 2, m = 2.

    ``r_1 = 10 (x_2 - x_1^2)``, ``r_2 = 1 - x_1``; start (-1.2, 1); f = 0 at (1, 1).

    Reference: Moré, Garbow & Hillstrom (1981), problem 1; H. H. Rosenbrock, "An automatic method
    for finding the greatest or least value of a function", The Computer Journal 3, 1960.
    """

    def r(x):
        return jnp.stack([10.0 * (x[1] - x[0] ** 2), 1.0 - x[0]])

    return _Spec("Rosenbrock function", r, [-1.2, 1.0], 2, 0.0, x_opt=[1.0, 1.0],
                 formula="r = (10 (x2 - x1^2), 1 - x1).")


@_mgh(2, "freudenstein_roth")
def freudenstein_roth() -> _Spec:
    """MGH problem 2, Freudenstein and Roth function: n = 2, m = 2.

    ``r_1 = -13 + x_1 + ((5 - x_2) x_2 - 2) x_2``, ``r_2 = -29 + x_1 + ((x_2 + 1) x_2 - 14) x_2``;
    start (0.5, -2); f = 0 at (5, 4) and a local minimum f = 48.9842... at (11.41..., -0.8968...).

    Reference: Moré, Garbow & Hillstrom (1981), problem 2.
    """

    def r(x):
        return jnp.stack([
            -13.0 + x[0] + ((5.0 - x[1]) * x[1] - 2.0) * x[1],
            -29.0 + x[0] + ((x[1] + 1.0) * x[1] - 14.0) * x[1],
        ])

    return _Spec("Freudenstein and Roth function", r, [0.5, -2.0], 2, 0.0, x_opt=[5.0, 4.0],
                 local_minima=(48.9842,),
                 formula="r = (-13 + x1 + ((5 - x2) x2 - 2) x2, -29 + x1 + ((x2 + 1) x2 - 14) x2).")


@_mgh(3, "powell_badly_scaled")
def powell_badly_scaled() -> _Spec:
    """MGH problem 3, Powell badly scaled function: n = 2, m = 2.

    ``r_1 = 10^4 x_1 x_2 - 1``, ``r_2 = exp(-x_1) + exp(-x_2) - 1.0001``; start (0, 1);
    f = 0 at (1.098...e-5, 9.106...) (the paper gives the minimiser only to these digits).

    Reference: Moré, Garbow & Hillstrom (1981), problem 3.
    """

    def r(x):
        return jnp.stack([1e4 * x[0] * x[1] - 1.0, jnp.exp(-x[0]) + jnp.exp(-x[1]) - 1.0001])

    return _Spec("Powell badly scaled function", r, [0.0, 1.0], 2, 0.0,
                 formula="r = (1e4 x1 x2 - 1, exp(-x1) + exp(-x2) - 1.0001).")


@_mgh(4, "brown_badly_scaled")
def brown_badly_scaled() -> _Spec:
    """MGH problem 4, Brown badly scaled function: n = 2, m = 3.

    ``r = (x_1 - 10^6, x_2 - 2 10^-6, x_1 x_2 - 2)``; start (1, 1); f = 0 at (10^6, 2 10^-6).

    Reference: Moré, Garbow & Hillstrom (1981), problem 4.
    """

    def r(x):
        return jnp.stack([x[0] - 1e6, x[1] - 2e-6, x[0] * x[1] - 2.0])

    return _Spec("Brown badly scaled function", r, [1.0, 1.0], 3, 0.0, x_opt=[1e6, 2e-6],
                 formula="r = (x1 - 1e6, x2 - 2e-6, x1 x2 - 2).")


@_mgh(5, "beale")
def beale() -> _Spec:
    """MGH problem 5, Beale function: n = 2, m = 3.

    ``r_i = y_i - x_1 (1 - x_2^i)``, ``y = (1.5, 2.25, 2.625)``; start (1, 1); f = 0 at (3, 0.5).

    Reference: Moré, Garbow & Hillstrom (1981), problem 5.
    """
    y = np.array([1.5, 2.25, 2.625])
    powers = np.arange(1.0, 4.0)

    def r(x):
        return _const(y, x) - x[0] * (1.0 - x[1] ** _const(powers, x))

    return _Spec("Beale function", r, [1.0, 1.0], 3, 0.0, x_opt=[3.0, 0.5],
                 formula="r_i = y_i - x1 (1 - x2^i), y = (1.5, 2.25, 2.625).")


@_mgh(6, "jennrich_sampson")
def jennrich_sampson(m: int = 10) -> _Spec:
    """MGH problem 6, Jennrich and Sampson function: n = 2, m >= 2 (standard m = 10).

    ``r_i = 2 + 2i - (exp(i x_1) + exp(i x_2))``, i = 1..m; start (0.3, 0.4);
    f = 124.362... at x_1 = x_2 = 0.2578... for m = 10 (the paper gives no value for other m).

    Reference: Moré, Garbow & Hillstrom (1981), problem 6.
    """
    _check_size(m, "m", minimum=2)
    i = np.arange(1.0, m + 1)

    def r(x):
        ii = _const(i, x)
        return 2.0 + 2.0 * ii - (jnp.exp(ii * x[0]) + jnp.exp(ii * x[1]))

    return _Spec("Jennrich and Sampson function", r, [0.3, 0.4], m, 124.362 if m == 10 else None,
                 formula="r_i = 2 + 2i - (exp(i x1) + exp(i x2)), i = 1..m.")


@_mgh(7, "helical_valley")
def helical_valley() -> _Spec:
    """MGH problem 7, helical valley function: n = 3, m = 3.

    ``r_1 = 10 (x_3 - 10 theta(x_1, x_2))``, ``r_2 = 10 (sqrt(x_1^2 + x_2^2) - 1)``, ``r_3 = x_3``,
    with ``2 pi theta = arctan(x_2 / x_1)`` for x_1 > 0 and ``arctan(x_2 / x_1) + pi`` for x_1 < 0
    (so theta is in (-1/4, 3/4), with its cut on the negative x_2 axis); start (-1, 0, 0);
    f = 0 at (1, 0, 0). Here theta is computed with ``atan2``, shifted by 1 where MGH's branch
    differs from it (x_1 < 0, x_2 < 0), which gives the same values and a smooth gradient off the
    cut and off the x_3 axis.

    Reference: Moré, Garbow & Hillstrom (1981), problem 7.
    """

    def r(x):
        t = jnp.arctan2(x[1], x[0]) / (2.0 * jnp.pi)
        theta = jnp.where(t < -0.25, t + 1.0, t)
        return jnp.stack([
            10.0 * (x[2] - 10.0 * theta),
            10.0 * (jnp.sqrt(x[0] ** 2 + x[1] ** 2) - 1.0),
            x[2],
        ])

    return _Spec("Helical valley function", r, [-1.0, 0.0, 0.0], 3, 0.0, x_opt=[1.0, 0.0, 0.0],
                 formula="r = (10 (x3 - 10 theta), 10 (||(x1, x2)|| - 1), x3), "
                         "2 pi theta = arctan(x2/x1) (+ pi if x1 < 0).")


_BARD_Y = [0.14, 0.18, 0.22, 0.25, 0.29, 0.32, 0.35, 0.39, 0.37, 0.58, 0.73, 0.96, 1.34, 2.10, 4.39]


@_mgh(8, "bard")
def bard() -> _Spec:
    """MGH problem 8, Bard function: n = 3, m = 15.

    ``r_i = y_i - (x_1 + u_i / (v_i x_2 + w_i x_3))``, ``u_i = i``, ``v_i = 16 - i``,
    ``w_i = min(u_i, v_i)``; start (1, 1, 1); f = 8.21487...e-3, and f -> 17.4286... as
    x -> (0.8406..., -inf, -inf) (listed in :data:`LOCAL_MINIMA`).

    Reference: Moré, Garbow & Hillstrom (1981), problem 8.
    """
    u = np.arange(1.0, 16.0)
    v = 16.0 - u
    w = np.minimum(u, v)

    def r(x):
        return _const(_BARD_Y, x) - (x[0] + _const(u, x) / (_const(v, x) * x[1] + _const(w, x) * x[2]))

    return _Spec("Bard function", r, [1.0, 1.0, 1.0], 15, 8.21487e-3, local_minima=(17.4286,),
                 formula="r_i = y_i - (x1 + i / ((16 - i) x2 + min(i, 16 - i) x3)).")


_GAUSSIAN_Y = [0.0009, 0.0044, 0.0175, 0.0540, 0.1295, 0.2420, 0.3521, 0.3989, 0.3521, 0.2420,
               0.1295, 0.0540, 0.0175, 0.0044, 0.0009]


@_mgh(9, "gaussian")
def gaussian() -> _Spec:
    """MGH problem 9, Gaussian function: n = 3, m = 15.

    ``r_i = x_1 exp(-x_2 (t_i - x_3)^2 / 2) - y_i``, ``t_i = (8 - i) / 2``; start (0.4, 1, 0);
    f = 1.12793...e-8.

    Reference: Moré, Garbow & Hillstrom (1981), problem 9.
    """
    t = (8.0 - np.arange(1.0, 16.0)) / 2.0

    def r(x):
        return x[0] * jnp.exp(-0.5 * x[1] * (_const(t, x) - x[2]) ** 2) - _const(_GAUSSIAN_Y, x)

    return _Spec("Gaussian function", r, [0.4, 1.0, 0.0], 15, 1.12793e-8,
                 formula="r_i = x1 exp(-x2 (t_i - x3)^2 / 2) - y_i, t_i = (8 - i)/2.")


_MEYER_Y = [34780.0, 28610.0, 23650.0, 19630.0, 16370.0, 13720.0, 11540.0, 9744.0, 8261.0, 7030.0,
            6005.0, 5147.0, 4427.0, 3820.0, 3307.0, 2872.0]


@_mgh(10, "meyer")
def meyer() -> _Spec:
    """MGH problem 10, Meyer function: n = 3, m = 16.

    ``r_i = x_1 exp(x_2 / (t_i + x_3)) - y_i``, ``t_i = 45 + 5 i``; start (0.02, 4000, 250);
    f = 87.9458....

    Reference: Moré, Garbow & Hillstrom (1981), problem 10.
    """
    t = 45.0 + 5.0 * np.arange(1.0, 17.0)

    def r(x):
        return x[0] * jnp.exp(x[1] / (_const(t, x) + x[2])) - _const(_MEYER_Y, x)

    return _Spec("Meyer function", r, [0.02, 4000.0, 250.0], 16, 87.9458,
                 formula="r_i = x1 exp(x2 / (t_i + x3)) - y_i, t_i = 45 + 5i.")


@_mgh(11, "gulf_research_development")
def gulf_research_development(m: int = 99) -> _Spec:
    """MGH problem 11, Gulf research and development function: n = 3, 3 <= m <= 100 (standard 99).

    ``r_i = exp(-|y_i - x_2|^x_3 / x_1) - t_i``, ``t_i = i / 100``,
    ``y_i = 25 + (-50 log t_i)^(2/3)``; start (5, 2.5, 0.15); f = 0 at (50, 25, 1.5). (The paper
    prints ``|y_i m i x_2|``, a misprint for ``|y_i - x_2|``, as its Fortran, Algorithm 566, has it;
    m = 99 is the value that code uses.)

    Reference: Moré, Garbow & Hillstrom (1981), problem 11.
    """
    _check_size(m, "m", minimum=3)
    if m > 100:
        raise ValueError(f"m must be <= 100 for the Gulf function, got {m}")
    t = np.arange(1.0, m + 1) / 100.0
    y = 25.0 + (-50.0 * np.log(t)) ** (2.0 / 3.0)

    def r(x):
        return jnp.exp(-(jnp.abs(_const(y, x) - x[1]) ** x[2]) / x[0]) - _const(t, x)

    return _Spec("Gulf research and development function", r, [5.0, 2.5, 0.15], m, 0.0,
                 x_opt=[50.0, 25.0, 1.5],
                 formula="r_i = exp(-|y_i - x2|^x3 / x1) - t_i, t_i = i/100, "
                         "y_i = 25 + (-50 ln t_i)^(2/3).")


@_mgh(12, "box_3d")
def box_3d(m: int = 10) -> _Spec:
    """MGH problem 12, Box three-dimensional function: n = 3, m >= 3 (standard 10).

    ``r_i = exp(-t_i x_1) - exp(-t_i x_2) - x_3 (exp(-t_i) - exp(-10 t_i))``, ``t_i = 0.1 i``;
    start (0, 10, 20); f = 0 at (1, 10, 1), at (10, 1, -1) and wherever x_1 = x_2 and x_3 = 0.

    Reference: Moré, Garbow & Hillstrom (1981), problem 12.
    """
    _check_size(m, "m", minimum=3)
    t = 0.1 * np.arange(1.0, m + 1)
    c = np.exp(-t) - np.exp(-10.0 * t)

    def r(x):
        tt = _const(t, x)
        return jnp.exp(-tt * x[0]) - jnp.exp(-tt * x[1]) - x[2] * _const(c, x)

    return _Spec("Box three-dimensional function", r, [0.0, 10.0, 20.0], m, 0.0,
                 x_opt=[1.0, 10.0, 1.0],
                 formula="r_i = exp(-t_i x1) - exp(-t_i x2) - x3 (exp(-t_i) - exp(-10 t_i)), "
                         "t_i = i/10.")


@_mgh(13, "powell_singular")
def powell_singular() -> _Spec:
    """MGH problem 13, Powell singular function: n = 4, m = 4.

    ``r = (x_1 + 10 x_2, sqrt(5) (x_3 - x_4), (x_2 - 2 x_3)^2, sqrt(10) (x_1 - x_4)^2)``;
    start (3, -1, 0, 1); f = 0 at the origin, where the Hessian is singular. Convex: a sum of
    squares of affine maps and fourth powers of affine maps.

    Reference: Moré, Garbow & Hillstrom (1981), problem 13.
    """

    def r(x):
        return jnp.stack([
            x[0] + 10.0 * x[1],
            math.sqrt(5.0) * (x[2] - x[3]),
            (x[1] - 2.0 * x[2]) ** 2,
            math.sqrt(10.0) * (x[0] - x[3]) ** 2,
        ])

    return _Spec("Powell singular function", r, [3.0, -1.0, 0.0, 1.0], 4, 0.0, x_opt=np.zeros(4),
                 convex=True,
                 formula="r = (x1 + 10 x2, sqrt5 (x3 - x4), (x2 - 2 x3)^2, sqrt10 (x1 - x4)^2).")


@_mgh(14, "wood")
def wood() -> _Spec:
    """MGH problem 14, Wood function: n = 4, m = 6.

    ``r = (10 (x_2 - x_1^2), 1 - x_1, sqrt(90) (x_4 - x_3^2), 1 - x_3, sqrt(10) (x_2 + x_4 - 2),
    (x_2 - x_4) / sqrt(10))``; start (-3, -1, -3, -1); f = 0 at (1, 1, 1, 1).

    Reference: Moré, Garbow & Hillstrom (1981), problem 14.
    """

    def r(x):
        return jnp.stack([
            10.0 * (x[1] - x[0] ** 2),
            1.0 - x[0],
            math.sqrt(90.0) * (x[3] - x[2] ** 2),
            1.0 - x[2],
            math.sqrt(10.0) * (x[1] + x[3] - 2.0),
            (x[1] - x[3]) / math.sqrt(10.0),
        ])

    return _Spec("Wood function", r, [-3.0, -1.0, -3.0, -1.0], 6, 0.0, x_opt=np.ones(4),
                 formula="r = (10 (x2 - x1^2), 1 - x1, sqrt90 (x4 - x3^2), 1 - x3, "
                         "sqrt10 (x2 + x4 - 2), (x2 - x4)/sqrt10).")


_KOWALIK_Y = [0.1957, 0.1947, 0.1735, 0.1600, 0.0844, 0.0627, 0.0456, 0.0342, 0.0323, 0.0235, 0.0246]
_KOWALIK_U = [4.0, 2.0, 1.0, 0.5, 0.25, 0.167, 0.125, 0.1, 0.0833, 0.0714, 0.0625]


@_mgh(15, "kowalik_osborne")
def kowalik_osborne() -> _Spec:
    """MGH problem 15, Kowalik and Osborne function: n = 4, m = 11.

    ``r_i = y_i - x_1 (u_i^2 + u_i x_2) / (u_i^2 + u_i x_3 + x_4)``; start (0.25, 0.39, 0.415, 0.39);
    f = 3.07505...e-4, and f -> 1.02734...e-3 as x -> (+inf, -14.07..., -inf, -inf) (listed in
    :data:`LOCAL_MINIMA`).

    Reference: Moré, Garbow & Hillstrom (1981), problem 15.
    """

    def r(x):
        u = _const(_KOWALIK_U, x)
        return _const(_KOWALIK_Y, x) - x[0] * (u * u + u * x[1]) / (u * u + u * x[2] + x[3])

    return _Spec("Kowalik and Osborne function", r, [0.25, 0.39, 0.415, 0.39], 11, 3.07505e-4,
                 local_minima=(1.02734e-3,),
                 formula="r_i = y_i - x1 (u_i^2 + u_i x2) / (u_i^2 + u_i x3 + x4).")


@_mgh(16, "brown_dennis")
def brown_dennis(m: int = 20) -> _Spec:
    """MGH problem 16, Brown and Dennis function: n = 4, m >= 4 (standard 20).

    ``r_i = (x_1 + t_i x_2 - exp(t_i))^2 + (x_3 + x_4 sin(t_i) - cos(t_i))^2``, ``t_i = i / 5``;
    start (25, 5, -5, -1); f = 85822.2... for m = 20 (the paper gives no value for other m).

    Reference: Moré, Garbow & Hillstrom (1981), problem 16.
    """
    _check_size(m, "m", minimum=4)
    t = np.arange(1.0, m + 1) / 5.0

    def r(x):
        tt = _const(t, x)
        return (x[0] + tt * x[1] - jnp.exp(tt)) ** 2 + (x[2] + x[3] * jnp.sin(tt) - jnp.cos(tt)) ** 2

    return _Spec("Brown and Dennis function", r, [25.0, 5.0, -5.0, -1.0], m,
                 85822.2 if m == 20 else None,
                 formula="r_i = (x1 + t_i x2 - exp t_i)^2 + (x3 + x4 sin t_i - cos t_i)^2, t_i = i/5.")


_OSBORNE1_Y = [0.844, 0.908, 0.932, 0.936, 0.925, 0.908, 0.881, 0.850, 0.818, 0.784, 0.751, 0.718,
               0.685, 0.658, 0.628, 0.603, 0.580, 0.558, 0.538, 0.522, 0.506, 0.490, 0.478, 0.467,
               0.457, 0.448, 0.438, 0.431, 0.424, 0.420, 0.414, 0.411, 0.406]


@_mgh(17, "osborne1")
def osborne1() -> _Spec:
    """MGH problem 17, Osborne 1 function: n = 5, m = 33.

    ``r_i = y_i - (x_1 + x_2 exp(-t_i x_4) + x_3 exp(-t_i x_5))``, ``t_i = 10 (i - 1)``;
    start (0.5, 1.5, -1, 0.01, 0.02); f = 5.46489...e-5.

    Reference: Moré, Garbow & Hillstrom (1981), problem 17.
    """
    t = 10.0 * np.arange(33.0)

    def r(x):
        tt = _const(t, x)
        return _const(_OSBORNE1_Y, x) - (x[0] + x[1] * jnp.exp(-tt * x[3]) + x[2] * jnp.exp(-tt * x[4]))

    return _Spec("Osborne 1 function", r, [0.5, 1.5, -1.0, 0.01, 0.02], 33, 5.46489e-5,
                 formula="r_i = y_i - (x1 + x2 exp(-t_i x4) + x3 exp(-t_i x5)), t_i = 10 (i - 1).")


@_mgh(18, "biggs_exp6")
def biggs_exp6(m: int = 13) -> _Spec:
    """MGH problem 18, Biggs EXP6 function: n = 6, m >= 6 (standard 13).

    ``r_i = x_3 exp(-t_i x_1) - x_4 exp(-t_i x_2) + x_6 exp(-t_i x_5) - y_i``, ``t_i = 0.1 i``,
    ``y_i = exp(-t_i) - 5 exp(-10 t_i) + 3 exp(-4 t_i)``; start (1, 2, 1, 1, 1, 1);
    f = 0 at (1, 10, 1, 5, 4, 3), and a local minimum f = 5.65565...e-3 for m = 13.

    Reference: Moré, Garbow & Hillstrom (1981), problem 18.
    """
    _check_size(m, "m", minimum=6)
    t = 0.1 * np.arange(1.0, m + 1)
    y = np.exp(-t) - 5.0 * np.exp(-10.0 * t) + 3.0 * np.exp(-4.0 * t)

    def r(x):
        tt = _const(t, x)
        return (x[2] * jnp.exp(-tt * x[0]) - x[3] * jnp.exp(-tt * x[1]) + x[5] * jnp.exp(-tt * x[4])
                - _const(y, x))

    return _Spec("Biggs EXP6 function", r, [1.0, 2.0, 1.0, 1.0, 1.0, 1.0], m, 0.0,
                 x_opt=[1.0, 10.0, 1.0, 5.0, 4.0, 3.0],
                 local_minima=(5.65565e-3,) if m == 13 else (),
                 formula="r_i = x3 exp(-t_i x1) - x4 exp(-t_i x2) + x6 exp(-t_i x5) - y_i, "
                         "t_i = i/10, y_i = exp(-t_i) - 5 exp(-10 t_i) + 3 exp(-4 t_i).")


_OSBORNE2_Y = [1.366, 1.191, 1.112, 1.013, 0.991, 0.885, 0.831, 0.847, 0.786, 0.725, 0.746, 0.679,
               0.608, 0.655, 0.616, 0.606, 0.602, 0.626, 0.651, 0.724, 0.649, 0.649, 0.694, 0.644,
               0.624, 0.661, 0.612, 0.558, 0.533, 0.495, 0.500, 0.423, 0.395, 0.375, 0.372, 0.391,
               0.396, 0.405, 0.428, 0.429, 0.523, 0.562, 0.607, 0.653, 0.672, 0.708, 0.633, 0.668,
               0.645, 0.632, 0.591, 0.559, 0.597, 0.625, 0.739, 0.710, 0.729, 0.720, 0.636, 0.581,
               0.428, 0.292, 0.162, 0.098, 0.054]


@_mgh(19, "osborne2")
def osborne2() -> _Spec:
    """MGH problem 19, Osborne 2 function: n = 11, m = 65.

    ``r_i = y_i - (x_1 e^{-t_i x_5} + x_2 e^{-(t_i - x_9)^2 x_6} + x_3 e^{-(t_i - x_10)^2 x_7}
    + x_4 e^{-(t_i - x_11)^2 x_8})``, ``t_i = (i - 1) / 10``;
    start (1.3, 0.65, 0.65, 0.7, 0.6, 3, 5, 7, 2, 4.5, 5.5); f = 4.01377...e-2.

    Reference: Moré, Garbow & Hillstrom (1981), problem 19.
    """
    t = np.arange(65.0) / 10.0

    def r(x):
        tt = _const(t, x)
        model = (x[0] * jnp.exp(-tt * x[4])
                 + x[1] * jnp.exp(-((tt - x[8]) ** 2) * x[5])
                 + x[2] * jnp.exp(-((tt - x[9]) ** 2) * x[6])
                 + x[3] * jnp.exp(-((tt - x[10]) ** 2) * x[7]))
        return _const(_OSBORNE2_Y, x) - model

    x0 = [1.3, 0.65, 0.65, 0.7, 0.6, 3.0, 5.0, 7.0, 2.0, 4.5, 5.5]
    return _Spec("Osborne 2 function", r, x0, 65, 4.01377e-2,
                 formula="r_i = y_i - (x1 e^{-t_i x5} + x2 e^{-(t_i - x9)^2 x6} "
                         "+ x3 e^{-(t_i - x10)^2 x7} + x4 e^{-(t_i - x11)^2 x8}), t_i = (i - 1)/10.")


# --------------------------------------------------------------------------------------------
# Problems 20-35: variable n
# --------------------------------------------------------------------------------------------


@_mgh(20, "watson")
def watson(n: int = 6) -> _Spec:
    """MGH problem 20, Watson function: 2 <= n <= 31 (standard 6), m = 31.

    For i = 1..29, ``t_i = i / 29`` and
    ``r_i = sum_{j=2}^n (j - 1) x_j t_i^{j-2} - (sum_{j=1}^n x_j t_i^{j-1})^2 - 1``;
    ``r_30 = x_1``, ``r_31 = x_2 - x_1^2 - 1``. Start 0; f = 2.28767...e-3 (n = 6),
    1.39976...e-6 (n = 9), 4.72238...e-10 (n = 12); None for other n.

    Reference: Moré, Garbow & Hillstrom (1981), problem 20.
    """
    _check_size(n, "n", minimum=2)
    if n > 31:
        raise ValueError(f"n must be <= 31 for the Watson function, got {n}")
    t = np.arange(1.0, 30.0) / 29.0
    powers = t[:, None] ** np.arange(n)  # (29, n): t_i^(j-1), j = 1..n
    derivative = powers[:, : n - 1] * np.arange(1.0, n)  # (29, n-1): (j-1) t_i^(j-2), j = 2..n

    def r(x):
        fit = _const(derivative, x) @ x[1:] - (_const(powers, x) @ x) ** 2 - 1.0
        return jnp.concatenate([fit, jnp.stack([x[0], x[1] - x[0] ** 2 - 1.0])])

    f_opt = {6: 2.28767e-3, 9: 1.39976e-6, 12: 4.72238e-10}.get(n)
    return _Spec("Watson function", r, np.zeros(n), 31, f_opt,
                 formula="r_i = sum_{j>=2} (j-1) x_j t_i^(j-2) - (sum_j x_j t_i^(j-1))^2 - 1, "
                         "t_i = i/29 (i <= 29); r_30 = x1; r_31 = x2 - x1^2 - 1.")


@_mgh(21, "extended_rosenbrock")
def extended_rosenbrock(n: int = 10) -> _Spec:
    """MGH problem 21, extended Rosenbrock function: n even (standard 10), m = n.

    ``r_{2i-1} = 10 (x_{2i} - x_{2i-1}^2)``, ``r_{2i} = 1 - x_{2i-1}``; start (-1.2, 1, -1.2, 1, ...);
    f = 0 at (1, ..., 1).

    Reference: Moré, Garbow & Hillstrom (1981), problem 21.
    """
    _check_size(n, "n", minimum=2)
    if n % 2:
        raise ValueError(f"n must be even for the extended Rosenbrock function, got {n}")

    def r(x):
        odd, even = x[0::2], x[1::2]
        return jnp.stack([10.0 * (even - odd ** 2), 1.0 - odd], axis=1).reshape(-1)

    return _Spec("Extended Rosenbrock function", r, np.tile([-1.2, 1.0], n // 2), n, 0.0,
                 x_opt=np.ones(n),
                 formula="r_{2i-1} = 10 (x_{2i} - x_{2i-1}^2), r_{2i} = 1 - x_{2i-1}.")


@_mgh(22, "extended_powell_singular")
def extended_powell_singular(n: int = 12) -> _Spec:
    """MGH problem 22, extended Powell singular function: n a multiple of 4 (standard 12), m = n.

    Problem 13 on each block of four: ``r_{4i-3} = x_{4i-3} + 10 x_{4i-2}``,
    ``r_{4i-2} = sqrt(5) (x_{4i-1} - x_{4i})``, ``r_{4i-1} = (x_{4i-2} - 2 x_{4i-1})^2``,
    ``r_{4i} = sqrt(10) (x_{4i-3} - x_{4i})^2``; start (3, -1, 0, 1, 3, -1, 0, 1, ...); f = 0 at 0.
    Convex.

    Reference: Moré, Garbow & Hillstrom (1981), problem 22.
    """
    _check_size(n, "n", minimum=4)
    if n % 4:
        raise ValueError(f"n must be a multiple of 4 for the extended Powell function, got {n}")

    def r(x):
        a, b, c, d = x.reshape(-1, 4).T
        return jnp.stack([
            a + 10.0 * b,
            math.sqrt(5.0) * (c - d),
            (b - 2.0 * c) ** 2,
            math.sqrt(10.0) * (a - d) ** 2,
        ], axis=1).reshape(-1)

    return _Spec("Extended Powell singular function", r, np.tile([3.0, -1.0, 0.0, 1.0], n // 4), n,
                 0.0, x_opt=np.zeros(n), convex=True,
                 formula="problem 13 on each block (x_{4i-3}, ..., x_{4i}).")


@_mgh(23, "penalty1")
def penalty1(n: int = 10) -> _Spec:
    """MGH problem 23, penalty function I: n >= 1 (standard 10), m = n + 1.

    ``r_i = sqrt(a) (x_i - 1)`` for i <= n, ``r_{n+1} = sum_j x_j^2 - 1/4``, ``a = 1e-5``;
    start (1, 2, ..., n); f = 2.24997...e-5 (n = 4), 7.08765...e-5 (n = 10); None for other n.

    Reference: Moré, Garbow & Hillstrom (1981), problem 23.
    """
    _check_size(n, "n", minimum=1)
    sqrt_a = math.sqrt(1e-5)

    def r(x):
        return jnp.concatenate([sqrt_a * (x - 1.0), jnp.sum(x * x, keepdims=True) - 0.25])

    return _Spec("Penalty function I", r, np.arange(1.0, n + 1), n + 1,
                 {4: 2.24997e-5, 10: 7.08765e-5}.get(n),
                 formula="r_i = sqrt(1e-5) (x_i - 1), i <= n; r_{n+1} = ||x||^2 - 1/4.")


@_mgh(24, "penalty2")
def penalty2(n: int = 10) -> _Spec:
    """MGH problem 24, penalty function II: n >= 1 (standard 10), m = 2n.

    ``r_1 = x_1 - 0.2``; for 2 <= i <= n, ``r_i = sqrt(a) (exp(x_i/10) + exp(x_{i-1}/10) - y_i)``
    with ``y_i = exp(i/10) + exp((i-1)/10)``; for n < i < 2n,
    ``r_i = sqrt(a) (exp(x_{i-n+1}/10) - exp(-1/10))``; ``r_2n = sum_j (n - j + 1) x_j^2 - 1``;
    ``a = 1e-5``; start (1/2, ..., 1/2); f = 9.37629...e-6 (n = 4), 2.93660...e-4 (n = 10).

    Reference: Moré, Garbow & Hillstrom (1981), problem 24.
    """
    _check_size(n, "n", minimum=1)
    sqrt_a = math.sqrt(1e-5)
    i = np.arange(2.0, n + 1)
    y = np.exp(i / 10.0) + np.exp((i - 1.0) / 10.0)
    weights = np.arange(n, 0, -1.0)  # n - j + 1, j = 1..n

    def r(x):
        e = jnp.exp(x / 10.0)
        return jnp.concatenate([
            x[:1] - 0.2,
            sqrt_a * (e[1:] + e[:-1] - _const(y, x)),
            sqrt_a * (e[1:] - math.exp(-0.1)),
            jnp.sum(_const(weights, x) * x * x, keepdims=True) - 1.0,
        ])

    return _Spec("Penalty function II", r, np.full(n, 0.5), 2 * n,
                 {4: 9.37629e-6, 10: 2.93660e-4}.get(n),
                 formula="r_1 = x1 - 0.2; r_i = sqrt(a)(e^{x_i/10} + e^{x_{i-1}/10} - y_i), 1 < i <= n; "
                         "r_i = sqrt(a)(e^{x_{i-n+1}/10} - e^{-1/10}), n < i < 2n; "
                         "r_2n = sum_j (n-j+1) x_j^2 - 1; a = 1e-5.")


@_mgh(25, "variably_dimensioned")
def variably_dimensioned(n: int = 10) -> _Spec:
    """MGH problem 25, variably dimensioned function: n >= 1 (standard 10), m = n + 2.

    ``r_i = x_i - 1`` for i <= n, ``r_{n+1} = s``, ``r_{n+2} = s^2`` with ``s = sum_j j (x_j - 1)``;
    start ``x_j = 1 - j/n``; f = 0 at (1, ..., 1). Convex (``s^2 + s^4`` is convex in the affine s).

    Reference: Moré, Garbow & Hillstrom (1981), problem 25.
    """
    _check_size(n, "n", minimum=1)
    j = np.arange(1.0, n + 1)

    def r(x):
        s = jnp.sum(_const(j, x) * (x - 1.0), keepdims=True)
        return jnp.concatenate([x - 1.0, s, s * s])

    return _Spec("Variably dimensioned function", r, 1.0 - j / n, n + 2, 0.0, x_opt=np.ones(n),
                 convex=True,
                 formula="r_i = x_i - 1, i <= n; r_{n+1} = s; r_{n+2} = s^2; s = sum_j j (x_j - 1).")


@_mgh(26, "trigonometric")
def trigonometric(n: int = 10) -> _Spec:
    """MGH problem 26, trigonometric function: n >= 1 (standard 10), m = n.

    ``r_i = n - sum_j cos(x_j) + i (1 - cos(x_i)) - sin(x_i)``; start (1/n, ..., 1/n); f = 0.

    The paper lists only f = 0. For n = 10, descent methods started at the standard point stop at
    a local minimum f = 2.79506...e-5 (MINPACK's HYBRJ test run stalls next to it; scipy's BFGS and
    trust-exact converge to it, the gradient vanishing to 1e-14, the Hessian positive definite).
    That value, which later studies report too, is listed in :data:`LOCAL_MINIMA` for n = 10 only;
    it is not from the MGH paper.

    Reference: Moré, Garbow & Hillstrom (1981), problem 26.
    """
    _check_size(n, "n", minimum=1)
    i = np.arange(1.0, n + 1)

    def r(x):
        c = jnp.cos(x)
        return n - jnp.sum(c) + _const(i, x) * (1.0 - c) - jnp.sin(x)

    return _Spec("Trigonometric function", r, np.full(n, 1.0 / n), n, 0.0,
                 local_minima=(2.79506e-5,) if n == 10 else (),
                 formula="r_i = n - sum_j cos x_j + i (1 - cos x_i) - sin x_i.")


@_mgh(27, "brown_almost_linear")
def brown_almost_linear(n: int = 10) -> _Spec:
    """MGH problem 27, Brown almost-linear function: n >= 1 (standard 10), m = n.

    ``r_i = x_i + sum_j x_j - (n + 1)`` for i < n, ``r_n = prod_j x_j - 1``; start (1/2, ..., 1/2);
    f = 0 at (a, ..., a, a^(1-n)) where ``n a^n - (n+1) a^(n-1) + 1 = 0`` (in particular a = 1), and
    f = 1 at (0, ..., 0, n + 1) (listed in :data:`LOCAL_MINIMA`). For n = 10 also a local minimum the
    paper does not list, f = 0.917900 near (-0.903188 (eight times), 0.106538, 18.9105) and its
    permutations of the first nine coordinates (listed too): BFGS stops there from 10 x0.

    Reference: Moré, Garbow & Hillstrom (1981), problem 27.
    """
    _check_size(n, "n", minimum=1)

    def r(x):
        return jnp.concatenate([x[:-1] + jnp.sum(x) - (n + 1.0), jnp.prod(x, keepdims=True) - 1.0])

    return _Spec("Brown almost-linear function", r, np.full(n, 0.5), n, 0.0, x_opt=np.ones(n),
                 local_minima=(1.0, 0.917900) if n == 10 else (1.0,),
                 formula="r_i = x_i + sum_j x_j - (n + 1), i < n; r_n = prod_j x_j - 1.")


def _grid(n: int) -> tuple[float, np.ndarray]:
    h = 1.0 / (n + 1)
    return h, h * np.arange(1.0, n + 1)


@_mgh(28, "discrete_boundary_value")
def discrete_boundary_value(n: int = 10) -> _Spec:
    """MGH problem 28, discrete boundary value function: n >= 1 (standard 10), m = n.

    ``r_i = 2 x_i - x_{i-1} - x_{i+1} + h^2 (x_i + t_i + 1)^3 / 2``, ``h = 1/(n+1)``, ``t_i = i h``,
    ``x_0 = x_{n+1} = 0``; start ``x_j = t_j (t_j - 1)``; f = 0.

    Reference: Moré, Garbow & Hillstrom (1981), problem 28.
    """
    _check_size(n, "n", minimum=1)
    h, t = _grid(n)

    def r(x):
        zero = jnp.zeros((1,), x.dtype)
        previous = jnp.concatenate([zero, x[:-1]])
        following = jnp.concatenate([x[1:], zero])
        return 2.0 * x - previous - following + 0.5 * h * h * (x + _const(t, x) + 1.0) ** 3

    return _Spec("Discrete boundary value function", r, t * (t - 1.0), n, 0.0,
                 formula="r_i = 2 x_i - x_{i-1} - x_{i+1} + h^2 (x_i + t_i + 1)^3 / 2, "
                         "h = 1/(n+1), t_i = i h, x_0 = x_{n+1} = 0.")


@_mgh(29, "discrete_integral_equation")
def discrete_integral_equation(n: int = 10) -> _Spec:
    """MGH problem 29, discrete integral equation function: n >= 1 (standard 10), m = n.

    ``r_i = x_i + h [(1 - t_i) sum_{j<=i} t_j (x_j + t_j + 1)^3
    + t_i sum_{j>i} (1 - t_j) (x_j + t_j + 1)^3] / 2``, ``h = 1/(n+1)``, ``t_i = i h``;
    start ``x_j = t_j (t_j - 1)``; f = 0. Computed as ``x + (h/2) K q`` with the kernel
    ``K_ij = (1 - t_i) t_j`` (j <= i), ``t_i (1 - t_j)`` (j > i) and ``q_j = (x_j + t_j + 1)^3``.

    Reference: Moré, Garbow & Hillstrom (1981), problem 29.
    """
    _check_size(n, "n", minimum=1)
    h, t = _grid(n)
    lower = np.tril(np.ones((n, n)))
    kernel = lower * np.outer(1.0 - t, t) + (1.0 - lower) * np.outer(t, 1.0 - t)

    def r(x):
        q = (x + _const(t, x) + 1.0) ** 3
        return x + 0.5 * h * (_const(kernel, x) @ q)

    return _Spec("Discrete integral equation function", r, t * (t - 1.0), n, 0.0,
                 formula="r_i = x_i + h [(1 - t_i) sum_{j<=i} t_j q_j + t_i sum_{j>i} (1 - t_j) q_j] / 2, "
                         "q_j = (x_j + t_j + 1)^3, h = 1/(n+1), t_i = i h.")


@_mgh(30, "broyden_tridiagonal")
def broyden_tridiagonal(n: int = 10) -> _Spec:
    """MGH problem 30, Broyden tridiagonal function: n >= 1 (standard 10), m = n.

    ``r_i = (3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1``, ``x_0 = x_{n+1} = 0``; start (-1, ..., -1);
    f = 0.

    Reference: Moré, Garbow & Hillstrom (1981), problem 30.
    """
    _check_size(n, "n", minimum=1)

    def r(x):
        zero = jnp.zeros((1,), x.dtype)
        previous = jnp.concatenate([zero, x[:-1]])
        following = jnp.concatenate([x[1:], zero])
        return (3.0 - 2.0 * x) * x - previous - 2.0 * following + 1.0

    return _Spec("Broyden tridiagonal function", r, np.full(n, -1.0), n, 0.0,
                 formula="r_i = (3 - 2 x_i) x_i - x_{i-1} - 2 x_{i+1} + 1, x_0 = x_{n+1} = 0.")


@_mgh(31, "broyden_banded")
def broyden_banded(n: int = 10) -> _Spec:
    """MGH problem 31, Broyden banded function: n >= 1 (standard 10), m = n.

    ``r_i = x_i (2 + 5 x_i^2) + 1 - sum_{j in J_i} x_j (1 + x_j)`` with
    ``J_i = {j != i : max(1, i - 5) <= j <= min(n, i + 1)}``; start (-1, ..., -1); f = 0.

    Reference: Moré, Garbow & Hillstrom (1981), problem 31.
    """
    _check_size(n, "n", minimum=1)
    offset = np.arange(n)[None, :] - np.arange(n)[:, None]  # j - i
    band = ((offset >= -5) & (offset <= 1) & (offset != 0)).astype(np.float64)

    def r(x):
        return x * (2.0 + 5.0 * x * x) + 1.0 - _const(band, x) @ (x * (1.0 + x))

    return _Spec("Broyden banded function", r, np.full(n, -1.0), n, 0.0,
                 formula="r_i = x_i (2 + 5 x_i^2) + 1 - sum_{j in J_i} x_j (1 + x_j), "
                         "J_i = {j != i: max(1, i-5) <= j <= min(n, i+1)}.")


def _check_m_at_least_n(n: int, m: int) -> None:
    if m < n:
        raise ValueError(f"m must be >= n, got m = {m} < n = {n}")


@_mgh(32, "linear_full_rank")
def linear_full_rank(n: int = 5, m: int = 10) -> _Spec:
    """MGH problem 32, linear function - full rank: m >= n (standard n = 5, m = 10).

    ``r_i = x_i - (2/m) sum_j x_j - 1`` for i <= n, ``r_i = -(2/m) sum_j x_j - 1`` for i > n;
    start (1, ..., 1); f = m - n at (-1, ..., -1). Convex (linear least squares).

    Reference: Moré, Garbow & Hillstrom (1981), problem 32.
    """
    _check_m_at_least_n(n, m)

    def r(x):
        c = 2.0 / m * jnp.sum(x) + 1.0
        return jnp.concatenate([x, jnp.zeros((m - n,), x.dtype)]) - c

    return _Spec("Linear function - full rank", r, np.ones(n), m, float(m - n), x_opt=-np.ones(n),
                 convex=True,
                 formula="r_i = x_i - (2/m) sum_j x_j - 1 (i <= n), -(2/m) sum_j x_j - 1 (i > n).")


@_mgh(33, "linear_rank1")
def linear_rank1(n: int = 5, m: int = 10) -> _Spec:
    """MGH problem 33, linear function - rank 1: m >= n (standard n = 5, m = 10).

    ``r_i = i (sum_j j x_j) - 1``; start (1, ..., 1); f = m (m - 1) / (2 (2m + 1)) at any point
    with ``sum_j j x_j = 3 / (2m + 1)``; ``x_opt`` is the one with all x_j equal. Convex.

    Reference: Moré, Garbow & Hillstrom (1981), problem 33.
    """
    _check_m_at_least_n(n, m)
    i = np.arange(1.0, m + 1)
    j = np.arange(1.0, n + 1)

    def r(x):
        return _const(i, x) * jnp.sum(_const(j, x) * x) - 1.0

    x_opt = np.full(n, 3.0 / (2 * m + 1) / j.sum())
    return _Spec("Linear function - rank 1", r, np.ones(n), m, m * (m - 1) / (2.0 * (2 * m + 1)),
                 x_opt=x_opt, convex=True, formula="r_i = i (sum_j j x_j) - 1.")


@_mgh(34, "linear_rank1_zero_columns_rows")
def linear_rank1_zero_columns_rows(n: int = 5, m: int = 10) -> _Spec:
    """MGH problem 34, linear function - rank 1 with zero columns and rows: m >= n (standard 5, 10).

    ``r_1 = -1``, ``r_i = (i - 1) (sum_{j=2}^{n-1} j x_j) - 1`` for 2 <= i <= m - 1, ``r_m = -1``;
    start (1, ..., 1); f = (m^2 + 3m - 6) / (2 (2m - 3)) at any point with
    ``sum_{j=2}^{n-1} j x_j = 3 / (2m - 3)``; ``x_opt`` is the one with x_1 = x_n = 0 and the others
    equal. Convex. Needs n >= 3 (else every residual is constant) and m >= 3.

    Reference: Moré, Garbow & Hillstrom (1981), problem 34.
    """
    _check_size(n, "n", minimum=3)
    _check_size(m, "m", minimum=3)
    _check_m_at_least_n(n, m)
    coefficient = np.concatenate([np.arange(0.0, m - 1), [0.0]])  # 0, 1, ..., m-2, 0
    j = np.concatenate([[0.0], np.arange(2.0, n), [0.0]])  # weights of x_2..x_{n-1}

    def r(x):
        return _const(coefficient, x) * jnp.sum(_const(j, x) * x) - 1.0

    x_opt = np.where(j > 0, 3.0 / (2 * m - 3) / j.sum(), 0.0)
    return _Spec("Linear function - rank 1 with zero columns and rows", r, np.ones(n), m,
                 (m * m + 3 * m - 6) / (2.0 * (2 * m - 3)), x_opt=x_opt, convex=True,
                 formula="r_1 = r_m = -1; r_i = (i - 1) (sum_{j=2}^{n-1} j x_j) - 1, 1 < i < m.")


def _chebyquad_sizes(n: int, m: int | None) -> dict:
    return {"n": n, "m": n if m is None else m}


@_mgh(35, "chebyquad", normalize=_chebyquad_sizes)
def chebyquad(n: int = 8, m: int | None = None) -> _Spec:
    """MGH problem 35, Chebyquad function: m >= n (standard n = 8, m = n).

    ``r_i = (1/n) sum_j T_i(x_j) - integral_0^1 T_i``, with ``T_i`` the Chebyshev polynomial shifted
    to [0, 1] (``T_i(u) = cos(i arccos(2u - 1))``, evaluated by the three-term recurrence) and
    ``integral_0^1 T_i = 0`` for i odd, ``-1 / (i^2 - 1)`` for i even; start ``x_j = j / (n + 1)``;
    for m = n the paper gives f = 0 for n <= 7 and n = 9, 3.51687...e-3 for n = 8 and
    6.50395...e-3 for n = 10. ``m`` defaults to ``n``.

    For n = 10 the paper's value is only a local minimum (the one MINPACK's LMDER reaches from the
    standard start): trust-region Newton from the same start reaches f = 4.77271...e-3, at a point
    where the gradient vanishes and the Hessian is positive definite, the point also listed as the
    n = 10 solution in estimagic's copy of the Moré-Wild benchmark. So ``f_opt`` is that best known
    value for n = 10 and the paper's 6.50395e-3 is in :data:`LOCAL_MINIMA`.

    Reference: Moré, Garbow & Hillstrom (1981), problem 35.
    """
    _check_m_at_least_n(n, m)
    i = np.arange(1.0, m + 1)
    even = i % 2 == 0
    integral = np.zeros(m)
    integral[even] = -1.0 / (i[even] ** 2 - 1.0)

    def r(x):
        y = 2.0 * x - 1.0
        previous, current = jnp.ones_like(y), y
        means = [jnp.mean(current)]
        for _ in range(m - 1):
            previous, current = current, 2.0 * y * current - previous
            means.append(jnp.mean(current))
        return jnp.stack(means) - _const(integral, x)

    f_opt, local_minima = None, ()
    if m == n:
        f_opt = 0.0 if (n <= 7 or n == 9) else {8: 3.51687e-3, 10: 4.77271e-3}.get(n)
        local_minima = (6.50395e-3,) if n == 10 else ()
    return _Spec("Chebyquad function", r, np.arange(1.0, n + 1) / (n + 1), m, f_opt,
                 local_minima=local_minima,
                 formula="r_i = (1/n) sum_j T_i(x_j) - int_0^1 T_i, T_i shifted Chebyshev polynomials.")


# --------------------------------------------------------------------------------------------
# Public look-ups
# --------------------------------------------------------------------------------------------


def mgh_problems() -> list[Problem]:
    """All 35 MGH problems at their standard sizes, in the paper's order 1..35.

    Returns:
      A list of :class:`Problem`; the same objects on every call.

    Example:
      >>> from ml_opt.problems.mgh import mgh_problems
      >>> [p.name for p in mgh_problems()][:2]
      ['mgh/rosenbrock', 'mgh/freudenstein_roth']

    Reference: Moré, Garbow & Hillstrom (1981).
    """
    return [_FACTORIES[number]() for number in range(1, 36)]


def mgh_problem(name_or_number: int | str, **size: int) -> Problem:
    """One MGH problem, by number (1..35) or name (``"watson"`` or ``"mgh/watson"``).

    Args:
      name_or_number: the paper's number or the snake-case name.
      **size: the free sizes, ``n`` and/or ``m``, where the problem has them (see the factory).

    Returns:
      The :class:`Problem`; the same object for the same arguments.

    Example:
      >>> from ml_opt.problems.mgh import mgh_problem
      >>> mgh_problem(20, n=9).name
      'mgh/watson[n=9]'

    Reference: Moré, Garbow & Hillstrom (1981).
    """
    if isinstance(name_or_number, bool):
        raise TypeError(f"name_or_number must be an int or a str, got {name_or_number!r}")
    if isinstance(name_or_number, (int, np.integer)):
        number = int(name_or_number)
        if number not in _FACTORIES:
            raise ValueError(f"name_or_number must be in 1..35, got {number}")
    elif isinstance(name_or_number, str):
        key = name_or_number.removeprefix("mgh/")
        if key not in _KEYS:
            raise ValueError(f"name_or_number: unknown MGH problem {name_or_number!r}; "
                             f"known: {sorted(_KEYS)}")
        number = _KEYS[key]
    else:
        raise TypeError(f"name_or_number must be an int or a str, got {type(name_or_number).__name__}")
    return _FACTORIES[number](**size)


def mgh_info(problem: Problem | str) -> MGHInfo:
    """Number, sizes ``n`` and ``m`` and other local minima of an MGH problem already built.

    Args:
      problem: an MGH :class:`Problem` or its name.

    Returns:
      Its :class:`MGHInfo`.

    Example:
      >>> from ml_opt.problems.mgh import mgh_info, freudenstein_roth
      >>> mgh_info(freudenstein_roth()).local_minima
      (48.9842,)
    """
    name = problem if isinstance(problem, str) else problem.name
    if name not in _INFO:
        raise ValueError(f"problem: {name!r} is not an MGH problem built by this module")
    return _INFO[name]


mgh_problems()  # builds the standard set, which fills LOCAL_MINIMA for the standard names
