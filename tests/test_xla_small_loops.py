"""The README's XLA:CPU setting for faster solves takes effect and leaves the solvers correct.

XLA:CPU's ``SmallWhileLoopHoistingPass`` compiles a ``while`` loop whose one iteration touches fewer
bytes than ``xla_cpu_small_while_loop_byte_threshold`` into one function, not into a call per fused
kernel. The README recommends raising the threshold with ``XLA_FLAGS``; XLA reads the variable once,
when the process first compiles, so the check runs in a fresh process. The full test suite also
passes under the setting (run by hand; see the README).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SMALL_LOOPS_FLAG = "--xla_backend_extra_options=xla_cpu_small_while_loop_byte_threshold=10000000"

SCRIPT = r"""
import jax
jax.config.update("jax_enable_x64", True)
import jax.numpy as jnp
import ml_opt

def rosenbrock(x):
    return 100.0 * (x[1] - x[0] ** 2) ** 2 + (1.0 - x[0]) ** 2

x0 = jnp.array([-1.2, 1.0])
for name in ["bfgs", "lbfgs", "nonlinear_cg", "newton_cg"]:
    solve = jax.jit(lambda x, name=name: ml_opt.minimize(rosenbrock, x, getattr(ml_opt, name)(), gtol=1e-8))
    compiled = solve.lower(x0).compile()
    hlo = compiled.as_text()
    entry = hlo[hlo.index("\nENTRY"):]
    entry = entry[:entry.index("\n}")]
    # The solver loop is a call compiled as one function, not a while loop of the entry computation.
    hoisted = "xla_cpu_small_call" in entry and " while(" not in entry
    res = compiled(x0)
    print(name, hoisted, bool(res.converged), float(jnp.max(jnp.abs(res.params - 1.0))))
"""


def test_readme_names_the_setting_this_test_checks():
    assert SMALL_LOOPS_FLAG in (ROOT / "README.md").read_text()


def test_solver_loops_compile_into_one_function_and_still_reach_the_minimum():
    env = dict(os.environ, XLA_FLAGS=SMALL_LOOPS_FLAG, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = [line.split() for line in proc.stdout.splitlines()]
    assert [row[0] for row in rows] == ["bfgs", "lbfgs", "nonlinear_cg", "newton_cg"]
    for name, hoisted, converged, error in rows:
        assert hoisted == "True", f"{name}: XLA did not compile the solver loop into one function"
        assert converged == "True", name
        assert float(error) < 1e-6, (name, error)  # Rosenbrock's minimiser is (1, 1)
