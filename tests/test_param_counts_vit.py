"""act_vit at full size: the reference networks' exact parameter counts and activation sites.

References (all counted with the reference classes in a separate torch env, /tmp/ref: torch
2.15, torchvision 0.29, timm 0.9.16; `sum(p.numel() for p in model.parameters())`):
- torchvision `vit_b_16()` 86,567,656 and `vit_b_32()` 88,224,232 (also torchvision's docs);
- timm `vit_tiny_patch16_224` 5,717,416 with timm's default 1000-class head, which is what
  GoLU's CIFAR-10 command trained (`train_vit.py` without `--num-classes` keeps the model's
  1000 classes); with a 10-class head (`num_classes=10`) it is 5,526,346.
Activation sites: `sum(isinstance(m, nn.GELU) for m in model.modules())` is 12 for each of the
three references (one GELU in each block's MLP, nothing else); GoLU's `replace_activation_by_
torch_module(model, nn.GELU, act)` therefore swaps exactly 12 modules.
"""
import pytest
import tf_keras

import backbone_testlib as bt
from layers import base as act_base

REFERENCE_COUNTS = {('b16', 1000): 86_567_656, ('b32', 1000): 88_224_232,
                    ('ti16', 1000): 5_717_416}
REFERENCE_GELU_MODULES = {'b16': 12, 'b32': 12, 'ti16': 12}


def _activation_layers(model):
    """Every activation layer of the backbone: this project's and any Keras activation."""
    keras_acts = (tf_keras.layers.Activation, tf_keras.layers.ReLU, tf_keras.layers.ELU,
                  tf_keras.layers.LeakyReLU, tf_keras.layers.PReLU, tf_keras.layers.Softmax)
    return [l for l in model.backbone.submodules
            if isinstance(l, (act_base.ActivationLayer,) + keras_acts)]


@pytest.mark.slow
@pytest.mark.parametrize('model_id,classes', sorted(REFERENCE_COUNTS))
def test_exact_counts_and_sites_of_the_references(model_id, classes):
    """GoLU (parameter-free) at every site: the reference's count and its 12 GELU sites."""
    model = bt.build({'type': 'act_vit', 'act_vit': {'model_id': model_id,
                                                      'activation': {'type': 'golu'}}},
                     224, classes)
    assert bt.trainable_count(model) == REFERENCE_COUNTS[(model_id, classes)]
    acts = _activation_layers(model)
    assert len(acts) == REFERENCE_GELU_MODULES[model_id]
    assert all(type(a).__name__ == 'GoLU' for a in acts)
    tf_keras.backend.clear_session()
