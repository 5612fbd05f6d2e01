"""ConvNeXt: every activation (forward/backward), XLA train step, shapes, one block vs numpy."""
import numpy as np
import pytest
import tensorflow as tf

import backbone_testlib as bt
import layers
from backbone_testlib import depthwise_same_np, gelu_np, layer_norm_np, randomize
from models import convnext


@pytest.mark.parametrize('activation', layers.names())
def test_forward_backward_every_activation(activation):
    bt.check_forward_backward('convnext', activation)


def test_jit_train_step():
    bt.check_jit_train_step('convnext', {'type': 'tpgu', 'tpgu': {'orders': [2, 3]}})


def test_output_shapes():
    bt.check_output_shapes('convnext', [8, 16, 24, 32])


def test_block_matches_numpy():
    dim = 6
    block = convnext.ConvNeXtBlock(dim, layers.get('gelu'), drop_path=0.0,
                                   layer_scale_init_value=1e-6)
    x = np.random.default_rng(0).normal(size=[1, 9, 8, dim]).astype(np.float32)
    block(tf.constant(x))
    randomize(block, 1)
    got = block(tf.constant(x), training=False).numpy()[0]

    k = block.dwconv.depthwise_kernel.numpy()[:, :, :, 0]
    y = depthwise_same_np(x[0].astype(np.float64), k, block.dwconv.bias.numpy())
    y = layer_norm_np(y, block.norm.gamma.numpy(), block.norm.beta.numpy(), 1e-6)
    y = gelu_np(y @ block.pwconv1.kernel.numpy() + block.pwconv1.bias.numpy())
    y = y @ block.pwconv2.kernel.numpy() + block.pwconv2.bias.numpy()
    want = x[0] + y * block.layer_scale.gamma.numpy()
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)


def test_block_defaults_layer_scale_and_drop_path_schedule():
    from models import common
    block = convnext.ConvNeXtBlock(4, layers.get('gelu'))
    block(tf.zeros([1, 7, 7, 4]))
    np.testing.assert_allclose(block.layer_scale.gamma.numpy(), np.full([4], 1e-6))
    rates = common.drop_path_rates(0.4, [3, 3, 27, 3])
    flat = [r for s in rates for r in s]
    assert len(flat) == 36 and flat[0] == 0.0 and abs(flat[-1] - 0.4) < 1e-12
    np.testing.assert_allclose(np.diff(flat), np.full([35], 0.4 / 35), rtol=1e-9)


def test_unknown_model_id_names_the_fix():
    with pytest.raises(ValueError, match="tiny.*small|dims"):
        bt.build({'type': 'convnext', 'convnext': {'model_id': 'huge'}}, 32, 5)
