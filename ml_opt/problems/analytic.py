"""Classic 2-D test functions, as :class:`Problem` values with a ``domain`` for contour plots.

======================  =====================================  ==========================  ===============
factory                 minimiser ``x_opt`` (one of them)        ``f_opt``                   ``init``
======================  =====================================  ==========================  ===============
:func:`rosenbrock`      (1, 1)                                  0                           (-1.2, 1)
:func:`beale`           (3, 0.5)                                0                           (1, 1)
:func:`himmelblau`      (3, 2) (and three others)               0                           (0, 0)
:func:`rastrigin`       (0, 0)                                  0                           (2.5, -1.5)
:func:`ackley`          (0, 0)                                  0                           (2.5, -1.5)
:func:`styblinski_tang` (-2.9035..., -2.9035...)                -78.33233...                (0, 0)
:func:`goldstein_price` (0, -1)                                 3                           (0, 0)
:func:`six_hump_camel`  (0.0898..., -0.7126...) (and its mirror) -1.031628...              (1, 1)
:func:`saddle`          none (saddle point at the origin)       None (unbounded below)      (1e-3, 1e-3)
:func:`monkey_saddle`   none (saddle point at the origin)       None (unbounded below)      (1e-3, 1e-3)
======================  =====================================  ==========================  ===============

Params are 1-D arrays of shape (2,); ``fun`` works in the params' float dtype. ``init(key)`` ignores
the key and returns a fixed start in the default JAX float dtype: Rosenbrock's and Beale's are the
standard ones of Rosenbrock (1960) and Moré, Garbow & Hillstrom (1981); the literature has no
customary single start for the others, which are usually started uniformly at random in their
domain (:func:`sample_starts`), so a fixed point is chosen here, away from the global minimiser
and from every stationary point, as listed above. For the two saddles the start is next to the
saddle point at the origin, where gradient descent lingers and Newton's method is attracted.

``domain`` is the box commonly used to plot (and to draw starts from): ``((x_min, x_max),
(y_min, y_max))``; :func:`sample_starts` draws uniform starts from it for multi-start runs.

Every factory returns the same :class:`Problem` object on every call, so jit caches keyed on the
problem are reused.

References:
    H. H. Rosenbrock, "An automatic method for finding the greatest or least value of a function",
    The Computer Journal 3(3), 175-184, 1960.
    E. M. L. Beale, "On an iterative method for finding a local minimum of a function of more than
    one variable", Technical Report 25, Statistical Techniques Research Group, Princeton, 1958.
    D. M. Himmelblau, Applied Nonlinear Programming, McGraw-Hill, 1972.
    L. A. Rastrigin, Systems of Extremal Control, Nauka, 1974 (the 2-D form).
    D. H. Ackley, A Connectionist Machine for Genetic Hillclimbing, Kluwer, 1987.
    M. A. Styblinski and T.-S. Tang, "Experiments in nonconvex optimization: stochastic
    approximation with function smoothing and simulated annealing", Neural Networks 3(4), 1990.
    A. A. Goldstein and J. F. Price, "On descent from local minima", Mathematics of Computation
    25(115), 569-574, 1971.
    L. C. W. Dixon and G. P. Szegö, "The global optimisation problem: an introduction", in Towards
    Global Optimisation 2, North-Holland, 1978 (six-hump camel).
    M. Jamil and X.-S. Yang, "A literature survey of benchmark functions for global optimization
    problems", Int. J. Mathematical Modelling and Numerical Optimisation 4(2), 150-194, 2013
    (domains and minima of all of the above).
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from ml_opt.problems.base import Problem

Array = jax.Array

__all__ = [
    "ackley",
    "analytic_problems",
    "beale",
    "goldstein_price",
    "himmelblau",
    "monkey_saddle",
    "rastrigin",
    "rosenbrock",
    "saddle",
    "sample_starts",
    "six_hump_camel",
    "styblinski_tang",
]


def _default_float() -> Any:
    """The default JAX float dtype now (float64 when x64 is enabled, float32 otherwise)."""
    return jnp.zeros(()).dtype


def _frozen(values: Any) -> np.ndarray:
    a = np.array(values, dtype=np.float64)
    a.setflags(write=False)
    return a


def _problem(
        name: str,
        f: Callable[[Array, Array], Array],
        *,
        start: tuple[float, float],
        domain: tuple[tuple[float, float], tuple[float, float]],
        f_opt: float | None,
        x_opt: tuple[float, float] | None,
        source: str,
        tags: tuple[str, ...],
) -> Problem:
    """Wraps ``f(x, y)`` into a :class:`Problem` on 1-D params of shape (2,)."""
    x0 = _frozen(start)

    def fun(params: Any) -> Array:
        params = jnp.asarray(params)
        if not jnp.issubdtype(params.dtype, jnp.inexact):
            params = params.astype(_default_float())
        if params.shape != (2,):
            raise ValueError(f"{name}: params must be a 1-D array of shape (2,), got {params.shape}")
        return f(params[0], params[1])

    def init(key: Any = None) -> Array:
        del key  # a fixed, documented start
        return jnp.asarray(x0, dtype=_default_float())

    return Problem(
        name=name,
        dim=2,
        fun=fun,
        init=init,
        convex=False,
        f_opt=f_opt,
        source=source,
        x_opt=None if x_opt is None else _frozen(x_opt),
        domain=domain,
        tags=frozenset({"2d", "analytic", *tags}),
    )


@functools.cache
def rosenbrock() -> Problem:
    """Rosenbrock's banana valley: ``f(x, y) = (1 - x)^2 + 100 (y - x^2)^2``.

    Minimum 0 at (1, 1), at the bottom of a curved, flat-floored valley; start (-1.2, 1); domain
    [-2, 2] x [-1, 3]. Equals ``scipy.optimize.rosen`` in 2-D and MGH problem 1 (as a sum of
    squares of the residuals ``10 (y - x^2)`` and ``1 - x``).

    Returns:
      The :class:`Problem` (the same object on every call).

    Example:
      >>> import jax.numpy as jnp
      >>> from ml_opt.problems.analytic import rosenbrock
      >>> float(rosenbrock().fun(jnp.array([1.0, 1.0])))
      0.0

    References:
      H. H. Rosenbrock, "An automatic method for finding the greatest or least value of a
      function", The Computer Journal 3(3), 1960.
    """
    return _problem(
        "rosenbrock",
        lambda x, y: (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2,
        start=(-1.2, 1.0),
        domain=((-2.0, 2.0), (-1.0, 3.0)),
        f_opt=0.0,
        x_opt=(1.0, 1.0),
        source="Rosenbrock (1960): f = (1 - x)^2 + 100 (y - x^2)^2; start (-1.2, 1).",
        tags=("valley", "unimodal"),
    )


@functools.cache
def beale() -> Problem:
    """Beale's function: ``f = (1.5 - x + x y)^2 + (2.25 - x + x y^2)^2 + (2.625 - x + x y^3)^2``.

    Minimum 0 at (3, 0.5); start (1, 1) (Moré, Garbow & Hillstrom 1981, problem 5); domain
    [-4.5, 4.5]^2. Steep walls near the corners, a flat region around y = 1.

    Returns:
      The :class:`Problem` (the same object on every call).

    References:
      E. M. L. Beale, "On an iterative method for finding a local minimum of a function of more
      than one variable", Princeton Tech. Report 25, 1958; Moré, Garbow & Hillstrom, "Testing
      Unconstrained Optimization Software", ACM TOMS 7(1), 1981.
    """
    return _problem(
        "beale",
        lambda x, y: ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2
                      + (2.625 - x + x * y ** 3) ** 2),
        start=(1.0, 1.0),
        domain=((-4.5, 4.5), (-4.5, 4.5)),
        f_opt=0.0,
        x_opt=(3.0, 0.5),
        source="Beale (1958): f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2; "
               "start (1, 1) as in Moré, Garbow & Hillstrom (1981).",
        tags=("valley",),
    )


@functools.cache
def himmelblau() -> Problem:
    """Himmelblau's function: ``f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2``.

    Four minima, all 0: (3, 2) (``x_opt``), (-2.805118, 3.131312), (-3.779310, -3.283186) and
    (3.584428, -1.848126); a local maximum near (-0.2708, -0.9230) and four saddles. Start (0, 0);
    domain [-5, 5]^2.

    Returns:
      The :class:`Problem` (the same object on every call).

    References:
      D. M. Himmelblau, Applied Nonlinear Programming, McGraw-Hill, 1972.
    """
    return _problem(
        "himmelblau",
        lambda x, y: (x * x + y - 11.0) ** 2 + (x + y * y - 7.0) ** 2,
        start=(0.0, 0.0),
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        f_opt=0.0,
        x_opt=(3.0, 2.0),
        source="Himmelblau (1972): f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2; four global minima "
               "(f = 0); start (0, 0) chosen here.",
        tags=("multimodal",),
    )


@functools.cache
def rastrigin() -> Problem:
    """Rastrigin's function in 2-D: ``f = 20 + sum_i (x_i^2 - 10 cos(2 pi x_i))``.

    Minimum 0 at the origin, surrounded by a regular grid of local minima near the integer points;
    start (2.5, -1.5), chosen here; domain [-5.12, 5.12]^2.

    Returns:
      The :class:`Problem` (the same object on every call).

    References:
      L. A. Rastrigin, Systems of Extremal Control, 1974; Jamil & Yang (2013).
    """

    def f(x, y):
        return (20.0 + x * x - 10.0 * jnp.cos(2.0 * jnp.pi * x)
                + y * y - 10.0 * jnp.cos(2.0 * jnp.pi * y))

    return _problem(
        "rastrigin",
        f,
        start=(2.5, -1.5),
        domain=((-5.12, 5.12), (-5.12, 5.12)),
        f_opt=0.0,
        x_opt=(0.0, 0.0),
        source="Rastrigin (1974), 2-D: f = 20 + sum_i (x_i^2 - 10 cos(2 pi x_i)); start (2.5, -1.5) "
               "chosen here.",
        tags=("multimodal",),
    )


@functools.cache
def ackley() -> Problem:
    """Ackley's function in 2-D with the usual constants a = 20, b = 0.2, c = 2 pi.

    ``f = -20 exp(-0.2 sqrt((x^2 + y^2) / 2)) - exp((cos 2 pi x + cos 2 pi y) / 2) + 20 + e``;
    minimum 0 at the origin, where f has a cone-shaped kink (not differentiable; the gradient
    returned there is 0, a subgradient); many shallow local minima around it. Start (2.5, -1.5),
    chosen here; domain [-5, 5]^2 (the usual search box is [-32.768, 32.768]^2, too wide to see
    the structure on a contour plot).

    Returns:
      The :class:`Problem` (the same object on every call).

    References:
      D. H. Ackley, A Connectionist Machine for Genetic Hillclimbing, 1987; Jamil & Yang (2013).
    """

    def f(x, y):
        s = 0.5 * (x * x + y * y)
        positive = s > 0
        # sqrt with a zero (sub)gradient at the origin instead of 0 * inf = nan
        r = jnp.where(positive, jnp.sqrt(jnp.where(positive, s, 1.0)), 0.0)
        return (-20.0 * jnp.exp(-0.2 * r)
                - jnp.exp(0.5 * (jnp.cos(2.0 * jnp.pi * x) + jnp.cos(2.0 * jnp.pi * y)))
                + 20.0 + math.e)

    return _problem(
        "ackley",
        f,
        start=(2.5, -1.5),
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        f_opt=0.0,
        x_opt=(0.0, 0.0),
        source="Ackley (1987), 2-D, a = 20, b = 0.2, c = 2 pi: f = -20 exp(-0.2 sqrt((x^2+y^2)/2)) "
               "- exp((cos 2 pi x + cos 2 pi y)/2) + 20 + e; start (2.5, -1.5) chosen here.",
        tags=("multimodal", "nonsmooth"),
    )


def _styblinski_tang_root() -> float:
    """The global minimiser of ``t^4 - 16 t^2 + 5 t``: the smallest root of ``4 t^3 - 32 t + 5``.

    By the trigonometric solution of the depressed cubic ``t^3 - 8 t + 5/4 = 0``.
    """
    p, q = -8.0, 1.25
    radius = 2.0 * math.sqrt(-p / 3.0)
    angle = math.acos(1.5 * q / p * math.sqrt(-3.0 / p)) / 3.0
    roots = [radius * math.cos(angle - 2.0 * math.pi * k / 3.0) for k in range(3)]
    return min(roots)


_ST_ROOT = _styblinski_tang_root()


@functools.cache
def styblinski_tang() -> Problem:
    """The Styblinski-Tang function in 2-D: ``f = (1/2) sum_i (x_i^4 - 16 x_i^2 + 5 x_i)``.

    Separable; each coordinate has a global minimiser t* = -2.903534..., the smallest root of
    ``4 t^3 - 32 t + 5``, and a local one near 2.7468; so the minimum is at (t*, t*) with
    f = t*^4 - 16 t*^2 + 5 t* = -78.332331... (-39.166165... per coordinate), and there are three
    other local minima. Start (0, 0), chosen here; domain [-5, 5]^2.

    Returns:
      The :class:`Problem` (the same object on every call).

    References:
      M. A. Styblinski and T.-S. Tang, Neural Networks 3(4), 467-483, 1990.
    """
    t = _ST_ROOT
    return _problem(
        "styblinski_tang",
        lambda x, y: 0.5 * (x ** 4 - 16.0 * x * x + 5.0 * x + y ** 4 - 16.0 * y * y + 5.0 * y),
        start=(0.0, 0.0),
        domain=((-5.0, 5.0), (-5.0, 5.0)),
        f_opt=t ** 4 - 16.0 * t * t + 5.0 * t,
        x_opt=(t, t),
        source="Styblinski & Tang (1990), 2-D: f = (1/2) sum_i (x_i^4 - 16 x_i^2 + 5 x_i); "
               "x_opt = (t*, t*), t* the smallest root of 4t^3 - 32t + 5; start (0, 0) chosen here.",
        tags=("multimodal",),
    )


@functools.cache
def goldstein_price() -> Problem:
    """The Goldstein-Price function.

    ``f = [1 + (x + y + 1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]
    [30 + (2x - 3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]``;
    minimum 3 at (0, -1), local minima 30 at (-0.6, -0.4), 84 at (1.8, 0.2), 840 at (1.2, 0.8).
    Start (0, 0), chosen here; domain [-2, 2]^2. Values span six orders of magnitude over the
    domain: contour it on a log scale.

    Returns:
      The :class:`Problem` (the same object on every call).

    References:
      A. A. Goldstein and J. F. Price, "On descent from local minima", Mathematics of
      Computation 25(115), 1971.
    """

    def f(x, y):
        a = 1.0 + (x + y + 1.0) ** 2 * (19.0 - 14.0 * x + 3.0 * x * x - 14.0 * y + 6.0 * x * y
                                         + 3.0 * y * y)
        b = 30.0 + (2.0 * x - 3.0 * y) ** 2 * (18.0 - 32.0 * x + 12.0 * x * x + 48.0 * y
                                                - 36.0 * x * y + 27.0 * y * y)
        return a * b

    return _problem(
        "goldstein_price",
        f,
        start=(0.0, 0.0),
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        f_opt=3.0,
        x_opt=(0.0, -1.0),
        source="Goldstein & Price (1971): f = [1 + (x+y+1)^2 (19 - 14x + 3x^2 - 14y + 6xy + 3y^2)] "
               "[30 + (2x-3y)^2 (18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]; start (0, 0) chosen here.",
        tags=("multimodal",),
    )


# The minimisers of the six-hump camel are known to four digits in the literature, (0.0898, -0.7126);
# these are the stationary point next to it, refined by Newton's method on the gradient in float64.
_CAMEL_X_OPT = (0.08984201310031806, -0.7126564030207396)


@functools.cache
def six_hump_camel() -> Problem:
    """The six-hump camel(-back) function: ``f = (4 - 2.1 x^2 + x^4/3) x^2 + x y + (-4 + 4 y^2) y^2``.

    Two global minima f = -1.0316284... at (0.0898..., -0.7126...) (``x_opt``) and its mirror
    image (-0.0898..., 0.7126...), four more local minima, and a saddle at the origin. Start (1, 1),
    chosen here; domain [-3, 3] x [-2, 2].

    Returns:
      The :class:`Problem` (the same object on every call).

    References:
      L. C. W. Dixon and G. P. Szegö, in Towards Global Optimisation 2, 1978; Jamil & Yang (2013).
    """
    xs, ys = _CAMEL_X_OPT

    def f(x, y):
        return (4.0 - 2.1 * x * x + x ** 4 / 3.0) * x * x + x * y + (-4.0 + 4.0 * y * y) * y * y

    f_opt = (4.0 - 2.1 * xs * xs + xs ** 4 / 3.0) * xs * xs + xs * ys + (-4.0 + 4.0 * ys * ys) * ys * ys
    return _problem(
        "six_hump_camel",
        f,
        start=(1.0, 1.0),
        domain=((-3.0, 3.0), (-2.0, 2.0)),
        f_opt=f_opt,
        x_opt=_CAMEL_X_OPT,
        source="Dixon & Szegö (1978): f = (4 - 2.1x^2 + x^4/3) x^2 + xy + (-4 + 4y^2) y^2; two global "
               "minima -1.0316 at +-(0.0898, -0.7126); start (1, 1) chosen here.",
        tags=("multimodal",),
    )


@functools.cache
def saddle() -> Problem:
    """The quadratic saddle ``f = x^2 - y^2``: unbounded below (``f_opt`` None, no ``x_opt``).

    Its only stationary point, the origin, is a saddle with Hessian diag(2, -2). Start
    (1e-3, 1e-3), next to it: gradient descent first lingers, then escapes along -y or +y;
    Newton's method jumps onto the saddle in one step. Domain [-2, 2]^2.

    Returns:
      The :class:`Problem` (the same object on every call).

    References:
      Y. N. Dauphin et al., "Identifying and attacking the saddle point problem in
      high-dimensional non-convex optimization", NeurIPS 2014.
    """
    return _problem(
        "saddle",
        lambda x, y: x * x - y * y,
        start=(1e-3, 1e-3),
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        f_opt=None,
        x_opt=None,
        source="f = x^2 - y^2: a saddle at the origin, unbounded below; start (1e-3, 1e-3) chosen "
               "here, next to the saddle.",
        tags=("saddle", "unbounded"),
    )


@functools.cache
def monkey_saddle() -> Problem:
    """The monkey saddle ``f = x^3 - 3 x y^2``: unbounded below (``f_opt`` None, no ``x_opt``).

    Its only stationary point, the origin, is a degenerate saddle: gradient and Hessian both
    vanish there, and f falls along three directions (x < 0 and the rays at +-60 degrees from
    it). Start (1e-3, 1e-3), next to it. Domain [-2, 2]^2.

    Returns:
      The :class:`Problem` (the same object on every call).

    References:
      D. Hilbert and S. Cohn-Vossen, Geometry and the Imagination, Chelsea, 1952 (the monkey
      saddle).
    """
    return _problem(
        "monkey_saddle",
        lambda x, y: x ** 3 - 3.0 * x * y * y,
        start=(1e-3, 1e-3),
        domain=((-2.0, 2.0), (-2.0, 2.0)),
        f_opt=None,
        x_opt=None,
        source="f = x^3 - 3 x y^2: a degenerate (monkey) saddle at the origin, unbounded below; "
               "start (1e-3, 1e-3) chosen here, next to the saddle.",
        tags=("saddle", "unbounded"),
    )


_FACTORIES = (rosenbrock, beale, himmelblau, rastrigin, ackley, styblinski_tang, goldstein_price,
              six_hump_camel, saddle, monkey_saddle)


def analytic_problems() -> list[Problem]:
    """All ten 2-D problems of this module, in the order of its table.

    Returns:
      A list of :class:`Problem`; the same objects on every call.

    Example:
      >>> from ml_opt.problems.analytic import analytic_problems
      >>> [p.name for p in analytic_problems()][:3]
      ['rosenbrock', 'beale', 'himmelblau']
    """
    return [factory() for factory in _FACTORIES]


def sample_starts(problem: Problem, key: Array, num: int) -> Array:
    """``num`` starting points drawn uniformly from ``problem.domain``, for multi-start runs.

    Args:
      problem: a 2-D problem with a ``domain`` ``((x_min, x_max), (y_min, y_max))``.
      key: a JAX PRNG key.
      num: how many points, a positive int.

    Returns:
      An array of shape ``(num, 2)`` in the default JAX float dtype; row ``i`` is a start.

    Example:
      >>> import jax
      >>> from ml_opt.problems.analytic import rastrigin, sample_starts
      >>> sample_starts(rastrigin(), jax.random.key(0), 8).shape
      (8, 2)
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"problem must be a Problem, got {type(problem).__name__}")
    if problem.domain is None:
        raise ValueError(f"problem {problem.name!r} has no domain to draw starts from")
    if isinstance(num, bool) or not isinstance(num, (int, np.integer)) or num < 1:
        raise ValueError(f"num must be a positive int, got {num!r}")
    (x_min, x_max), (y_min, y_max) = problem.domain
    dtype = _default_float()
    low = jnp.asarray([x_min, y_min], dtype)
    high = jnp.asarray([x_max, y_max], dtype)
    return jax.random.uniform(key, (int(num), 2), dtype=dtype, minval=low, maxval=high)
