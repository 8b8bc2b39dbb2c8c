"""Line searches against independent references: the Moré-Thuente (1994) scalar test functions with
the strong Wolfe conditions checked here in NumPy float64 (hand-written derivatives),
scipy.optimize.line_search, a NumPy transcription of N&W Algorithm 3.1, and closed forms."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.optimize

from ml_opt.linesearch import LineSearch, LineSearchResult, backtracking, exact_quadratic, zoom

# --------------------------------------------------------------------------------------------
# Moré & Thuente, "Line search algorithms with guaranteed sufficient decrease", ACM TOMS 1994,
# section 5: six functions of alpha, each with its (mu, eta) = (c1, c2), from alpha_0 in
# {1e-3, 1e-1, 1e1, 1e3}. Each is given as (jax phi, numpy phi, numpy phi', c1, c2).
# --------------------------------------------------------------------------------------------


def _mt_gamma(b):
    return math.sqrt(1.0 + b * b) - b


def _mt_functions():
    out = {}
    b = 2.0
    out["mt1"] = (
        lambda a: -a / (a**2 + b),
        lambda a: -a / (a**2 + b),
        lambda a: (a**2 - b) / (a**2 + b) ** 2,
        1e-3,
        1e-1,
    )
    b2 = 0.004
    out["mt2"] = (
        lambda a: (a + b2) ** 5 - 2.0 * (a + b2) ** 4,
        lambda a: (a + b2) ** 5 - 2.0 * (a + b2) ** 4,
        lambda a: 5.0 * (a + b2) ** 4 - 8.0 * (a + b2) ** 3,
        0.1,
        0.1,
    )
    b3, ell = 0.01, 39.0

    def phi3_jax(a):
        phi0 = jnp.where(a <= 1 - b3, 1 - a, jnp.where(a >= 1 + b3, a - 1, (a - 1) ** 2 / (2 * b3) + b3 / 2))
        return phi0 + 2 * (1 - b3) / (ell * np.pi) * jnp.sin(ell * np.pi * a / 2)

    def phi3_np(a):
        phi0 = 1 - a if a <= 1 - b3 else (a - 1 if a >= 1 + b3 else (a - 1) ** 2 / (2 * b3) + b3 / 2)
        return phi0 + 2 * (1 - b3) / (ell * np.pi) * math.sin(ell * np.pi * a / 2)

    def dphi3_np(a):
        d0 = -1.0 if a <= 1 - b3 else (1.0 if a >= 1 + b3 else (a - 1) / b3)
        return d0 + (1 - b3) * math.cos(ell * np.pi * a / 2)

    out["mt3"] = (phi3_jax, phi3_np, dphi3_np, 0.1, 0.1)
    for name, (b1, b2_) in {"mt4": (1e-3, 1e-3), "mt5": (1e-2, 1e-3), "mt6": (1e-3, 1e-2)}.items():
        g1, g2 = _mt_gamma(b1), _mt_gamma(b2_)

        def phi(a, g1=g1, g2=g2, b1=b1, b2_=b2_, sqrt=None):
            sq = jnp.sqrt if sqrt is None else sqrt
            return g1 * sq((1 - a) ** 2 + b2_**2) + g2 * sq(a**2 + b1**2)

        def dphi(a, g1=g1, g2=g2, b1=b1, b2_=b2_):
            return g1 * (a - 1) / math.sqrt((1 - a) ** 2 + b2_**2) + g2 * a / math.sqrt(a**2 + b1**2)

        out[name] = (phi, lambda a, phi=phi: phi(a, sqrt=math.sqrt), dphi, 1e-3, 1e-3)
    return out


MT = _mt_functions()
MT_STARTS = [1e-3, 1e-1, 1e1, 1e3]
# Function evaluations Moré & Thuente report for their search (Tables 1-6), per start above.
MT_PAPER_NFEV = {
    "mt1": [6, 3, 1, 4],
    "mt2": [12, 8, 8, 11],
    "mt3": [12, 12, 10, 13],
    "mt4": [4, 1, 3, 4],
    "mt5": [6, 3, 7, 8],
    "mt6": [13, 11, 8, 11],
}


def _search_scalar(ls, phi, a0s):
    """Runs ``ls`` on phi along d = +1 from 0 for each initial step (vmapped)."""
    fun = lambda x: phi(x[0])
    x = jnp.zeros(1)
    value, grad = jax.value_and_grad(fun)(x)
    run = jax.jit(jax.vmap(lambda a0: ls.search(fun, x, jnp.ones(1), value=value, grad=grad, init_step=a0)))
    return run(jnp.asarray(a0s))


@pytest.fixture(scope="module")
def zoom_on_mt():
    """zoom on each Moré-Thuente function from each start: {name: LineSearchResult (batched)}."""
    return {name: _search_scalar(zoom(c1=c1, c2=c2), phi_jax, MT_STARTS)
            for name, (phi_jax, _, _, c1, c2) in MT.items()}


@pytest.mark.parametrize("name", sorted(MT))
def test_zoom_more_thuente_strong_wolfe(name, zoom_on_mt):
    _, phi_np, dphi_np, c1, c2 = MT[name]
    res = zoom_on_mt[name]
    phi0, dphi0 = phi_np(0.0), dphi_np(0.0)
    assert dphi0 < 0
    for i, a0 in enumerate(MT_STARTS):
        a = float(res.step[i])
        assert bool(res.success[i]), (name, a0)
        assert a > 0
        # Strong Wolfe, checked with the closed-form derivatives in float64.
        assert phi_np(a) <= phi0 + c1 * a * dphi0, (name, a0, a)
        assert abs(dphi_np(a)) <= c2 * abs(dphi0), (name, a0, a, dphi_np(a))
        np.testing.assert_allclose(float(res.value[i]), phi_np(a), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(float(res.grad[i][0]), dphi_np(a), rtol=1e-8, atol=1e-14)
        # Never more than twice the evaluations of Moré & Thuente's own search (the MGH target).
        assert int(res.num_fun_evals[i]) <= 2 * MT_PAPER_NFEV[name][i], (name, a0, int(res.num_fun_evals[i]))
        assert int(res.num_grad_evals[i]) == int(res.num_fun_evals[i])


def test_zoom_needs_no_more_evaluations_than_more_thuente_in_the_median(zoom_on_mt):
    ratios = [int(zoom_on_mt[name].num_fun_evals[i]) / MT_PAPER_NFEV[name][i]
              for name in MT for i in range(len(MT_STARTS))]
    assert np.median(ratios) <= 1.0, sorted(ratios)


# --------------------------------------------------------------------------------------------
# Against scipy.optimize.line_search (same c1, c2)
# --------------------------------------------------------------------------------------------


def _rosenbrock(x):
    return jnp.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)


def _rosen_np(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2))


def _rosen_grad_np(x):
    g = np.zeros_like(x)
    r = x[1:] - x[:-1] ** 2
    g[:-1] += -400.0 * x[:-1] * r - 2.0 * (1.0 - x[:-1])
    g[1:] += 200.0 * r
    return g


def _rosen_hess_np(x):
    n = x.size
    H = np.zeros((n, n))
    i = np.arange(n - 1)
    H[i, i] += 1200.0 * x[:-1] ** 2 - 400.0 * x[1:] + 2.0
    H[i + 1, i + 1] += 200.0
    H[i, i + 1] = H[i + 1, i] = -400.0 * x[:-1]
    return H


def _scipy_search(f, g, x, d, c1, c2, init_step):
    """scipy.optimize.line_search from ``init_step`` (NumPy f and gradient)."""
    f0, g0 = f(x), g(x)
    slope = float(g0 @ d)
    # scipy's first trial is min(1, 1.01 * 2 (f0 - f_old) / slope): choose f_old to make it init_step.
    old = None if init_step >= 1 else f0 - init_step * slope / (2 * 1.01)
    return scipy.optimize.line_search(f, g, x, d, g0, f0, old, c1=c1, c2=c2)


def test_zoom_agrees_with_scipy_on_quadratics():
    """On a quadratic the exact minimiser along d is a Wolfe point both interpolations hit exactly."""
    rng = np.random.default_rng(0)
    n = 5
    m = rng.normal(size=(n, n))
    A = m @ m.T + n * np.eye(n)
    b = rng.normal(size=n)
    fun = lambda x: 0.5 * x @ jnp.asarray(A) @ x - jnp.asarray(b) @ x
    f_np = lambda x: float(0.5 * x @ A @ x - b @ x)
    g_np = lambda x: A @ x - b
    search = jax.jit(lambda x, d, a0, c2: zoom(c2=c2).search(fun, x, d, value=fun(x), grad=jax.grad(fun)(x), init_step=a0))
    checked = 0
    for trial in range(12):
        x = rng.normal(size=n) * 3
        g = A @ x - b
        d = -g if trial % 3 else -rng.uniform(0.1, 2) * g / np.linalg.norm(g)
        exact = -(g @ d) / (d @ A @ d)
        for c2 in (0.1, 0.9):
            for a0 in (0.02 * exact, 0.6 * exact, 1.0, 7.0 * exact):
                a0 = min(a0, 1.0)  # scipy cannot start above 1
                ours = search(jnp.asarray(x), jnp.asarray(d), a0, c2)
                theirs = _scipy_search(f_np, g_np, x, d, 1e-4, c2, a0)
                if theirs[0] is None or not bool(ours.success):
                    continue
                # Both return a Wolfe point; where scipy lands on the exact minimiser, so must we.
                if abs(theirs[0] - exact) <= 1e-10 * exact:
                    np.testing.assert_allclose(float(ours.step), theirs[0], rtol=1e-9)
                    checked += 1
    assert checked >= 20


def test_zoom_agrees_with_scipy_when_first_trial_accepted_and_both_wolfe():
    """Away from quadratics the two safeguarded interpolations may pick different Wolfe points;
    both must satisfy strong Wolfe, and where the unit step is accepted by scipy it is by us."""
    rng = np.random.default_rng(1)
    fun = _rosenbrock
    search = jax.jit(
        lambda x, d, a0: zoom(c1=1e-4, c2=0.9).search(fun, x, d, value=fun(x), grad=jax.grad(fun)(x), init_step=a0)
    )
    same = 0
    for _ in range(40):
        x = rng.normal(size=4)
        g = _rosen_grad_np(x)
        # A quasi-Newton-like direction: a regularised Newton step (often acceptable at alpha = 1).
        w, V = np.linalg.eigh(_rosen_hess_np(x))
        d = -V @ ((V.T @ g) / np.maximum(np.abs(w), 1.0))
        ours = search(jnp.asarray(x), jnp.asarray(d), 1.0)
        theirs = _scipy_search(_rosen_np, _rosen_grad_np, x, d, 1e-4, 0.9, 1.0)
        if theirs[0] is None or not bool(ours.success):
            continue
        # Both steps satisfy the strong Wolfe conditions (checked here, independently of either).
        f0, slope = _rosen_np(x), float(g @ d)
        for a in (float(ours.step), theirs[0]):
            assert _rosen_np(x + a * d) <= f0 + 1e-4 * a * slope + 1e-12
            assert abs(float(_rosen_grad_np(x + a * d) @ d)) <= 0.9 * abs(slope) + 1e-12
        # When scipy accepted its first trial (one function evaluation), the unit step is a Wolfe
        # point and we must accept it too.
        if theirs[1] == 1:
            assert float(ours.step) == 1.0 and int(ours.num_fun_evals) == 1
            same += 1
    assert same >= 5


# --------------------------------------------------------------------------------------------
# Failure: best point seen, success=False, no NaN
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ls", [zoom(), backtracking(), exact_quadratic()], ids=lambda l: l.name)
def test_ascent_direction_fails_without_moving(ls):
    fun = _rosenbrock
    x = jnp.array([-1.2, 1.0])
    value, grad = jax.value_and_grad(fun)(x)
    res = jax.jit(lambda: ls.search(fun, x, grad, value=value, grad=grad, init_step=1.0))()
    assert not bool(res.success)
    assert float(res.step) == 0.0
    assert float(res.value) == float(value)
    np.testing.assert_array_equal(np.asarray(res.grad), np.asarray(grad))
    if ls.name != "exact_quadratic":
        assert int(res.num_fun_evals) == 0


def test_zoom_no_wolfe_point_returns_best_sufficient_decrease_point():
    """phi(a) = -a: sufficient decrease always holds, the curvature condition never does."""
    fun = lambda x: -jnp.sum(x)
    x = jnp.zeros(1)
    value, grad = jax.value_and_grad(fun)(x)
    res = zoom(max_steps=7).search(fun, x, jnp.ones(1), value=value, grad=grad, init_step=1.0)
    assert not bool(res.success)
    assert int(res.num_fun_evals) == 7
    assert float(res.step) > 1.0  # extrapolated: the best (lowest) point seen is the last one
    np.testing.assert_allclose(float(res.value), -float(res.step))


def test_zoom_failing_returns_a_lower_trial_that_misses_sufficient_decrease():
    """phi(a) = -a + 0.75 a^2 with c1 = 0.9 and one trial: phi(1) = -0.25 is 25% of the linear
    prediction, so the search fails, but it returns that lower point. Scaled by 1e-15 around 1, the
    same decrease is within f's rounding noise (100 ulps), and the search does not move."""
    ls = zoom(c1=0.9, max_steps=1)
    seen, res = _trials(ls, lambda a: -a + 0.75 * a**2, 1.0)
    assert seen == [1.0] and not bool(res.success)
    assert float(res.step) == 1.0 and float(res.value) == -0.25 and float(res.grad[0]) == 0.5
    seen, res = _trials(ls, lambda a: 1.0 + 1e-15 * (-a + 0.75 * a**2), 1.0)
    assert seen == [1.0] and not bool(res.success) and float(res.step) == 0.0 and float(res.value) == 1.0


def _trials(ls, phi, init_step, **guess):
    """The steps at which ``ls`` evaluates phi along d = +1 from 0, in order (recorded by callback)."""
    seen = []

    def fun(x):
        jax.debug.callback(lambda v: seen.append(float(v[0])), x, ordered=True)
        return phi(x[0])

    x = jnp.zeros(1)
    value, grad = jax.value_and_grad(lambda x: phi(x[0]))(x)
    res = ls.search(fun, x, jnp.ones(1), value=value, grad=grad, init_step=init_step, **guess)
    jax.block_until_ready(res)
    return seen, res


def _interpolant_minimisers_on_unit_interval(f0, d0, f1, d1):
    """NumPy float64 transcription of N&W eq. 3.59 (the cubic through f and f' at 0 and 1) and eq.
    3.57 (the quadratic through f(0), f'(0), f(1)): their minimisers (a_c, a_q)."""
    e1 = d0 + d1 - 3.0 * (f0 - f1) / (0.0 - 1.0)
    e2 = math.sqrt(e1 * e1 - d0 * d1)
    a_c = 1.0 - (d1 + e2 - e1) / (d1 - d0 + 2.0 * e2)
    a_q = -d0 / (2.0 * (f1 - f0 - d0))
    return a_c, a_q


def test_zoom_from_a_short_guess_tries_the_natural_step_next():
    """phi(a) = -a + a^2 / 2, minimum at a = 1 (a Newton step's natural length). From the guess 1e-3
    the slope is still -0.999: the next trial is init_step = 1, where the search ends. From 1e-3
    given as init_step instead, zoom extrapolates within its bounds (at most 5 times the step)."""
    phi = lambda a: -a + 0.5 * a**2
    seen, res = _trials(zoom(), phi, 1.0, guess=1e-3)
    assert seen == [1e-3, 1.0] and float(res.step) == 1.0 and bool(res.success)
    seen, _ = _trials(zoom(), phi, 1e-3)
    assert seen[0] == 1e-3 and 1.1 * 2e-3 <= seen[1] <= 5e-3 + 1e-15


def test_zoom_from_a_guess_that_is_accepted_stops_there():
    """phi(a) = -a + a^2 / 2 with c2 = 0.9: the guess 0.5 meets both Wolfe conditions
    (phi'(0.5) = -0.5, |-0.5| <= 0.9): one evaluation, step 0.5."""
    seen, res = _trials(zoom(), lambda a: -a + 0.5 * a**2, 1.0, guess=0.5)
    assert seen == [0.5] and float(res.step) == 0.5 and int(res.num_fun_evals) == 1


@pytest.mark.parametrize("guess", [2.0, 0.0, -1.0, float("nan"), float("inf")])
def test_zoom_ignores_a_guess_that_is_not_shorter_and_positive(guess):
    phi = lambda a: -a + 0.5 * a**2
    assert _trials(zoom(), phi, 1.0, guess=jnp.asarray(guess))[0] == _trials(zoom(), phi, 1.0)[0] == [1.0]


@pytest.mark.parametrize("ls", [backtracking(), exact_quadratic("secant")], ids=["backtracking", "exact_quadratic"])
def test_searches_that_cannot_lengthen_a_step_ignore_the_guess(ls):
    phi = lambda a: -a + 0.25 * a**2
    with_guess, res = _trials(ls, phi, 1.0, guess=1e-3)
    without, ref = _trials(ls, phi, 1.0)
    assert with_guess == without and float(res.step) == float(ref.step)


@pytest.mark.parametrize("init_step", [0.55, 0.45, 0.3, 0.1])
def test_zoom_extrapolates_as_more_thuente_dcsrch_on_a_quadratic(init_step):
    """phi(a) = (a - 1)^2 with c2 = 0.4, from a first trial too short and too steep: the trials
    are scipy's Moré-Thuente search's (``scalar_search_wolfe1``, MINPACK-2's dcsrch). After the
    first trial the next is the minimiser a = 1 wherever it lies up to 5 times the trial (0.55:
    inside 2.1 times the trial, where the lower bound of later extrapolations would have forced
    1.155, an overshoot that meets strong Wolfe and would be accepted); from 0.1 it is clipped to
    0.5, and the extrapolation after that reaches 1."""
    from scipy.optimize._linesearch import scalar_search_wolfe1

    phi = lambda a: (a - 1.0) ** 2
    theirs = []
    # scipy's first trial is 1.01 * 2 (phi(0) - old_phi0) / phi'(0): old_phi0 chosen to give init_step.
    step, _, _ = scalar_search_wolfe1(lambda a: theirs.append(float(a)) or phi(a), lambda a: 2.0 * (a - 1.0),
                                      1.0, 1.0 + init_step / 1.01, -2.0, c1=1e-4, c2=0.4)
    ours, res = _trials(zoom(c2=0.4), phi, init_step)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert bool(res.success) and int(res.num_fun_evals) == len(theirs)
    np.testing.assert_allclose(float(res.step), step, rtol=1e-12)


@pytest.mark.parametrize("interpolation", ["more_thuente", "cubic"])
def test_zoom_trial_after_an_overshoot(interpolation):
    """phi(a) = -a + 10 a^6: the unit step overshoots (phi(1) = 9 > phi(0)). The next trial, from a
    NumPy float64 transcription of N&W eqs. 3.59 (cubic a_c) and 3.57 (quadratic a_q) on [0, 1]:
    "cubic" takes a_c; "more_thuente" (Moré & Thuente's case 1) a_c if it is closer to 0 than a_q,
    else (a_c + a_q) / 2, the case here."""
    phi = lambda a: -a + 10.0 * a**6
    d0 = -1.0
    a_c, a_q = _interpolant_minimisers_on_unit_interval(0.0, d0, 9.0, 59.0)
    assert abs(a_c) >= abs(a_q)  # the case where the two rules differ
    expected = 0.5 * (a_c + a_q) if interpolation == "more_thuente" else a_c
    seen, res = _trials(zoom(interpolation=interpolation), phi, 1.0)
    assert seen[0] == 1.0
    np.testing.assert_allclose(seen[1], expected, rtol=1e-14)
    a = float(res.step)  # and the search still ends at a strong Wolfe point
    assert bool(res.success)
    assert phi(a) <= 1e-4 * a * d0 and abs(-1.0 + 60.0 * a**5) <= 0.9


@pytest.mark.parametrize("interpolation", ["more_thuente", "cubic"])
def test_zoom_takes_a_quadratics_minimiser_inside_the_margin(interpolation):
    """phi(a) = -a + 200 a^2, minimised at a* = 1/400, a quarter of the 1% margin of [0, 1]: after
    the overshooting unit step the cubic and the quadratic agree (phi is quadratic), and the next
    trial is a* itself, a Wolfe point, not the margin's 0.01."""
    phi = lambda a: -a + 200.0 * a**2
    seen, res = _trials(zoom(interpolation=interpolation), phi, 1.0)
    assert seen[0] == 1.0
    np.testing.assert_allclose(seen[1:], [1.0 / 400.0], rtol=1e-12)
    assert bool(res.success) and int(res.num_fun_evals) == 2


@pytest.mark.parametrize("interpolation", ["more_thuente", "cubic"])
def test_zoom_keeps_the_margin_when_the_interpolants_disagree(interpolation):
    """phi(a) = -a + 100 a^2 + 1e4 a^3: after the unit step both interpolants' minimisers (NumPy
    float64, N&W eqs. 3.59 and 3.57 on [0, 1]) lie below the 1% margin and differ far more than
    sqrt(eps) relative to the step: the next trial is the margin's 0.01."""
    phi = lambda a: -a + 100.0 * a**2 + 1e4 * a**3
    a_c, a_q = _interpolant_minimisers_on_unit_interval(0.0, -1.0, 10099.0, 30199.0)
    assert max(a_c, a_q) < 0.01 and abs(a_c - a_q) > 0.5 * a_q
    seen, _ = _trials(zoom(interpolation=interpolation), phi, 1.0)
    assert seen[:2] == [1.0, 0.01]


def test_zoom_resolves_steps_on_a_badly_scaled_coordinate():
    # x = (1e6, 2e-6 + 1e-11) and f = ((x_2 - 2e-6) / 1e-11)^2 (as near the minimiser (1e6, 2e-6) of
    # MGH's brown_badly_scaled): along -grad f = (0, -2e11) the exact minimiser is at step
    # 1e-11 / 2e11 = 5e-23, far below eps ||x||_inf / ||d||_inf = 1.1e-21, a step that moves x_2
    # though it could not move x_1. The search must find it (f is a quadratic along d: the
    # interpolation lands on it), not stop for floating-point resolution.
    def fun(x):
        return ((x[1] - 2e-6) / 1e-11) ** 2 + 0.0 * x[0]

    x = jnp.array([1e6, 2e-6 + 1e-11])
    g = jax.grad(fun)(x)
    res = zoom().search(fun, x, -g, value=fun(x), grad=g, init_step=1.0)
    assert bool(res.success)
    np.testing.assert_allclose(float(res.step), 1e-11 / float(2 * 1e-11 / 1e-11 ** 2), rtol=1e-6)
    assert float(res.value) <= 1e-10


def test_zoom_lengthens_a_first_trial_that_moves_no_coordinate():
    # f = (x - 2)^2 from x = 1 along d = -f'(1) = 2: a first trial of 1e-20 gives 1 + 2e-20 = 1 in
    # float64, the same point, which says nothing about f along d. The search must start instead
    # from a step that moves x, and end at a strong Wolfe point (checked in NumPy; the exact
    # minimiser is at step 0.5).
    c1, c2 = 1e-4, 0.9
    fun = lambda x: jnp.sum((x - 2.0) ** 2)
    x = jnp.ones(1)
    value, g = jax.value_and_grad(fun)(x)
    res = zoom(c1=c1, c2=c2).search(fun, x, -g, value=value, grad=g, init_step=1e-20)
    assert bool(res.success)
    t = float(res.step)
    phi, dphi = (lambda t: (2.0 * t - 1.0) ** 2), (lambda t: 4.0 * (2.0 * t - 1.0))
    assert phi(t) <= phi(0.0) + c1 * t * dphi(0.0)
    assert abs(dphi(t)) <= c2 * abs(dphi(0.0))


def test_zoom_nonfinite_region_steps_back_and_never_returns_nan():
    """f = -x for x < 2 and NaN beyond: no Wolfe point anywhere; the search must not return NaN."""
    fun = lambda x: jnp.where(x[0] < 2.0, -x[0], jnp.nan)
    x = jnp.zeros(1)
    value, grad = jax.value_and_grad(fun)(x)
    res = zoom().search(fun, x, jnp.ones(1), value=value, grad=grad, init_step=10.0)
    assert not bool(res.success)
    assert 0.0 < float(res.step) < 2.0
    assert np.isfinite(float(res.value)) and np.all(np.isfinite(np.asarray(res.grad)))
    assert int(res.num_fun_evals) <= 30


def test_backtracking_failure_returns_step_zero():
    """A function that rises immediately in every representable step: no sufficient decrease."""
    fun = lambda x: jnp.abs(x[0] - 1e-30) * 1e3 + 0.0 * x[0]  # kink at ~0: slope -1e3, then +1e3
    x = jnp.zeros(1)
    value, grad = jax.value_and_grad(fun)(x)
    res = backtracking(max_steps=5).search(fun, x, jnp.ones(1), value=value, grad=grad, init_step=1.0)
    assert not bool(res.success)
    assert float(res.step) == 0.0 and float(res.value) == float(value)
    assert int(res.num_fun_evals) == 5 and int(res.num_grad_evals) == 0


# --------------------------------------------------------------------------------------------
# Backtracking: N&W Algorithm 3.1 transcribed in NumPy
# --------------------------------------------------------------------------------------------


def _armijo_reference(f, x, d, g, alpha, c1, rho, max_steps):
    """N&W Algorithm 3.1 in NumPy float64: returns (alpha, evaluations) or (0, evaluations)."""
    f0 = f(x)
    for k in range(1, max_steps + 1):
        if f(x + alpha * d) <= f0 + c1 * alpha * (g @ d):
            return alpha, k
        alpha *= rho
    return 0.0, max_steps


@pytest.mark.parametrize("c1,rho", [(1e-4, 0.5), (0.3, 0.7), (0.1, 0.1)])
def test_backtracking_matches_algorithm_3_1(c1, rho):
    rng = np.random.default_rng(2)
    f_np = _rosen_np
    ls = backtracking(c1=c1, shrink=rho)
    run = jax.jit(lambda x, d, a0: ls.search(_rosenbrock, x, d, value=_rosenbrock(x), grad=jax.grad(_rosenbrock)(x), init_step=a0))
    for _ in range(10):
        x = rng.normal(size=3)
        g = _rosen_grad_np(x)
        d = -g
        a0 = float(rng.choice([1.0, 0.1, 1e-3]))
        ref_alpha, ref_evals = _armijo_reference(f_np, x, d, g, a0, c1, rho, 30)
        res = run(jnp.asarray(x), jnp.asarray(d), a0)
        np.testing.assert_allclose(float(res.step), ref_alpha, rtol=1e-14)
        assert int(res.num_fun_evals) == ref_evals
        np.testing.assert_allclose(float(res.value), f_np(x + ref_alpha * d), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(res.grad), _rosen_grad_np(x + ref_alpha * d), rtol=1e-10)


# --------------------------------------------------------------------------------------------
# exact_quadratic: the closed form
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("curvature", ["hvp", "secant"])
def test_exact_quadratic_closed_form(curvature):
    rng = np.random.default_rng(3)
    n = 6
    m = rng.normal(size=(n, n))
    A = m @ m.T + np.eye(n)
    b = rng.normal(size=n)
    fun = lambda x: 0.5 * x @ jnp.asarray(A) @ x - jnp.asarray(b) @ x
    x = rng.normal(size=n)
    g = A @ x - b
    d = -g + 0.3 * rng.normal(size=n)
    assert g @ d < 0
    res = exact_quadratic(curvature).search(fun, jnp.asarray(x), jnp.asarray(d), value=fun(x), grad=jnp.asarray(g), init_step=0.37)
    alpha = -(g @ d) / (d @ A @ d)
    np.testing.assert_allclose(float(res.step), alpha, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(res.grad) @ d, 0.0, atol=1e-10)  # exact: slope zero
    assert bool(res.success)
    assert int(res.num_hvp_evals) == (1 if curvature == "hvp" else 0)


def test_exact_quadratic_negative_curvature_does_not_move():
    fun = lambda x: -jnp.sum(x**2) + x[0]
    x = jnp.array([1.0, 0.0])
    value, grad = jax.value_and_grad(fun)(x)
    res = exact_quadratic().search(fun, x, -grad, value=value, grad=grad)
    assert not bool(res.success) and float(res.step) == 0.0 and float(res.value) == float(value)


# --------------------------------------------------------------------------------------------
# Pytrees, dtypes, traced hyperparameters, bad input
# --------------------------------------------------------------------------------------------


def test_pytree_params_and_float32():
    params = {"w": jnp.array([[1.0, -2.0]], jnp.float32), "b": jnp.array(0.5, jnp.float32)}
    fun = lambda p: jnp.sum((p["w"] - 1.0) ** 2) + 3.0 * p["b"] ** 2
    value, grad = jax.value_and_grad(fun)(params)
    d = jax.tree.map(lambda g: -g, grad)
    for ls in (zoom(), backtracking(), exact_quadratic()):
        res = jax.jit(lambda p, d: ls.search(fun, p, d, value=value, grad=grad, init_step=1.0))(params, d)
        assert res.step.dtype == jnp.float32 and res.value.dtype == jnp.float32
        assert jax.tree.map(lambda a: a.dtype, res.grad) == jax.tree.map(lambda a: a.dtype, params)
        assert bool(res.success) and float(res.value) < float(value)


def test_vmap_over_traced_hyperparameters():
    phi_jax, phi_np, dphi_np, _, _ = MT["mt1"]
    fun = lambda x: phi_jax(x[0])
    x = jnp.zeros(1)
    value, grad = jax.value_and_grad(fun)(x)

    def run(c1, c2, max_steps):
        return zoom(c1=c1, c2=c2, max_steps=max_steps).search(fun, x, jnp.ones(1), value=value, grad=grad, init_step=1e-3)

    c2s = jnp.array([0.9, 0.5, 0.1, 0.01])
    res = jax.jit(jax.vmap(run, in_axes=(None, 0, None)))(1e-3, c2s, 30)
    for i, c2 in enumerate(np.asarray(c2s)):
        a = float(res.step[i])
        assert bool(res.success[i])
        assert abs(dphi_np(a)) <= c2 * abs(dphi_np(0.0))
    # A traced max_steps bounds the evaluations.
    res = jax.jit(run)(1e-3, 0.01, jnp.int32(2))
    assert int(res.num_fun_evals) == 2 and not bool(res.success)


@pytest.mark.parametrize(
    "make,match",
    [
        (lambda: zoom(c1=0.0), "c1"),
        (lambda: zoom(c1=0.5, c2=0.1), "c1 <= c2"),
        (lambda: zoom(c2=1.0), "c2"),
        (lambda: zoom(max_steps=0), "max_steps"),
        (lambda: zoom(max_steps=2.5), "max_steps"),
        (lambda: backtracking(shrink=1.0), "shrink"),
        (lambda: backtracking(c1=float("nan")), "c1"),
        (lambda: exact_quadratic("newton"), "curvature"),
        (lambda: zoom(interpolation="quintic"), "interpolation"),
    ],
)
def test_bad_hyperparameters_raise_naming_them(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()


@pytest.mark.parametrize("ls", [zoom(), backtracking(), exact_quadratic()], ids=lambda ls: ls.name)
@pytest.mark.parametrize("init_step", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_initial_step_given_as_a_number_raises_naming_it(ls, init_step):
    x = jnp.array([-1.2, 1.0])
    g = jax.grad(_rosenbrock)(x)
    with pytest.raises(ValueError, match="init_step"):
        ls.search(_rosenbrock, x, -g, value=_rosenbrock(x), grad=g, init_step=init_step)


def test_bad_initial_step_computed_as_an_array_is_replaced_by_one():
    """A solver's estimate (an array, traced or not) that is not a positive number: the search starts at 1."""
    fun = lambda x: jnp.sum((x - 1.0) ** 2)
    x = jnp.zeros(2)
    g = jax.grad(fun)(x)
    for a0 in (jnp.asarray(0.0), jnp.asarray(jnp.nan), jnp.asarray(-2.0)):
        res = backtracking().search(fun, x, -g, value=fun(x), grad=g, init_step=a0)
        assert float(res.step) == 0.5 and int(res.num_fun_evals) == 2  # 1 rejected (f(x - g) = f(x)), then 1/2


def test_types():
    ls = zoom()
    assert isinstance(ls, LineSearch) and ls.name == "zoom"
    hash(ls)  # usable inside static arguments
    res = ls.search(_rosenbrock, jnp.array([-1.2, 1.0]), jnp.array([1.0, 0.0]), value=_rosenbrock(jnp.array([-1.2, 1.0])),
                    grad=jax.grad(_rosenbrock)(jnp.array([-1.2, 1.0])))
    assert isinstance(res, LineSearchResult)
