"""Mixed precision and finiteness at extreme inputs, for every registered activation spec.

Split from test_layers_common.py so pytest-xdist (--dist loadfile) can run them in parallel.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

from test_layers_common import C, IDS, SPECS, input_ranks, make, rand


@pytest.mark.parametrize('policy', ['mixed_bfloat16', 'mixed_float16'])
@pytest.mark.parametrize('name,settings', SPECS, ids=IDS)
def test_mixed_precision(policy, name, settings):
    x = rand([2, 4, 4, C])
    ref_layer = make(name, settings)
    y32 = ref_layer(x, training=False)
    tf_keras.mixed_precision.set_global_policy(policy)
    try:
        layer = make(name, settings)
        layer(x, training=False)
        layer.set_weights(ref_layer.get_weights())
        xc = tf.cast(x, layer.compute_dtype)
        with tf.GradientTape() as tape:
            tape.watch(xc)
            y = layer(xc, training=False)
            loss = tf.reduce_sum(tf.cast(y, tf.float32))
        grads = tape.gradient(loss, [xc] + layer.trainable_weights)
    finally:
        tf_keras.mixed_precision.set_global_policy('float32')
    assert y.dtype == layer.compute_dtype
    assert all(w.dtype == tf.float32 for w in layer.weights)
    assert all(g.dtype == tf.float32 for g in grads[1:])
    assert grads[0].dtype == layer.compute_dtype
    # Same math as float32 up to the rounding of input and output to 8 (bf16) / 11 (f16) bits.
    tol = 3e-2 if policy == 'mixed_bfloat16' else 4e-3
    scale = np.abs(y32.numpy()).max() + 1
    np.testing.assert_allclose(tf.cast(y, tf.float32).numpy(), y32.numpy(), rtol=tol, atol=tol * scale)


EXTREME = np.array([-1e4, -1e3, -100.0, -89.0, -20.0, -12.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 12.0,
                    20.0, 89.0, 100.0, 1e3, 1e4])
MAX = {'float32': 3.4e38, 'bfloat16': 3.3e38, 'float16': 6.5e4}


@pytest.mark.parametrize('dtype', ['float32', 'bfloat16', 'float16'])
@pytest.mark.parametrize('name,settings', SPECS, ids=IDS)
def test_finite_at_extremes(dtype, name, settings):
    """Finite output and gradients for every finite input, wherever the float32 result is
    representable in the dtype (e.g. TPGU's |x|^(n+1) growth overflows float16 at x = 1e4)."""
    x = np.repeat(EXTREME[:, None], C, axis=1)
    if 2 not in input_ranks(name):   # rank-4 only: the grid as a [1, 17, 1, C] map
        x = x[None, :, None, :]
    layer = make(name, settings, dtype=dtype)

    def run(xd):
        xt = tf.constant(xd, dtype)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            y = layer(xt, training=False)
            loss = tf.reduce_sum(tf.cast(y, tf.float32))
        g = tape.gradient(loss, [xt] + layer.trainable_weights)
        return [np.asarray(t.numpy(), np.float32) for t in [y] + g]

    out = run(x)
    assert all(w.dtype == tf.float32 for w in layer.weights)
    f32 = out if dtype == 'float32' else None
    if f32 is None:
        ref = make(name, settings)
        ref(tf.constant(x, tf.float32), training=False)
        ref.set_weights(layer.get_weights())
        xt = tf.constant(x, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = tf.reduce_sum(ref(xt, training=False))
        f32 = [ref(xt, training=False).numpy()] + [
            g.numpy() for g in tape.gradient(loss, [xt] + ref.trainable_weights)]
    for got, want in zip(out, f32):
        assert np.all(np.isfinite(want))
        representable = np.abs(want) < MAX[dtype] / 2
        assert np.all(np.isfinite(got[representable]))
