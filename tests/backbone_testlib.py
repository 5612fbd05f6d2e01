"""Helpers shared by the backbone tests: tiny configs, building through the stock task, counting.

Everything is built the way a user's YAML is: `act_image_classification` → `cfg.override` →
`task_factory.get_task(cfg.task).build_model()`.
"""
from __future__ import annotations

import copy
import math
from typing import Any, Dict, Optional

import numpy as np
import tensorflow as tf
import tf_keras

from official.core import exp_factory
from official.core import task_factory

import official_ext.registry_imports  # noqa: F401  (registers builders and the experiment)

# tfnet is left out of FAMILIES: the generic family tests swap in TPGU, and TFNet is built from
# ACON-FReLU only (tests/test_models_tfnet.py covers it).
FAMILIES = ('convnext', 'hornet', 'swin', 'act_resnet', 'posmlp', 'tiny_vit', 'shufflenet_v2')
# Families without stochastic depth (the ACON authors' lightweight networks have none).
NO_DROP_PATH = ('shufflenet_v2', 'tfnet')
TINY_INPUT = 32
TINY_CLASSES = 5

# Tiny variants (explicit dims/depths) for the activation sweep and the XLA train step: two
# stages keep each build to a few seconds. Swin's first stage has two blocks so that the shifted,
# masked window attention is exercised.
TINY = {
    'convnext': {'dims': [8, 16], 'depths': [1, 1]},
    'hornet': {'dims': [16, 32], 'depths': [1, 1], 'gnconv_orders': [2, 3]},
    'swin': {'dims': [8, 16], 'depths': [2, 1], 'num_heads': [1, 2], 'window_size': 2},
    'act_resnet': {'model_id': 18, 'dims': [4, 8], 'depths': [1, 1]},
    'posmlp': {'dims': [8, 16], 'depths': [1, 1], 'window_sizes': [4, 2], 'groups': [2, 2],
               'mlp_ratios': [4.0, 2.0]},
    # A window of 2 on the 4x4 second stage: four windows.
    'tiny_vit': {'dims': [8, 16], 'depths': [1, 1], 'num_heads': [1, 2], 'window_sizes': [1, 2]},
    # One stage (a ViT has no stages): a TPGU spec needs one order, not the two-stage [2, 3].
    'act_vit': {'model_id': 'custom', 'patch_size': 8, 'hidden_size': 16, 'depth': 2,
                'num_heads': 2, 'mlp_dim': 32},
    'cifar_resnet': {'model_id': 0, 'dims': [4, 8], 'depths': [1, 1]},
    'cifar_wide_resnet': {'model_id': '', 'dims': [4, 8], 'depths': [1, 1]},
    'act_efficientnet': {'widths': [8, 8, 8, 8, 8, 16, 16], 'depths': [1] * 7,
                         'stem_width': 8, 'head_width': 16},
    'shufflenet_v2': {'dims': [8, 16], 'depths': [1, 2], 'stem_width': 4, 'last_width': 16},
    'tfnet': {'stem_width': 4, 'depths': [1, 2], 'last_width': 16},
}
# Four-stage tiny variants for the output-shape tests (strides 4, 8, 16, 32).
TINY4 = {
    'convnext': {'dims': [8, 16, 24, 32], 'depths': [1, 1, 1, 1]},
    'hornet': {'dims': [16, 16, 32, 64], 'depths': [1, 1, 1, 1]},
    'swin': {'dims': [8, 16, 32, 64], 'depths': [2, 1, 1, 1], 'num_heads': [1, 2, 2, 4],
             'window_size': 2},
    'act_resnet': {'model_id': 50, 'dims': [4, 8, 8, 8], 'depths': [1, 1, 1, 1]},
    'posmlp': {'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1], 'window_sizes': [4, 2, 2, 1],
               'groups': [2, 2, 4, 4]},
    'tiny_vit': {'dims': [8, 16, 24, 32], 'depths': [1, 1, 1, 1], 'num_heads': [1, 2, 3, 4],
                 'window_sizes': [1, 2, 2, 1]},
    # ShuffleNetV2: the pooled stem (4 channels) is endpoint '2', its three stages '3'..'5'.
    'shufflenet_v2': {'dims': [8, 16, 32], 'depths': [1, 1, 1], 'stem_width': 4,
                      'last_width': 16},
    'tfnet': {'stem_width': 4, 'depths': [1, 1, 1, 1], 'last_width': 16},
}


def drop_path(family: str, rate: float = 0.1) -> Dict[str, Any]:
    """`drop_path_rate=rate` for the families that have stochastic depth, else nothing."""
    return {} if family in NO_DROP_PATH else {'drop_path_rate': rate}


def experiment(backbone: Dict[str, Any], input_size: int = 224, num_classes: int = 1000):
    """The registered experiment with `task.model` overridden."""
    cfg = exp_factory.get_exp_config('act_image_classification')
    cfg.override({'task': {'model': {'num_classes': num_classes,
                                     'input_size': [input_size, input_size, 3],
                                     'backbone': backbone}}}, is_strict=True)
    return cfg


def build(backbone: Dict[str, Any], input_size: int = 224, num_classes: int = 1000
          ) -> tf_keras.Model:
    """Builds the full classification model through the stock task."""
    cfg = experiment(backbone, input_size, num_classes)
    return task_factory.get_task(cfg.task).build_model()


def tiny_backbone(family: str, activation: Optional[Dict[str, Any]] = None,
                  stages: int = 2, **extra: Any) -> Dict[str, Any]:
    """The backbone one-of dict of `family`'s tiny variant with `activation`."""
    settings = copy.deepcopy(TINY[family] if stages == 2 else TINY4[family])
    settings.update(extra)
    if activation is not None:
        settings['activation'] = activation
    return {'type': family, family: settings}


def build_tiny(family: str, activation: Optional[Dict[str, Any]] = None, stages: int = 2,
               **extra: Any) -> tf_keras.Model:
    return build(tiny_backbone(family, activation, stages, **extra), TINY_INPUT, TINY_CLASSES)


def trainable_count(model: tf_keras.Model) -> int:
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def activation_spec(name: str) -> Dict[str, Any]:
    """A one-of dict for `name`; TPGU gets a different order per (two-stage) tiny stage."""
    if name == 'tpgu':
        return {'type': 'tpgu', 'tpgu': {'orders': [2, 3]}}
    return {'type': name}


def loss_and_grads(model: tf_keras.Model, batch: int = 2, seed: int = 0):
    """Cross-entropy of random images/labels, its gradients, and the logits (training mode)."""
    rng = np.random.default_rng(seed)
    images = tf.constant(rng.normal(size=[batch, TINY_INPUT, TINY_INPUT, 3]), tf.float32)
    labels = tf.constant(rng.integers(0, TINY_CLASSES, size=[batch]))
    with tf.GradientTape() as tape:
        logits = model(images, training=True)
        loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))
    return loss, tape.gradient(loss, model.trainable_variables), logits


def check_forward_backward(family: str, activation_name: str) -> None:
    """Forward + backward of the tiny variant: finite loss, every trainable weight gets a finite
    gradient, and the configured activation really sits in the model."""
    import layers  # pylint: disable=g-import-not-at-top
    model = build_tiny(family, activation_spec(activation_name), **drop_path(family))
    loss, grads, logits = loss_and_grads(model)
    assert logits.shape == (2, TINY_CLASSES)
    assert np.isfinite(float(loss))
    names = [v.name for v in model.trainable_variables]
    missing = [n for n, g in zip(names, grads) if g is None]
    assert not missing, f'no gradient for {missing}'
    bad = [n for n, g in zip(names, grads) if not np.all(np.isfinite(tf.convert_to_tensor(g)))]
    assert not bad, f'non-finite gradient for {bad}'
    expected_cls = type(layers.get(activation_name))
    found = [l for l in model.backbone.submodules if isinstance(l, expected_cls)]
    assert found, f'no {expected_cls.__name__} layer in the {family} backbone'


def check_jit_train_step(family: str, activation: Optional[Dict[str, Any]] = None) -> None:
    """One SGD step compiled with XLA (static shapes) changes the weights and keeps them finite."""
    model = build_tiny(family, activation, **drop_path(family))
    opt = tf_keras.optimizers.legacy.SGD(0.1)
    rng = np.random.default_rng(1)
    images = tf.constant(rng.normal(size=[2, TINY_INPUT, TINY_INPUT, 3]), tf.float32)
    labels = tf.constant([0, 1])

    @tf.function(jit_compile=True)
    def step(x, y):
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        grads = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    before = [v.numpy().copy() for v in model.trainable_variables]
    loss = step(images, labels)
    assert np.isfinite(float(loss))
    changed = sum(not np.array_equal(b, v.numpy()) for b, v in zip(before, model.trainable_variables))
    assert changed > len(before) // 2
    assert all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables)


def check_output_shapes(family: str, channels: list) -> None:
    """Stage endpoints at strides 4, 8, 16, 32 with the given channels; logits [2, classes]."""
    model = build_tiny(family, stages=4)
    images = tf.zeros([2, TINY_INPUT, TINY_INPUT, 3])
    endpoints = model.backbone(images, training=False)
    for level, c in zip(range(2, 6), channels):
        side = TINY_INPUT // 2 ** level
        assert tuple(endpoints[str(level)].shape) == (2, side, side, c), level
    assert tuple(model(images).shape) == (2, TINY_CLASSES)


# --- independent numpy references of the building blocks -------------------------------------
_erf = np.vectorize(math.erf)


def gelu_np(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def layer_norm_np(x, gamma, beta, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def depthwise_same_np(x, kernel, bias):
    """x [H, W, C], kernel [k, k, C]: stride-1 depthwise conv with symmetric zero padding."""
    k = kernel.shape[0]
    p = k // 2
    h, w, _ = x.shape
    xp = np.pad(x, [(p, p), (p, p), (0, 0)])
    out = np.zeros_like(x)
    for a in range(k):
        for b in range(k):
            out += xp[a:a + h, b:b + w, :] * kernel[a, b, :]
    return out + bias


def randomize(layer, seed, scale=0.5):
    rng = np.random.default_rng(seed)
    for v in layer.weights:
        v.assign(rng.normal(size=v.shape).astype(np.float32) * scale)
