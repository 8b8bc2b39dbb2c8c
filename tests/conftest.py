"""Tests run in float64 by default: references are float64 transcriptions, scipy and closed forms.

Tests about other dtypes create float32 / bfloat16 arrays explicitly.
"""

import jax

jax.config.update("jax_enable_x64", True)
