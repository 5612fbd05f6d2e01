"""act_efficientnet: timm's efficientnet_b0 — count, activation sites and SE gates, every
activation, XLA train step, timm's drop-path schedule.

References (never computed by the code under test): timm 0.9 efficientnet_b0 has 5,288,548
parameters (published) and, counted with forward hooks on its modules, 49 nn.SiLU modules
called once each (stem 1; the depthwise-separable block's bn1 act and SE act1 = 2; each of the
15 inverted residuals' bn1 act, bn2 act and SE act1 = 45; the head's 1) and 16 nn.Sigmoid SE
gates. GoLU's timm script swaps every nn.SiLU (`replace_activation_by_torch_module(model,
nn.SiLU, ...)`), so a GoLU network has 49 GoLU layers and 16 sigmoid gates, nothing else.
"""
import numpy as np
import pytest
import tf_keras

import backbone_testlib as bt
import layers
from layers import base as act_base

TIMM_B0 = (5_288_548, 49, 16)


@pytest.mark.slow
def test_count_sites_and_gates_equal_timm():
    model = bt.build({'type': 'act_efficientnet', 'act_efficientnet': {
        'model_id': 'b0', 'activation': {'type': 'golu'}}})
    assert bt.trainable_count(model) == TIMM_B0[0]
    golu_cls = type(layers.get('golu'))
    acts = [l for l in model.backbone.submodules
            if isinstance(l, (act_base.ActivationLayer, tf_keras.layers.ReLU))]
    gates = [l for l in model.backbone.submodules
             if isinstance(l, tf_keras.layers.Activation)]
    assert len(acts) == sum(isinstance(l, golu_cls) for l in acts) == TIMM_B0[1]
    assert len(gates) == TIMM_B0[2]
    assert all(l.get_config()['activation'] == 'sigmoid' for l in gates)
    tf_keras.backend.clear_session()


@pytest.mark.parametrize('activation', ['relu', 'gelu', 'swish', 'mish', 'golu', 'tpgu'])
def test_forward_backward(activation):
    spec = bt.activation_spec(activation)
    if activation == 'tpgu':
        spec = {'type': 'tpgu', 'tpgu': {'orders': [1, 2, 3, 1, 2, 3, 1]}}   # 7 stages
    model = bt.build(bt.tiny_backbone('act_efficientnet', spec, drop_path_rate=0.1),
                     bt.TINY_INPUT, bt.TINY_CLASSES)
    loss, grads, logits = bt.loss_and_grads(model)
    assert logits.shape == (2, bt.TINY_CLASSES) and np.isfinite(float(loss))
    names = [v.name for v in model.trainable_variables]
    assert not [n for n, g in zip(names, grads) if g is None]
    cls = type(layers.get(activation))
    assert any(isinstance(l, cls) for l in model.backbone.submodules)


def test_jit_train_step():
    bt.check_jit_train_step('act_efficientnet', {'type': 'golu'})


def test_drop_path_follows_timm_block_index():
    """timm: rate x i / n for block i of n (the tiny variant has 8 blocks; rate 0.2)."""
    model = bt.build_tiny('act_efficientnet', drop_path_rate=0.2, depths=[1, 2, 1, 1, 1, 1, 1])
    rates = {l.name: l._drop_rate for l in model.backbone.layers  # pylint: disable=protected-access
             if l.name.endswith('_drop_path')}
    # Residual blocks (stride 1, equal widths) of the tiny variant and their index i:
    # block0_0 (stem 8 -> 8), block1_1, block4_0 (8 -> 8), block6_0 (16 -> 16).
    want = {'block0_0': 0, 'block1_1': 2, 'block4_0': 5, 'block6_0': 7}
    assert rates == {f'{k}_drop_path': pytest.approx(0.2 * i / 8) for k, i in want.items()}


def test_unknown_model_id_and_bad_widths_name_the_fix():
    with pytest.raises(ValueError, match="unknown model_id 'b7'"):
        bt.build({'type': 'act_efficientnet', 'act_efficientnet': {'model_id': 'b7'}}, 32, 5)
    with pytest.raises(ValueError, match='needs 7 entries'):
        bt.build({'type': 'act_efficientnet', 'act_efficientnet': {'widths': [8, 8]}}, 32, 5)
