"""The GoLU authors' CIFAR-10 ResNets: ResNet-20/32/44/56/110 and WideResNet-28-2.

Both follow automl/GoLU `tasks/small_poc/resnet.py` and `tasks/small_poc/wide_resnet.py` (the
networks behind the paper's CIFAR-10 rows), with the pluggable `activation` at every site where
their code calls `get_activation_function` (every ReLU of the reference).

`cifar_resnet` (He et al.'s CIFAR ResNet, 6n+2 layers, model_id 20 | 32 | 44 | 56 | 110):
- stem 3×3 conv (16, no bias) → BN → act; three stages of n basic blocks, widths 16, 32, 64,
  stride 2 at the first block of stages 2 and 3;
- basic block as torchvision's (3×3(stride) → BN → act → 3×3 → BN, + shortcut, → act), with a
  projection shortcut (1×1 stride conv → BN) where the shape changes (option B of the paper;
  the authors' code, not option A's zero padding);
- GAP → Dense; conv and Dense kernels He-normal with fan_in (their `kaiming_normal_`), Dense
  bias PyTorch's default U(±1/√fan_in).
  Parameters (10 classes, the authors' code): 272,474 / 466,906 / 661,338 / 855,770 / 1,730,714.

`cifar_wide_resnet` (Zagoruyko & Komodakis, depth 6n+4, model_id '28-2'; no dropout, as the
authors ran it):
- stem 3×3 conv (16, with bias); three stages of n pre-activation blocks, widths 16k, 32k, 64k:
  BN → act → 3×3 conv (bias) → BN → act → 3×3 conv (stride, bias), + shortcut, where the
  shortcut is the block input or, where the shape changes, a 1×1 stride conv with bias (no BN);
  the stride sits on the block's SECOND conv (the meliketoy code the authors adapted);
- head BN → act → GAP → Dense. That BN was built with PyTorch momentum 0.9 (their code), i.e.
  Keras momentum 0.1 (`head_norm_momentum`); every other BN has PyTorch's 0.1 (Keras 0.9);
- conv and Dense kernels xavier_uniform with gain √2, biases 0 (their `_weights_init`).
  Parameters (10 classes): 1,469,642.

Endpoints: the three stage outputs keyed by their level (log2 stride: '0', '1', '2'); the head
of WideResNet's last endpoint includes the head BN and activation, so Model Garden's stock
classification head (GAP → Dense) completes both networks.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory

from models import common
from models import resnet

# model_id → blocks per stage (n of 6n+2).
RESNET_TABLE = {'20': 3, '32': 5, '44': 7, '56': 9, '110': 18}
# model_id → (blocks per stage (n of 6n+4), widen factor k).
WIDE_TABLE = {'28-2': (4, 2)}
BASE_WIDTHS = (16, 32, 64)


def kaiming_normal_fan_in() -> tf_keras.initializers.Initializer:
    """PyTorch's `kaiming_normal_` default (fan_in, gain √2, untruncated)."""
    return tf_keras.initializers.VarianceScaling(2.0, 'fan_in', 'untruncated_normal')


def xavier_uniform_relu() -> tf_keras.initializers.Initializer:
    """PyTorch's `xavier_uniform_(gain=√2)`: U(±√2·√(6/(fan_in+fan_out)))."""
    return tf_keras.initializers.VarianceScaling(2.0, 'fan_avg', 'uniform')


def _stage_outputs(features: Sequence[tf.Tensor]) -> dict:
    """Endpoints keyed by level (log2 of the stride: 0, 1, 2 for the CIFAR stages)."""
    return {str(i): f for i, f in enumerate(features)}


class CifarResNet(common.BackboneModel):
    """He et al.'s CIFAR ResNet (6n+2 layers) as the GoLU authors define it."""

    def __init__(self, depths: Sequence[int], dims: Sequence[int], activation: Any,
                 drop_path_rate: float = 0.0, norm_momentum: float = 0.9,
                 norm_epsilon: float = 1e-5, use_sync_bn: bool = False,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, None, None, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        if len(depths) != len(dims):
            raise ValueError(f'cifar_resnet: `dims` {list(dims)} and `depths` {list(depths)} '
                             'must have one entry per stage.')
        acts = common.StageActivations(activation, len(depths))
        rates = common.drop_path_rates(drop_path_rate, depths)
        b = resnet._ResNetBuilder(  # pylint: disable=protected-access
            acts, 'all', norm_momentum, norm_epsilon, use_sync_bn, kernel_regularizer,
            kernel_initializer=kaiming_normal_fan_in)
        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = b.bn(b.conv(inputs, dims[0], 3, 1, 'stem_conv'), 'stem_bn')
        x = b.act(x, 0, 'stem_act')
        features = []
        for s, (dim, depth) in enumerate(zip(dims, depths)):
            for i in range(depth):
                stride = 2 if (i == 0 and s > 0) else 1
                x = b.basic(x, dim, stride, s, f'stage{s + 1}_block{i}', rates[s][i])
            features.append(x)
        super().__init__(inputs, _stage_outputs(features),
                         {'depths': list(depths), 'dims': list(dims)}, **kwargs)


class CifarWideResNet(common.BackboneModel):
    """Pre-activation WideResNet (depth 6n+4, widen factor k) as the GoLU authors define it."""

    def __init__(self, depths: Sequence[int], dims: Sequence[int], activation: Any,
                 drop_path_rate: float = 0.0, norm_momentum: float = 0.9,
                 head_norm_momentum: float = 0.1, norm_epsilon: float = 1e-5,
                 use_sync_bn: bool = False, stem_width: int = 16,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, None, None, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        if len(depths) != len(dims):
            raise ValueError(f'cifar_wide_resnet: `dims` {list(dims)} and `depths` '
                             f'{list(depths)} must have one entry per stage.')
        acts = common.StageActivations(activation, len(depths))
        rates = common.drop_path_rates(drop_path_rate, depths)

        def conv(x, filters, kernel, stride, name):
            if kernel > 1 and stride > 1:
                x = common.TorchPad2D(kernel // 2, name=f'{name}_pad')(x)
                padding = 'valid'
            else:
                padding = 'same'
            return tf_keras.layers.Conv2D(
                filters, kernel, strides=stride, padding=padding, use_bias=True,
                kernel_initializer=xavier_uniform_relu(), bias_initializer='zeros',
                kernel_regularizer=kernel_regularizer, name=name)(x)

        def bn(x, name, momentum=norm_momentum):
            return tf_keras.layers.BatchNormalization(
                axis=-1, momentum=momentum, epsilon=norm_epsilon, synchronized=use_sync_bn,
                name=name)(x)

        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = conv(inputs, stem_width, 3, 1, 'stem_conv')
        features = []
        for s, (dim, depth) in enumerate(zip(dims, depths)):
            for i in range(depth):
                stride = 2 if (i == 0 and s > 0) else 1
                name = f'stage{s + 1}_block{i}'
                shortcut = x
                if stride != 1 or int(x.shape[-1]) != dim:
                    shortcut = conv(x, dim, 1, stride, f'{name}_proj_conv')
                y = acts.get(s, name=f'{name}_act1')(bn(x, f'{name}_bn1'))
                y = conv(y, dim, 3, 1, f'{name}_conv1')
                y = acts.get(s, name=f'{name}_act2')(bn(y, f'{name}_bn2'))
                y = conv(y, dim, 3, stride, f'{name}_conv2')
                y = common.drop_path(rates[s][i], name=f'{name}_drop_path')(y)
                x = tf_keras.layers.Add(name=f'{name}_add')([y, shortcut])
            features.append(x)
        last = len(depths) - 1
        features[-1] = acts.get(last, name='head_act')(
            bn(features[-1], 'head_bn', momentum=head_norm_momentum))
        super().__init__(inputs, _stage_outputs(features),
                         {'depths': list(depths), 'dims': list(dims)}, **kwargs)


def _sizes(family: str, cfg: Any, table_depths: List[int], table_dims: List[int]):
    depths = [int(d) for d in cfg.depths] if cfg.depths else table_depths
    dims = [int(d) for d in cfg.dims] if cfg.dims else table_dims
    if len(dims) != len(depths):
        raise ValueError(f'{family}: `dims` {dims} and `depths` {depths} must have one entry per '
                         'stage.')
    return depths, dims


@factory.register_backbone_builder('cifar_resnet')
def build_cifar_resnet(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                       norm_activation_config: Any,
                       l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                       **kwargs: Any) -> tf_keras.Model:
    """Builds `backbone.cifar_resnet` (model_id 20 | 32 | 44 | 56 | 110, or dims + depths)."""
    del kwargs
    cfg = backbone_config.get()
    key = str(cfg.model_id)
    if key not in RESNET_TABLE and not (cfg.dims and cfg.depths):
        raise ValueError(f'cifar_resnet: unknown model_id {cfg.model_id!r}; use one of '
                         f'{sorted(RESNET_TABLE, key=int)} or give `dims` and `depths`.')
    n = RESNET_TABLE.get(key, 0)
    depths, dims = _sizes('cifar_resnet', cfg, [n] * 3, list(BASE_WIDTHS))
    return CifarResNet(depths, dims, cfg.activation, float(cfg.drop_path_rate or 0.0),
                       cfg.norm_momentum, cfg.norm_epsilon,
                       bool(getattr(norm_activation_config, 'use_sync_bn', False)),
                       input_specs=input_specs, kernel_regularizer=l2_regularizer,
                       name='cifar_resnet')


@factory.register_backbone_builder('cifar_wide_resnet')
def build_cifar_wide_resnet(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                            norm_activation_config: Any,
                            l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                            **kwargs: Any) -> tf_keras.Model:
    """Builds `backbone.cifar_wide_resnet` (model_id '28-2', or dims + depths)."""
    del kwargs
    cfg = backbone_config.get()
    key = str(cfg.model_id)
    if key not in WIDE_TABLE and not (cfg.dims and cfg.depths):
        raise ValueError(f'cifar_wide_resnet: unknown model_id {cfg.model_id!r}; use one of '
                         f'{sorted(WIDE_TABLE)} (depth-width) or give `dims` and `depths`.')
    n, k = WIDE_TABLE.get(key, (0, 1))
    depths, dims = _sizes('cifar_wide_resnet', cfg, [n] * 3, [w * k for w in BASE_WIDTHS])
    return CifarWideResNet(depths, dims, cfg.activation, float(cfg.drop_path_rate or 0.0),
                           cfg.norm_momentum, cfg.head_norm_momentum, cfg.norm_epsilon,
                           bool(getattr(norm_activation_config, 'use_sync_bn', False)),
                           input_specs=input_specs, kernel_regularizer=l2_regularizer,
                           name='cifar_wide_resnet')

