"""Test losses: analytic 2-D functions, the Moré-Garbow-Hillstrom set, Andrei's large functions, the
seeds' losses, ML losses on data that scikit-learn ships, conditioning quadratics and Flax networks.
Each is a :class:`Problem`.

The 35 MGH factories stay in :mod:`ml_opt.problems.mgh` (its ``rosenbrock`` and ``beale`` are the
least-squares forms, distinct from the analytic ones here).
"""

from ml_opt.problems.analytic import (
    ackley,
    analytic_problems,
    beale,
    goldstein_price,
    himmelblau,
    monkey_saddle,
    rastrigin,
    rosenbrock,
    saddle,
    sample_starts,
    six_hump_camel,
    styblinski_tang,
)
from ml_opt.problems.andrei import ANDREI_KEYS, andrei_problem, andrei_problems
from ml_opt.problems.base import Problem
from ml_opt.problems.datasets import (
    breast_cancer_logistic,
    dataset_problems,
    diabetes_least_squares,
    digits_softmax,
    load_split,
)
from ml_opt.problems.mgh import LOCAL_MINIMA as MGH_LOCAL_MINIMA
from ml_opt.problems.mgh import MGHInfo, mgh_info, mgh_problem, mgh_problems
from ml_opt.problems.networks import (
    CNN,
    MLP,
    ElmanRNN,
    digits_cnn,
    digits_data,
    digits_mlp,
    sequence_data,
    sequence_rnn,
)
from ml_opt.problems.quadratics import ill_conditioned_quadratic, noisy_quadratic, quadratic_problems
from ml_opt.problems.seeds import (
    HOUSE_TABLE,
    house_logistic,
    house_prices_least_squares,
    house_sigmoid_mse,
    kmeans,
    perceptron,
    polynomial_regression,
    seed_problems,
    softmax_regression,
    uv_regression,
)
