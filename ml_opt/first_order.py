"""First-order update rules: seed 002 Algorithms 8.1-8.7 (Goodfellow, Bengio & Courville, ch. 8).

Each rule is written on one array, as its algorithm box is written, and lifted to pytrees by
:func:`ml_opt._base.elementwise`. Every factory returns an ``optax.GradientTransformationExtraArgs``:
``init(params) -> state`` and ``update(grads, state, params=None, **extra) -> (updates, state)``,
with ``params <- params + updates`` (``optax.apply_updates``). Every hyperparameter may be a Python
number or a JAX scalar (so ``jax.vmap`` over it works); ``learning_rate`` may be an optax schedule,
evaluated at the step count (0 for the first update).

Look-ahead rules (Nesterov, Algorithms 8.3 and 8.6) evaluate the gradient at ``theta + alpha v``.
Here the params *are* that look-ahead point: with ``phi = theta + alpha v`` the box becomes

    v   <- alpha v - eps g(phi)
    phi <- phi + alpha v_new - eps g(phi)

so the gradient is taken at the current params, as every optax transformation requires
(Sutskever et al., 2013; Bengio et al., 2013). The two iterations coincide whenever ``v_0 = 0``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from ml_opt._base import ScalarOrSchedule, check_learning_rate, check_scalar, elementwise, equal_when_made_alike


class SgdState(NamedTuple):
    count: jax.Array


class MomentumState(NamedTuple):
    count: jax.Array
    velocity: optax.Params


class AdagradState(NamedTuple):
    count: jax.Array
    sum_of_squares: optax.Params


class RmspropState(NamedTuple):
    count: jax.Array
    mean_square: optax.Params


class RmspropNesterovState(NamedTuple):
    count: jax.Array
    mean_square: optax.Params
    velocity: optax.Params


class AdamState(NamedTuple):
    count: jax.Array
    first_moment: optax.Params
    second_moment: optax.Params


@equal_when_made_alike
def sgd(learning_rate: ScalarOrSchedule) -> optax.GradientTransformationExtraArgs:
    r"""Stochastic gradient descent (seed 002, Algorithm 8.1).

    .. math:: \theta \leftarrow \theta - \epsilon_k \hat g

    Args:
      learning_rate: :math:`\epsilon_k`, a positive scalar or a schedule.

    Returns:
      The transformation; its state counts steps (for schedules).

    Example:
      >>> import jax.numpy as jnp, optax, ml_opt
      >>> opt = ml_opt.sgd(0.1)
      >>> params = jnp.array([1.0, -2.0])
      >>> updates, state = opt.update(2 * params, opt.init(params))
      >>> optax.apply_updates(params, updates)
      Array([ 0.8, -1.6], dtype=float32)

    References:
      Robbins & Monro, A Stochastic Approximation Method, 1951.
      Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.1.
    """
    check_learning_rate(learning_rate)

    def rule(g, *, lr, t):
        return -lr * g, ()

    return elementwise(SgdState, rule, learning_rate)


@equal_when_made_alike
def momentum(learning_rate: ScalarOrSchedule, beta: float = 0.9) -> optax.GradientTransformationExtraArgs:
    r"""Gradient descent with (heavy-ball) momentum (seed 002, Algorithm 8.2).

    .. math::
        v \leftarrow \alpha v - \epsilon g, \qquad \theta \leftarrow \theta + v

    Equivalently (seed 003) :math:`w_{t+1} = w_t - \epsilon g_t + \beta (w_t - w_{t-1})`, since
    :math:`v_t = w_t - w_{t-1}`. With a constant learning rate this equals
    ``optax.sgd(learning_rate, momentum=beta)``, which stores :math:`-v/\epsilon` instead of
    :math:`v`; under a schedule the two differ in where :math:`\epsilon_k` enters.

    Args:
      learning_rate: :math:`\epsilon`, a positive scalar or a schedule.
      beta: the momentum coefficient :math:`\alpha \in [0, 1)`.

    References:
      Polyak, Some methods of speeding up the convergence of iteration methods, 1964.
      Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.2.
    """
    check_learning_rate(learning_rate)
    check_scalar(beta, "beta", lower=0.0, upper=1.0, upper_open=True)

    def rule(g, v, *, lr, t):
        v = beta * v - lr * g
        return v, (v,)

    return elementwise(MomentumState, rule, learning_rate)


@equal_when_made_alike
def nesterov(learning_rate: ScalarOrSchedule, beta: float = 0.9) -> optax.GradientTransformationExtraArgs:
    r"""Nesterov momentum (seed 002, Algorithm 8.3), in the look-ahead variables.

    The box evaluates the gradient at :math:`\tilde\theta = \theta + \alpha v`. Tracking
    :math:`\phi = \tilde\theta` instead (the params this transformation updates):

    .. math::
        v \leftarrow \alpha v - \epsilon g(\phi), \qquad
        \phi \leftarrow \phi + \alpha v - \epsilon g(\phi)

    With a constant learning rate this equals ``optax.sgd(learning_rate, momentum=beta, nesterov=True)``.

    Args:
      learning_rate: :math:`\epsilon`, a positive scalar or a schedule.
      beta: the momentum coefficient :math:`\alpha \in [0, 1)`.

    References:
      Nesterov, A method of solving a convex programming problem with convergence rate O(1/k^2), 1983.
      Sutskever, Martens, Dahl & Hinton, On the importance of initialization and momentum in deep
      learning, 2013.
      Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.3.
    """
    check_learning_rate(learning_rate)
    check_scalar(beta, "beta", lower=0.0, upper=1.0, upper_open=True)

    def rule(g, v, *, lr, t):
        v = beta * v - lr * g
        return beta * v - lr * g, (v,)

    return elementwise(MomentumState, rule, learning_rate)


@equal_when_made_alike
def adagrad(learning_rate: ScalarOrSchedule, eps: float = 1e-7) -> optax.GradientTransformationExtraArgs:
    r"""AdaGrad (seed 002, Algorithm 8.4).

    .. math::
        r \leftarrow r + g \odot g, \qquad
        \Delta\theta = -\frac{\epsilon}{\delta + \sqrt{r}} \odot g

    Note ``optax.adagrad`` differs: it starts ``r`` at 0.1 and puts ``eps`` inside the root.

    Args:
      learning_rate: global learning rate :math:`\epsilon`.
      eps: :math:`\delta`, added to :math:`\sqrt r` for numerical stability.

    References:
      Duchi, Hazan & Singer, Adaptive Subgradient Methods for Online Learning and Stochastic
      Optimization, 2011.
      Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.4.
    """
    check_learning_rate(learning_rate)
    check_scalar(eps, "eps", lower=0.0)

    def rule(g, r, *, lr, t):
        r = r + g * g
        return -lr * g / (eps + jnp.sqrt(r)), (r,)

    return elementwise(AdagradState, rule, learning_rate)


@equal_when_made_alike
def rmsprop(
    learning_rate: ScalarOrSchedule, decay: float = 0.9, eps: float = 1e-6
) -> optax.GradientTransformationExtraArgs:
    r"""RMSProp (seed 002, Algorithm 8.5).

    .. math::
        r \leftarrow \rho r + (1 - \rho) g \odot g, \qquad
        \Delta\theta = -\frac{\epsilon}{\sqrt{\delta + r}} \odot g

    This equals ``optax.rmsprop(learning_rate, decay, eps, eps_in_sqrt=True)``.

    Args:
      learning_rate: global learning rate :math:`\epsilon`.
      decay: the decay rate :math:`\rho \in [0, 1)`.
      eps: :math:`\delta`, added to :math:`r` inside the square root.

    References:
      Hinton, Neural Networks for Machine Learning, lecture 6e, 2012.
      Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.5.
    """
    check_learning_rate(learning_rate)
    check_scalar(decay, "decay", lower=0.0, upper=1.0, upper_open=True)
    check_scalar(eps, "eps", lower=0.0)

    def rule(g, r, *, lr, t):
        r = decay * r + (1 - decay) * g * g
        return -lr * g / jnp.sqrt(eps + r), (r,)

    return elementwise(RmspropState, rule, learning_rate)


@equal_when_made_alike
def rmsprop_nesterov(
    learning_rate: ScalarOrSchedule,
    decay: float = 0.9,
    momentum: float = 0.9,
    eps: float = 1e-6,
) -> optax.GradientTransformationExtraArgs:
    r"""RMSProp with Nesterov momentum (seed 002, Algorithm 8.6), in the look-ahead variables.

    The box takes the gradient at :math:`\tilde\theta = \theta + \alpha v`; these params are
    :math:`\phi = \tilde\theta` (see the module docstring):

    .. math::
        r \leftarrow \rho r + (1 - \rho) g \odot g, \qquad
        v \leftarrow \alpha v - \frac{\epsilon}{\sqrt{\delta + r}} \odot g, \qquad
        \phi \leftarrow \phi + \alpha v - \frac{\epsilon}{\sqrt{\delta + r}} \odot g

    The box divides by :math:`\sqrt r`; :math:`\delta` (0 recovers the box) keeps the first steps
    finite where a gradient entry is zero, as in Algorithm 8.5.

    Args:
      learning_rate: global learning rate :math:`\epsilon`.
      decay: the decay rate :math:`\rho \in [0, 1)`.
      momentum: the momentum coefficient :math:`\alpha \in [0, 1)`.
      eps: :math:`\delta`, added to :math:`r` inside the square root.

    References:
      Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.6.
    """
    check_learning_rate(learning_rate)
    check_scalar(decay, "decay", lower=0.0, upper=1.0, upper_open=True)
    check_scalar(momentum, "momentum", lower=0.0, upper=1.0, upper_open=True)
    check_scalar(eps, "eps", lower=0.0)

    def rule(g, r, v, *, lr, t):
        r = decay * r + (1 - decay) * g * g
        scaled = lr * g / jnp.sqrt(eps + r)
        v = momentum * v - scaled
        return momentum * v - scaled, (r, v)

    return elementwise(RmspropNesterovState, rule, learning_rate)


@equal_when_made_alike
def adam(
    learning_rate: ScalarOrSchedule = 1e-3,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> optax.GradientTransformationExtraArgs:
    r"""Adam (seed 002, Algorithm 8.7).

    .. math::
        t \leftarrow t + 1, \quad
        s \leftarrow \rho_1 s + (1 - \rho_1) g, \quad
        r \leftarrow \rho_2 r + (1 - \rho_2) g \odot g, \\
        \hat s = \frac{s}{1 - \rho_1^t}, \quad \hat r = \frac{r}{1 - \rho_2^t}, \quad
        \Delta\theta = -\epsilon \frac{\hat s}{\sqrt{\hat r} + \delta}

    :math:`\delta` sits outside the root, as in the book and the paper (the seed's slide puts it
    inside, a transcription slip). This equals ``optax.adam``.

    Args:
      learning_rate: step size :math:`\epsilon`.
      b1: :math:`\rho_1 \in [0, 1)`, decay of the first moment.
      b2: :math:`\rho_2 \in [0, 1)`, decay of the second moment.
      eps: :math:`\delta`, numerical stabiliser.

    References:
      Kingma & Ba, Adam: A Method for Stochastic Optimization, 2015.
      Goodfellow, Bengio & Courville, Deep Learning, 2016, Algorithm 8.7.
    """
    check_learning_rate(learning_rate)
    check_scalar(b1, "b1", lower=0.0, upper=1.0, upper_open=True)
    check_scalar(b2, "b2", lower=0.0, upper=1.0, upper_open=True)
    check_scalar(eps, "eps", lower=0.0)

    def rule(g, s, r, *, lr, t):
        s = b1 * s + (1 - b1) * g
        r = b2 * r + (1 - b2) * g * g
        s_hat = s / (1 - b1**t)
        r_hat = r / (1 - b2**t)
        return -lr * s_hat / (jnp.sqrt(r_hat) + eps), (s, r)

    return elementwise(AdamState, rule, learning_rate)
