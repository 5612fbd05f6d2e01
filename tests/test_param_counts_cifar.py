"""The GoLU authors' CIFAR-10 networks at full size: parameter counts and activation sites.

References (automl/GoLU tasks/small_poc/resnet.py, wide_resnet.py, dense_net.py, 10 classes,
counted with PyTorch from the authors' modules; never computed by the code under test):
- parameters: ResNet-20 272,474; -32 466,906; -44 661,338; -56 855,770; -110 1,730,714;
  WideResNet-28-2 1,469,642; DenseNet-40 176,122;
- activation call sites: each `get_activation_function(...)` module of their code is called
  once per forward (forward hooks on every nn.ReLU gave 19 / 31 / 43 / 55 / 109, 25 and 39
  calls): ResNet-(6n+2) has the stem's + 2 per basic block x 3n blocks = 6n + 1; WideResNet-28-2
  (n = 4) has 2 per pre-activation block x 12 + the head's = 25; DenseNet-40 has 2 per dense
  layer x 18 + 2 transitions + the head's = 39. The authors' swap replaces every one, so a GoLU
  network has exactly that many GoLU layers and no other activation.
(A separate file from the small model tests so that pytest-xdist spreads the builds.)
"""
import pytest
import tf_keras

import backbone_testlib as bt
import layers
from layers import base as act_base

AUTHORS_RESNET = {20: (272_474, 19), 32: (466_906, 31), 44: (661_338, 43),
                  56: (855_770, 55), 110: (1_730_714, 109)}
AUTHORS_WRN = {'28-2': (1_469_642, 25)}
AUTHORS_DENSENET = {40: (176_122, 39)}


def activation_sites(model):
    """(configured-GoLU sites, every activation layer of any kind) in the backbone."""
    golu_cls = type(layers.get('golu'))
    acts = [l for l in model.backbone.submodules
            if isinstance(l, (act_base.ActivationLayer, tf_keras.layers.ReLU,
                              tf_keras.layers.Activation))]
    return sum(isinstance(l, golu_cls) for l in acts), len(acts)


def _check(family, model_id, count, sites):
    model = bt.build({'type': family, family: {'model_id': model_id,
                                               'activation': {'type': 'golu'}}},
                     input_size=32, num_classes=10)
    assert bt.trainable_count(model) == count   # GoLU has no trainable parameters
    assert activation_sites(model) == (sites, sites)
    tf_keras.backend.clear_session()


@pytest.mark.slow
@pytest.mark.parametrize('model_id', sorted(AUTHORS_RESNET))
def test_resnet_counts_and_sites_equal_the_authors(model_id):
    _check('cifar_resnet', model_id, *AUTHORS_RESNET[model_id])


@pytest.mark.parametrize('model_id', sorted(AUTHORS_WRN))
def test_wide_resnet_counts_and_sites_equal_the_authors(model_id):
    _check('cifar_wide_resnet', model_id, *AUTHORS_WRN[model_id])


@pytest.mark.slow
@pytest.mark.parametrize('model_id', sorted(AUTHORS_DENSENET))
def test_densenet_counts_and_sites_equal_the_authors(model_id):
    _check('densenet', model_id, *AUTHORS_DENSENET[model_id])
