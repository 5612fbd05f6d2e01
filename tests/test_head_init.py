"""Classifier-head init: the papers' trunc_normal(0.02) for ConvNeXt/HorNet/Swin/PosMLP,
PyTorch's Linear default for act_resnet, and any Keras name from YAML."""
import math

import numpy as np
import pytest
import tf_keras

import backbone_testlib as bt
from official_ext import head_init

CLASSES = 400  # enough kernel entries for the spread to be measured to a few per cent


def _head(family, **model):
    cfg = bt.experiment(bt.tiny_backbone(family), bt.TINY_INPUT, CLASSES)
    cfg.override({'task': {'model': model}}, is_strict=True)
    from official.core import task_factory  # pylint: disable=g-import-not-at-top
    dense = head_init.classifier(task_factory.get_task(cfg.task).build_model())
    return dense.kernel.numpy(), dense.bias.numpy()


@pytest.mark.parametrize('family', ['convnext', 'hornet', 'swin', 'posmlp'])
def test_transformer_heads_start_from_trunc_normal_002(family):
    tf_keras.utils.set_random_seed(0)
    kernel, bias = _head(family)
    # Keras' truncated normal (cut at ±2σ) has std 0.02·0.8796.
    assert abs(kernel.std() - 0.02 * 0.8796) < 0.0015, kernel.std()
    assert np.abs(kernel).max() <= 0.04 + 1e-7
    assert not bias.any()


def test_resnet_head_is_pytorch_linear_default():
    tf_keras.utils.set_random_seed(0)
    kernel, bias = _head('act_resnet')
    bound = 1.0 / math.sqrt(kernel.shape[0])
    for values in (kernel, bias):
        assert np.abs(values).max() <= bound + 1e-7
        # U(±b) has std b/√3.
        assert abs(values.std() - bound / math.sqrt(3)) < 0.12 * bound, values.std()


def test_yaml_setting_overrides_the_family_default():
    tf_keras.utils.set_random_seed(0)
    kernel, _ = _head('convnext', kernel_initializer='random_uniform')
    assert abs(kernel.std() - 0.05 / math.sqrt(3)) < 0.002
    kernel, _ = _head('act_resnet', kernel_initializer='trunc_normal')
    assert np.abs(kernel).max() <= 0.04 + 1e-7


def test_unknown_initializer_names_the_setting():
    with pytest.raises(ValueError, match='task.model.kernel_initializer'):
        _head('convnext', kernel_initializer='no_such_init')


def test_golu_cifar_and_timm_heads_follow_their_code():
    """The GoLU authors' CIFAR ResNet: kaiming_normal_ (std √(2/fan_in)), PyTorch default bias;
    their WideResNet: xavier_uniform_(gain √2), bias 0; timm's EfficientNet: U(±1/√fan_out),
    bias 0 (`_init_weight_goog`)."""
    tf_keras.utils.set_random_seed(0)
    kernel, bias = _head('cifar_resnet')
    fan_in = kernel.shape[0]
    assert abs(kernel.std() - math.sqrt(2.0 / fan_in)) < 0.06 * math.sqrt(2.0 / fan_in)
    assert np.abs(kernel).max() > 2.2 * math.sqrt(2.0 / fan_in)   # untruncated normal
    assert np.abs(bias).max() <= 1.0 / math.sqrt(fan_in) + 1e-7 and bias.any()
    kernel, bias = _head('cifar_wide_resnet')
    limit = math.sqrt(2.0) * math.sqrt(6.0 / sum(kernel.shape))
    assert limit * 0.95 < np.abs(kernel).max() <= limit + 1e-7 and not bias.any()
    kernel, bias = _head('act_efficientnet')
    limit = 1.0 / math.sqrt(CLASSES)
    assert limit * 0.95 < np.abs(kernel).max() <= limit + 1e-7 and not bias.any()
