"""The seed-003 trainable set (CosLU, SinLU, DELU, HELU, LinComb, NormLinComb, ReLUN,
ScaledSoftSign, ShiLU) vs independent numpy formulas, scalar and per-channel."""
import numpy as np
import pytest
import tensorflow as tf

import layers
from act_reference import GRID, REFS, check_case, grad_grid, grid2d, weight_key

X = grid2d(grad_grid(GRID))
W = [0.5, -0.3, 0.8, 0.2]
WC = [[0.5, 0.1, -0.2], [-0.3, 0.4, 0.9], [0.8, 0.3, 0.1], [0.2, -0.6, 0.7]]
SCALAR = {
    'coslu': {'a': 0.7, 'b': 1.3},
    'sinlu': {'a': 0.7, 'b': 1.3},
    'delu': {'n': 0.4},
    'lincomb': {'w': W},
    'normlincomb': {'w': W},
    'relun': {'n': 1.7},
    'scaledsoftsign': {'alpha': 1.5, 'beta': 0.6},
    'shilu': {'alpha': 0.8, 'beta': -0.2},
}
PER_CHANNEL = {
    'coslu': {'a': [0.7, -0.5, 1.2], 'b': [1.3, 0.4, 2.0]},
    'sinlu': {'a': [0.7, -0.5, 1.2], 'b': [1.3, 0.4, 2.0]},
    'delu': {'n': [0.4, -0.2, 1.0]},
    'lincomb': {'w': WC},
    'normlincomb': {'w': WC},
    'relun': {'n': [1.7, 0.7, 4.0]},
    'scaledsoftsign': {'alpha': [1.5, -0.5, 2.0], 'beta': [0.6, 1.0, 3.0]},
    'shilu': {'alpha': [0.8, 1.1, -0.3], 'beta': [-0.2, 0.0, 0.5]},
}
INIT = {  # authors' initial values
    'coslu': {'a': 1.0, 'b': 1.0}, 'sinlu': {'a': 1.0, 'b': 1.0}, 'delu': {'n': 0.0},
    'lincomb': {'w': 0.25}, 'normlincomb': {'w': 0.25}, 'relun': {'n': 1.0},
    'scaledsoftsign': {'alpha': 1.0, 'beta': 1.0}, 'shilu': {'alpha': 1.0, 'beta': 1.0},
}


# cos(b·x)/sin(b·x) at |b·x| ~ 1e4: float32 rounds the phase b·x by ~1e-3 rad, so derivatives
# carry an absolute error of that order (times |x| for ∂/∂b); the float64 reference does not.
TOL = {'coslu': dict(grad_rtol=1e-2, grad_atol=2e-3), 'sinlu': dict(grad_rtol=1e-2, grad_atol=2e-3)}


@pytest.mark.parametrize('name', sorted(SCALAR))
def test_scalar_values_and_grads(name):
    check_case(name, REFS[name], X, None, SCALAR[name], **TOL.get(name, {}))


@pytest.mark.parametrize('name', sorted(PER_CHANNEL))
def test_per_channel_values_and_grads(name):
    check_case(name, REFS[name], X, {'per_channel': True}, PER_CHANNEL[name], **TOL.get(name, {}))


def test_helu_values_and_grads():
    check_case('helu', REFS['helu'], X)


@pytest.mark.parametrize('name', sorted(INIT))
@pytest.mark.parametrize('per_channel', [False, True])
def test_weights_shapes_and_init(name, per_channel):
    layer = layers.get({'type': name, name: {'per_channel': per_channel}})
    layer.build([None, 5])
    got = {weight_key(v): v.numpy() for v in layer.trainable_weights}
    assert list(got) == list(INIT[name])
    for k, init in INIT[name].items():
        shape = ((4,) if k == 'w' else ()) + ((5,) if per_channel else ())
        assert got[k].shape == shape
        np.testing.assert_array_equal(got[k], np.full(shape, init))


@pytest.mark.parametrize('name', ['delu', 'helu'])
@pytest.mark.parametrize('dtype', ['float32', 'bfloat16', 'float16'])
def test_delu_far_negative_no_nan(name, dtype):
    """A mask multiply would give 0·inf = NaN in the forward pass for x ≲ −89."""
    x = tf.constant([[-1e4, -1000.0, -100.0, -89.0, -20.0, 0.0, 20.0]], dtype)
    layer = layers.get(name)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    g = tape.gradient(y, x)
    assert np.all(np.isfinite(np.asarray(y.numpy(), np.float32)))
    assert np.all(np.isfinite(np.asarray(g.numpy(), np.float32)))


@pytest.mark.parametrize('w', [[0.25, 0.25, -0.5, -1e-8], [0.0, 0.0, 0.0, 0.0], [1.0, -1.0, 0.0, 0.0]])
def test_normlincomb_division_safe(w):
    """Σw + 1e-8 ≈ 0: the denominator is clamped to ±1e-8, output and gradients stay finite."""
    layer = layers.get('normlincomb')
    layer.build([None, 3])
    layer.w.assign(w)
    x = tf.constant(grid2d(np.array([-100.0, -1.0, 0.5, 3.0])), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    gx, gw = tape.gradient(y, [x, layer.w])
    for t in (y, gx, gw):
        assert np.all(np.isfinite(t.numpy()))
