"""PosMLP: exact counts, every activation, XLA step, shapes, PoSGU (GQPE/LRPE) vs numpy."""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import backbone_testlib as bt
import layers
from models import posmlp

PUBLISHED = {'tiny': 20_925_538, 'small': 36_816_450}


@pytest.mark.slow
@pytest.mark.parametrize('model_id', sorted(PUBLISHED))
def test_exact_trainable_counts(model_id):
    model = bt.build({'type': 'posmlp', 'posmlp': {'model_id': model_id}})
    assert bt.trainable_count(model) == PUBLISHED[model_id]
    tf_keras.backend.clear_session()


@pytest.mark.parametrize('activation', layers.names())
def test_forward_backward_every_activation(activation):
    bt.check_forward_backward('posmlp', activation)


def test_jit_train_step():
    bt.check_jit_train_step('posmlp')


def test_output_shapes():
    bt.check_output_shapes('posmlp', [8, 16, 32, 64])


def test_lrpe_option_counts():
    """LRPE swaps GQPE's 6γ per block for a (2w−1)²·γ table (the per-token bias stays)."""
    gq = bt.trainable_count(bt.build_tiny('posmlp'))
    lr = bt.trainable_count(bt.build_tiny('posmlp', positional_encoding='lrpe'))
    cfg = bt.TINY['posmlp']
    diff = sum(d * ((2 * w - 1) ** 2 * g - 6 * g)
               for d, w, g in zip(cfg['depths'], cfg['window_sizes'], cfg['groups']))
    assert lr - gq == diff


def posgu_np(u, center, shape, bias, window, groups):
    """GQPE mixing, token by token, written the authors' way (Zhicaiwww/PosMLP posmlp2D.py):
    features [x, y, x², y², xy] of the offset with x = Δcol and y = −Δrow, dotted with
    −½·[−2(aδ1 + bδ2), −2(cδ2 + dδ1), a, c, b + d] where [[a, b], [d, c]] = S Sᵀ; softmax over
    the input tokens n, then the per-token bias of the output token m."""
    h, w, c = u.shape
    out = np.zeros_like(u)
    for wr in range(0, h, window):
        for wc in range(0, w, window):
            tokens = [(wr + i, wc + j) for i in range(window) for j in range(window)]
            for m, (rm, cm) in enumerate(tokens):
                for ch in range(c):
                    s = ch % groups
                    inv = shape[s] @ shape[s].T
                    a, b, cc, d = inv[0, 0], inv[0, 1], inv[1, 1], inv[1, 0]
                    d1, d2 = center[s]
                    proj = -0.5 * np.array([-2 * (a * d1 + b * d2), -2 * (cc * d2 + d * d1),
                                            a, cc, b + d])
                    scores = []
                    for rn, cn in tokens:
                        x, y = cn - cm, -(rn - rm)
                        scores.append(np.dot([x, y, x * x, y * y, x * y], proj))
                    p = np.exp(np.array(scores) - max(scores))
                    p /= p.sum()
                    out[rm, cm, ch] = sum(pi * u[rn, cn, ch] for pi, (rn, cn) in
                                          zip(p, tokens)) + bias[m]
    return out


def test_relative_offsets_are_the_authors_convention():
    """Token 0 is the window's top-left corner: the token right of it is at Δ = (1, 0), the
    token below it at Δ = (0, −1) (x to the right, y upwards)."""
    off = posmlp.relative_offsets(3)
    np.testing.assert_array_equal(off[0, 1], [1, 0])
    np.testing.assert_array_equal(off[0, 3], [0, -1])
    np.testing.assert_array_equal(off[4, 0], [-1, 1])


def test_gqpe_and_conv_initial_values_are_the_authors():
    """δ ~ N(0, 0.01), S = I + N(0, 0.01); stem/downsample convs trunc_normal(0.02)."""
    tf_keras.utils.set_random_seed(0)
    layer = posmlp.PoSGU(7, 64, 'gqpe')
    layer(tf.zeros([1, 7, 7, 128]))
    center, noise = layer.center.numpy(), layer.shape_factor.numpy() - np.eye(2)
    assert abs(center.std() - 0.01) < 0.002 and abs(noise.std() - 0.01) < 0.002
    model = bt.build_tiny('posmlp')
    for name in ('stem_conv1', 'stem_conv2', 'stem_conv3', 'downsample1_conv'):
        kernel = model.backbone.get_layer(name).weights[0].numpy()
        assert 0.012 < kernel.std() < 0.025, (name, kernel.std())


def test_posgu_gqpe_matches_numpy():
    window, groups = 2, 2
    layer = posmlp.PoSGU(window, groups, 'gqpe')
    u = np.random.default_rng(0).normal(size=[1, 4, 4, 6]).astype(np.float32)
    layer(tf.constant(u))
    rng = np.random.default_rng(5)
    layer.center.assign(rng.normal(size=[groups, 2]).astype(np.float32))
    layer.shape_factor.assign((np.eye(2) + 0.5 * rng.normal(size=[groups, 2, 2])).astype(np.float32))
    layer.token_bias.assign(rng.normal(size=[window ** 2]).astype(np.float32))
    got = layer(tf.constant(u)).numpy()[0]
    want = posgu_np(u[0].astype(np.float64), layer.center.numpy(), layer.shape_factor.numpy(),
                    layer.token_bias.numpy(), window, groups)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # Learned per block: 6γ + w².
    assert sum(int(np.prod(v.shape)) for v in layer.trainable_weights) == 6 * groups + window ** 2


def test_stem_keeps_exact_gelu_and_blocks_take_the_activation():
    model = bt.build_tiny('posmlp', {'type': 'relu'})
    stem = [l for l in model.backbone.layers if l.name.startswith('stem_gelu')]
    assert len(stem) == 2
    x = tf.constant([[-1.0, 0.5]])
    np.testing.assert_allclose(stem[0](x).numpy(), tf.nn.gelu(x, approximate=False).numpy())
    relu_cls = type(layers.get('relu'))
    assert sum(isinstance(l, relu_cls) for l in model.backbone.submodules) == 2
