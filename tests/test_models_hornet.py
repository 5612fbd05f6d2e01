"""HorNet: every activation (forward/backward), XLA train step, shapes, gnConv vs numpy."""
import numpy as np
import pytest
import tensorflow as tf

import backbone_testlib as bt
import layers
from models import hornet
from backbone_testlib import depthwise_same_np, randomize


@pytest.mark.parametrize('activation', layers.names())
def test_forward_backward_every_activation(activation):
    bt.check_forward_backward('hornet', activation)


def test_jit_train_step():
    bt.check_jit_train_step('hornet')


def test_output_shapes():
    bt.check_output_shapes('hornet', [16, 16, 32, 64])


def test_gnconv_widths():
    assert hornet.gnconv_widths(64, 2) == [32, 64]
    assert hornet.gnconv_widths(512, 5) == [32, 64, 128, 256, 512]
    with pytest.raises(ValueError, match='divisible'):
        hornet.gnconv_widths(12, 4)


@pytest.mark.parametrize('order', [1, 3])
def test_gnconv_matches_numpy(order):
    dim = 8
    layer = hornet.GnConv(dim, order)
    x = np.random.default_rng(0).normal(size=[1, 7, 9, dim]).astype(np.float32)
    layer(tf.constant(x))
    randomize(layer, 2, scale=0.4)
    got = layer(tf.constant(x)).numpy()[0]

    def pw(conv, t):
        return t @ conv.kernel.numpy()[0, 0] + conv.bias.numpy()

    widths = [dim // 2 ** i for i in range(order)][::-1]
    xx = x[0].astype(np.float64)
    fused = pw(layer.proj_in, xx)
    pwa, abc = fused[..., :widths[0]], fused[..., widths[0]:]
    assert abc.shape[-1] == sum(widths)
    dw = depthwise_same_np(abc, layer.dwconv.depthwise_kernel.numpy()[:, :, :, 0],
                           layer.dwconv.bias.numpy()) / 3.0
    qs, start = [], 0
    for w in widths:
        qs.append(dw[..., start:start + w])
        start += w
    p = pwa * qs[0]
    for k in range(order - 1):
        p = pw(layer.pws[k], p) * qs[k + 1]
    want = pw(layer.proj_out, p)
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4)
