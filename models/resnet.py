"""ResNet-18/34/50/101/152 in torchvision's layout (v1.5) with pluggable activations.

Why not Model Garden's ResNet: it takes only an activation *string* (no trainable activation
layers), adds a 64→64 projection shortcut to the first block of ResNet-18/34 (+4,224 params) and
defaults to BatchNorm momentum 0.99 / eps 1e-3. This module reproduces torchvision exactly:

- stem Conv 7×7/2 (no bias) → BN → act → MaxPool 3×3/2 (symmetric padding, -inf for the pool);
- basic block: 3×3(stride) → BN → act → 3×3 → BN, + shortcut, → act;
- bottleneck: 1×1 → BN → act → 3×3(stride) → BN → act → 1×1(4×) → BN, + shortcut, → act
  (stride on the 3×3: v1.5);
- projection shortcut (1×1 stride conv → BN) only where the shape changes;
- optional stochastic depth on each residual branch (`drop_path_rate`, linear schedule; 0 =
  torchvision, the default);
- conv kernels He-normal with fan_out (torchvision's kaiming_normal_(mode='fan_out')), BN γ=1, β=0;
- `width_multiplier` widens the bottleneck's inner 1×1 and 3×3 convs (not its 4× output):
  torchvision's Wide ResNets (`wide_resnet50_2`: model_id 50, width_multiplier 2, i.e.
  width_per_group 128), 68,883,240 parameters.

The ACON authors' ResNet (nmaac/acon, ResNet_ACON/resnet_acon.py and
ResNet_MetaACON/resnet_metaacon.py), which their ImageNet numbers were measured on, differs in two
ways, each an option whose default keeps torchvision's network:
- `stride_in_1x1`: the stride of a downsampling bottleneck sits on its first 1×1 conv (ResNet
  v1, as in the original paper) instead of the 3×3;
- `conv_bias`: every conv (stem, blocks, projection shortcuts) has a bias, initialised like
  PyTorch's default conv bias, U(±1/√fan_in) (their code re-initialises only the kernels).

BatchNorm: momentum 0.9 and eps 1e-5 by default, the Keras equivalent of PyTorch's momentum 0.1 /
eps 1e-5 (Keras keeps `momentum` of the old average). They are fields of the `act_resnet` config
(`norm_momentum`, `norm_epsilon`) rather than taken from `task.model.norm_activation`, whose Model
Garden defaults (0.99 / 1e-3) would silently change the reference network; only
`norm_activation.use_sync_bn` is honoured.

Activation sites (`activation_sites`):
- `all`: every ReLU is replaced (stem, inside blocks, after each residual addition);
- `bottleneck_3x3`: the ACON paper's placement: only the activation right after the 3×3 conv + BN
  of each bottleneck; all other sites stay ReLU. For basic blocks the analogous site, the first
  activation (after the first 3×3 conv + BN, inside the residual branch), is replaced.

Head: torchvision's GAP → Dense equals Model Garden's ClassificationModel head (dropout 0), so the
backbone returns the stage maps '2'..'5' and the stock head pools the last one.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Optional, Sequence

import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory

from models import common

# model_id → (block type, blocks per stage)
MODEL_TABLE = {
    '18': ('basic', [2, 2, 2, 2]),
    '34': ('basic', [3, 4, 6, 3]),
    '50': ('bottleneck', [3, 4, 6, 3]),
    '101': ('bottleneck', [3, 4, 23, 3]),
    '152': ('bottleneck', [3, 8, 36, 3]),
}
SITES = ('all', 'bottleneck_3x3')


class _ResNetBuilder:
    """Holds the shared settings while the functional graph is assembled."""

    def __init__(self, acts: common.StageActivations, sites: str, momentum: float, eps: float,
                 sync_bn: bool, regularizer: Optional[tf_keras.regularizers.Regularizer],
                 stride_in_1x1: bool = False, conv_bias: bool = False,
                 width_multiplier: int = 1,
                 kernel_initializer: Optional[Callable[[], Any]] = None):
        self.acts, self.sites = acts, sites
        self.width_multiplier = width_multiplier
        # A factory (a fresh initializer per conv: one shared unseeded instance would give
        # equal-shaped kernels identical values); torchvision's kaiming_normal_(mode='fan_out')
        # unless a family passes its own.
        self.kernel_initializer = kernel_initializer or (
            lambda: tf_keras.initializers.VarianceScaling(2.0, 'fan_out', 'untruncated_normal'))
        self.momentum, self.eps, self.sync_bn = momentum, eps, sync_bn
        self.regularizer = regularizer
        self.stride_in_1x1, self.conv_bias = stride_in_1x1, conv_bias

    def conv(self, x: tf.Tensor, filters: int, kernel: int, stride: int, name: str) -> tf.Tensor:
        pad = kernel // 2
        if pad and stride > 1:
            x = common.TorchPad2D(pad, name=f'{name}_pad')(x)
            padding = 'valid'
        else:
            padding = 'same'
        bound = 1.0 / math.sqrt(kernel * kernel * int(x.shape[-1]))  # PyTorch's conv bias init
        return tf_keras.layers.Conv2D(
            filters, kernel, strides=stride, padding=padding, use_bias=self.conv_bias,
            kernel_initializer=self.kernel_initializer(),
            bias_initializer=tf_keras.initializers.RandomUniform(-bound, bound),
            kernel_regularizer=self.regularizer, name=name)(x)

    def bn(self, x: tf.Tensor, name: str) -> tf.Tensor:
        return tf_keras.layers.BatchNormalization(
            axis=-1, momentum=self.momentum, epsilon=self.eps, synchronized=self.sync_bn,
            name=name)(x)

    def act(self, x: tf.Tensor, stage: int, name: str, primary: bool = False) -> tf.Tensor:
        """Configured activation at `primary` sites (or everywhere for sites='all'), else ReLU.

        The stem counts as stage 0.
        """
        if self.sites == 'all' or primary:
            return self.acts.get(stage, name=name)(x)
        return tf_keras.layers.ReLU(name=name)(x)

    def shortcut(self, x: tf.Tensor, filters: int, stride: int, name: str) -> tf.Tensor:
        if stride == 1 and x.shape[-1] == filters:
            return x
        return self.bn(self.conv(x, filters, 1, stride, f'{name}_proj_conv'), f'{name}_proj_bn')

    def basic(self, x: tf.Tensor, filters: int, stride: int, stage: int, name: str,
              drop_path: float = 0.0) -> tf.Tensor:
        sc = self.shortcut(x, filters, stride, name)
        y = self.bn(self.conv(x, filters, 3, stride, f'{name}_conv1'), f'{name}_bn1')
        y = self.act(y, stage, f'{name}_act1', primary=True)
        y = self.bn(self.conv(y, filters, 3, 1, f'{name}_conv2'), f'{name}_bn2')
        y = common.drop_path(drop_path, name=f'{name}_drop_path')(y)
        y = tf_keras.layers.Add(name=f'{name}_add')([y, sc])
        return self.act(y, stage, f'{name}_act_out')

    def bottleneck(self, x: tf.Tensor, filters: int, stride: int, stage: int, name: str,
                   drop_path: float = 0.0) -> tf.Tensor:
        sc = self.shortcut(x, 4 * filters, stride, name)
        stride1, stride3 = (stride, 1) if self.stride_in_1x1 else (1, stride)
        inner = filters * self.width_multiplier
        y = self.bn(self.conv(x, inner, 1, stride1, f'{name}_conv1'), f'{name}_bn1')
        y = self.act(y, stage, f'{name}_act1')
        y = self.bn(self.conv(y, inner, 3, stride3, f'{name}_conv2'), f'{name}_bn2')
        y = self.act(y, stage, f'{name}_act2', primary=True)
        y = self.bn(self.conv(y, 4 * filters, 1, 1, f'{name}_conv3'), f'{name}_bn3')
        y = common.drop_path(drop_path, name=f'{name}_drop_path')(y)
        y = tf_keras.layers.Add(name=f'{name}_add')([y, sc])
        return self.act(y, stage, f'{name}_act_out')


class ActResNet(common.BackboneModel):
    """torchvision-layout ResNet returning the stage maps as endpoints '2'..'5'."""

    def __init__(self, block: str, dims: Sequence[int], depths: Sequence[int], activation: Any,
                 activation_sites: str = 'all', stem_width: int = 64, drop_path_rate: float = 0.0,
                 norm_momentum: float = 0.9, norm_epsilon: float = 1e-5, use_sync_bn: bool = False,
                 stride_in_1x1: bool = False, conv_bias: bool = False, width_multiplier: int = 1,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, None, None, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        if activation_sites not in SITES:
            raise ValueError(f'act_resnet: unknown activation_sites {activation_sites!r}; '
                             f'use one of {list(SITES)}.')
        if block not in ('basic', 'bottleneck'):
            raise ValueError(f"act_resnet: unknown block {block!r}; use 'basic' or 'bottleneck'.")
        if int(width_multiplier) != width_multiplier or width_multiplier < 1:
            raise ValueError(f'act_resnet: width_multiplier must be an integer >= 1, got '
                             f'{width_multiplier!r}; use 2 for WideResNet-50-2.')
        if block == 'basic' and width_multiplier != 1:
            raise ValueError('act_resnet: width_multiplier widens bottleneck blocks only (as in '
                             'torchvision); use model_id 50/101/152 or width_multiplier: 1.')
        acts = common.StageActivations(activation, len(depths))
        rates = common.drop_path_rates(drop_path_rate, depths)
        b = _ResNetBuilder(acts, activation_sites, norm_momentum, norm_epsilon, use_sync_bn,
                           kernel_regularizer, stride_in_1x1, conv_bias, int(width_multiplier))
        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = b.bn(b.conv(inputs, stem_width, 7, 2, 'stem_conv'), 'stem_bn')
        x = b.act(x, 0, 'stem_act')
        x = common.TorchPad2D(1, for_max_pool=True, name='stem_pool_pad')(x)
        x = tf_keras.layers.MaxPool2D(3, strides=2, padding='valid', name='stem_pool')(x)
        unit = b.basic if block == 'basic' else b.bottleneck
        features = []
        for s, (dim, depth) in enumerate(zip(dims, depths)):
            for i in range(depth):
                stride = 2 if (i == 0 and s > 0) else 1
                x = unit(x, dim, stride, s, f'stage{s + 1}_block{i}', rates[s][i])
            features.append(x)
        endpoints = common.stage_outputs_dict(features)
        config = {'block': block, 'dims': list(dims), 'depths': list(depths),
                  'activation_sites': activation_sites, 'stride_in_1x1': stride_in_1x1,
                  'conv_bias': conv_bias, 'width_multiplier': int(width_multiplier)}
        super().__init__(inputs, endpoints, config, **kwargs)


@factory.register_backbone_builder('act_resnet')
def build_act_resnet(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                     norm_activation_config: Any,
                     l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                     **kwargs: Any) -> tf_keras.Model:
    """Builds the ResNet from `backbone.act_resnet`.

    `dims` are the stage widths (64, 128, 256, 512 for every model_id; bottlenecks expand them
    4×); `block` picks basic/bottleneck when `model_id` is not one of 18/34/50/101/152.
    """
    del kwargs
    cfg = backbone_config.get()
    key = str(cfg.model_id)
    if key in MODEL_TABLE:
        block, depths = MODEL_TABLE[key]
    elif cfg.depths and cfg.block:
        block, depths = cfg.block, list(cfg.depths)
    else:
        raise ValueError(f'act_resnet: unknown model_id {cfg.model_id!r}; use one of '
                         f'{sorted(MODEL_TABLE, key=int)} or set `block` and `depths`.')
    if cfg.block:
        block = cfg.block
    depths = list(cfg.depths) if cfg.depths else depths
    dims = list(cfg.dims) if cfg.dims else [64, 128, 256, 512]
    if len(dims) != len(depths):
        raise ValueError(f'act_resnet: `dims` {dims} and `depths` {depths} must have one entry '
                         'per stage.')
    sync = bool(getattr(norm_activation_config, 'use_sync_bn', False))
    return ActResNet(block, dims, depths, cfg.activation, cfg.activation_sites, cfg.stem_width,
                     float(cfg.drop_path_rate or 0.0), cfg.norm_momentum, cfg.norm_epsilon, sync,
                     bool(cfg.stride_in_1x1), bool(cfg.conv_bias), cfg.width_multiplier,
                     input_specs=input_specs,
                     kernel_regularizer=l2_regularizer, name='act_resnet')
