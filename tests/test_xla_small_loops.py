"""The README's XLA:CPU setting for loops of your own takes effect and leaves the solvers correct.

XLA:CPU's ``SmallWhileLoopHoistingPass`` compiles a ``while`` loop whose one iteration touches fewer
bytes than ``xla_cpu_small_while_loop_byte_threshold`` into one function, not into a call per fused
kernel. The README gives the setting that raises the threshold with ``XLA_FLAGS``, for loops that
``minimize`` does not run (it marks its own solves as small calls); XLA reads the variable once,
when the process first compiles, so the checks run in fresh processes, with and without it.
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

# A loop of one's own, not minimize's (which marks its own call): 1000 float64 numbers per iteration,
# over XLA's default threshold of 1024 bytes.
loop = jax.jit(lambda x: jax.lax.while_loop(lambda c: c[1] < 10, lambda c: (jnp.sin(c[0]), c[1] + 1), (x, 0))[0])
hlo = loop.lower(jnp.ones(1000)).compile().as_text()
entry = hlo[hlo.index("\nENTRY"):]
entry = entry[:entry.index("\n}")]
print("own_loop", "xla_cpu_small_call" in entry and " while(" not in entry, True, 0.0)
x0 = jnp.array([-1.2, 1.0])
for name in ["bfgs", "lbfgs", "nonlinear_cg", "newton_cg"]:
    res = jax.jit(lambda x, name=name: ml_opt.minimize(rosenbrock, x, getattr(ml_opt, name)(), gtol=1e-8))(x0)
    print(name, True, bool(res.converged), float(jnp.max(jnp.abs(res.params - 1.0))))
"""


def test_readme_names_the_setting_this_test_checks():
    assert SMALL_LOOPS_FLAG in (ROOT / "README.md").read_text()


def _run(flags):
    env = dict(os.environ, XLA_FLAGS=flags, JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return [line.split() for line in proc.stdout.splitlines()]


def test_the_setting_compiles_a_loop_into_one_function_and_the_solvers_still_reach_the_minimum():
    rows = _run(SMALL_LOOPS_FLAG)
    assert [row[0] for row in rows] == ["own_loop", "bfgs", "lbfgs", "nonlinear_cg", "newton_cg"]
    assert rows[0][1] == "True", "XLA did not compile the loop into one function under the setting"
    for name, _, converged, error in rows[1:]:
        assert converged == "True", name
        assert float(error) < 1e-6, (name, error)  # Rosenbrock's minimiser is (1, 1)
    assert _run("")[0][1] == "False", "without the setting the loop is compiled as before"
