"""ml_opt: optimization algorithms for machine learning, in JAX.

The public API, re-exported from the modules where each name is defined.
"""

from ml_opt.first_order import adagrad, adam, momentum, nesterov, rmsprop, rmsprop_nesterov, sgd
from ml_opt.gradcheck import GradCheck, check_grad
from ml_opt.minimize import Result, Status, minimize

__version__ = "0.1.0"
