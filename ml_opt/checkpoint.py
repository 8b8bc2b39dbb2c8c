"""Saving and restoring training state (params, optimizer state, counters) losslessly.

A checkpoint is one ``.npz`` file holding the leaves of a pytree as raw bytes, with their paths,
dtypes and shapes. Restoring takes a *target* of the same structure, so every container comes back
with its own type (the optimizer's NamedTuple states, ``nnx.State``, dicts with integer keys,
dataclasses registered as pytrees) and every leaf with its exact bits::

    save("run/ckpt.npz", {"params": params, "opt_state": opt_state, "epoch": 5})
    ...
    target = {"params": params0, "opt_state": optimizer.init(params0), "epoch": 0}
    state = restore("run/ckpt.npz", target)         # or target = jax.eval_shape(...)

Leaves may be JAX or NumPy arrays of any dtype (bfloat16 included), typed PRNG keys
(``jax.random.key``; saved as their key data and re-wrapped with the same implementation), and
Python numbers. A restored leaf takes the kind of its target leaf: a ``jax.Array`` or a
``jax.ShapeDtypeStruct`` gives a ``jax.Array`` placed with the target's sharding (so a sharded
run resumes sharded), a NumPy array gives a NumPy array, a Python number a Python number.
Mismatched structure, paths, shapes or dtypes raise a ``ValueError`` naming the leaf.

The file is written to a temporary name and renamed into place, so a crash mid-write leaves the
previous checkpoint intact. This is a single-process format: every array is gathered to the host.
For multi-host, asynchronous or very large checkpoints use ``orbax.checkpoint`` directly.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any

__all__ = ["save", "restore"]

_FORMAT = "ml_opt.checkpoint/1"


def _is_key(x: Any) -> bool:
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _leaf_record(path: str, leaf: Any) -> tuple[dict, np.ndarray]:
    meta: dict[str, Any] = {"path": path}
    if isinstance(leaf, (bool, int, float, complex)) and not isinstance(leaf, np.generic):
        meta["python"] = type(leaf).__name__
    if _is_key(leaf):
        meta["key_impl"] = str(jax.random.key_impl(leaf))
        leaf = jax.random.key_data(leaf)
    array = np.asarray(leaf)
    if array.dtype == object:
        raise TypeError(f"checkpoint leaf {path} is not an array or a number: {type(leaf).__name__}")
    meta["dtype"] = array.dtype.name
    meta["shape"] = list(array.shape)
    raw = np.frombuffer(np.ascontiguousarray(array).tobytes(), np.uint8)
    return meta, raw


def save(path: str | os.PathLike, tree: PyTree, *, overwrite: bool = True) -> None:
    """Writes ``tree`` (params, optimizer state, anything that is a pytree of arrays) to ``path``.

    Args:
      path: the file to write (conventionally ``*.npz``); its directory is created if needed.
      tree: a pytree whose leaves are arrays, PRNG keys or Python numbers.
      overwrite: replace an existing file (else a ``FileExistsError``).
    """
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"path: {path} exists (pass overwrite=True to replace it)")
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    metas, arrays = [], {}
    for i, (p, leaf) in enumerate(leaves):
        meta, raw = _leaf_record(jax.tree_util.keystr(p), leaf)
        metas.append(meta)
        arrays[f"leaf_{i}"] = raw
    header = {"format": _FORMAT, "treedef": str(jax.tree.structure(tree)), "leaves": metas}
    arrays["__header__"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _restore_leaf(meta: dict, raw: np.ndarray, target: Any) -> Any:
    where = meta["path"] or "(the root)"
    array = np.frombuffer(raw.tobytes(), np.dtype(meta["dtype"])).reshape(meta["shape"])
    if "key_impl" in meta:
        if not _is_key(target):
            raise ValueError(f"checkpoint leaf {where} is a PRNG key; the target's is not")
        key = jax.random.wrap_key_data(jnp.asarray(array), impl=meta["key_impl"])
        if tuple(key.shape) != tuple(target.shape):
            raise ValueError(f"checkpoint leaf {where} has shape {key.shape}, the target {target.shape}")
        sharding = getattr(target, "sharding", None)
        return jax.device_put(key, sharding) if sharding is not None else key
    if _is_key(target):
        raise ValueError(f"the target's leaf {where} is a PRNG key; the checkpoint's is not")
    if isinstance(target, (bool, int, float, complex)) and not isinstance(target, np.generic):
        if array.shape != ():
            raise ValueError(f"checkpoint leaf {where} has shape {array.shape}; the target is a Python number")
        return type(target)(array.item())
    t_shape, t_dtype = tuple(np.shape(target)), np.dtype(jnp.result_type(target))
    if tuple(array.shape) != t_shape:
        raise ValueError(f"checkpoint leaf {where} has shape {tuple(array.shape)}, the target {t_shape}")
    if meta.get("python"):
        array = array.astype(t_dtype)
    elif array.dtype != t_dtype:
        raise ValueError(f"checkpoint leaf {where} has dtype {array.dtype}, the target {t_dtype}")
    if isinstance(target, np.ndarray):
        return array.copy()
    sharding = getattr(target, "sharding", None)
    if isinstance(target, (jax.Array, jax.ShapeDtypeStruct)) and sharding is not None:
        return jax.device_put(array, sharding)
    return jnp.asarray(array)


def restore(path: str | os.PathLike, target: PyTree) -> PyTree:
    """Reads a checkpoint written by :func:`save` into the structure of ``target``.

    Args:
      path: the file :func:`save` wrote.
      target: a pytree with the structure of the saved one: concrete values (e.g.
        ``optimizer.init(params)``) or ``jax.ShapeDtypeStruct`` leaves (``jax.eval_shape``); only
        its structure, leaf types, shapes, dtypes and shardings are used.

    Returns:
      A pytree with ``target``'s structure and container types and the saved leaves, bit for bit.

    Raises:
      ValueError naming the leaf where the checkpoint and the target disagree.
    """
    path = os.fspath(path)
    with np.load(path, allow_pickle=False) as f:
        header = json.loads(f["__header__"].tobytes().decode())
        if header.get("format") != _FORMAT:
            raise ValueError(f"path: {path} is not an ml_opt checkpoint (format {header.get('format')!r})")
        raws = [f[f"leaf_{i}"] for i in range(len(header["leaves"]))]
    target_leaves, treedef = jax.tree_util.tree_flatten_with_path(target)
    metas = header["leaves"]
    saved_paths = [m["path"] for m in metas]
    target_paths = [jax.tree_util.keystr(p) for p, _ in target_leaves]
    if saved_paths != target_paths:
        missing = sorted(set(target_paths) - set(saved_paths))
        extra = sorted(set(saved_paths) - set(target_paths))
        raise ValueError(
                "target does not have the structure of the checkpoint: "
                f"in target only: {missing[:5]}, in checkpoint only: {extra[:5]} "
                f"(saved tree: {header['treedef'][:300]})"
        )
    leaves = [_restore_leaf(m, r, t) for m, r, (_, t) in zip(metas, raws, target_leaves)]
    return treedef.unflatten(leaves)
