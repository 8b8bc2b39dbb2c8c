"""Tests of ml_opt.problems.andrei against an independent transcription of the specification.

The 44 unconstrained test functions are those of N. Andrei, "An unconstrained optimization test
functions collection", Advanced Modeling and Optimization 10 (2008), 20 of them from CUTE. The
reference here is this file's own plain-Python float64 transcription of the formulas (the paper's,
with CUTE's where the paper prints one garbled; the module docstring says which): explicit 1-based
loops, written exactly as the sums read, sharing no code with the module's vectorised JAX code.
Checked for every key:

* ``fun`` agrees with the reference (rtol 1e-12) at the starting point and at random points, at
  several valid sizes, the smallest valid size and an odd size (where the n rule allows one)
  included;
* ``init`` returns the table's starting point exactly, ignoring its PRNG key;
* where the table gives them, ``x_opt`` and ``f_opt`` are the table's, ``fun(x_opt) == f_opt``
  and the gradient (``jax.grad``) vanishes at ``x_opt``; where it says None, the module's is None;
* the n rules ("pairs", "quads", ">= k", "any") and the argument errors;
* ``andrei_problems`` returns the 44 problems in the table's order;
* a float32 input gives a float32 value.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ml_opt.problems.andrei import ANDREI_KEYS, andrei_problem, andrei_problems
from ml_opt.problems.base import Problem


def _one_based(x):
    """``x`` as a list of Python floats indexed 1..n (index 0 unused), to write the sums as they read."""
    return [None] + [float(v) for v in np.asarray(x, dtype=np.float64)]


# --- The reference: one function per row of the table, 1-based loops, Python floats. -------------


def extended_freudenstein_roth(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += (-13 + a + ((5 - b) * b - 2) * b) ** 2 + (-29 + a + ((b + 1) * b - 14) * b) ** 2
    return f


def extended_trigonometric(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        s = 0.0
        for j in range(1, n + 1):
            s += math.cos(x[j])
        f += (n - s + i * (1 - math.cos(x[i])) - math.sin(x[i])) ** 2
    return f


def extended_rosenbrock(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += 100 * (b - a ** 2) ** 2 + (1 - a) ** 2
    return f


def generalized_rosenbrock(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n):
        f += 100 * (x[i + 1] - x[i] ** 2) ** 2 + (1 - x[i]) ** 2
    return f


def extended_white_holst(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += 100 * (b - a ** 3) ** 2 + (1 - a) ** 2
    return f


def extended_beale(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += (1.5 - a * (1 - b)) ** 2 + (2.25 - a * (1 - b ** 2)) ** 2 + (2.625 - a * (1 - b ** 3)) ** 2
    return f


def extended_penalty(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n):
        f += (x[i] - 1) ** 2
    s = 0.0
    for j in range(1, n + 1):
        s += x[j] ** 2
    return f + (s - 0.25) ** 2


def raydan1(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += (i / 10) * (math.exp(x[i]) - x[i])
    return f


def raydan2(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += math.exp(x[i]) - x[i]
    return f


def diagonal1(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += math.exp(x[i]) - i * x[i]
    return f


def diagonal2(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += math.exp(x[i]) - x[i] / i
    return f


def diagonal3(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += math.exp(x[i]) - i * math.sin(x[i])
    return f


def hager(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += math.exp(x[i]) - math.sqrt(i) * x[i]
    return f


def extended_tet(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += math.exp(a + 3 * b - 0.1) + math.exp(a - 3 * b - 0.1) + math.exp(-a - 0.1)
    return f


def extended_himmelblau(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += (a ** 2 + b - 11) ** 2 + (a + b ** 2 - 7) ** 2
    return f


def extended_powell(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 4 + 1):
        x1, x2, x3, x4 = x[4 * i - 3], x[4 * i - 2], x[4 * i - 1], x[4 * i]
        f += (x1 + 10 * x2) ** 2 + 5 * (x3 - x4) ** 2 + (x2 - 2 * x3) ** 4 + 10 * (x1 - x4) ** 4
    return f


def extended_wood(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 4 + 1):
        x1, x2, x3, x4 = x[4 * i - 3], x[4 * i - 2], x[4 * i - 1], x[4 * i]
        f += (100 * (x1 ** 2 - x2) ** 2 + (x1 - 1) ** 2 + 90 * (x3 ** 2 - x4) ** 2 + (1 - x3) ** 2
              + 10.1 * ((x2 - 1) ** 2 + (x4 - 1) ** 2) + 19.8 * (x2 - 1) * (x4 - 1))
    return f


def extended_hiebert(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += (a - 10) ** 2 + (a * b - 50000) ** 2
    return f


def extended_tridiagonal1(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += (a + b - 3) ** 2 + (a - b + 1) ** 4
    return f


def quadratic_qf2(x):
    x, n = _one_based(x), len(x)
    s = 0.0
    for i in range(1, n + 1):
        s += i * (x[i] ** 2 - 1) ** 2
    return 0.5 * s - x[n]


def perturbed_quadratic(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += i * x[i] ** 2
    s = 0.0
    for i in range(1, n + 1):
        s += x[i]
    return f + (1 / 100) * s ** 2


def almost_perturbed_quadratic(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += i * x[i] ** 2
    return f + (1 / 100) * (x[1] + x[n]) ** 2


def diagonal4(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += 0.5 * (a ** 2 + 100 * b ** 2)
    return f


def diagonal5(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += math.log(math.exp(x[i]) + math.exp(-x[i]))
    return f


def extended_denschnb(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += (a - 2) ** 2 + (a - 2) ** 2 * b ** 2 + (b + 1) ** 2
    return f


def extended_denschnf(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += (2 * (a + b) ** 2 + (a - b) ** 2 - 8) ** 2 + (5 * a ** 2 + (b - 3) ** 2 - 9) ** 2
    return f


def himmelbg(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n // 2 + 1):
        a, b = x[2 * i - 1], x[2 * i]
        f += (2 * a ** 2 + 3 * b ** 2) * math.exp(-a - b)
    return f


def liarwhd(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += 4 * (x[i] ** 2 - x[1]) ** 2 + (x[i] - 1) ** 2
    return f


def power(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += (i * x[i]) ** 2
    return f


def engval1(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n):
        f += (x[i] ** 2 + x[i + 1] ** 2) ** 2 + (-4 * x[i] + 3)
    return f


def edensch(x):
    x, n = _one_based(x), len(x)
    f = 16.0
    for i in range(1, n):
        f += (x[i] - 2) ** 4 + (x[i] * x[i + 1] - 2 * x[i + 1]) ** 2 + (x[i + 1] + 1) ** 2
    return f


def quartc(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n + 1):
        f += (x[i] - 1) ** 4
    return f


def tridia(x):
    x, n = _one_based(x), len(x)
    f = (x[1] - 1) ** 2
    for i in range(2, n + 1):
        f += i * (2 * x[i] - x[i - 1]) ** 2
    return f


def eg2(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n):
        f += math.sin(x[1] + x[i] ** 2 - 1)
    return f + 0.5 * math.sin(x[n] ** 2)


def fletchcr(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n):
        f += 100 * (x[i + 1] - x[i] + 1 - x[i] ** 2) ** 2
    return f


def dqdrtic(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n - 1):
        f += x[i] ** 2 + 100 * x[i + 1] ** 2 + 100 * x[i + 2] ** 2
    return f


def cube(x):
    x, n = _one_based(x), len(x)
    f = (x[1] - 1) ** 2
    for i in range(2, n + 1):
        f += 100 * (x[i] - x[i - 1] ** 3) ** 2
    return f


def sinquad(x):
    x, n = _one_based(x), len(x)
    f = (x[1] - 1) ** 4
    for i in range(2, n):
        f += (math.sin(x[i] - x[n]) - x[1] ** 2 + x[i] ** 2) ** 2
    return f + (x[n] ** 2 - x[1] ** 2) ** 2


def dixon3dq(x):
    x, n = _one_based(x), len(x)
    f = (x[1] - 1) ** 2
    for i in range(2, n):
        f += (x[i] - x[i + 1]) ** 2
    return f + (x[n] - 1) ** 2


def biggsb1(x):
    x, n = _one_based(x), len(x)
    f = (x[1] - 1) ** 2
    for i in range(1, n):
        f += (x[i + 1] - x[i]) ** 2
    return f + (1 - x[n]) ** 2


def arwhead(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n):
        f += (-4 * x[i] + 3) + (x[i] ** 2 + x[n] ** 2) ** 2
    return f


def nondia(x):
    x, n = _one_based(x), len(x)
    f = (x[1] - 1) ** 2
    for i in range(2, n + 1):
        f += 100 * (x[1] - x[i - 1] ** 2) ** 2
    return f


def nondquar(x):
    x, n = _one_based(x), len(x)
    f = (x[1] - x[2]) ** 2
    for i in range(1, n - 1):
        f += (x[i] + x[i + 1] + x[n]) ** 4
    return f + (x[n - 1] + x[n]) ** 2


def bdqrtic(x):
    x, n = _one_based(x), len(x)
    f = 0.0
    for i in range(1, n - 3):
        f += (-4 * x[i] + 3) ** 2 + (x[i] ** 2 + 2 * x[i + 1] ** 2 + 3 * x[i + 2] ** 2 + 4 * x[i + 3] ** 2
                                     + 5 * x[n] ** 2) ** 2
    return f


# --- Starting points, minimisers and minimum values, as the table gives them. ---------------------


def _cycle(*values):
    """``n -> (v_1, v_2, ..., v_k, v_1, ...)``: a constant (k = 1), an alternating pair or a block."""
    return lambda n: np.array([values[(i - 1) % len(values)] for i in range(1, n + 1)], dtype=np.float64)


def _entries(entry):
    """``n -> (entry(i, n))_{i=1..n}``."""
    return lambda n: np.array([entry(i, n) for i in range(1, n + 1)], dtype=np.float64)


def _sum(term):
    """``n -> sum_{i=1}^n term(i)``."""
    def total(n):
        s = 0.0
        for i in range(1, n + 1):
            s += term(i)
        return s
    return total


def _zero(n):
    return 0.0


# The n rules as (smallest n, n must be a multiple of).
ANY, PAIRS, QUADS = (1, 1), (2, 2), (4, 4)


def AT_LEAST(k):
    return (k, 1)


# key: (n rule, reference f, x0, x_opt or None, f_opt or None), in the table's order.
SPEC = {
    "extended_freudenstein_roth": (PAIRS, extended_freudenstein_roth, _cycle(0.5, -2.0), _cycle(5.0, 4.0), _zero),
    "extended_trigonometric": (ANY, extended_trigonometric, _cycle(0.2), _cycle(0.0), _zero),
    "extended_rosenbrock": (PAIRS, extended_rosenbrock, _cycle(-1.2, 1.0), _cycle(1.0), _zero),
    "generalized_rosenbrock": (AT_LEAST(2), generalized_rosenbrock, _cycle(-1.2, 1.0), _cycle(1.0), _zero),
    "extended_white_holst": (PAIRS, extended_white_holst, _cycle(-1.2, 1.0), _cycle(1.0), _zero),
    "extended_beale": (PAIRS, extended_beale, _cycle(1.0, 0.8), _cycle(3.0, 0.5), _zero),
    "extended_penalty": (AT_LEAST(2), extended_penalty, _entries(lambda i, n: i), None, None),
    "raydan1": (ANY, raydan1, _cycle(1.0), _cycle(0.0), lambda n: n * (n + 1) / 20),
    "raydan2": (ANY, raydan2, _cycle(1.0), _cycle(0.0), lambda n: float(n)),
    "diagonal1": (ANY, diagonal1, _entries(lambda i, n: 1 / n), _entries(lambda i, n: math.log(i)),
                  _sum(lambda i: i - i * math.log(i))),
    "diagonal2": (ANY, diagonal2, _entries(lambda i, n: 1 / i), _entries(lambda i, n: -math.log(i)),
                  _sum(lambda i: (1 + math.log(i)) / i)),
    "diagonal3": (ANY, diagonal3, _cycle(1.0), None, None),
    "hager": (ANY, hager, _cycle(1.0), _entries(lambda i, n: math.log(i) / 2),
              _sum(lambda i: math.sqrt(i) * (1 - math.log(i) / 2))),
    "extended_tet": (PAIRS, extended_tet, _cycle(0.1), _cycle(-math.log(2) / 2, 0.0),
                     lambda n: (n / 2) * 2 * math.sqrt(2) * math.exp(-0.1)),
    "extended_himmelblau": (PAIRS, extended_himmelblau, _cycle(1.0), _cycle(3.0, 2.0), _zero),
    "extended_powell": (QUADS, extended_powell, _cycle(3.0, -1.0, 0.0, 1.0), _cycle(0.0), _zero),
    "extended_wood": (QUADS, extended_wood, _cycle(-3.0, -1.0, -3.0, -1.0), _cycle(1.0), _zero),
    "extended_hiebert": (PAIRS, extended_hiebert, _cycle(0.0), _cycle(10.0, 5000.0), _zero),
    "extended_tridiagonal1": (PAIRS, extended_tridiagonal1, _cycle(2.0), _cycle(1.0, 2.0), _zero),
    "quadratic_qf2": (ANY, quadratic_qf2, _cycle(0.5), None, None),
    "perturbed_quadratic": (ANY, perturbed_quadratic, _cycle(0.5), _cycle(0.0), _zero),
    "almost_perturbed_quadratic": (ANY, almost_perturbed_quadratic, _cycle(0.5), _cycle(0.0), _zero),
    "diagonal4": (PAIRS, diagonal4, _cycle(1.0), _cycle(0.0), _zero),
    "diagonal5": (ANY, diagonal5, _cycle(1.1), _cycle(0.0), lambda n: n * math.log(2)),
    "extended_denschnb": (PAIRS, extended_denschnb, _cycle(1.0), _cycle(2.0, -1.0), _zero),
    "extended_denschnf": (PAIRS, extended_denschnf, _cycle(2.0, 0.0), _cycle(1.0, 1.0), _zero),
    "himmelbg": (PAIRS, himmelbg, _cycle(1.5), _cycle(0.0), _zero),
    "liarwhd": (ANY, liarwhd, _cycle(4.0), _cycle(1.0), _zero),
    "power": (ANY, power, _cycle(1.0), _cycle(0.0), _zero),
    "engval1": (AT_LEAST(2), engval1, _cycle(2.0), None, None),
    "edensch": (AT_LEAST(2), edensch, _cycle(0.0), None, None),
    "quartc": (ANY, quartc, _cycle(2.0), _cycle(1.0), _zero),
    "tridia": (AT_LEAST(2), tridia, _cycle(1.0), _entries(lambda i, n: 2.0 ** (1 - i)), _zero),
    "eg2": (AT_LEAST(2), eg2, _cycle(1.0), None, None),
    "fletchcr": (AT_LEAST(2), fletchcr, _cycle(0.0), _cycle(1.0), _zero),
    "dqdrtic": (AT_LEAST(3), dqdrtic, _cycle(3.0), _cycle(0.0), _zero),
    "cube": (AT_LEAST(2), cube, _cycle(-1.2, 1.0), _cycle(1.0), _zero),
    "sinquad": (AT_LEAST(3), sinquad, _cycle(0.1), None, None),
    "dixon3dq": (AT_LEAST(2), dixon3dq, _cycle(-1.0), _cycle(1.0), _zero),
    "biggsb1": (AT_LEAST(2), biggsb1, _cycle(0.0), _cycle(1.0), _zero),
    "arwhead": (AT_LEAST(2), arwhead, _cycle(1.0), _entries(lambda i, n: 0.0 if i == n else 1.0), _zero),
    "nondia": (AT_LEAST(2), nondia, _cycle(-1.0), _cycle(1.0), _zero),
    "nondquar": (AT_LEAST(3), nondquar, _cycle(1.0, -1.0), _cycle(0.0), _zero),
    "bdqrtic": (AT_LEAST(5), bdqrtic, _cycle(1.0), None, None),
}
KEYS = tuple(SPEC)
KEYS_WITH_OPTIMUM = tuple(k for k in KEYS if SPEC[k][3] is not None)
KEYS_WITHOUT_OPTIMUM = tuple(k for k in KEYS if SPEC[k][3] is None)

# Valid for every n rule. Few distinct sizes keep the file fast: eager JAX compiles each operation
# once per shape and dtype.
SIZES = (8, 20)


def _small_sizes(key):
    """The smallest valid n, an odd valid n where the rule allows one, and SIZES."""
    smallest, multiple = SPEC[key][0]
    odd = () if multiple > 1 else (7,)
    return (smallest,) + odd + SIZES


CASES = [(key, n) for key in KEYS for n in _small_sizes(key)]
OPTIMUM_CASES = [(key, n) for key in KEYS_WITH_OPTIMUM for n in _small_sizes(key)]
GRADIENT_CASES = [(key, n) for key in KEYS_WITH_OPTIMUM for n in (SPEC[key][0][0], 8)]


def _x0(key, n):
    return SPEC[key][2](n)


def _random_points(n, count=3, seed=20080101):
    rng = np.random.default_rng([seed, n])
    return [rng.uniform(-2.0, 2.0, size=n) for _ in range(count)]


# --- Tests. --------------------------------------------------------------------------------------


def test_keys_are_the_table_in_order():
    assert isinstance(ANDREI_KEYS, tuple)
    assert ANDREI_KEYS == KEYS
    assert len(ANDREI_KEYS) == 44


def test_the_reference_is_the_table():
    """A few values of this file's reference worked out by hand, so that its own typos show up."""
    assert extended_freudenstein_roth([0.5, -2.0]) == pytest.approx(19.5 ** 2 + 4.5 ** 2)
    assert extended_rosenbrock([-1.2, 1.0]) == pytest.approx(24.2)
    assert generalized_rosenbrock([-1.2, 1.0, -1.2]) == pytest.approx(24.2 + 484.0)
    assert extended_wood([-3.0, -1.0, -3.0, -1.0]) == pytest.approx(19192.0)
    assert extended_powell([3.0, -1.0, 0.0, 1.0]) == pytest.approx(215.0)
    assert dqdrtic([3.0, 3.0, 3.0]) == pytest.approx(9 + 900 + 900)
    assert bdqrtic([1.0] * 5) == pytest.approx(1 + 15 ** 2)
    assert nondquar([1.0, -1.0, 1.0]) == pytest.approx(4 + 1 + 0)
    assert edensch([0.0, 0.0]) == pytest.approx(16 + 16 + 1)
    assert dixon3dq([-1.0, -1.0]) == pytest.approx(8.0)
    assert tridia([1.0, 0.5, 0.25]) == 0.0


@pytest.mark.parametrize("key", KEYS)
def test_metadata(key):
    n = 8
    problem = andrei_problem(key, n)
    assert isinstance(problem, Problem)
    assert problem.name == f"andrei/{key}"
    assert problem.dim == n
    assert "andrei" in problem.tags
    assert isinstance(problem.convex, bool)
    assert isinstance(problem.source, str)


def test_default_size_is_1000():
    assert andrei_problem("extended_rosenbrock").dim == 1000
    assert [p.dim for p in andrei_problems()] == [1000] * 44


@pytest.mark.parametrize("key,n", CASES)
def test_fun_matches_reference(key, n):
    reference = SPEC[key][1]
    problem = andrei_problem(key, n)
    for x in [_x0(key, n)] + _random_points(n):
        value = problem.fun(jnp.asarray(x))
        assert value.shape == ()
        assert value.dtype == jnp.float64
        np.testing.assert_allclose(float(value), reference(x), rtol=1e-12, atol=0,
                                   err_msg=f"{key}, n={n}, x={x.tolist()}")


@pytest.mark.parametrize("key,n", CASES)
def test_init_is_x0(key, n):
    problem = andrei_problem(key, n)
    x0 = problem.init(jax.random.PRNGKey(0))
    assert isinstance(x0, jax.Array)
    assert x0.shape == (n,)
    assert x0.dtype == jnp.asarray(0.0).dtype  # the default float dtype (float64 here)
    np.testing.assert_array_equal(np.asarray(x0), _x0(key, n))
    np.testing.assert_array_equal(np.asarray(problem.init(jax.random.PRNGKey(123))), _x0(key, n))


@pytest.mark.parametrize("key,n", OPTIMUM_CASES)
def test_optimum(key, n):
    _, reference, _, x_opt_of, f_opt_of = SPEC[key]
    problem = andrei_problem(key, n)
    x_opt, f_opt = x_opt_of(n), f_opt_of(n)
    assert isinstance(problem.x_opt, np.ndarray)
    assert problem.x_opt.dtype == np.float64
    assert problem.x_opt.shape == (n,)
    np.testing.assert_allclose(problem.x_opt, x_opt, rtol=1e-15, atol=0)
    assert isinstance(problem.f_opt, float)
    np.testing.assert_allclose(problem.f_opt, f_opt, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(reference(x_opt), f_opt, rtol=1e-12, atol=1e-12)  # the table is consistent
    np.testing.assert_allclose(float(problem.fun(jnp.asarray(x_opt))), f_opt, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("key,n", GRADIENT_CASES)
def test_gradient_vanishes_at_optimum(key, n):
    x_opt, f_opt = SPEC[key][3](n), SPEC[key][4](n)
    grad = np.asarray(jax.grad(andrei_problem(key, n).fun)(jnp.asarray(x_opt)))
    assert grad.shape == (n,)
    np.testing.assert_allclose(grad, 0.0, atol=1e-8 * max(1.0, abs(f_opt)))


@pytest.mark.parametrize("key", KEYS_WITHOUT_OPTIMUM)
def test_no_optimum(key):
    problem = andrei_problem(key, 8)
    assert problem.x_opt is None
    assert problem.f_opt is None


def test_unknown_key():
    with pytest.raises(ValueError, match="no_such_function"):
        andrei_problem("no_such_function", 8)


def _invalid_sizes(key):
    """Sizes that break the key's n rule: one below the smallest, and a non-multiple."""
    smallest, multiple = SPEC[key][0]
    sizes = [smallest - 1]
    if multiple == 2:
        sizes += [3, 7, 1001]
    if multiple == 4:
        sizes += [2, 6, 10, 1002]
    return sizes


@pytest.mark.parametrize("key", KEYS)
def test_invalid_n(key):
    for n in _invalid_sizes(key):
        with pytest.raises(ValueError, match=r"\bn\b"):
            andrei_problem(key, n)


@pytest.mark.parametrize("key,n", [
    ("extended_rosenbrock", 9),  # pairs
    ("extended_powell", 6),  # quads
    ("extended_wood", 6),  # quads
    ("generalized_rosenbrock", 1),  # >= 2
    ("dqdrtic", 2),  # >= 3
    ("bdqrtic", 4),  # >= 5
    ("power", 0),  # any: n >= 1
    ("power", -3),
])
def test_invalid_n_named_cases(key, n):
    with pytest.raises(ValueError, match=r"\bn\b"):
        andrei_problem(key, n)


@pytest.mark.parametrize("n", [4.0, True, "8", None])
def test_non_int_n(n):
    with pytest.raises(TypeError):
        andrei_problem("extended_rosenbrock", n)


def test_andrei_problems():
    problems = andrei_problems(1000)
    assert len(problems) == 44
    assert [p.name for p in problems] == [f"andrei/{key}" for key in KEYS]
    assert len({p.name for p in problems}) == 44
    for key, problem in zip(KEYS, problems):
        assert problem.dim == 1000
        x0 = problem.init(jax.random.PRNGKey(0))
        np.testing.assert_array_equal(np.asarray(x0), _x0(key, 1000))
        value = float(problem.fun(x0))
        assert math.isfinite(value), key


@pytest.mark.parametrize("key", KEYS)
def test_float32(key):
    n = 8
    x0 = _x0(key, n).astype(np.float32)
    value = andrei_problem(key, n).fun(jnp.asarray(x0))
    assert value.shape == ()
    assert value.dtype == jnp.float32
    # rtol 1e-4: float32 rounding, amplified by the cancellation in n - sum cos x_j (extended_trigonometric).
    np.testing.assert_allclose(float(value), SPEC[key][1](x0), rtol=1e-4)
