"""densenet: torchvision's DenseNet-121 and the GoLU authors' CIFAR DenseNet-40 — counts,
activation sites, channel order, every activation, an XLA train step.

References (never computed by the code under test):
- parameters: torchvision densenet121 7,978,856 (published); the authors' densenet_40
  (tasks/small_poc/dense_net.py, 10 classes) 176,122, counted with PyTorch from their module;
- activation sites, counted with forward hooks on every nn.ReLU module of the references:
  densenet121 has 120 ReLU modules, each called once: norm0's relu0, 2 per dense layer x
  (6 + 12 + 24 + 16 = 58) layers = 116, and one per transition x 3; its forward then applies
  `F.relu` to the last feature map, a function GoLU's module swap never reaches. So the swapped
  network has 120 configured activations and exactly one ReLU. The authors' DenseNet-40 has 39
  activation modules (2 per layer x 18 + 2 transitions + the head's), all swapped.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import backbone_testlib as bt
import layers
from layers import base as act_base

REFERENCE = {121: (7_978_856, 120, 1, 224, 1000)}   # DenseNet-40: test_param_counts_cifar.py
TINY = {'model_id': 0, 'growth_rate': 4, 'depths': [1, 2], 'stem_width': 8}


def sites(model):
    """(GoLU layers, plain ReLU layers, every activation layer) of the backbone."""
    golu_cls = type(layers.get('golu'))
    acts = [l for l in model.backbone.submodules
            if isinstance(l, (act_base.ActivationLayer, tf_keras.layers.ReLU,
                              tf_keras.layers.Activation))]
    relus = [l for l in acts if isinstance(l, tf_keras.layers.ReLU)]
    return sum(isinstance(l, golu_cls) for l in acts), len(relus), len(acts)


@pytest.mark.slow
@pytest.mark.parametrize('model_id', sorted(REFERENCE))
def test_counts_and_sites_equal_the_references(model_id):
    count, swapped, kept_relu, size, classes = REFERENCE[model_id]
    model = bt.build({'type': 'densenet', 'densenet': {'model_id': model_id,
                                                       'activation': {'type': 'golu'}}},
                     input_size=size, num_classes=classes)
    assert bt.trainable_count(model) == count
    assert sites(model) == (swapped, kept_relu, swapped + kept_relu)
    tf_keras.backend.clear_session()


def _tiny(layout, activation=None):
    settings = dict(TINY, layout=layout)
    if activation:
        settings['activation'] = activation
    return bt.build({'type': 'densenet', 'densenet': settings}, bt.TINY_INPUT, bt.TINY_CLASSES)


@pytest.mark.parametrize('layout', ['imagenet', 'cifar'])
@pytest.mark.parametrize('activation', ['relu', 'gelu', 'swish', 'mish', 'golu', 'tpgu'])
def test_forward_backward(layout, activation):
    model = _tiny(layout, bt.activation_spec(activation))
    loss, grads, logits = bt.loss_and_grads(model)
    assert logits.shape == (2, bt.TINY_CLASSES) and np.isfinite(float(loss))
    assert all(g is not None and np.all(np.isfinite(tf.convert_to_tensor(g))) for g in grads)
    cls = type(layers.get(activation))
    assert any(isinstance(l, cls) for l in model.backbone.submodules)


@pytest.mark.parametrize('layout', ['imagenet', 'cifar'])
def test_jit_train_step(layout):
    model = _tiny(layout, {'type': 'golu'})
    opt = tf_keras.optimizers.legacy.SGD(0.1)
    x = tf.constant(np.random.default_rng(1).normal(size=[2, 32, 32, 3]), tf.float32)

    @tf.function(jit_compile=True)
    def step(images, labels):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
                labels, model(images, training=True)))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables),
                                model.trainable_variables))
        return loss

    before = [v.numpy().copy() for v in model.trainable_variables]
    assert np.isfinite(float(step(x, tf.constant([0, 1]))))
    assert sum(not np.array_equal(b, v.numpy())
               for b, v in zip(before, model.trainable_variables)) > len(before) // 2


@pytest.mark.parametrize('layout,new_first', [('imagenet', False), ('cifar', True)])
def test_concatenation_order_follows_the_reference(layout, new_first):
    """torchvision appends a layer's growth channels after its input; the authors' CIFAR code
    puts them first (`torch.cat([out, x], 1)`)."""
    model = _tiny(layout)
    backbone = model.backbone
    probe = tf_keras.Model(backbone.inputs, [
        backbone.get_layer('block1_layer1_bn1').input,
        backbone.get_layer('block1_layer1_conv2').output,
        backbone.get_layer('block1_layer1_concat').output])
    x = tf.constant(np.random.default_rng(2).normal(size=[1, 32, 32, 3]), tf.float32)
    block_in, new, out = (t.numpy() for t in probe(x, training=False))
    want = np.concatenate([new, block_in] if new_first else [block_in, new], axis=-1)
    np.testing.assert_array_equal(out, want)


def test_channels_and_levels():
    """DenseNet-BC sizes: 1×1 bottleneck of 4·growth, transitions halve the channels."""
    model = _tiny('cifar')
    endpoints = model.backbone(tf.zeros([2, 32, 32, 3]), training=False)
    # stem 8 → +4 = 12 → transition ⌊12/2⌋ = 6 → +2·4 = 14.
    assert {k: tuple(v.shape) for k, v in endpoints.items()} == {
        '0': (2, 32, 32, 12), '1': (2, 16, 16, 14)}
    assert model.backbone.get_layer('block1_layer1_conv1').filters == 16
    imagenet = _tiny('imagenet').backbone(tf.zeros([2, 32, 32, 3]), training=False)
    assert sorted(imagenet) == ['2', '3']


def test_unknown_model_id_names_the_fix():
    with pytest.raises(ValueError, match='unknown model_id 169'):
        bt.build({'type': 'densenet', 'densenet': {'model_id': 169}}, 32, 10)
