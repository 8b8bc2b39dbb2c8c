"""Test losses: analytic 2-D functions, the Moré-Garbow-Hillstrom set, the seeds' losses, ML losses on
data that scikit-learn ships, conditioning quadratics and Flax networks. Each is a :class:`Problem`."""

from ml_opt.problems.base import Problem
