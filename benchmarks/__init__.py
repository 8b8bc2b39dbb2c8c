"""The benchmark harness of ml_opt: ``python -m benchmarks``.

It runs ml_opt's optimizers, optax's equivalents and ``scipy.optimize.minimize`` side by side on the
test losses of :mod:`ml_opt.problems`, records every run as a JSON line, and writes a Markdown report
with PNG plots. See ``python -m benchmarks --help`` and ``docs/benchmarks.md``.

Modules:
  cli             the command line
  suites          which problems and optimizers each suite runs
  optimizers      the optimizers the harness knows (ml_opt, optax, scipy) and their grids
  runner          the drivers: vmapped sweeps, AOT-timed compiled calls, the trajectory pass
  scipy_baseline  scipy.optimize.minimize on the same problems
  records         the per-run record (JSON lines) and success test
  profiles        Dolan-Moré performance profiles and Moré-Wild data profiles
  plots, report   the figures and report.md, from saved records only
"""
