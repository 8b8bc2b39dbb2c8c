"""ML losses on scikit-learn's bundled data sets, as :class:`~ml_opt.problems.base.Problem` values.

Three data sets that ship inside scikit-learn (no download): diabetes (442 x 10, regression),
breast cancer (569 x 30, binary) and digits (1797 x 64, 10 classes).

============================================  =======  ===========================================
factory                                       convex   f_opt
============================================  =======  ===========================================
:func:`diabetes_least_squares` (ridge >= 0)   yes      closed form (least squares, lstsq)
:func:`breast_cancer_logistic` (l2 > 0)       yes      Newton's method in float64 (reference)
:func:`digits_softmax` (l2 > 0)               yes      Newton's method in float64 (reference)
============================================  =======  ===========================================

Preprocessing, the same for all three:

* **Split**: a fixed, seeded permutation, ``numpy.random.RandomState(seed).permutation(n)``
  (the legacy generator, whose stream NumPy keeps stable); the first ``round(test_fraction * n)``
  examples are the test split, the rest the training split. ``seed=0``, ``test_fraction=0.2``
  by default. Not stratified.
* **Standardisation**: every feature is centred and divided by its standard deviation
  (population, ddof=0), both computed on the training split only and applied to both splits.
  A feature that is constant on the training split (a few digits pixels) is only centred.
* Labels: diabetes' target is standardised the same way (training mean and std), so the losses
  are O(1); breast cancer's are 0/1 (1 = benign, scikit-learn's coding); digits' are int32 0..9.

The L2 weight ``l2`` multiplies ``0.5 ||w||^2`` and is added to the *mean* loss; the intercept
is not penalised. scikit-learn's ``LogisticRegression`` minimises ``C sum_i loss_i + 0.5 ||w||^2``
(intercept unpenalised for the lbfgs/newton solvers), i.e. ``C m`` times ours, so the two have
the same minimiser when

    ``C = 1 / (l2 * m)``,   ``m`` = the number of training examples,

and ``l2 = 0`` corresponds to ``C = inf``.

All the conventions of :mod:`ml_opt.problems.seeds` hold (params dicts in the default float
dtype, ``fun == batch_loss(params, train_data)``, ``fun == 0.5 * sum(residuals**2)``).

References:
    B. Efron, T. Hastie, I. Johnstone, R. Tibshirani, "Least angle regression", 2004 (diabetes).
    W. N. Street, W. H. Wolberg, O. L. Mangasarian, "Nuclear feature extraction for breast tumor
    diagnosis", 1993 (Wisconsin diagnostic breast cancer).
    E. Alpaydin, C. Kaynak, "Optical recognition of handwritten digits", UCI, 1998 (digits).
"""

from __future__ import annotations

import numpy as np

from ml_opt.problems.base import Problem
from ml_opt.problems.seeds import (
    _check_nonnegative,
    _least_squares_problem,
    _logistic_problem,
    _softmax_problem,
    _standardize,
)

__all__ = [
    "load_split",
    "diabetes_least_squares",
    "breast_cancer_logistic",
    "digits_softmax",
    "dataset_problems",
]

_DATASETS = ("diabetes", "breast_cancer", "digits")


def load_split(
        name: str, *, test_fraction: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One of scikit-learn's bundled data sets, split and standardised as the problems use it.

    Args:
        name: ``"diabetes"``, ``"breast_cancer"`` or ``"digits"``.
        test_fraction: fraction of the examples held out for the test split, in (0, 1).
        seed: seed of the split permutation.

    Returns:
        ``(x_train, y_train, x_test, y_test)`` as float64 NumPy arrays (int64 labels for the
        classifiers), standardised as described in the module docstring.
    """
    if name not in _DATASETS:
        raise ValueError(f"name must be one of {_DATASETS}, got {name!r}")
    if not 0.0 < float(test_fraction) < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    try:
        import sklearn.datasets
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
                "ml_opt.problems.datasets needs scikit-learn (pip install 'ml_opt[bench]')"
        ) from e
    loader = getattr(sklearn.datasets, f"load_{name}")
    x, y = loader(return_X_y=True)
    x = np.asarray(x, np.float64)
    order = np.random.RandomState(seed).permutation(len(y))
    n_test = int(round(test_fraction * len(y)))
    test, train = order[:n_test], order[n_test:]
    x_train, x_test = _standardize(x[train], x[test])
    if name == "diabetes":
        y_train, y_test = _standardize(np.asarray(y[train], np.float64), np.asarray(y[test], np.float64))
    else:
        y_train, y_test = np.asarray(y[train]), np.asarray(y[test])
    return x_train, y_train, x_test, y_test


def diabetes_least_squares(ridge: float = 0.0, *, test_fraction: float = 0.2, seed: int = 0) -> Problem:
    r"""Linear least squares (ridge regression when ``ridge > 0``) on the diabetes data set.

    .. math::
        L(w, b) = \frac{1}{2m} \|X w + b - y\|^2 + \frac{\mathrm{ridge}}{2} \|w\|^2

    with X the 10 standardised features and y the standardised disease progression (training
    statistics). Convex (strongly, with ``ridge > 0``, and already without: X has full column
    rank). ``f_opt`` and ``x_opt`` in closed form (the normal equations, solved stably by
    ``numpy.linalg.lstsq`` on the stacked system). ``residuals = [(Xw + b - y) / sqrt(m),
    sqrt(ridge) w]`` (the second block only with ``ridge > 0``): ``fun == 0.5 * sum(residuals**2)``.
    ``init``: zeros. Params ``{"w": (10,), "b": ()}``. No ``accuracy`` (a regression).

    Args:
        ridge: the L2 weight on ``w``; >= 0.
        test_fraction, seed: the split (see :func:`load_split`).

    Returns:
        A :class:`Problem` named ``"diabetes/least_squares"`` or ``"diabetes/ridge_{ridge:g}"``.

    Example:
        >>> p = diabetes_least_squares(ridge=0.1)
        >>> p.dim
        11
    """
    ridge = _check_nonnegative(ridge, "ridge")
    x_train, y_train, x_test, y_test = load_split("diabetes", test_fraction=test_fraction, seed=seed)
    kind = "least squares" if ridge == 0 else f"ridge regression (ridge = {ridge:g})"
    return _least_squares_problem(
            name="diabetes/least_squares" if ridge == 0 else f"diabetes/ridge_{ridge:g}",
            x_train=x_train,
            y_train=y_train,
            test=(x_test, y_test),
            ridge=ridge,
            source=(
                    f"scikit-learn load_diabetes: {kind}, features and target standardised on the "
                    f"training split (seeded split {seed}, test fraction {test_fraction:g}); "
                    "fun = 1/(2m)||Xw+b-y||^2 + ridge/2||w||^2 = 0.5 * sum(residuals**2); "
                    "f_opt closed form"
            ),
            tags=frozenset({"ml", "convex", "least_squares", "regression", "diabetes"}),
    )


def breast_cancer_logistic(l2: float = 1e-3, *, test_fraction: float = 0.2, seed: int = 0) -> Problem:
    r"""L2-regularised logistic regression (binary cross-entropy) on the breast-cancer data set.

    .. math::
        J(w, b) = \frac{1}{m} \sum_{i=1}^m \big[\log(1 + e^{z_i}) - y_i z_i\big]
                  + \frac{l_2}{2} \|w\|^2, \qquad z_i = w^\top x_i + b,

    30 standardised features, ``y = 1`` for benign. Strongly convex in ``w`` for ``l2 > 0``;
    the training split is linearly separable (no minimiser without L2), so ``l2 = 0`` is refused. ``f_opt`` and ``x_opt`` from
    Newton's method in float64, run to rounding level; the same minimiser as scikit-learn's
    ``LogisticRegression(C=1 / (l2 * m))`` with m = 455 training examples (C = 2.198 for the
    default l2 = 1e-3). ``init``: zeros. ``accuracy``: ``z > 0`` predicts 1.

    Args:
        l2: the L2 weight on ``w``; > 0.
        test_fraction, seed: the split (see :func:`load_split`).

    Returns:
        A :class:`Problem` named ``"breast_cancer/logistic_l2_{l2:g}"``.
    """
    l2 = _check_nonnegative(l2, "l2")
    if l2 == 0:
        raise ValueError("l2 must be > 0 (the training split is linearly separable: no minimiser)")
    x_train, y_train, x_test, y_test = load_split("breast_cancer", test_fraction=test_fraction, seed=seed)
    m = len(y_train)
    return _logistic_problem(
            name=f"breast_cancer/logistic_l2_{l2:g}",
            x_train=x_train,
            y_train=y_train.astype(np.float64),
            test=(x_test, y_test.astype(np.float64)),
            l2=l2,
            source=(
                    "scikit-learn load_breast_cancer: logistic regression (BCE) + l2/2 ||w||^2, "
                    f"l2 = {l2:g}, features standardised on the training split (seeded split {seed}, "
                    f"test fraction {test_fraction:g}, m = {m}); f_opt by Newton (float64); "
                    f"sklearn LogisticRegression C = 1/(l2 m) = {1.0 / (l2 * m):.6g}"
            ),
            tags=frozenset({"ml", "convex", "classification", "breast_cancer"}),
    )


def digits_softmax(l2: float = 1e-3, *, test_fraction: float = 0.2, seed: int = 0) -> Problem:
    r"""L2-regularised softmax regression (categorical cross-entropy) on the digits data set.

    .. math::
        J(W, b) = \frac{1}{m} \sum_{i=1}^m \big[\mathrm{logsumexp}(z_i) - z_{i, y_i}\big]
                  + \frac{l_2}{2} \|W\|_F^2, \qquad z_i = W^\top x_i + b \in \mathbb{R}^{10},

    64 standardised pixels (8 x 8 images), params ``{"w": (64, 10), "b": (10,)}``, 650 in all.
    Convex; strongly convex in W for ``l2 > 0``, while ``b`` is determined only up to a common
    shift (the softmax is shift-invariant): ``x_opt`` has ``sum(b) = 0``. ``f_opt`` and ``x_opt``
    from Newton's method in float64; the same minimiser as scikit-learn's multinomial
    ``LogisticRegression(C=1 / (l2 * m))`` with m = 1438 training examples. ``init``: zeros.
    ``accuracy``: argmax of the scores.

    Args:
        l2: the L2 weight on ``W``; > 0 (the training digits are separable).
        test_fraction, seed: the split (see :func:`load_split`).

    Returns:
        A :class:`Problem` named ``"digits/softmax_l2_{l2:g}"``.

    References:
        Seed 003, the digits-classification tutorial; seed 000/001, "Softmax Regression".
    """
    l2 = _check_nonnegative(l2, "l2")
    if l2 == 0:
        raise ValueError("l2 must be > 0 (the training digits are linearly separable: no minimiser)")
    x_train, y_train, x_test, y_test = load_split("digits", test_fraction=test_fraction, seed=seed)
    m = len(y_train)
    return _softmax_problem(
            name=f"digits/softmax_l2_{l2:g}",
            x_train=x_train,
            y_train=y_train,
            test=(x_test, y_test),
            num_classes=10,
            l2=l2,
            source=(
                    "scikit-learn load_digits: softmax regression (cross-entropy) + l2/2 ||W||^2, "
                    f"l2 = {l2:g}, pixels standardised on the training split (seeded split {seed}, "
                    f"test fraction {test_fraction:g}, m = {m}); f_opt by Newton (float64); "
                    f"sklearn LogisticRegression C = 1/(l2 m) = {1.0 / (l2 * m):.6g}"
            ),
            tags=frozenset({"ml", "convex", "classification", "digits"}),
    )


def dataset_problems() -> list[Problem]:
    """Default instances of the data-set problems.

    Returns:
        ``[diabetes_least_squares(), diabetes_least_squares(ridge=0.1), breast_cancer_logistic(),
        digits_softmax()]``, built anew on each call (in the float dtype in force).
    """
    return [
            diabetes_least_squares(),
            diabetes_least_squares(ridge=0.1),
            breast_cancer_logistic(),
            digits_softmax(),
    ]
