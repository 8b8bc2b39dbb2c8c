r"""Polyak averaging (seed 002, "Polyak Averaging"), as a wrapper around any optimizer.

The optimizer's trajectory :math:`\theta^{(1)}, \theta^{(2)}, \ldots` is left exactly as it is; beside
it the wrapper keeps an average of the iterates, which for stochastic gradients with a constant or
slowly decaying learning rate lies closer to the optimum than the last iterate does:

* uniform (Polyak & Juditsky, 1992): :math:`\hat\theta^{(t)} = \frac1t \sum_{i=1}^t \theta^{(i)}`;
* exponential, for nonconvex problems where early iterates should be forgotten:
  :math:`\hat\theta^{(t)} = \alpha \hat\theta^{(t-1)} + (1 - \alpha) \theta^{(t)}`.

Both are kept as one running weighted mean, :math:`\hat\theta^{(t)} = \hat\theta^{(t-1)} + w_t
(\theta^{(t)} - \hat\theta^{(t-1)})`, with

* uniform: :math:`w_t = 1/t`;
* exponential, debiased: :math:`w_t = (1 - \alpha) / (1 - \alpha^t)`, which is the exponential
  average started at 0 and divided by :math:`1 - \alpha^t` (as Adam debiases its moments); so
  :math:`\hat\theta^{(1)} = \theta^{(1)}`;
* exponential, not debiased: :math:`w_t = 1 - \alpha`, the recursion started at
  :math:`\hat\theta^{(0)} = \theta^{(0)}`, the initial params (not at 0, which would pull the
  average towards the origin).

The state holds the average itself, read with :func:`averaged_params`.
"""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ml_opt._base import check_params, check_same_structure, check_scalar, equal_when_made_alike

PyTree = Any

__all__ = ["PolyakAveragingState", "polyak_averaging", "averaged_params"]


class PolyakAveragingState(NamedTuple):
    """The state of :func:`polyak_averaging`.

    Attributes:
      count: the number of iterates averaged (updates made).
      average: the averaged params :math:`\\hat\\theta^{(t)}`, shaped and typed like the params
        (the initial params while ``count == 0``).
      inner_state: the wrapped optimizer's state.
    """

    count: jax.Array
    average: optax.Params
    inner_state: optax.OptState


@equal_when_made_alike
def polyak_averaging(
    inner: optax.GradientTransformation,
    kind: Literal["uniform", "exponential"] = "uniform",
    decay: float | jax.Array | None = None,
    *,
    debias: bool = True,
) -> optax.GradientTransformationExtraArgs:
    r"""Polyak averaging of the iterates of ``inner`` (seed 002, "Polyak Averaging").

    ``update(grads, state, params, **extra)`` returns ``inner``'s updates unchanged (the trajectory
    is ``inner``'s) and folds the new iterate :math:`\theta^{(t)} = ` ``params + updates`` into the
    average:

    .. math::
        \hat\theta^{(t)} = \hat\theta^{(t-1)} + w_t (\theta^{(t)} - \hat\theta^{(t-1)}), \qquad
        w_t = \begin{cases}
            1/t & \text{uniform: } \hat\theta^{(t)} = \tfrac1t \textstyle\sum_{i=1}^t \theta^{(i)} \\
            (1 - \alpha) / (1 - \alpha^t) & \text{exponential, debiased} \\
            1 - \alpha & \text{exponential, } \hat\theta^{(0)} = \theta^{(0)}
        \end{cases}

    Read the average with :func:`averaged_params`. Extra keyword arguments of ``update``
    (``value``, ``value_fn``, ...) are passed on to ``inner``, so any rule of the library can be wrapped.

    Args:
      inner: the optimizer whose iterates are averaged (any optax transformation).
      kind: ``"uniform"`` (the mean of all iterates) or ``"exponential"`` (a moving average).
      decay: :math:`\alpha \in [0, 1)` for ``kind="exponential"`` (default 0.999); not accepted for
        ``kind="uniform"``.
      debias: for ``kind="exponential"``: divide by :math:`1 - \alpha^t` (the default), or start the
        recursion at the initial params.

    Returns:
      An ``optax.GradientTransformationExtraArgs`` whose state is a :class:`PolyakAveragingState`.
      ``update`` needs ``params``.

    Example:
      >>> import jax.numpy as jnp, optax, ml_opt
      >>> from ml_opt.averaging import polyak_averaging, averaged_params
      >>> opt = polyak_averaging(ml_opt.sgd(0.5))
      >>> params = jnp.array([4.0])
      >>> state = opt.init(params)
      >>> for _ in range(2):
      ...     updates, state = opt.update(params, state, params)  # grad of x^2 / 2
      ...     params = optax.apply_updates(params, updates)
      >>> params.tolist(), averaged_params(state).tolist()  # iterates 2, 1; their mean 1.5
      ([1.0], [1.5])

    References:
      Polyak & Juditsky, Acceleration of Stochastic Approximation by Averaging, 1992.
      Ruppert, Efficient Estimations from a Slowly Convergent Robbins-Monro Process, 1988.
      Goodfellow, Bengio & Courville, Deep Learning, 2016, section 8.7.3.
    """
    if not isinstance(inner, optax.GradientTransformation):
        raise TypeError(f"inner must be an optax.GradientTransformation, got {type(inner).__name__}")
    if kind == "uniform":
        if decay is not None:
            raise ValueError("decay is only used with kind='exponential'; uniform averaging has none")
    elif kind == "exponential":
        decay = 0.999 if decay is None else decay
        check_scalar(decay, "decay", lower=0.0, upper=1.0, upper_open=True)
    else:
        raise ValueError(f"kind must be 'uniform' or 'exponential', got {kind!r}")
    if not isinstance(debias, bool):
        raise TypeError(f"debias must be a bool, got {type(debias).__name__}")
    inner = optax.with_extra_args_support(inner)

    def weight(t):
        t = t.astype(jnp.result_type(float))
        if kind == "uniform":
            return 1.0 / t
        if debias:
            return (1.0 - decay) / (1.0 - decay**t)
        return 1.0 - decay + jnp.zeros_like(t)

    def init_fn(params):
        check_params(params)
        average = jax.tree.map(lambda p: jnp.array(p, copy=True), params)
        return PolyakAveragingState(jnp.zeros([], jnp.int32), average, inner.init(params))

    def update_fn(updates, state, params=None, **extra_args):
        if params is None:
            raise ValueError(
                "polyak_averaging needs params: call update(grads, state, params), "
                "the params before this step (it averages params + updates)"
            )
        check_same_structure(params, state.average, "params", "the params given to init")
        updates, inner_state = inner.update(updates, state.inner_state, params, **extra_args)
        new_params = optax.apply_updates(params, updates)
        t = optax.safe_increment(state.count)
        w = weight(t)
        average = jax.tree.map(
            lambda a, p: (a + w.astype(a.dtype) * (p.astype(a.dtype) - a)).astype(a.dtype), state.average, new_params
        )
        return updates, PolyakAveragingState(t, average, inner_state)

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def averaged_params(state: PyTree) -> optax.Params:
    r"""The averaged iterate :math:`\hat\theta^{(t)}` kept by :func:`polyak_averaging`.

    Args:
      state: a :class:`PolyakAveragingState`, or any state tree holding exactly one (the state of an
        ``optax.chain``, the ``opt_state`` of an ``ml_opt.minimize`` result, ...).

    Returns:
      The averaged params, a pytree shaped like the params (the initial params before any update).

    Raises:
      ValueError naming ``state`` when it holds no averaging state, or more than one.
    """
    found = [
        s
        for s in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, PolyakAveragingState))
        if isinstance(s, PolyakAveragingState)
    ]
    if len(found) != 1:
        raise ValueError(
            f"state must hold exactly one PolyakAveragingState (from ml_opt.polyak_averaging), found {len(found)}"
        )
    return found[0].average
