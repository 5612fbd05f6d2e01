"""tfnet: the authors' exact counts and the seed's FLOPs/params for every size, forward/backward,
XLA train step, endpoints, the authors' per-size settings, and clear errors.

Layer-by-layer agreement with the authors' TFNet is checked by the weight-import fixture
(tests/test_import_weights.py, `tfnet`). Counts: `acon_light_testlib` (from their code).
"""
import numpy as np
import pytest
import tf_keras

import acon_light_testlib as ref
import backbone_testlib as bt
import layers
from models import tfnet


@pytest.mark.slow
@pytest.mark.parametrize('model_id', sorted(ref.TFNET_PARAMS))
def test_exact_counts_and_seed_figures(model_id):
    model = bt.build({'type': 'tfnet', 'tfnet': {'model_id': model_id}})
    assert bt.trainable_count(model) == ref.TFNET_PARAMS[model_id]
    assert ref.kernel_count(model) == ref.TFNET_KERNEL_PARAMS[model_id]
    macs = ref.conv_dense_macs(model)
    assert macs == ref.TFNET_MACS[model_id]
    flops, params = ref.SEED_TFNET[model_id]
    assert -(-macs // 1_000_000) == flops
    assert round(ref.kernel_count(model) / 1e6, 1) == params
    tf_keras.backend.clear_session()


def test_forward_backward():
    bt.check_forward_backward('tfnet', 'acon_frelu')


def test_jit_train_step():
    bt.check_jit_train_step('tfnet', {'type': 'acon_frelu'})


def test_output_shapes():
    bt.check_output_shapes('tfnet', [8, 16, 32, 64])


def test_structure_of_blocks():
    """Per block two ACON-FReLUs (inside the branch at stride 1, after the merge at the block's
    stride), plus the last conv's: 2 x blocks + 1, with stride 2 at each stage's first block."""
    depths = [2, 1]
    model = bt.build_tiny('tfnet', depths=depths)
    cls = type(layers.get('acon_frelu'))
    sites = {l.name: l for l in model.backbone.submodules if isinstance(l, cls)}
    assert len(sites) == 2 * sum(depths) + 1
    strides = {n: l.stride for n, l in sites.items() if n.endswith('_act_out')}
    assert strides == {'block0_act_out': 2, 'block1_act_out': 1, 'block2_act_out': 2}
    assert all(l.stride == 1 for n, l in sites.items() if not n.endswith('_act_out'))
    assert isinstance(model.backbone.get_layer('stem_act'), tf_keras.layers.ReLU)


@pytest.mark.parametrize('model_id,stem,dropout', [
    ('0.5', 8, 0.0), ('1.0', 16, 0.2), (1.5, 24, 0.2), ('2.0', 32, 0.2)])
def test_authors_settings_per_size(model_id, stem, dropout):
    """network.py: in_channel = int(16 * model_size); Dropout(0.2) when model_size > 0.5."""
    from official_ext.configs import backbones  # pylint: disable=g-import-not-at-top
    cfg = backbones.TFNet()
    cfg.override({'model_id': model_id})
    got = tfnet.resolve(cfg)
    assert got == {'stem_width': stem, 'depths': [2, 3, 8, 3], 'last_width': 1024,
                   'dropout_rate': dropout}


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match='acon_frelu'):
        bt.build_tiny('tfnet', {'type': 'relu'})
    with pytest.raises(ValueError, match='model_id'):
        bt.build_tiny('tfnet', model_id='3.0', stem_width=0)


def test_authors_initialisation():
    tf_keras.utils.set_random_seed(0)
    model = bt.build_tiny('tfnet', stem_width=64, depths=[1, 1])
    layer = {l.name: l for l in model.backbone.layers}
    assert abs(layer['stem_conv'].kernel.numpy().std() - 0.01) < 0.002
    pw = layer['block1_pw1_conv'].kernel.numpy()      # 128 -> 128
    assert abs(pw.std() - 1.0 / 128) < 0.1 / 128
    frelu = layer['block1_act1'].conv_frelu.depthwise_kernel.numpy()
    assert abs(frelu.std() - 0.01) < 0.003
    np.testing.assert_array_equal(layer['block1_pw1_bn'].beta.numpy(), 1e-4)
    np.testing.assert_array_equal(layer['block1_act1'].bn2.beta.numpy(), 1e-4)


def test_mixed_bfloat16_forward():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
        model = bt.build_tiny('tfnet')
        out = model(tf.random.normal([2, bt.TINY_INPUT, bt.TINY_INPUT, 3]), training=True)
        assert np.all(np.isfinite(tf.cast(out, tf.float32).numpy()))
        assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    finally:
        tf_keras.mixed_precision.set_global_policy('float32')
