"""Tests of ml_opt.problems.mgh against numbers nobody here computed.

References used (all independent of this code):

* MINPACK's reference output of its Fortran test drivers, as shipped with cminpack
  (``examples/ref/lmddrv.fortran.ref``: LMDER1 on the 18 least-squares problems of MINPACK-1, which
  are MGH problems 1, 2, 6, 7, 8, 10, 12, 13, 15, 16, 17, 19, 20, 27, 32-35; ``hyjdrv.fortran.ref``:
  HYBRJ1 on the 14 systems of equations, MGH 1, 3, 7, 13, 26-31, 35 among them). They print the
  initial and final L2 norms of the residuals at the standard starts, to 8 digits.
* gonum's test values (``optimize/functions``, Go) of f and of its gradient at the standard starts.
* The minimum values printed in the paper (section 3), scipy.optimize started at the standard
  points, closed-form linear least squares (numpy.linalg.lstsq on the paper's matrices, written out
  here), and central differences (``ml_opt.gradcheck``).
"""

from __future__ import annotations

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from ml_opt.gradcheck import check_grad
from ml_opt.problems.base import Problem
from ml_opt.problems import mgh

# (number, name, n, m) at the standard sizes. Fixed sizes are the paper's; the free ones are the
# defaults this library documents (MINPACK's / Algorithm 566's driver sizes).
STANDARD = [
    (1, "rosenbrock", 2, 2),
    (2, "freudenstein_roth", 2, 2),
    (3, "powell_badly_scaled", 2, 2),
    (4, "brown_badly_scaled", 2, 3),
    (5, "beale", 2, 3),
    (6, "jennrich_sampson", 2, 10),
    (7, "helical_valley", 3, 3),
    (8, "bard", 3, 15),
    (9, "gaussian", 3, 15),
    (10, "meyer", 3, 16),
    (11, "gulf_research_development", 3, 99),
    (12, "box_3d", 3, 10),
    (13, "powell_singular", 4, 4),
    (14, "wood", 4, 6),
    (15, "kowalik_osborne", 4, 11),
    (16, "brown_dennis", 4, 20),
    (17, "osborne1", 5, 33),
    (18, "biggs_exp6", 6, 13),
    (19, "osborne2", 11, 65),
    (20, "watson", 6, 31),
    (21, "extended_rosenbrock", 10, 10),
    (22, "extended_powell_singular", 12, 12),
    (23, "penalty1", 10, 11),
    (24, "penalty2", 10, 20),
    (25, "variably_dimensioned", 10, 12),
    (26, "trigonometric", 10, 10),
    (27, "brown_almost_linear", 10, 10),
    (28, "discrete_boundary_value", 10, 10),
    (29, "discrete_integral_equation", 10, 10),
    (30, "broyden_tridiagonal", 10, 10),
    (31, "broyden_banded", 10, 10),
    (32, "linear_full_rank", 5, 10),
    (33, "linear_rank1", 5, 10),
    (34, "linear_rank1_zero_columns_rows", 5, 10),
    (35, "chebyquad", 8, 8),
]

# The paper's rule for m in the variable-size problems: (number, sizes, n, m).
VARIABLE_SIZES = [
    (6, {"m": 3}, 2, 3),
    (11, {"m": 100}, 3, 100),
    (12, {"m": 20}, 3, 20),
    (16, {"m": 7}, 4, 7),
    (18, {"m": 6}, 6, 6),
    (20, {"n": 9}, 9, 31),
    (21, {"n": 4}, 4, 4),
    (22, {"n": 8}, 8, 8),
    (23, {"n": 4}, 4, 5),
    (24, {"n": 4}, 4, 8),
    (25, {"n": 3}, 3, 5),
    (26, {"n": 5}, 5, 5),
    (27, {"n": 3}, 3, 3),
    (28, {"n": 1}, 1, 1),
    (29, {"n": 7}, 7, 7),
    (30, {"n": 4}, 4, 4),
    (31, {"n": 9}, 9, 9),
    (32, {"n": 3, "m": 7}, 3, 7),
    (33, {"n": 3, "m": 3}, 3, 3),
    (34, {"n": 4, "m": 6}, 4, 6),
    (35, {"n": 4, "m": 7}, 4, 7),
]

# Initial L2 norms ||r(x0)|| printed by MINPACK's Fortran drivers: (number, sizes, norm).
MINPACK_INITIAL_NORMS = [
    # lmddrv.fortran.ref (LMDER1)
    (32, {"n": 5, "m": 10}, 5.0000000e00),
    (32, {"n": 5, "m": 50}, 8.0622577e00),
    (33, {"n": 5, "m": 10}, 2.9152187e02),
    (33, {"n": 5, "m": 50}, 3.1016004e03),
    (34, {"n": 5, "m": 10}, 1.2603968e02),
    (34, {"n": 5, "m": 50}, 1.7489500e03),
    (1, {}, 4.9193496e00),
    (7, {}, 5.0000000e01),
    (13, {}, 1.4662878e01),
    (2, {}, 2.0012496e01),
    (8, {}, 6.4561363e00),
    (15, {}, 7.2891510e-02),
    (10, {}, 4.1153467e04),
    (20, {"n": 6}, 5.4772256e00),
    (20, {"n": 9}, 5.4772256e00),
    (20, {"n": 12}, 5.4772256e00),
    (12, {"m": 10}, 3.2111584e01),
    (6, {"m": 10}, 6.4585650e01),
    (16, {"m": 20}, 2.8154384e03),
    (35, {"n": 1, "m": 8}, 1.8862380e00),
    (35, {"n": 8}, 1.9651386e-01),
    (35, {"n": 9}, 1.6994993e-01),
    (35, {"n": 10}, 1.8374783e-01),
    (27, {"n": 10}, 1.6530216e01),
    (27, {"n": 30}, 8.3476044e01),
    (27, {"n": 40}, 1.2802636e02),
    (17, {}, 9.3756402e-01),
    (19, {}, 1.4468654e00),
    # hyjdrv.fortran.ref (HYBRJ1), the systems that are MGH's residuals with m = n
    (3, {}, 1.0654866e00),
    (35, {"n": 5}, 2.2570657e-01),
    (35, {"n": 6}, 2.1547198e-01),
    (35, {"n": 7}, 1.8376789e-01),
    (28, {"n": 10}, 2.8080582e-02),
    (29, {"n": 1}, 1.2792969e-01),
    (29, {"n": 10}, 2.5182701e-01),
    (26, {"n": 10}, 8.4117534e-02),
    (30, {"n": 10}, 4.5825757e00),
    (31, {"n": 10}, 1.8973666e01),
]

# Final L2 norms of MINPACK's LMDER1 runs, against the minimum values the paper prints:
# (number, sizes, final norm, the paper's value it reaches).
MINPACK_FINAL_NORMS = [
    (2, {}, 6.9988752e00, 48.9842),
    (8, {}, 9.0635960e-02, 8.21487e-3),
    (8, {}, 4.1747687e00, 17.4286),
    (15, {}, 1.7535838e-02, 3.07505e-4),
    (15, {}, 3.2052193e-02, 1.02734e-3),
    (10, {}, 9.3779451e00, 87.9458),
    (20, {"n": 6}, 4.7829594e-02, 2.28767e-3),
    (20, {"n": 9}, 1.1831146e-03, 1.39976e-6),
    (20, {"n": 12}, 2.1731040e-05, 4.72238e-10),
    (6, {}, 1.1151779e01, 124.362),
    (16, {}, 2.9295427e02, 85822.2),
    (17, {}, 7.3924926e-03, 5.46489e-5),
    (19, {}, 2.0034404e-01, 4.01377e-2),
    (35, {"n": 8}, 5.9303236e-02, 3.51687e-3),
    (35, {"n": 10}, 8.0647100e-02, 6.50395e-3),
    (32, {"n": 5, "m": 10}, 2.2360680e00, None),
    (32, {"n": 5, "m": 50}, 6.7082039e00, None),
    (33, {"n": 5, "m": 10}, 1.4638501e00, None),
    (33, {"n": 5, "m": 50}, 3.4826302e00, None),
    (34, {"n": 5, "m": 10}, 1.9097274e00, None),
    (34, {"n": 5, "m": 50}, 3.6917294e00, None),
]

# gonum's test values: (number, sizes, x, f(x), grad f(x)).
GONUM = [
    (5, {}, [1, 1], 14.203125, [0, 27.75]),
    (5, {}, [1, 4], 4624.453125, [8813.25, 6585]),
    (18, {}, [1, 2, 1, 1, 1, 1], 0.77907007565597,
     [-0.149371887533426, -0.183163468182936, -1.483958013575642, 1.428277503849742,
      -0.149371887533426, -1.483958013575642]),
    (12, {}, [0, 10, 20], 1031.1538106093985,
     [98.22343149849218, -2.11937420675874, 112.38817362220350]),
    (4, {}, [1, 1], 999998000003, [-2e6, -4e-6]),
    (16, {}, [25, 5, -5, -1], 7926693.33699744,
     [1149322.836365895, 1779291.674339785, -254579.585463521, -173400.429253115]),
    (22, {"n": 4}, [3, -1, 0, 3], 95, [-14, -144, -22, 30]),
    (22, {"n": 8}, [3, -1, 0, 3, 3, -1, 0, 3], 190, [-14, -144, -22, 30, -14, -144, -22, 30]),
    (21, {"n": 2}, [-1.2, 1], 24.2, [-215.6, -88]),
    (9, {}, [0.4, 1, 0], 3.88810699116688e-06,
     [7.41428466839991e-03, -7.44126392165149e-04, -5.30189685421989e-20]),
    (11, {}, [5, 2.5, 0.15], 12.11070582556949,
     [2.0879783574289799, 0.0345792619697154, -39.6766801029386400]),
    (7, {}, [-1, 0, 0], 2500, [0, -1.59154943091895e03, -1e03]),
    (23, {"n": 4}, [1, 2, 3, 4], 885.06264, [119, 238.00002, 357.00004, 476.00006]),
    (23, {"n": 10}, list(range(1, 11)), 148032.56535,
     [1539, 3078.00002, 4617.00004, 6156.00006, 7695.00008, 9234.0001, 10773.00012, 12312.00014,
      13851.00016, 15390.00018]),
    (24, {"n": 4}, [0.5] * 4, 2.34000880546302,
     [12.59999952896435, 8.99999885134508, 5.99999776830493, 2.99999875380719]),
    (24, {"n": 10}, [0.5] * 10, 162.65277656596712,
     [255.5999995289644, 229.4999988513451, 203.9999977683049, 178.4999965713605,
      152.9999952485322, 127.4999937865809, 101.9999921708749, 76.4999903852436,
      50.9999884118158, 25.4999938418451]),
    (3, {}, [0, 1], 1.13526171734838, [-2.00007355588823e04, -2.70596990584991e-01]),
    (26, {"n": 2}, [0.5, 0.5], 0.0126877761614045, [-0.00840962732040673, -0.09606967736232540]),
    (26, {"n": 5}, [0.2] * 5, 0.0116573789904718,
     [0.04568602319608119, -0.00896259022885634, -0.04777056509084983, -0.07073790138989976,
      -0.07786459912600564]),
    (26, {"n": 10}, [0.1] * 10, 0.00707575946622261,
     [0.03562782195259399, 0.01872017956076182, 0.00380754216611998, -0.00911009023133202,
      -0.02003271763159338, -0.02896034003466506, -0.03589295744054654, -0.04083056984923782,
      -0.04377317726073873, -0.04472077967504980]),
    (25, {"n": 2}, [0.5, 0], 46.5625, [-68.5, -137]),
    (25, {"n": 3}, [2 / 3, 1 / 3, 0], 497.60493827160514,
     [-416.518518518519, -833.037037037037, -1249.555555555556]),
    (25, {"n": 4}, [0.75, 0.5, 0.25, 0], 3222.1875, [-1703, -3406, -5109, -6812]),
    (20, {"n": 2}, [0, 0], 30, [0, -60]),
    (20, {"n": 6}, [0] * 6, 30,
     [0, -60, -60, -61.034482758620697, -62.068965517241381, -63.114928861371936]),
    (20, {"n": 12}, [0] * 12, 30,
     [0, -60, -60, -61.034482758620697, -62.068965517241381, -63.114928861371936,
      -64.172372791012350, -65.241283655050239, -66.321647802373235, -67.413448880864095,
      -68.516667837400661, -69.631282933991471]),
    (14, {}, [-3, -1, -3, -1], 19192, [-12008, -2080, -10808, -1880]),
]

# Values of f_opt the paper prints for each standard problem (None: the paper gives none).
PAPER_F_OPT = {
    1: 0.0, 2: 0.0, 3: 0.0, 4: 0.0, 5: 0.0, 6: 124.362, 7: 0.0, 8: 8.21487e-3, 9: 1.12793e-8,
    10: 87.9458, 11: 0.0, 12: 0.0, 13: 0.0, 14: 0.0, 15: 3.07505e-4, 16: 85822.2,
    17: 5.46489e-5, 18: 0.0, 19: 4.01377e-2, 20: 2.28767e-3, 21: 0.0, 22: 0.0, 23: 7.08765e-5,
    24: 2.93660e-4, 25: 0.0, 26: 0.0, 27: 0.0, 28: 0.0, 29: 0.0, 30: 0.0, 31: 0.0,
    32: 5.0, 33: 10 * 9 / (2 * 21), 34: (100 + 30 - 6) / (2 * 17), 35: 3.51687e-3,
}

# Small problems where scipy's BFGS from the standard start is quick: the CI subset.
CHEAP_SCIPY = [1, 2, 5, 7, 8, 12, 15, 18, 27, 32]


# Central differences with the default step (6e-6 relative) are too coarse for two problems: Brown
# badly scaled has f ~ 1e12 at its start (rounding error ~ eps f / h ~ 40 on a gradient of 2e6), and
# Osborne 1 multiplies x4, x5 by t up to 320 (truncation error ~ (320 h)^2). Steps that suit them:
CHECK_GRAD_STEP = {4: 1e-2, 17: 1e-7}


def _problem(number: int, sizes: dict | None = None) -> Problem:
    return mgh.mgh_problem(number, **(sizes or {}))


@functools.cache
def _evaluate(problem: Problem):
    """``x -> (f, r, grad f)`` compiled once per problem, shared by all the tests."""

    def evaluate(x):
        f, g = jax.value_and_grad(problem.fun)(x)
        return f, problem.residuals(x), g

    return jax.jit(evaluate)


def _f(problem: Problem, x) -> float:
    return float(_evaluate(problem)(jnp.asarray(x, jnp.float64))[0])


def _residuals(problem: Problem, x) -> np.ndarray:
    return np.asarray(_evaluate(problem)(jnp.asarray(x, jnp.float64))[1])


def _grad(problem: Problem, x) -> np.ndarray:
    return np.asarray(_evaluate(problem)(jnp.asarray(x, jnp.float64))[2])


def _random_point(problem: Problem, seed: int) -> np.ndarray:
    """A point near the standard start, perturbed in proportion to each coordinate's size."""
    x0 = np.asarray(problem.init(None))
    u = np.random.default_rng(seed).uniform(-1.0, 1.0, x0.shape)
    return x0 + 0.1 * (1.0 + np.abs(x0)) * u


def _reached(value: float, target: float, rtol: float = 1e-5, zero_tol: float = 1e-10) -> bool:
    """The paper prints minima to 6 digits; a zero minimum counts as reached below zero_tol."""
    if target == 0.0:
        return value <= zero_tol
    return abs(value - target) <= rtol * abs(target)


# ------------------------------------------------------------------------------------------
# Catalogue: names, order, sizes
# ------------------------------------------------------------------------------------------


def test_mgh_problems_are_the_35_in_order():
    problems = mgh.mgh_problems()
    assert len(problems) == 35
    assert [p.name for p in problems] == [f"mgh/{name}" for _, name, _, _ in STANDARD]
    assert [mgh.mgh_info(p).number for p in problems] == list(range(1, 36))
    assert all(isinstance(p, Problem) for p in problems)
    assert mgh.mgh_problems()[0] is problems[0]  # the same objects every call


@pytest.mark.parametrize("number, name, n, m", STANDARD, ids=[s[1] for s in STANDARD])
def test_standard_sizes_and_metadata(number, name, n, m):
    p = mgh.mgh_problem(number)
    assert p is mgh.mgh_problem(name) is mgh.mgh_problem("mgh/" + name)
    assert p.dim == n
    x0 = p.init(jax.random.key(0))
    assert x0.shape == (n,) and x0.dtype == jnp.float64
    np.testing.assert_array_equal(x0, p.init(jax.random.key(1)))  # the key is ignored
    assert jax.eval_shape(p.residuals, x0).shape == (m,)
    info = mgh.mgh_info(p)
    assert (info.number, info.key, info.n, info.m, info.standard) == (number, name, n, m, True)
    assert "mgh" in p.tags and "least_squares" in p.tags
    assert "sum_i r_i(x)^2" in p.source and "Moré" in p.source
    # fun is MGH's sum of squares, without 1/2
    assert _f(p, x0) == pytest.approx(np.sum(_residuals(p, x0) ** 2), rel=1e-13)


@pytest.mark.parametrize("number, sizes, n, m", VARIABLE_SIZES)
def test_variable_sizes_follow_the_paper(number, sizes, n, m):
    p = _problem(number, sizes)
    assert p.dim == n
    assert jax.eval_shape(p.residuals, p.init(None)).shape == (m,)
    assert mgh.mgh_info(p).m == m and not mgh.mgh_info(p).standard
    assert p.name.startswith("mgh/") and "[" in p.name  # sizes are part of a non-standard name
    assert _problem(number, sizes) is p


def test_paper_f_opt_values():
    for p in mgh.mgh_problems():
        expected = PAPER_F_OPT[mgh.mgh_info(p).number]
        assert p.f_opt == pytest.approx(expected, rel=1e-12, abs=0.0), p.name


def test_size_dependent_f_opt():
    assert mgh.watson(n=9).f_opt == pytest.approx(1.39976e-6)
    assert mgh.watson(n=12).f_opt == pytest.approx(4.72238e-10)
    assert mgh.watson(n=7).f_opt is None
    assert mgh.penalty1(n=4).f_opt == pytest.approx(2.24997e-5)
    assert mgh.penalty2(n=4).f_opt == pytest.approx(9.37629e-6)
    assert mgh.penalty1(n=5).f_opt is None
    assert mgh.chebyquad(n=9).f_opt == 0.0 and mgh.chebyquad(n=7).f_opt == 0.0
    # n = 10: the paper's 6.50395e-3 is a local minimum; f_opt is the lower best known value
    assert mgh.chebyquad(n=10).f_opt == pytest.approx(4.77271e-3)
    assert mgh.mgh_info(mgh.chebyquad(n=10)).local_minima == (6.50395e-3,)
    assert mgh.chebyquad(n=11).f_opt is None and mgh.chebyquad(n=4, m=6).f_opt is None
    assert mgh.jennrich_sampson(m=12).f_opt is None
    assert mgh.brown_dennis(m=21).f_opt is None
    assert mgh.linear_full_rank(n=4, m=9).f_opt == 5.0


def test_convexity_flags():
    convex = {p.name for p in mgh.mgh_problems() if p.convex}
    assert convex == {"mgh/powell_singular", "mgh/extended_powell_singular",
                      "mgh/variably_dimensioned", "mgh/linear_full_rank", "mgh/linear_rank1",
                      "mgh/linear_rank1_zero_columns_rows"}


def test_local_minima_table():
    assert mgh.LOCAL_MINIMA == {
        "mgh/freudenstein_roth": (48.9842,),
        "mgh/bard": (17.4286,),
        "mgh/kowalik_osborne": (1.02734e-3,),
        "mgh/biggs_exp6": (5.65565e-3,),
        "mgh/trigonometric": (2.79506e-5,),
        "mgh/brown_almost_linear": (1.0, 0.917900),
    } | {k: v for k, v in mgh.LOCAL_MINIMA.items() if "[" in k}
    p = mgh.brown_almost_linear(n=7)
    assert mgh.LOCAL_MINIMA[p.name] == (1.0,) == mgh.mgh_info(p).local_minima
    assert mgh.mgh_info(mgh.biggs_exp6(m=14)).local_minima == ()


def test_brown_almost_linear_second_minimum_is_stationary():
    # The paper: f = 1 at (0, ..., 0, n + 1).
    for n in (3, 10):
        p = mgh.brown_almost_linear(n=n)
        x = np.zeros(n)
        x[-1] = n + 1.0
        assert _f(p, x) == 1.0
        np.testing.assert_allclose(_grad(p, x), 0.0, atol=1e-12)


def test_lookup_errors():
    with pytest.raises(ValueError, match="1..35"):
        mgh.mgh_problem(36)
    with pytest.raises(ValueError, match="unknown MGH problem"):
        mgh.mgh_problem("rosenbrok")
    with pytest.raises(TypeError, match="sizes"):
        mgh.mgh_problem("rosenbrock", n=3)
    with pytest.raises(ValueError, match="even"):
        mgh.extended_rosenbrock(n=5)
    with pytest.raises(ValueError, match="multiple of 4"):
        mgh.extended_powell_singular(n=6)
    with pytest.raises(ValueError, match="m must be >= n"):
        mgh.linear_full_rank(n=5, m=4)
    with pytest.raises(ValueError, match="<= 100"):
        mgh.gulf_research_development(m=101)
    with pytest.raises(TypeError, match="n must be a Python int"):
        mgh.watson(n=6.0)
    with pytest.raises(ValueError, match="shape \\(4,\\)"):
        mgh.wood().fun(jnp.ones(3))
    with pytest.raises(ValueError, match="not an MGH problem"):
        mgh.mgh_info("rosenbrock")


# ------------------------------------------------------------------------------------------
# Values at the standard starts and at the minima, against published numbers
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("number, sizes, norm", MINPACK_INITIAL_NORMS)
def test_initial_norm_matches_minpack_output(number, sizes, norm):
    p = _problem(number, sizes)
    value = math.sqrt(_f(p, p.init(None)))
    assert value == pytest.approx(norm, rel=2e-7)


@pytest.mark.parametrize("number, sizes, norm, paper", MINPACK_FINAL_NORMS)
def test_paper_minima_match_minpack_final_norms(number, sizes, norm, paper):
    """MINPACK's solutions and the paper's printed minima agree with the f_opt / local minima here."""
    p = _problem(number, sizes)
    known = ([p.f_opt] if p.f_opt is not None else []) + list(mgh.mgh_info(p).local_minima)
    assert any(v == pytest.approx(norm ** 2, rel=1e-5) for v in known), (p.name, norm ** 2, known)
    if paper is not None:
        assert any(v == pytest.approx(paper, rel=1e-12) for v in known)


@pytest.mark.parametrize("number, sizes, x, f, grad", GONUM)
def test_value_and_gradient_match_gonum(number, sizes, x, f, grad):
    p = _problem(number, sizes)
    assert _f(p, x) == pytest.approx(f, rel=1e-12)
    g = _grad(p, x)
    assert np.linalg.norm(g - np.asarray(grad)) <= 1e-10 * np.linalg.norm(grad)


def test_f_at_x_opt_is_f_opt():
    checked = 0
    for p in mgh.mgh_problems() + [mgh.linear_full_rank(n=7, m=20), mgh.linear_rank1(n=3, m=8),
                                   mgh.linear_rank1_zero_columns_rows(n=6, m=9)]:
        if p.x_opt is None:
            continue
        assert _f(p, p.x_opt) == pytest.approx(p.f_opt, rel=1e-12, abs=1e-20), p.name
        checked += 1
    assert checked >= 20


def _linear_matrices(number: int, n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """r(x) = A x - b for MGH 32-34, transcribed from the paper's formulas."""
    if number == 32:
        A = -2.0 / m * np.ones((m, n))
        A[:n, :n] += np.eye(n)
    elif number == 33:
        A = np.outer(np.arange(1, m + 1), np.arange(1, n + 1)).astype(float)
    else:
        A = np.zeros((m, n))
        for i in range(2, m):  # rows 2..m-1 (1-based)
            for j in range(2, n):  # columns 2..n-1
                A[i - 1, j - 1] = (i - 1) * j
    return A, np.ones(m)


@pytest.mark.parametrize("number", [32, 33, 34])
@pytest.mark.parametrize("n, m", [(5, 10), (5, 50), (3, 3), (8, 11)])
def test_linear_problems_against_least_squares(number, n, m):
    p = _problem(number, {"n": n, "m": m})
    A, b = _linear_matrices(number, n, m)
    rng = np.random.default_rng(number + n + m)
    for x in (np.ones(n), rng.normal(size=n)):
        np.testing.assert_allclose(_residuals(p, x), A @ x - b, rtol=1e-13, atol=1e-12)
    solution, *_ = np.linalg.lstsq(A, b, rcond=None)
    assert p.f_opt == pytest.approx(np.sum((A @ solution - b) ** 2), rel=1e-10)


# ------------------------------------------------------------------------------------------
# Gradients, dtypes, transformations
# ------------------------------------------------------------------------------------------


def _check_grad_at(p: Problem, points: dict, step: float | None = None) -> float:
    """check_grad at several points in one call (one compilation instead of one per point).

    The objective is ``sum_k f(x_k) / ||grad f(x_k)||``, a function of the dict of points whose
    gradient stacks the per-point gradients, each scaled to norm 1, so the relative error reported
    is that of the worst point within a factor sqrt(len(points)): no point's error can hide behind
    another point's larger gradient. (The scales come from jax.grad; were it wrong, the scaled
    gradient would still disagree with the differences.)
    """
    scales = {k: max(float(np.linalg.norm(_grad(p, x))), 1e-300) for k, x in points.items()}
    combined = lambda xs: sum(p.fun(x) / scales[k] for k, x in xs.items())  # noqa: E731
    points = {k: jnp.asarray(x, jnp.float64) for k, x in points.items()}
    return check_grad(combined, points, step=step).relative_error


# In CI: the problems whose gradient gonum gives no value for (test_value_and_gradient_match_gonum
# covers 3-5, 7, 9, 11, 12, 14, 16, 18, 20-26 exactly), among them products (27), the Chebyshev
# recurrence (35) and matrix forms (29, 31); |.|^x3 (11) again at a random point; and the two
# problems with their own steps. The rest run with -m slow.
CHECK_GRAD_IN_CI = {4, 11, 17, 19, 27, 29, 31, 35}


@pytest.mark.parametrize("number", [n if n in CHECK_GRAD_IN_CI else
                                    pytest.param(n, marks=pytest.mark.slow) for n in range(1, 36)])
def test_gradient_passes_check_grad(number):
    p = mgh.mgh_problem(number)
    points = {"start": p.init(None), "random": _random_point(p, number)}
    error = _check_grad_at(p, points, step=CHECK_GRAD_STEP.get(number))
    assert error < 1e-6, (p.name, error)


@pytest.mark.parametrize("number, sizes", [
    (20, {"n": 12}), (35, {"n": 5, "m": 9}), (34, {"n": 7, "m": 12}),
    pytest.param(24, {"n": 4}, marks=pytest.mark.slow),
    pytest.param(16, {"m": 7}, marks=pytest.mark.slow),
    pytest.param(29, {"n": 1}, marks=pytest.mark.slow),
])
def test_gradient_passes_check_grad_at_other_sizes(number, sizes):
    p = _problem(number, sizes)
    result = check_grad(p.fun, jnp.asarray(_random_point(p, 7)))
    assert result.relative_error < 1e-6


def test_float32_in_float32_out():
    for p in mgh.mgh_problems():
        x = jax.ShapeDtypeStruct((p.dim,), jnp.float32)
        assert jax.eval_shape(p.residuals, x).dtype == jnp.float32, p.name
        assert jax.eval_shape(p.fun, x).dtype == jnp.float32, p.name
        assert jax.eval_shape(jax.grad(p.fun), x).dtype == jnp.float32, p.name
    for number in (1, 8, 13, 20, 35):  # and the values agree with float64 to float32 accuracy
        p = mgh.mgh_problem(number)
        f32 = jax.jit(p.fun)(p.init(None).astype(jnp.float32))
        assert f32.dtype == jnp.float32
        assert float(f32) == pytest.approx(_f(p, p.init(None)), rel=1e-5)


def test_jit_vmap_and_integer_input():
    p = mgh.watson()
    points = jnp.stack([p.init(None), jnp.asarray(_random_point(p, 0))])
    batched = jax.jit(jax.vmap(p.fun))(points)
    np.testing.assert_allclose(batched, [_f(p, points[0]), _f(p, points[1])], rtol=1e-13)
    # integer arrays are evaluated in the default float dtype
    assert float(mgh.rosenbrock().fun(jnp.array([1, 1]))) == 0.0


# ------------------------------------------------------------------------------------------
# scipy.optimize from the standard starts reaches f_opt or a listed local minimum
# ------------------------------------------------------------------------------------------


def _scipy_minimize(p: Problem, method: str, x0=None):
    """scipy from ``x0`` (default: the standard start) to ``gtol`` 1e-10."""
    fun = jax.jit(p.fun)
    grad = jax.jit(jax.grad(p.fun))
    kwargs = {"jac": lambda x: np.asarray(grad(x))}
    options = {"maxiter": 5000, "gtol": 1e-10}
    if method == "trust-exact":
        hess = jax.jit(jax.hessian(p.fun))
        kwargs["hess"] = lambda x: np.asarray(hess(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scipy.optimize.minimize(lambda x: float(fun(x)), np.asarray(p.init(None) if x0 is None else x0),
                                       method=method, options=options, **kwargs)


def _assert_scipy_reaches_a_listed_value(p: Problem, method: str):
    result = _scipy_minimize(p, method)
    targets = ([p.f_opt] if p.f_opt is not None else []) + list(mgh.mgh_info(p).local_minima)
    assert targets, p.name
    assert any(_reached(result.fun, t) for t in targets), (p.name, method, result.fun, targets)
    return result


@pytest.mark.parametrize("number", CHEAP_SCIPY)
def test_scipy_bfgs_reaches_listed_value(number):
    _assert_scipy_reaches_a_listed_value(mgh.mgh_problem(number), "BFGS")


def _assert_local_minimum(p: Problem, result, listed: float):
    """scipy's ``result`` is at the ``listed`` value, and a strict local minimum: a zero gradient and
    a positive definite Hessian (by central differences of the gradient)."""
    assert result.fun == pytest.approx(listed, rel=1e-5)
    x = jnp.asarray(result.x)
    assert np.max(np.abs(np.asarray(jax.grad(p.fun)(x)))) < 1e-8
    grad = jax.jit(jax.grad(p.fun))
    h = 1e-5
    hessian = np.stack([(np.asarray(grad(x + h * e)) - np.asarray(grad(x - h * e))) / (2 * h)
                        for e in np.eye(p.dim)])
    assert np.linalg.eigvalsh(0.5 * (hessian + hessian.T)).min() > 0


def test_trigonometric_local_minimum_is_a_local_minimum():
    """The n = 10 value in LOCAL_MINIMA is where scipy stops, and it is a true local minimum."""
    p = mgh.trigonometric()
    _assert_local_minimum(p, _scipy_minimize(p, "BFGS"), mgh.LOCAL_MINIMA[p.name][0])


def test_brown_almost_linear_third_minimum_is_a_local_minimum():
    """The n = 10 value 0.917900 in LOCAL_MINIMA (not in the paper): scipy started from the point the
    docstring gives (six digits) stays there, at a true local minimum; so does its permutation."""
    p = mgh.brown_almost_linear()
    listed = mgh.LOCAL_MINIMA[p.name][1]
    point = np.array([-0.903188] * 8 + [0.106538, 18.9105])
    for x0 in (point, np.concatenate([[0.106538], [-0.903188] * 8, [18.9105]])):
        _assert_local_minimum(p, _scipy_minimize(p, "BFGS", x0), listed)


@pytest.mark.slow
@pytest.mark.parametrize("number", range(1, 36))
@pytest.mark.parametrize("method", ["trust-exact", "BFGS"])
def test_scipy_reaches_listed_value_on_every_problem(number, method):
    _assert_scipy_reaches_a_listed_value(mgh.mgh_problem(number), method)


@pytest.mark.slow
@pytest.mark.parametrize("number, sizes", [
    (20, {"n": 9}), (20, {"n": 12}), (23, {"n": 4}), (24, {"n": 4}), (35, {"n": 7}),
    (35, {"n": 9}), (35, {"n": 10}), (32, {"n": 5, "m": 50}), (33, {"n": 5, "m": 50}),
    (34, {"n": 5, "m": 50}), (27, {"n": 30}), (21, {"n": 40}), (22, {"n": 40}),
])
def test_scipy_reaches_f_opt_at_other_sizes(number, sizes):
    _assert_scipy_reaches_a_listed_value(_problem(number, sizes), "trust-exact")


def _chebyquad_numpy(x: np.ndarray, m: int) -> float:
    """MGH 35 transcribed with the closed form T_i(u) = cos(i arccos(2u - 1)) instead of the recurrence."""
    total = 0.0
    for i in range(1, m + 1):
        integral = 0.0 if i % 2 else -1.0 / (i * i - 1.0)
        total += (np.mean(np.cos(i * np.arccos(2.0 * x - 1.0))) - integral) ** 2
    return total


@pytest.mark.slow
def test_chebyquad_10_has_a_lower_minimum_than_the_paper():
    """Trust-region Newton from the standard start goes below the paper's 6.50395e-3 (n = 10)."""
    p = mgh.chebyquad(n=10)
    result = _scipy_minimize(p, "trust-exact")
    assert result.fun < 6.5e-3
    assert _chebyquad_numpy(result.x, 10) == pytest.approx(p.f_opt, rel=1e-5)
    assert np.max(np.abs(result.jac)) < 1e-8
    # and the paper's value is there too, as a listed local minimum
    assert mgh.mgh_info(p).local_minima == (6.50395e-3,)
