"""cifar_resnet / cifar_wide_resnet: the GoLU authors' counts and activation sites, every
activation, an XLA train step.

References (automl/GoLU tasks/small_poc/resnet.py and wide_resnet.py, 10 classes, counted with
PyTorch from the authors' modules; never computed by the code under test):
- parameters: ResNet-20 272,474; -32 466,906; -44 661,338; -56 855,770; -110 1,730,714;
  WideResNet-28-2 1,469,642;
- activation call sites: each `get_activation_function(...)` module of their code is called
  once per forward (forward hooks on every nn.ReLU gave 19 / 31 / 43 / 55 / 109 calls and 25):
  ResNet-(6n+2) has the stem's + 2 per basic block x 3n blocks = 6n + 1; WideResNet-28-2 (n = 4)
  has 2 per pre-activation block x 12 + the head's = 25. The authors' swap replaces every one,
  so a GoLU network has exactly that many GoLU layers and no other activation.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import backbone_testlib as bt
import layers
from layers import base as act_base

AUTHORS_RESNET = {20: (272_474, 19), 32: (466_906, 31), 44: (661_338, 43),
                  56: (855_770, 55), 110: (1_730_714, 109)}
AUTHORS_WRN = {'28-2': (1_469_642, 25)}


def activation_sites(model):
    """(configured-GoLU sites, every activation layer of any kind) in the backbone."""
    golu_cls = type(layers.get('golu'))
    acts = [l for l in model.backbone.submodules
            if isinstance(l, (act_base.ActivationLayer, tf_keras.layers.ReLU,
                              tf_keras.layers.Activation))]
    return sum(isinstance(l, golu_cls) for l in acts), len(acts)


def _check(family, model_id, count, sites):
    model = bt.build({'type': family, family: {'model_id': model_id,
                                               'activation': {'type': 'golu'}}},
                     input_size=32, num_classes=10)
    assert bt.trainable_count(model) == count   # GoLU has no trainable parameters
    assert activation_sites(model) == (sites, sites)
    tf_keras.backend.clear_session()


@pytest.mark.slow
@pytest.mark.parametrize('model_id', sorted(AUTHORS_RESNET))
def test_resnet_counts_and_sites_equal_the_authors(model_id):
    _check('cifar_resnet', model_id, *AUTHORS_RESNET[model_id])


@pytest.mark.parametrize('model_id', sorted(AUTHORS_WRN))
def test_wide_resnet_counts_and_sites_equal_the_authors(model_id):
    _check('cifar_wide_resnet', model_id, *AUTHORS_WRN[model_id])


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
