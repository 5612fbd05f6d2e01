"""shufflenet_v2: every activation (forward/backward), XLA train step, endpoints, the authors'
settings per model_id (dropout, Meta-ACON ratio, initialisation) and clear errors.

The network's numbers (every layer, the channel shuffle, padding) are checked against the
authors' code by the weight-import fixtures (tests/test_import_weights.py) and their exact counts
(tests/test_param_counts_shufflenet*.py).
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import backbone_testlib as bt
import layers
from models import shufflenet


@pytest.mark.parametrize('activation', layers.names())
def test_forward_backward_every_activation(activation):
    bt.check_forward_backward('shufflenet_v2', activation)


@pytest.mark.parametrize('activation', ['relu', 'swish', 'acon_c', 'meta_acon', 'acon_frelu'])
def test_jit_train_step(activation):
    """The seed's four activations, and ACON-FReLU as an activation of another network."""
    bt.check_jit_train_step('shufflenet_v2', {'type': activation})


def test_output_shapes():
    bt.check_output_shapes('shufflenet_v2', [4, 8, 16, 32])


def test_channel_shuffle_split_is_even_and_odd_channels():
    x = np.arange(2 * 3 * 3 * 8, dtype=np.float32).reshape(2, 3, 3, 8)
    passed, main = shufflenet.ChannelShuffleSplit()(tf.constant(x))
    np.testing.assert_array_equal(passed.numpy(), x[..., [0, 2, 4, 6]])
    np.testing.assert_array_equal(main.numpy(), x[..., [1, 3, 5, 7]])
    with pytest.raises(ValueError, match='divisible by 4'):
        shufflenet.ChannelShuffleSplit()(tf.zeros([1, 2, 2, 6]))


def _backbone(model_id, **extra):
    from official.modeling import hyperparams  # pylint: disable=g-import-not-at-top
    from official_ext.configs import backbones  # pylint: disable=g-import-not-at-top
    cfg = backbones.ShuffleNetV2(model_id=model_id)
    hyperparams.override_params_dict(cfg, extra, is_strict=True)
    return cfg


@pytest.mark.parametrize('model_id,dropout,last,r', [
    ('0.5x', 0.0, 1024, 8), ('1.0x', 0.0, 1024, 16), ('1.5x', 0.0, 1024, 16),
    ('2.0x', 0.2, 2048, 16)])
def test_authors_settings_per_model_id(model_id, dropout, last, r):
    """nmaac/acon network.py: Dropout(0.2) only for 2.0x, last conv 2048 for 2.0x, Meta-ACON
    r = 8 for 0.5x; the stage widths of `stage_out_channels`."""
    widths = {'0.5x': [48, 96, 192], '1.0x': [116, 232, 464], '1.5x': [176, 352, 704],
              '2.0x': [244, 488, 976]}
    got = shufflenet.resolve(_backbone(model_id))
    assert got['dropout_rate'] == dropout and got['last_width'] == last
    assert got['meta_acon_r'] == r and got['dims'] == widths[model_id]
    assert got['depths'] == [4, 8, 4] and got['stem_width'] == 24
    explicit = shufflenet.resolve(_backbone(model_id, dropout_rate=0.1, meta_acon_r=4))
    assert explicit['dropout_rate'] == 0.1 and explicit['meta_acon_r'] == 4


def test_meta_acon_ratio_reaches_every_site():
    model = bt.build_tiny('shufflenet_v2', {'type': 'meta_acon'}, model_id='0.5x')
    cls = type(layers.get('meta_acon'))
    sites = [l for l in model.backbone.submodules if isinstance(l, cls)]
    # stem + (proj + 2 main) for each stage's first block, 2 per other block, + the last conv.
    depths = bt.TINY['shufflenet_v2']['depths']
    assert len(sites) == 1 + 3 * len(depths) + 2 * (sum(depths) - len(depths)) + 1
    assert {l.r for l in sites} == {8}


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match='0.5x'):
        shufflenet.resolve(_backbone('3.0x'))
    with pytest.raises(ValueError, match='must exceed'):
        bt.build_tiny('shufflenet_v2', stem_width=8, dims=[8, 16])
    with pytest.raises(ValueError, match='meta_acon_r'):
        shufflenet.resolve(_backbone('1.0x', activation={'type': 'meta_acon',
                                                         'meta_acon': {'r': 4}}))


def test_authors_initialisation():
    """_initialize_weights: stem conv N(0, 0.01); pointwise N(0, 1/C_in); depthwise N(0, 1);
    biases 0; BN gamma 1, beta 1e-4; classifier N(0, 0.01) with a zero bias."""
    tf_keras.utils.set_random_seed(0)
    model = bt.build({'type': 'shufflenet_v2', 'shufflenet_v2': {
        'model_id': '1.0x', 'dims': [64, 128, 256], 'depths': [1, 1, 1], 'stem_width': 32,
        'last_width': 512}}, input_size=32, num_classes=400)
    layer = {l.name: l for l in model.backbone.layers}
    stem = layer['stem_conv'].kernel.numpy()
    assert abs(stem.std() - 0.01) < 0.002
    pw = layer['block1_main_pw1_conv'].kernel.numpy()   # 64 in -> 64 (half of 128)
    assert abs(pw.std() - 1.0 / pw.shape[2]) < 0.15 / pw.shape[2]
    dw = layer['block1_main_dw_conv'].depthwise_kernel.numpy()
    assert abs(dw.std() - 1.0) < 0.15
    assert not layer['block1_main_pw1_conv'].bias.numpy().any()
    bn = layer['block1_main_pw1_bn']
    np.testing.assert_array_equal(bn.beta.numpy(), 1e-4)
    np.testing.assert_array_equal(bn.gamma.numpy(), 1.0)
    from official_ext import head_init  # pylint: disable=g-import-not-at-top
    head = head_init.classifier(model)
    assert abs(head.kernel.numpy().std() - 0.01) < 0.001 and not head.bias.numpy().any()
    assert np.abs(head.kernel.numpy()).max() > 0.03   # untruncated normal


def test_dropout_sits_before_the_classifier():
    model = bt.build_tiny('shufflenet_v2', dropout_rate=0.5)
    dropout = model.backbone.get_layer('head_dropout')
    assert dropout.rate == 0.5
    x = tf.random.normal([2, bt.TINY_INPUT, bt.TINY_INPUT, 3])
    feat = model.backbone(x, training=False)['pre_logits']
    np.testing.assert_allclose(model.backbone(x, training=False)['pre_logits'], feat)
    assert np.any(model.backbone(x, training=True)['pre_logits'].numpy() == 0)


def test_meta_acon_generator_starts_from_the_authors_init():
    """Their fc1/fc2 are Conv2d modules of the network: N(0, 1/C_in), bias 0; BN beta 1e-4."""
    tf_keras.utils.set_random_seed(0)
    model = bt.build_tiny('shufflenet_v2', {'type': 'meta_acon'}, dims=[256, 512],
                          stem_width=128, last_width=512, meta_acon_r=2)
    site = model.backbone.get_layer('last_act')
    for dense in (site.fc1, site.fc2):
        kernel = dense.kernel.numpy()
        assert abs(kernel.std() - 1.0 / kernel.shape[0]) < 0.1 / kernel.shape[0]
        assert not dense.bias.numpy().any()
    for bn in (site.bn1, site.bn2):
        np.testing.assert_allclose(bn.beta.numpy(), 1e-4)
