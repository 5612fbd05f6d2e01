"""ReLU, GELU (exact and tanh), Swish/SiLU, Mish vs independent numpy formulas."""
import numpy as np
import pytest
import tensorflow as tf

import layers
from act_reference import GRID, REFS, check_case, grad_grid, grid2d

X = grid2d(grad_grid(GRID))


@pytest.mark.parametrize('name', ['relu', 'gelu', 'swish', 'silu', 'mish'])
def test_values_and_grads(name):
    check_case(name, REFS[name], X)


def test_gelu_tanh_approximation():
    check_case('gelu', REFS['gelu_tanh'], X, {'approximate': True})


def test_gelu_default_is_exact_not_tanh():
    x = tf.constant([[1.5]])
    exact = layers.get('gelu')(x).numpy()
    approx = layers.get({'type': 'gelu', 'gelu': {'approximate': True}})(x).numpy()
    np.testing.assert_allclose(exact, REFS['gelu'](np.array([[1.5]])), rtol=1e-6)
    assert abs(exact - approx).max() > 1e-5
