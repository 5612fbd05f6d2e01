"""ACON-A/B/C and Meta-ACON vs independent numpy formulas."""
import numpy as np
import pytest
import tensorflow as tf

import layers
from act_reference import GRID, REFS, check_case, grad_grid, grid2d, sig, weight_key

X = grid2d(grad_grid(GRID))
CASES = {
    'acon_a': {'beta': [0.5, 1.5, -0.7]},
    'acon_b': {'p': [0.3, -1.2, 2.0], 'beta': [0.5, 1.5, 2.5]},
    'acon_c': {'p1': [1.3, -0.4, 0.9], 'p2': [0.2, 0.6, -1.1], 'beta': [0.8, 2.0, 0.3]},
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_values_and_grads(name):
    check_case(name, REFS[name], X, None, CASES[name])


def test_acon_c_distinct_random_init():
    layer = layers.get('acon_c')
    layer.build([None, 64])
    p1, p2, beta = (w.numpy() for w in layer.trainable_weights)
    assert not np.allclose(p1, p2)
    assert 0.5 < p1.std() < 1.5 and 0.5 < p2.std() < 1.5  # standard normal
    np.testing.assert_array_equal(beta, np.ones(64))


def _meta_ref(x, w, training, eps=1e-5):
    """Meta-ACON-C in numpy: pooled -> fc1 -> BN1 -> fc2 -> BN2 -> σ -> ACON-C."""
    axes = tuple(range(1, x.ndim - 1))
    pooled = x.mean(axis=axes) if axes else x

    def bn(h, k):
        if f'{k}/gamma' not in w:  # use_bn=False
            return h
        if training:
            mean, var = h.mean(axis=0), h.var(axis=0)
        else:
            mean, var = w[f'{k}/moving_mean'], w[f'{k}/moving_variance']
        return w[f'{k}/gamma'] * (h - mean) / np.sqrt(var + eps) + w[f'{k}/beta']

    h = bn(pooled @ w['fc1/kernel'] + w['fc1/bias'], 'bn1')
    h = bn(h @ w['fc2/kernel'] + w['fc2/bias'], 'bn2')
    beta = sig(h).reshape((x.shape[0],) + (1,) * (x.ndim - 2) + (x.shape[-1],))
    return REFS['acon_c'](x, w['p1'], w['p2'], beta)


def _meta_layer(shape, use_bn, seed=0):
    layer = layers.get({'type': 'meta_acon', 'meta_acon': {'use_bn': use_bn, 'r': 2}})
    layer(tf.zeros(shape))
    rng = np.random.default_rng(seed)
    w = {}
    for v in layer.weights:
        key = '/'.join(v.name.split(':')[0].split('/')[1:])
        val = rng.normal(0, 0.7, v.shape)
        if 'variance' in key:
            val = np.abs(val) + 0.5
        v.assign(val)
        w[key] = v.numpy().astype(np.float64)
    return layer, w


@pytest.mark.parametrize('shape', [(4, 6), (4, 5, 6), (4, 3, 5, 6)])
@pytest.mark.parametrize('use_bn,training', [(True, True), (True, False), (False, False)])
def test_meta_acon_values_and_grads(shape, use_bn, training):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 3, shape)
    x.flat[:4] = [1e4, -1e4, 100, -100]
    layer, w = _meta_layer(shape, use_bn)
    xt = tf.constant(x, tf.float32)
    trainable = layer.trainable_weights
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = layer(xt, training=training)
        loss = tf.reduce_sum(y)
    grads = tape.gradient(loss, [xt] + trainable)
    x32 = x.astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(y.numpy(), _meta_ref(x32, w, training), rtol=1e-4, atol=1e-4)
    # Gradients w.r.t. input and every trainable weight by 5-point central differences.
    for target, g in zip([None] + trainable, grads):
        if target is None:
            base, key = x32, None
        else:
            key = '/'.join(target.name.split(':')[0].split('/')[1:])
            base = w[key]
        idxs = list(np.ndindex(base.shape))[:: max(1, len(base.flat) // 12)]
        for idx in idxs:
            h = 1e-5 * max(1.0, abs(base[idx]))  # logits see pooled values ~1e3: small steps

            def at(s):
                ww = dict(w)
                xx = x32
                moved = base.copy()
                moved[idx] += s * h
                if key is None:
                    xx = moved
                else:
                    ww[key] = moved
                return _meta_ref(xx, ww, training).sum()
            want = (-at(2) + 8 * at(1) - 8 * at(-1) + at(-2)) / (12 * h)
            got = g.numpy()[idx]
            assert abs(got - want) <= 2e-3 * (abs(want) + 1) , (key, idx, got, want)


def test_meta_acon_weights():
    layer = layers.get('meta_acon')
    layer(tf.zeros([2, 7, 7, 256]), training=False)
    names = {'/'.join(v.name.split(':')[0].split('/')[1:]): tuple(v.shape) for v in layer.trainable_weights}
    assert names == {'p1': (256,), 'p2': (256,), 'fc1/kernel': (256, 16), 'fc1/bias': (16,),
                     'fc2/kernel': (16, 256), 'fc2/bias': (256,), 'bn1/gamma': (16,),
                     'bn1/beta': (16,), 'bn2/gamma': (256,), 'bn2/beta': (256,)}
    nobn = layers.get({'type': 'meta_acon', 'meta_acon': {'use_bn': False}})
    nobn(tf.zeros([2, 7, 7, 32]))  # 32 // 16 = 2 < r: hidden = r = 16
    assert [weight_key(v) for v in nobn.trainable_weights] == ['p1', 'p2', 'kernel', 'bias', 'kernel', 'bias']
    assert nobn.trainable_weights[2].shape == (32, 16)
