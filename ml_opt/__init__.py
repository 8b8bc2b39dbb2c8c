"""ml_opt: optimization algorithms for machine learning, in JAX.

The public API, re-exported from the modules where each name is defined. Line searches stay in
their module (``ml_opt.linesearch.zoom()``), as do the test losses (``ml_opt.problems``), the
initializers (``ml_opt.initializers``) and checkpoints (``ml_opt.checkpoint``).
"""

from ml_opt import checkpoint, initializers, linesearch, problems
from ml_opt.averaging import PolyakAveragingState, averaged_params, polyak_averaging
from ml_opt.compilation import solver_compiler_options
from ml_opt.conjugate_gradient import nonlinear_cg
from ml_opt.first_order import adagrad, adam, momentum, nesterov, rmsprop, rmsprop_nesterov, sgd
from ml_opt.gradcheck import GradCheck, check_grad
from ml_opt.least_squares import gauss_newton, levenberg_marquardt
from ml_opt.minimize import Result, Status, minimize
from ml_opt.newton import newton, newton_cg, saddle_free_newton
from ml_opt.quasi_newton import bfgs, lbfgs
from ml_opt.schedules import cyclical_triangular, inverse_sqrt_time, inverse_time
from ml_opt.trust_region import trust_region_newton
from ml_opt.training import CompiledFit, History, compile_fit, fit

__version__ = "0.1.0"
