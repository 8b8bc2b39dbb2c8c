"""The examples in ml_opt's docstrings give what they show.

They run with ``pytest --doctest-modules`` in a fresh process with JAX's defaults (float32, as a
user's session has them): this test session runs in float64 (see ``conftest.py``), which would
change the printed dtypes and values.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_docstring_examples_run_as_written():
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--doctest-modules", "ml_opt"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
