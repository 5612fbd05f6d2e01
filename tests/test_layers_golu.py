"""GoLU vs an independent numpy formula; finite gradients where naive autodiff gives NaN."""
import numpy as np
import pytest
import tensorflow as tf

import layers
from act_reference import GRID, REFS, check_case, grid2d

X = grid2d(GRID)


@pytest.mark.parametrize('settings', [
    {}, {'alpha': 1.2, 'beta': 0.8, 'gamma': 1.5}, {'alpha': 0.7, 'beta': 2.0, 'gamma': 0.3}])
def test_fixed_values_and_grads(settings):
    kw = {k: v for k, v in settings.items()}
    check_case('golu', REFS['golu'], X, settings, {}, ref_kwargs=kw)


def test_learnable_values_and_grads():
    check_case('golu', REFS['golu'], X, {'learnable': True, 'alpha': 9.0},
               {'alpha': 1.2, 'beta': 0.8, 'gamma': 1.5})


def test_default_is_fixed_and_learnable_names():
    fixed = layers.get('golu')
    fixed.build([None, 4])
    assert fixed.trainable_weights == []
    learn = layers.get({'type': 'golu', 'golu': {'learnable': True, 'beta': 0.5}})
    learn.build([None, 4])
    assert [w.name.split('/')[-1] for w in learn.trainable_weights] == ['alpha:0', 'beta:0', 'gamma:0']
    assert all(w.shape == () for w in learn.trainable_weights)
    assert learn.trainable_weights[1].numpy() == 0.5


def test_slope_at_zero_is_inverse_e():
    x = tf.constant([[0.0]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layers.get('golu')(x)
    np.testing.assert_allclose(tape.gradient(y, x).numpy(), np.exp(-1.0), rtol=1e-6)


@pytest.mark.parametrize('dtype', ['float32', 'bfloat16', 'float16'])
def test_far_negative_gradient_finite_and_zero(dtype):
    """x ≲ −88.7 (float32) / −12 (float16): naive autodiff gives 0·inf = NaN; here 0."""
    x = tf.constant([[-1e4, -200.0, -100.0, -89.0, -60.0, -13.0, -12.0]], dtype)
    layer = layers.get({'type': 'golu', 'golu': {'learnable': True}}, name='g')
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    gx, *gp = tape.gradient(y, [x] + layer.trainable_weights)
    assert np.all(np.isfinite(y.numpy().astype(np.float32)))
    for g in [gx] + gp:
        assert np.all(np.isfinite(np.asarray(g.numpy(), np.float32)))
    np.testing.assert_array_equal(np.asarray(gx.numpy(), np.float32), 0.0)
