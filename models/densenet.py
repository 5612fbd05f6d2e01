"""DenseNet-BC with pluggable activations: torchvision's DenseNet-121 and the GoLU authors'
CIFAR DenseNet-40.

Both are DenseNet-BC (bottleneck layers, compression 0.5): a dense layer is
BN → act → 1×1 conv (4·growth) → BN → act → 3×3 conv (growth), its output concatenated to its
input; a transition is BN → act → 1×1 conv (⌊channels/2⌋) → 2×2 average pool; no conv has a
bias. They differ where the layouts of their reference code differ (`layout`):

- `imagenet` (torchvision `densenet121`, model_id 121: growth 32, blocks 6/12/24/16, 64 stem
  channels; 7,978,856 parameters): stem 7×7/2 conv → BN → act → 3×3/2 max-pool; each layer's
  output is appended AFTER its input (`torch.cat(features, 1)`); head BN → ReLU → GAP → Dense.
  torchvision applies that last ReLU as a function (`F.relu`), which GoLU's module swap cannot
  reach, so it stays ReLU whatever `activation` says (120 swapped sites + 1 ReLU). Conv kernels
  He-normal fan_in (torchvision's `kaiming_normal_`).
- `cifar` (automl/GoLU `tasks/small_poc/dense_net.py`, model_id 40: growth 12, blocks 6/6/6,
  2·growth = 24 stem channels; 176,122 parameters with 10 classes): stem one 3×3 conv (no BN,
  no activation); each layer's output is placed BEFORE its input (`torch.cat([out, x], 1)`);
  head BN → act (a module in their code, so swapped: 39 sites) → GAP → Dense. Kernels He-normal
  fan_in (their `kaiming_normal_`).

BatchNorm: PyTorch's momentum 0.1 / eps 1e-5 (Keras momentum 0.9). Endpoints: each dense
block's output keyed by its level (log2 of the stride), the last one after the head BN and
activation, so Model Garden's stock head (GAP → Dense) completes the network.
"""
from __future__ import annotations

import math
from typing import Any, List, Optional, Sequence

import tf_keras

from official.vision.modeling.backbones import factory

from models import common

LAYOUTS = ('imagenet', 'cifar')
# model_id → (layout, growth rate, layers per dense block, stem channels)
MODEL_TABLE = {
    '121': ('imagenet', 32, [6, 12, 24, 16], 64),
    '40': ('cifar', 12, [6, 6, 6], 24),
}
BOTTLENECK_WIDTH = 4   # torchvision's bn_size: the 1×1 conv has 4·growth channels
COMPRESSION = 0.5


class DenseNet(common.BackboneModel):
    """DenseNet-BC in torchvision's (`imagenet`) or the GoLU authors' CIFAR (`cifar`) layout."""

    def __init__(self, layout: str, growth_rate: int, depths: Sequence[int], stem_width: int,
                 activation: Any, norm_momentum: float = 0.9, norm_epsilon: float = 1e-5,
                 use_sync_bn: bool = False,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, None, None, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        if layout not in LAYOUTS:
            raise ValueError(f'densenet: unknown layout {layout!r}; use one of {list(LAYOUTS)}.')
        acts = common.StageActivations(activation, len(depths))

        def conv(x, filters, kernel, stride, name):
            if kernel > 1 and stride > 1:
                x = common.TorchPad2D(kernel // 2, name=f'{name}_pad')(x)
                padding = 'valid'
            else:
                padding = 'same'
            return tf_keras.layers.Conv2D(
                filters, kernel, strides=stride, padding=padding, use_bias=False,
                kernel_initializer=tf_keras.initializers.VarianceScaling(
                    2.0, 'fan_in', 'untruncated_normal'),
                kernel_regularizer=kernel_regularizer, name=name)(x)

        def bn(x, name):
            return tf_keras.layers.BatchNormalization(
                axis=-1, momentum=norm_momentum, epsilon=norm_epsilon,
                synchronized=use_sync_bn, name=name)(x)

        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        if layout == 'imagenet':
            x = bn(conv(inputs, stem_width, 7, 2, 'stem_conv'), 'stem_bn')
            x = acts.get(0, name='stem_act')(x)
            x = common.TorchPad2D(1, for_max_pool=True, name='stem_pool_pad')(x)
            x = tf_keras.layers.MaxPool2D(3, strides=2, padding='valid', name='stem_pool')(x)
            level = 2
        else:
            x = conv(inputs, stem_width, 3, 1, 'stem_conv')
            level = 0
        features = {}
        for s, depth in enumerate(depths):
            for j in range(depth):
                name = f'block{s + 1}_layer{j + 1}'
                y = acts.get(s, name=f'{name}_act1')(bn(x, f'{name}_bn1'))
                y = conv(y, BOTTLENECK_WIDTH * growth_rate, 1, 1, f'{name}_conv1')
                y = acts.get(s, name=f'{name}_act2')(bn(y, f'{name}_bn2'))
                y = conv(y, growth_rate, 3, 1, f'{name}_conv2')
                parts = [x, y] if layout == 'imagenet' else [y, x]
                x = tf_keras.layers.Concatenate(axis=-1, name=f'{name}_concat')(parts)
            if s < len(depths) - 1:
                features[str(level)] = x
                name = f'transition{s + 1}'
                x = acts.get(s, name=f'{name}_act')(bn(x, f'{name}_bn'))
                x = conv(x, int(math.floor(int(x.shape[-1]) * COMPRESSION)), 1, 1,
                         f'{name}_conv')
                x = tf_keras.layers.AveragePooling2D(2, strides=2, name=f'{name}_pool')(x)
                level += 1
        x = bn(x, 'head_bn')
        if layout == 'imagenet':
            x = tf_keras.layers.ReLU(name='head_relu')(x)   # torchvision's functional F.relu
        else:
            x = acts.get(len(depths) - 1, name='head_act')(x)
        features[str(level)] = x
        config = {'layout': layout, 'growth_rate': growth_rate, 'depths': list(depths),
                  'stem_width': stem_width}
        super().__init__(inputs, features, config, **kwargs)


@factory.register_backbone_builder('densenet')
def build_densenet(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                   norm_activation_config: Any,
                   l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                   **kwargs: Any) -> tf_keras.Model:
    """Builds `backbone.densenet`: model_id 121 | 40, or layout + growth_rate + depths."""
    del kwargs
    cfg = backbone_config.get()
    key = str(cfg.model_id)
    custom = bool(cfg.layout and cfg.growth_rate and cfg.depths and cfg.stem_width)
    if key not in MODEL_TABLE and not custom:
        raise ValueError(f'densenet: unknown model_id {cfg.model_id!r}; use one of '
                         f'{sorted(MODEL_TABLE, key=int)} or set layout, growth_rate, depths and '
                         'stem_width.')
    layout, growth, depths, stem = MODEL_TABLE.get(key, ('', 0, [], 0))
    layout = cfg.layout or layout
    growth = int(cfg.growth_rate or growth)
    depths: List[int] = [int(d) for d in cfg.depths] if cfg.depths else depths
    stem = int(cfg.stem_width or stem)
    return DenseNet(layout, growth, depths, stem, cfg.activation, cfg.norm_momentum,
                    cfg.norm_epsilon, bool(getattr(norm_activation_config, 'use_sync_bn', False)),
                    input_specs=input_specs, kernel_regularizer=l2_regularizer, name='densenet')
