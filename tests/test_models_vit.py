"""act_vit: activation placement, every activation, XLA step, bfloat16, initialisers, errors.

The full-size reference counts and activation sites are in test_param_counts_vit.py.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import backbone_testlib as bt
import layers

def test_activation_sits_between_fc1_and_fc2():
    """Each block's MLP output equals fc2(act(fc1(LN(x)))) with the configured activation."""
    model = bt.build_tiny('act_vit', {'type': 'mish'})
    block = model.backbone.get_layer('block0')
    x = tf.random.normal([2, 17, 16], seed=1)
    h = block.fc1(block.norm2(x)).numpy().astype(np.float64)
    mish = h * np.tanh(np.logaddexp(0.0, h))
    want = block.fc2(tf.constant(mish, tf.float32)).numpy()
    got = block.fc2(block.act(block.fc1(block.norm2(x)))).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert type(block.act).__name__ == 'Mish'


# Rank-4-only activations (acon_frelu: a depthwise-conv branch) cannot act on ViT tokens.
@pytest.mark.parametrize('activation', [
    n for n in layers.names()
    if 3 in getattr(layers.registry._lookup(n), 'INPUT_RANKS', (2, 3, 4))])  # pylint: disable=protected-access
def test_forward_backward_every_activation(activation):
    spec = ({'type': 'tpgu', 'tpgu': {'order': 2}} if activation == 'tpgu'
            else {'type': activation})
    model = bt.build_tiny('act_vit', spec, drop_path_rate=0.1, dropout_rate=0.1)
    loss, grads, logits = bt.loss_and_grads(model)
    assert logits.shape == (2, bt.TINY_CLASSES) and np.isfinite(float(loss))
    names = [v.name for v in model.trainable_variables]
    assert not [n for n, g in zip(names, grads) if g is None]
    assert all(np.all(np.isfinite(tf.convert_to_tensor(g))) for g in grads)
    cls = type(layers.get(spec))
    assert len([l for l in model.backbone.submodules if isinstance(l, cls)]) == 2


def test_jit_train_step():
    """One XLA-compiled SGD step. torchvision's zero head would leave the backbone's gradient
    zero on the first step, so the head starts from trunc_normal here."""
    from official.core import task_factory  # pylint: disable=g-import-not-at-top
    cfg = bt.experiment(bt.tiny_backbone('act_vit', {'type': 'golu'}, drop_path_rate=0.1),
                        bt.TINY_INPUT, bt.TINY_CLASSES)
    cfg.task.model.kernel_initializer = 'trunc_normal'
    model = task_factory.get_task(cfg.task).build_model()
    opt = tf_keras.optimizers.legacy.SGD(0.1)
    images = tf.random.normal([2, bt.TINY_INPUT, bt.TINY_INPUT, 3], seed=1)

    @tf.function(jit_compile=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                model.trainable_variables))
        return loss

    before = [v.numpy().copy() for v in model.trainable_variables]
    assert np.isfinite(float(step(images, tf.constant([0, 1]))))
    after = [v.numpy() for v in model.trainable_variables]
    assert all(not np.array_equal(b, a) for b, a in zip(before, after))
    assert all(np.all(np.isfinite(a)) for a in after)


def test_mixed_bfloat16_forward():
    tf_keras.mixed_precision.set_global_policy('mixed_bfloat16')
    try:
        model = bt.build_tiny('act_vit', {'type': 'tpgu', 'tpgu': {'order': 2}})
        out = model(tf.random.normal([2, 32, 32, 3]), training=True)
        assert np.all(np.isfinite(tf.cast(out, tf.float32).numpy()))
        assert all(v.dtype == tf.float32 for v in model.trainable_variables)
    finally:
        tf_keras.mixed_precision.set_global_policy('float32')


def test_reference_initialisers():
    """torchvision: zero class token, N(0, 0.02) positions, Xavier qkv, zero head; timm: class
    token N(0, 1e-6), trunc_normal(0.02) Linear layers, trunc_normal head (set in the YAML)."""
    # One block of each reference is enough for the initialisers (widths as the model_ids).
    model = bt.build({'type': 'act_vit', 'act_vit': {'model_id': 'b32', 'depth': 2}}, 64, 1000)
    bb = model.backbone
    embed = bb.get_layer('embed')
    assert not np.any(embed.class_token.numpy())
    assert abs(np.std(embed.position_embedding.numpy()) - 0.02) < 0.002
    qkv = bb.get_layer('block0').attn.qkv.kernel.numpy()
    limit = np.sqrt(6.0 / (768 + 3 * 768))
    assert np.abs(qkv).max() <= limit and np.abs(qkv).max() > 0.95 * limit
    k1 = bb.get_layer('block0').fc1.kernel.numpy()
    k2 = bb.get_layer('block1').fc1.kernel.numpy()
    assert not np.array_equal(k1, k2)   # a fresh initializer per layer
    head = model.layers[-1].kernel.numpy()
    assert not np.any(head)
    tiny = bt.build({'type': 'act_vit', 'act_vit': {'model_id': 'ti16', 'depth': 1}}, 32, 10)
    token = tiny.backbone.get_layer('embed').class_token.numpy()
    assert 0 < np.abs(token).max() < 1e-5
    fc1 = tiny.backbone.get_layer('block0').fc1.kernel.numpy()
    assert abs(np.std(fc1) - 0.88 * 0.02) < 0.002 and np.abs(fc1).max() <= 0.04 + 1e-6
    tf_keras.backend.clear_session()


def test_bad_settings_name_the_fix():
    with pytest.raises(ValueError, match='model_id'):
        bt.build({'type': 'act_vit', 'act_vit': {'model_id': 'huge'}}, 32, 5)
    with pytest.raises(ValueError, match='patch_size'):
        bt.build_tiny('act_vit', patch_size=5)
    with pytest.raises(ValueError, match='num_heads'):
        bt.build_tiny('act_vit', num_heads=3)
    with pytest.raises(ValueError, match='weight_init'):
        bt.build_tiny('act_vit', weight_init='jax')
