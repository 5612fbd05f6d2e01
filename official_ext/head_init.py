"""Classifier-head initialisation from the papers, selectable as `task.model.kernel_initializer`.

Why: Model Garden's `ClassificationModel` starts its Dense head from `random_uniform`
(U(±0.05)), which none of the reference networks uses. ConvNeXt, HorNet, Swin and PosMLP start
their classifier from trunc_normal(std 0.02) with a zero bias; torchvision's ResNet (and the
ACON authors') leaves `nn.Linear` at PyTorch's default, kaiming_uniform(a=√5) for the kernel =
U(±1/√fan_in), and U(±1/√fan_in) for the bias.

The stock head takes the initializer as a *string*, so two names are registered as Keras custom
objects and can be written in YAML:

- `trunc_normal`: the papers' trunc_normal(0.02) (`models.common.trunc_normal`);
- `torch_linear`: PyTorch's default Linear kernel init. The stock head always creates a zero
  bias, so `build_classification_model` below also draws the bias from U(±1/√fan_in) when this
  name is in effect;
- `normal_001`: N(0, 0.01) with a zero bias, the ACON authors' ShuffleNetV2 and TFNet head.

The GoLU authors' CIFAR networks re-initialise their Linear: `kaiming_normal` (He-normal, fan_in,
untruncated; bias left at PyTorch's default U(±1/√fan_in), drawn here as for `torch_linear`)
for the CIFAR ResNets, `xavier_uniform_relu` (xavier_uniform with gain √2, zero bias) for
WideResNet-28-2.

timm's EfficientNet (`_init_weight_goog`) draws its classifier from U(±1/√fan_out), zero bias:
`uniform_fan_out`.

`task.model.kernel_initializer: ''` (this project's default) means "the family's paper init"
(`FAMILY_DEFAULTS`); any other value, e.g. `random_uniform`, is passed to the head unchanged.
"""
from __future__ import annotations

import math
from typing import Any, Optional

import tensorflow as tf
import tf_keras

from official.vision.modeling import factory
from official.vision.tasks import image_classification as mg_ic_task

from models import common

TRUNC_NORMAL = 'trunc_normal'
TORCH_LINEAR = 'torch_linear'
KAIMING_NORMAL = 'kaiming_normal'
XAVIER_UNIFORM_RELU = 'xavier_uniform_relu'
UNIFORM_FAN_OUT = 'uniform_fan_out'
# Heads whose bias PyTorch leaves at its default U(±1/√fan_in) (the stock head's is zero).
TORCH_BIAS = (TORCH_LINEAR, KAIMING_NORMAL)
# The ACON authors' ShuffleNetV2 and TFNet: nn.init.normal_(fc.weight, 0, 0.01), zero bias.
NORMAL_001 = 'normal_001'
# The head init of each family's reference network; other (Model Garden) backbones keep the
# stock `random_uniform`.
FAMILY_DEFAULTS = {
    'convnext': TRUNC_NORMAL, 'hornet': TRUNC_NORMAL, 'swin': TRUNC_NORMAL,
    'posmlp': TRUNC_NORMAL, 'act_resnet': TORCH_LINEAR,
    # torchvision's ViT zeroes its head (the ImageNet b16/b32 references); the timm ViT-Ti
    # config sets trunc_normal explicitly.
    'act_vit': 'zeros', 'tiny_vit': TRUNC_NORMAL,
    'cifar_resnet': KAIMING_NORMAL, 'cifar_wide_resnet': XAVIER_UNIFORM_RELU,
    # torchvision's DenseNet keeps the default Linear kernel (its bias is zeroed there, drawn
    # U(±1/√fan_in) here: the one difference of the head's init).
    'densenet': TORCH_LINEAR, 'act_efficientnet': UNIFORM_FAN_OUT,
    'shufflenet_v2': NORMAL_001, 'tfnet': NORMAL_001,
}
# Where one family holds networks of different authors: (family, model_id) → init.
MODEL_DEFAULTS = {('densenet', '40'): KAIMING_NORMAL}
STOCK_DEFAULT = 'random_uniform'


class TruncNormal002(tf_keras.initializers.Initializer):
    """trunc_normal(std 0.02), the papers' classifier init (a string name for the stock head)."""

    def __call__(self, shape: Any, dtype: Any = None, **kwargs: Any) -> tf.Tensor:
        return common.trunc_normal()(shape, dtype=dtype or tf.float32)

    def get_config(self) -> dict:
        return {}


class TorchLinear(tf_keras.initializers.Initializer):
    """PyTorch's default `nn.Linear` kernel init: kaiming_uniform(a=√5) = U(±1/√fan_in)."""

    def __call__(self, shape: Any, dtype: Any = None, **kwargs: Any) -> tf.Tensor:
        return common.torch_default_conv_init()(shape, dtype=dtype or tf.float32)

    def get_config(self) -> dict:
        return {}


class KaimingNormal(tf_keras.initializers.Initializer):
    """PyTorch's `kaiming_normal_` default: N(0, 2/fan_in), untruncated."""

    def __call__(self, shape: Any, dtype: Any = None, **kwargs: Any) -> tf.Tensor:
        return tf_keras.initializers.VarianceScaling(2.0, 'fan_in', 'untruncated_normal')(
            shape, dtype=dtype or tf.float32)

    def get_config(self) -> dict:
        return {}


class XavierUniformRelu(tf_keras.initializers.Initializer):
    """PyTorch's `xavier_uniform_(gain=√2)`: U(±√(12/(fan_in+fan_out)))."""

    def __call__(self, shape: Any, dtype: Any = None, **kwargs: Any) -> tf.Tensor:
        return tf_keras.initializers.VarianceScaling(2.0, 'fan_avg', 'uniform')(
            shape, dtype=dtype or tf.float32)

    def get_config(self) -> dict:
        return {}


class UniformFanOut(tf_keras.initializers.Initializer):
    """timm's EfficientNet classifier init: U(±1/√fan_out)."""

    def __call__(self, shape: Any, dtype: Any = None, **kwargs: Any) -> tf.Tensor:
        return tf_keras.initializers.VarianceScaling(1.0 / 3.0, 'fan_out', 'uniform')(
            shape, dtype=dtype or tf.float32)

    def get_config(self) -> dict:
        return {}


class Normal001(tf_keras.initializers.Initializer):
    """N(0, 0.01), untruncated: the ACON authors' ShuffleNetV2/TFNet classifier init."""

    def __call__(self, shape: Any, dtype: Any = None, **kwargs: Any) -> tf.Tensor:
        return tf_keras.initializers.RandomNormal(stddev=0.01)(shape, dtype=dtype or tf.float32)

    def get_config(self) -> dict:
        return {}


tf_keras.utils.get_custom_objects().update({TRUNC_NORMAL: TruncNormal002,
                                            TORCH_LINEAR: TorchLinear,
                                            KAIMING_NORMAL: KaimingNormal,
                                            XAVIER_UNIFORM_RELU: XavierUniformRelu,
                                            UNIFORM_FAN_OUT: UniformFanOut,
                                            NORMAL_001: Normal001})


def resolve(model_config: Any) -> str:
    """The head initializer name in effect: the configured one, else the family's default."""
    name = str(model_config.kernel_initializer or '')
    if name:
        return name
    family = str(model_config.backbone.type)
    model_id = getattr(model_config.backbone.get(), 'model_id', None) if family else None
    return MODEL_DEFAULTS.get((family, str(model_id)),
                              FAMILY_DEFAULTS.get(family, STOCK_DEFAULT))


def classifier(model: tf_keras.Model) -> Optional[tf_keras.layers.Dense]:
    """The stock head's Dense layer (the last Dense of the classification model), if any."""
    dense = [l for l in model.layers if isinstance(l, tf_keras.layers.Dense)]
    return dense[-1] if dense else None


def build_classification_model(input_specs: tf_keras.layers.InputSpec, model_config: Any,
                               l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None
                               ) -> tf_keras.Model:
    """Model Garden's `build_classification_model` with the head initializer resolved.

    Raises:
      ValueError: naming the setting when the initializer name is unknown to Keras.
    """
    name = resolve(model_config)
    try:
        tf_keras.initializers.get(name)
    except ValueError as e:
        raise ValueError(f'task.model.kernel_initializer {name!r} is not a Keras initializer; '
                         f"use '' (the family's paper init), {TRUNC_NORMAL!r}, "
                         f"{TORCH_LINEAR!r} or a Keras name such as 'random_uniform'.") from e
    model = factory.build_classification_model(
        input_specs=input_specs, model_config=model_config.replace(kernel_initializer=name),
        l2_regularizer=l2_regularizer)
    dense = classifier(model)
    if name in TORCH_BIAS and dense is not None:
        bound = 1.0 / math.sqrt(int(dense.kernel.shape[0]))
        dense.bias.assign(tf.random.uniform(dense.bias.shape, -bound, bound, dense.bias.dtype))
    return model


class ClassificationTask(mg_ic_task.ImageClassificationTask):
    """Model Garden's classification task whose head starts from the paper's init.

    Only `build_model` differs from the stock task (same body, resolved head initializer).
    """

    def build_model(self) -> tf_keras.Model:
        input_specs = tf_keras.layers.InputSpec(shape=[None] + self.task_config.model.input_size)
        l2_weight_decay = self.task_config.losses.l2_weight_decay
        # Halved as in the stock task: tf_keras' l2 is λ·Σw², tf.nn.l2_loss is Σw²/2.
        l2_regularizer = (tf_keras.regularizers.l2(l2_weight_decay / 2.0)
                          if l2_weight_decay else None)
        model = build_classification_model(input_specs, self.task_config.model, l2_regularizer)
        if self.task_config.freeze_backbone:
            model.backbone.trainable = False
        _ = model(tf_keras.Input(self.task_config.model.input_size), training=False)
        return model
