"""The examples in ml_opt's docstrings give what they show, and the README's examples run.

Both run in a fresh process with JAX's defaults (float32, as a user's session has them): this test
session runs in float64 (see ``conftest.py``), which would change the printed dtypes and values.
"""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def run_fresh(args):
    env = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_docstring_examples_run_as_written():
    proc = run_fresh(["-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=", "--doctest-modules", "ml_opt"])
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout


def test_readme_examples_run():
    """The README's complete examples (the "Use" section's first two blocks; the third is a
    fragment with the user's own loss and data) run in one session, in order."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert len(blocks) >= 2
    proc = run_fresh(["-c", "\n".join(blocks[:2])])
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("converged") == 7  # the Rosenbrock run and the six MGH solvers
