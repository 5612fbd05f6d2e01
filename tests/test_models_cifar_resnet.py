"""cifar_resnet / cifar_wide_resnet: every activation, an XLA train step, endpoints, the
authors' head BatchNorm momentum, errors. Counts and activation sites against the authors'
networks: tests/test_param_counts_cifar.py."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import backbone_testlib as bt

@pytest.mark.parametrize('family', ['cifar_resnet', 'cifar_wide_resnet'])
@pytest.mark.parametrize('activation', ['relu', 'gelu', 'swish', 'mish', 'golu', 'tpgu'])
def test_forward_backward(family, activation):
    bt.check_forward_backward(family, activation)


@pytest.mark.parametrize('family', ['cifar_resnet', 'cifar_wide_resnet'])
def test_jit_train_step(family):
    bt.check_jit_train_step(family, {'type': 'golu'})


@pytest.mark.parametrize('family,channels', [('cifar_resnet', [4, 8]),
                                             ('cifar_wide_resnet', [4, 8])])
def test_endpoints_are_levels_of_the_stride(family, channels):
    model = bt.build_tiny(family)
    endpoints = model.backbone(tf.zeros([2, 32, 32, 3]), training=False)
    assert sorted(endpoints) == ['0', '1']
    for level, c in zip(('0', '1'), channels):
        side = 32 // 2 ** int(level)
        assert tuple(endpoints[level].shape) == (2, side, side, c)


def test_wide_resnet_head_norm_keeps_the_authors_momentum():
    """Their head `BatchNorm2d(momentum=0.9)` weighs the batch by 0.9: Keras momentum 0.1."""
    model = bt.build_tiny('cifar_wide_resnet')
    bn = model.backbone.get_layer('head_bn')
    assert bn.momentum == pytest.approx(0.1)
    assert model.backbone.get_layer('stage1_block0_bn1').momentum == pytest.approx(0.9)
    x = np.random.default_rng(0).normal(size=[4, 32, 32, 3]).astype(np.float32)
    features = model.backbone.get_layer('stage2_block0_add').output
    probe = tf_keras.Model(model.backbone.inputs, features)
    batch_mean = probe(x, training=True).numpy().mean(axis=(0, 1, 2))
    model(x, training=True)
    np.testing.assert_allclose(bn.moving_mean.numpy(), 0.9 * batch_mean, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('family,bad,match', [
    ('cifar_resnet', {'model_id': 18}, 'unknown model_id 18'),
    ('cifar_wide_resnet', {'model_id': '40-4'}, "unknown model_id '40-4'"),
    ('cifar_resnet', {'model_id': 0, 'dims': [4, 8], 'depths': [1]}, 'one entry per stage'),
])
def test_bad_sizes_name_the_problem(family, bad, match):
    with pytest.raises(ValueError, match=match):
        bt.build({'type': family, family: bad}, input_size=32, num_classes=10)
