"""The test-loss type: one value that the drivers, the tests and the benchmark harness all read."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax

PyTree = Any


@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """A test loss with what is known about it.

    Compared and hashed by identity, so a problem can be a static argument of ``jax.jit`` and a
    second call on the same problem reuses the compiled program.

    Attributes:
      name: short unique name, e.g. ``"rosenbrock"`` or ``"mgh/extended_rosenbrock"``.
      dim: number of scalar parameters.
      fun: the full-batch objective ``fun(params) -> scalar``.
      init: ``init(key) -> params``: a starting point. Deterministic problems with a standard
        start (the MGH set) ignore the key and return it.
      convex: whether the objective is convex.
      f_opt: the known optimal (or best known) value, or None where none is known.
      source: where the problem comes from (a paper, a lecture, a data set).
      x_opt: a known minimiser, or None.
      residuals: for least-squares problems, ``residuals(params) -> vector r`` with
        ``fun = 0.5 * ||r||^2`` up to the scaling stated in ``source``; None otherwise.
      batch_loss: for data problems, ``batch_loss(params, batch) -> scalar``, the mean loss over a
        minibatch; ``fun(params) == batch_loss(params, train_data)``.
      train_data, test_data: pytrees of arrays with the examples on the leading axis.
      accuracy: for classifiers, ``accuracy(params, data) -> fraction correct``.
      domain: for 2-D problems, ``((x_min, x_max), (y_min, y_max))`` for contour plots.
      tags: free-form labels used by the harness to build suites (``"mgh"``, ``"2d"``, ``"ml"``...).
    """

    name: str
    dim: int
    fun: Callable[[PyTree], jax.Array]
    init: Callable[[jax.Array], PyTree]
    convex: bool
    f_opt: float | None = None
    source: str = ""
    x_opt: PyTree | None = None
    residuals: Callable[[PyTree], jax.Array] | None = None
    batch_loss: Callable[[PyTree, PyTree], jax.Array] | None = None
    train_data: PyTree | None = None
    test_data: PyTree | None = None
    accuracy: Callable[[PyTree, PyTree], jax.Array] | None = None
    domain: tuple[tuple[float, float], tuple[float, float]] | None = None
    tags: frozenset[str] = frozenset()
