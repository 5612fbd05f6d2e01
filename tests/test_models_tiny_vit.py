"""tiny_vit: the exact count of GoLU's TinyViT-21M, its activation modules and call sites, every
activation, XLA step, shapes.

Reference: automl/GoLU `tasks/image_classification/tiny_vit/models/tiny_vit.py`, `TinyViT(
embed_dims=[96, 192, 384, 576], depths=[2, 2, 6, 2], num_heads=[3, 6, 12, 18], window_sizes=[7, 7,
14, 7])` (`configs/1k/tiny_vit_21m.yaml`, 1000 classes), counted in a separate torch env
(/tmp/ref: torch 2.15, timm 0.9.16): `sum(p.numel() for p in model.parameters())` = 21,198,568;
`sum(isinstance(m, nn.GELU) for m in model.modules())` = 20 GELU modules (patch embed 1, MBConv
3 x 2, patch merging 1 x 3, block MLPs 1 x 10), and forward hooks on them count 23 calls at 224 px
(each patch merging calls its one module twice). GoLU's `replace_activation_by_torch_module`
swaps those 20 modules, so the new activation runs at the same 23 places.
"""
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import backbone_testlib as bt
import layers
from layers import base as act_base
from models import tiny_vit

REFERENCE_COUNT = 21_198_568
REFERENCE_GELU_MODULES = 20
REFERENCE_GELU_CALLS = 23


def _activation_layers(model):
    keras_acts = (tf_keras.layers.Activation, tf_keras.layers.ReLU, tf_keras.layers.ELU,
                  tf_keras.layers.LeakyReLU, tf_keras.layers.PReLU, tf_keras.layers.Softmax)
    return [l for l in model.backbone.submodules
            if isinstance(l, (act_base.ActivationLayer,) + keras_acts)]


def _count_calls(model, acts, size):
    """Calls of each activation layer in one eager forward pass."""
    calls = {id(a): 0 for a in acts}
    for a in acts:
        original = a.call

        def counted(x, *args, _a=a, _call=original, **kwargs):
            calls[id(_a)] += 1
            return _call(x, *args, **kwargs)
        a.call = counted
    model(tf.zeros([1, size, size, 3]), training=False)
    return calls


@pytest.mark.slow
def test_exact_count_modules_and_call_sites_of_tiny_vit_21m():
    model = bt.build({'type': 'tiny_vit', 'tiny_vit': {'activation': {'type': 'golu'}}})
    assert bt.trainable_count(model) == REFERENCE_COUNT
    acts = _activation_layers(model)
    assert len(acts) == REFERENCE_GELU_MODULES
    assert all(type(a).__name__ == 'GoLU' for a in acts)
    calls = _count_calls(model, acts, 224)
    assert sum(calls.values()) == REFERENCE_GELU_CALLS
    twice = sorted(a.name for a in acts if calls[id(a)] == 2)
    assert twice == ['merge1_act', 'merge2_act', 'merge3_act']
    # The config's defaults are tiny_vit_21m.yaml's (heads, windows, drop path 0.2).
    block = model.backbone.get_layer('stage3_block0')
    assert block.window == 14 and block.attn.num_heads == 12
    rates = [l.drop_path._drop_rate for l in model.backbone.layers if l.name.startswith('stage4')]
    assert rates and abs(rates[-1] - 0.2) < 1e-9     # tiny_vit_21m.yaml DROP_PATH_RATE
    tf_keras.backend.clear_session()


def test_attention_bias_index_numbers_offsets_in_first_seen_order():
    # Window 2, points (0,0) (0,1) (1,0) (1,1); offsets (|dr|, |dc|) numbered as first seen.
    want = np.array([[0, 1, 2, 3], [1, 0, 3, 2], [2, 3, 0, 1], [3, 2, 1, 0]])
    np.testing.assert_array_equal(tiny_vit.attention_bias_index(2), want)
    assert tiny_vit.attention_bias_index(7).max() + 1 == 49
    assert tiny_vit.attention_bias_index(14).max() + 1 == 196


@pytest.mark.parametrize('activation', layers.names())
def test_forward_backward_every_activation(activation):
    bt.check_forward_backward('tiny_vit', activation)


def test_jit_train_step():
    bt.check_jit_train_step('tiny_vit', {'type': 'golu'})


def test_output_shapes():
    bt.check_output_shapes('tiny_vit', [8, 16, 24, 32])


def test_padded_windows_build_and_run():
    """A window that does not divide the map (3 on 4x4): zero-padded as the reference does."""
    model = bt.build_tiny('tiny_vit', window_sizes=[1, 3])
    out = model(tf.random.normal([2, bt.TINY_INPUT, bt.TINY_INPUT, 3]), training=False)
    assert np.all(np.isfinite(out.numpy()))


def test_bad_settings_name_the_fix():
    with pytest.raises(ValueError, match='num_heads'):
        bt.build_tiny('tiny_vit', num_heads=[1, 3])
    with pytest.raises(ValueError, match='window_sizes'):
        bt.build_tiny('tiny_vit', window_sizes=[1, 2, 2])
    with pytest.raises(ValueError, match='model_id'):
        bt.build({'type': 'tiny_vit', 'tiny_vit': {'model_id': '5m'}}, 32, 5)
