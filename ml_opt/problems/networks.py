"""Neural-network test losses: Flax NNX classifiers on real and generated data.

* :func:`digits_mlp`: a multilayer perceptron on scikit-learn's bundled handwritten digits
  (1797 images of 8x8 pixels, 10 classes).
* :func:`digits_cnn`: a small convolutional network on the same images.
* :func:`sequence_rnn`: an Elman recurrent network reading a generated binary sequence and
  predicting the number of ones in it (``task="sum"``) or its parity (``task="parity"``).

Each is a :class:`~ml_opt.problems.base.Problem` (nonconvex, ``f_opt`` unknown, tagged ``"nn"``)
whose params are a plain nested dict of arrays: the model's ``nnx.Param`` variables as
``nnx.to_pure_dict(nnx.state(model, nnx.Param))`` writes them. ``nnx.merge(graphdef, params)``
rebuilds the module; the problems do it inside ``fun``, ``batch_loss`` and ``accuracy``, so a
driver only sees a pytree. ``init(key)`` builds a fresh model from ``nnx.Rngs(key)``; it can be
``jax.vmap``-ed over keys.

The data are deterministic: the digits are split 75/25 into train and test with a fixed,
stratified shuffle (``sklearn.model_selection.train_test_split(random_state=0)``) and every pixel
is standardised with the training set's mean and standard deviation (pixels that are constant in
the training set are only centred). The sequences are drawn from a fixed NumPy seed.
Inputs are float32, labels int32, params float32 (pass ``dtype`` for another float type).
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from ml_opt.problems.base import Problem

__all__ = [
    "MLP",
    "CNN",
    "ElmanRNN",
    "digits_data",
    "sequence_data",
    "digits_mlp",
    "digits_cnn",
    "sequence_rnn",
]


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class MLP(nnx.Module):
    """A multilayer perceptron: ``Linear -> activation`` for every hidden layer, then ``Linear``.

    Args:
      sizes: layer widths, input first, output last, e.g. ``(64, 128, 10)``.
      rngs: the ``nnx.Rngs`` the weights are drawn from.
      activation: the hidden non-linearity (``nnx.relu`` by default).
      kernel_init: a Flax initializer for the weights (Flax's default, LeCun normal, if None);
        e.g. ``ml_opt.initializers.sparse()``.
      param_dtype: the params' dtype.
    """

    def __init__(self, sizes: Sequence[int], *, rngs: nnx.Rngs, activation: Callable = nnx.relu,
                 kernel_init: Callable | None = None, param_dtype=jnp.float32):
        if len(sizes) < 2:
            raise ValueError(f"sizes needs an input and an output width, got {tuple(sizes)}")
        extra = {} if kernel_init is None else {"kernel_init": kernel_init}
        self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs, param_dtype=param_dtype, **extra)
                                for a, b in zip(sizes[:-1], sizes[1:])])
        self.activation = activation

    def __call__(self, x: jax.Array) -> jax.Array:
        for layer in self.layers[:-1]:
            x = self.activation(layer(x))
        return self.layers[-1](x)


class CNN(nnx.Module):
    """A small convolutional network for 8x8 single-channel images.

    ``Conv(3x3, c1) -> relu -> avg_pool 2x2 -> Conv(3x3, c2) -> relu -> avg_pool 2x2 -> flatten
    -> Linear(hidden) -> relu -> Linear(num_classes)``; 'SAME' padding, so 8x8 becomes 2x2.

    Args:
      num_classes: output width.
      rngs: the ``nnx.Rngs`` the weights are drawn from.
      channels: ``(c1, c2)``.
      hidden: width of the dense hidden layer.
      param_dtype: the params' dtype.
    """

    def __init__(self, num_classes: int = 10, *, rngs: nnx.Rngs, channels: tuple[int, int] = (16, 32),
                 hidden: int = 64, image_size: int = 8, param_dtype=jnp.float32):
        c1, c2 = channels
        self.conv1 = nnx.Conv(1, c1, (3, 3), padding="SAME", rngs=rngs, param_dtype=param_dtype)
        self.conv2 = nnx.Conv(c1, c2, (3, 3), padding="SAME", rngs=rngs, param_dtype=param_dtype)
        side = image_size // 4
        self.dense = nnx.Linear(side * side * c2, hidden, rngs=rngs, param_dtype=param_dtype)
        self.out = nnx.Linear(hidden, num_classes, rngs=rngs, param_dtype=param_dtype)

    def __call__(self, x: jax.Array) -> jax.Array:  # x: (batch, h, w, 1)
        x = nnx.avg_pool(nnx.relu(self.conv1(x)), (2, 2), strides=(2, 2))
        x = nnx.avg_pool(nnx.relu(self.conv2(x)), (2, 2), strides=(2, 2))
        x = x.reshape(x.shape[0], -1)
        return self.out(nnx.relu(self.dense(x)))


class ElmanRNN(nnx.Module):
    """An Elman recurrent network read out from its last hidden state.

    ``h_t = tanh(W_x x_t + W_h h_{t-1} + b)``, ``h_0 = 0``, ``logits = V h_T + c``; the recurrence
    is a ``lax.scan`` over time. ``W_h`` starts orthogonal (Saxe et al. 2014).

    Args:
      in_features: width of each ``x_t``.
      hidden: width of ``h``.
      out_features: output width.
      rngs: the ``nnx.Rngs`` the weights are drawn from.
      param_dtype: the params' dtype.

    References:
      J. L. Elman, "Finding structure in time", Cognitive Science, 1990.
    """

    def __init__(self, in_features: int, hidden: int, out_features: int, *, rngs: nnx.Rngs,
                 param_dtype=jnp.float32):
        self.input = nnx.Linear(in_features, hidden, rngs=rngs, param_dtype=param_dtype)
        self.recurrent = nnx.Linear(hidden, hidden, use_bias=False, rngs=rngs, param_dtype=param_dtype,
                                    kernel_init=nnx.initializers.orthogonal())
        self.readout = nnx.Linear(hidden, out_features, rngs=rngs, param_dtype=param_dtype)

    def __call__(self, x: jax.Array) -> jax.Array:  # x: (batch, time, in_features)
        drive = self.input(x)  # W_x x_t + b for every t at once
        w_h = self.recurrent.kernel[...]

        def cell(h, drive_t):
            return jnp.tanh(drive_t + h @ w_h), None

        h0 = jnp.zeros((x.shape[0], w_h.shape[0]), drive.dtype)
        h, _ = jax.lax.scan(cell, h0, jnp.swapaxes(drive, 0, 1))
        return self.readout(h)


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _digits_numpy(test_size: float, seed: int):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=test_size, random_state=seed, stratify=y)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    standardise = lambda a: ((a - mean) / std).astype(np.float32)
    return (standardise(x_train), y_train.astype(np.int32), standardise(x_test), y_test.astype(np.int32))


def digits_data(*, images: bool = False, test_size: float = 0.25, seed: int = 0, dtype=jnp.float32):
    """scikit-learn's digits, split and standardised (see the module docstring).

    Args:
      images: ``x`` as ``(N, 8, 8, 1)`` images instead of ``(N, 64)`` vectors.
      test_size: fraction held out for testing (stratified).
      seed: ``random_state`` of the split.
      dtype: dtype of ``x``.

    Returns:
      ``(train, test)``, each ``{"x": float array, "y": int32 labels in 0..9}``.
    """
    x_train, y_train, x_test, y_test = _digits_numpy(float(test_size), int(seed))
    shape = (-1, 8, 8, 1) if images else (-1, 64)
    pack = lambda x, y: {"x": jnp.asarray(x.reshape(shape), dtype), "y": jnp.asarray(y, jnp.int32)}
    return pack(x_train, y_train), pack(x_test, y_test)


def sequence_data(*, length: int = 10, task: str = "sum", num_train: int = 2000, num_test: int = 500,
                  seed: int = 0, dtype=jnp.float32):
    """Generated sequences of bits and their sum or parity.

    Each example is a sequence ``b_1..b_length`` of independent fair bits, shaped
    ``(length, 1)``; its label is ``sum(b)`` in ``0..length`` (``task="sum"``) or ``sum(b) mod 2``
    (``task="parity"``).

    Returns:
      ``(train, test)``, each ``{"x": (N, length, 1) float array, "y": int32 labels}``.
    """
    if task not in ("sum", "parity"):
        raise ValueError(f"task must be 'sum' or 'parity', got {task!r}")
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    rng = np.random.default_rng(seed)
    bits = rng.integers(0, 2, size=(num_train + num_test, length))
    labels = bits.sum(axis=1) if task == "sum" else bits.sum(axis=1) % 2
    x = jnp.asarray(bits[..., None], dtype)
    y = jnp.asarray(labels, jnp.int32)
    return ({"x": x[:num_train], "y": y[:num_train]}, {"x": x[num_train:], "y": y[num_train:]})


# --------------------------------------------------------------------------------------------
# Problems
# --------------------------------------------------------------------------------------------


def _classifier(name: str, make_model: Callable[[nnx.Rngs], nnx.Module], train, test, source: str) -> Problem:
    """A cross-entropy classification Problem over the pure-dict params of ``make_model``."""
    graphdef, state = nnx.split(nnx.eval_shape(lambda: make_model(nnx.Rngs(0))))  # shapes only
    dim = sum(math.prod(jnp.shape(x)) for x in jax.tree.leaves(state))

    def logits(params, x):
        return nnx.merge(graphdef, params)(x)

    def batch_loss(params, batch):
        z = logits(params, batch["x"])
        return optax.softmax_cross_entropy_with_integer_labels(z, batch["y"]).mean()

    def fun(params):
        return batch_loss(params, train)

    @jax.jit  # one compiled program instead of one per initializer op
    def init(key):
        return nnx.to_pure_dict(nnx.state(make_model(nnx.Rngs(key)), nnx.Param))

    def accuracy(params, data):
        return jnp.mean(jnp.argmax(logits(params, data["x"]), axis=-1) == data["y"])

    return Problem(name=name, dim=dim, fun=fun, init=init, convex=False, f_opt=None, source=source,
                   batch_loss=batch_loss, train_data=train, test_data=test, accuracy=accuracy,
                   tags=frozenset({"nn"}))


_DIGITS_SOURCE = ("scikit-learn load_digits (UCI optical recognition of handwritten digits, "
                  "Alpaydin and Kaynak 1998); 75/25 stratified split, random_state=0; standardised")


def digits_mlp(hidden: Sequence[int] = (128,), *, activation: Callable = nnx.relu,
               kernel_init: Callable | None = None, dtype=jnp.float32) -> Problem:
    """An MLP classifier on the digits: mean softmax cross-entropy of ``MLP((64, *hidden, 10))``.

    Args:
      hidden: hidden-layer widths.
      activation: hidden non-linearity.
      kernel_init: weight initializer (Flax's LeCun normal if None).
      dtype: params' and inputs' dtype.

    Returns:
      A :class:`Problem` named ``"digits_mlp"``; params a nested dict ``{"layers": {0: {"kernel",
      "bias"}, ...}}``.
    """
    train, test = digits_data(dtype=dtype)
    sizes = (64, *hidden, 10)
    make = lambda rngs: MLP(sizes, rngs=rngs, activation=activation, kernel_init=kernel_init, param_dtype=dtype)
    return _classifier("digits_mlp", make, train, test, _DIGITS_SOURCE)


def digits_cnn(channels: tuple[int, int] = (16, 32), hidden: int = 64, *, dtype=jnp.float32) -> Problem:
    """A convolutional classifier on the digits as 8x8 images (see :class:`CNN`).

    Returns:
      A :class:`Problem` named ``"digits_cnn"``.
    """
    train, test = digits_data(images=True, dtype=dtype)
    make = lambda rngs: CNN(10, rngs=rngs, channels=channels, hidden=hidden, param_dtype=dtype)
    return _classifier("digits_cnn", make, train, test, _DIGITS_SOURCE)


def sequence_rnn(length: int = 10, task: str = "sum", hidden: int = 32, *, num_train: int = 2000,
                 num_test: int = 500, seed: int = 0, dtype=jnp.float32) -> Problem:
    """An Elman RNN reading a random bit sequence and classifying its sum (or parity).

    See :func:`sequence_data` for the task and :class:`ElmanRNN` for the model.

    Returns:
      A :class:`Problem` named ``"sequence_rnn_sum"`` or ``"sequence_rnn_parity"``.
    """
    train, test = sequence_data(length=length, task=task, num_train=num_train, num_test=num_test,
                                seed=seed, dtype=dtype)
    classes = length + 1 if task == "sum" else 2
    make = lambda rngs: ElmanRNN(1, hidden, classes, rngs=rngs, param_dtype=dtype)
    source = (f"generated: {num_train}+{num_test} sequences of {length} fair bits (numpy seed {seed}); "
              f"label = {'number of ones' if task == 'sum' else 'parity of the number of ones'}")
    return _classifier(f"sequence_rnn_{task}", make, train, test, source)
