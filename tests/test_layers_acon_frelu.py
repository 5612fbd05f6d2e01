"""ACON-FReLU against a float64 numpy reference of TFNet's `Acon_FReLU` (both strides, inference
and training BatchNorm), its shape rules, errors, initial values and the weight-decay hook."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import layers
from tests import train_testlib as lib

EPS = 1e-5


def _layer(stride=1):
    return layers.get({'type': 'acon_frelu', 'acon_frelu': {'stride': stride}})


def _randomize(layer, seed):
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        name = v.name.split('/')[-1]
        if name.startswith('moving_variance'):
            v.assign(0.5 + rng.random(v.shape))
        elif name.startswith('gamma'):
            v.assign(1.0 + 0.3 * rng.normal(size=v.shape))
        else:
            v.assign(0.5 * rng.normal(size=v.shape))


def _pad(x, value):
    return np.pad(x, [(0, 0), (1, 1), (1, 1), (0, 0)], constant_values=value)


def _reference(layer, x, training):
    """y = BN2((x1 - x2)·σ(x1 - x2) + x2), x2 = BN1(dwconv(x)), x1 = x or maxpool(x)."""
    w = {v.name.split('/', 1)[1].split(':')[0]: v.numpy().astype(np.float64) for v in layer.weights}
    s = layer.stride
    n, h, wd, c = x.shape
    oh, ow = (h - 1) // s + 1, (wd - 1) // s + 1
    xp = _pad(x, 0.0)
    conv = np.zeros([n, oh, ow, c])
    k = w['conv_frelu/depthwise_kernel'][..., 0]
    for a in range(3):
        for b in range(3):
            conv += xp[:, a:a + s * (oh - 1) + 1:s, b:b + s * (ow - 1) + 1:s, :] * k[a, b]
    conv += w['conv_frelu/bias']
    if s == 2:
        xm = _pad(x, -np.inf)
        x1 = np.full([n, oh, ow, c], -np.inf)
        for a in range(3):
            for b in range(3):
                x1 = np.maximum(x1, xm[:, a:a + 2 * (oh - 1) + 1:2, b:b + 2 * (ow - 1) + 1:2, :])
    else:
        x1 = x

    def bn(z, name):
        if training:
            mean, var = z.mean((0, 1, 2)), z.var((0, 1, 2))
        else:
            mean, var = w[f'{name}/moving_mean'], w[f'{name}/moving_variance']
        return (z - mean) / np.sqrt(var + EPS) * w[f'{name}/gamma'] + w[f'{name}/beta']

    x2 = bn(conv, 'bn1')
    d = x1 - x2
    return bn(d / (1.0 + np.exp(-d)) + x2, 'bn2')


@pytest.mark.parametrize('stride,shape', [(1, (2, 6, 5, 4)), (2, (2, 6, 6, 4)),
                                          (2, (3, 7, 5, 3))])
@pytest.mark.parametrize('training', [False, True])
def test_matches_numpy_reference(stride, shape, training):
    layer = _layer(stride)
    x = np.random.default_rng(1).normal(0, 2, shape)
    layer(tf.constant(x, tf.float32))
    _randomize(layer, 2)
    got = layer(tf.constant(x, tf.float32), training=training).numpy()
    want = _reference(layer, x, training)
    assert got.shape == want.shape == layer.compute_output_shape(shape)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_stride_two_under_xla_equals_eager():
    layer = _layer(2)
    x = tf.random.normal([2, 7, 8, 4], seed=3)
    layer(x)
    _randomize(layer, 4)
    eager = layer(x, training=True)
    jit = tf.function(lambda t: layer(t, training=True), jit_compile=True)(x)
    np.testing.assert_allclose(jit.numpy(), eager.numpy(), rtol=1e-5, atol=1e-5)


def test_initial_values_are_tfnets():
    tf_keras.utils.set_random_seed(0)
    layer = _layer()
    layer(tf.zeros([1, 4, 4, 256]))
    kernel = layer.conv_frelu.depthwise_kernel.numpy()
    assert abs(kernel.std() - 0.01) < 0.001
    assert not layer.conv_frelu.bias.numpy().any()
    for bn in (layer.bn1, layer.bn2):
        np.testing.assert_array_equal(bn.beta.numpy(), 1e-4)
        np.testing.assert_array_equal(bn.gamma.numpy(), 1.0)
        assert abs(bn.momentum - 0.9) < 1e-12 and abs(bn.epsilon - EPS) < 1e-12
    assert len(layer.trainable_weights) == 6   # kernel, bias, 2 x (gamma, beta)


def test_errors_name_the_problem():
    with pytest.raises(ValueError, match=r'rank-4 \[batch, height, width, channels\]'):
        _layer()(tf.zeros([2, 5, 8]))
    with pytest.raises(ValueError, match='stride must be 1 or 2'):
        _layer(3)


@pytest.mark.parametrize('path,activation_weights', [
    ('acon_lightweight/tfnet_0.5.yaml', 'conv_frelu'),
    ('acon_lightweight/shufflenet_v2_0.5x_meta_acon.yaml', 'fc'),
])
def test_recipe_decays_every_kernel_and_nothing_else(path, activation_weights):
    """The authors' get_parameters: weight decay 4e-5 on every >= 2-D weight (conv, depthwise,
    fc, Meta-ACON's fc1/fc2, ACON-FReLU's funnel conv), never on biases, BN or ACON's p1/p2."""
    import os  # pylint: disable=g-import-not-at-top
    cfg = lib.reduced(lib.load(os.path.join(lib.CONFIG_DIR, path)))
    assert cfg.task.losses.l2_weight_decay == 4e-5
    model = lib.build(cfg)
    kernels = [v for v in model.trainable_variables if len(v.shape) >= 2]
    assert any(activation_weights in v.name for v in kernels)
    want = 4e-5 / 2 * sum(float(np.sum(np.square(v.numpy()))) for v in kernels)
    got = float(tf.add_n(model.losses))
    assert got == pytest.approx(want, rel=1e-5)
