"""EfficientNet-B0 as timm builds `efficientnet_b0` (the network GoLU trained), with pluggable
activations at every SiLU of timm's network.

Why not Model Garden's `efficientnet`: it takes the activation as a string, follows the TF
reference (asymmetric 'same' padding, BN eps 1e-3, a different SE reduction base), so its
weights and numbers are not timm's. Here, as timm 0.9 `efficientnet_b0`:

- stem 3×3/2 conv (32, no bias) → BN → act;
- stage 1: a depthwise-separable block (3×3 depthwise → BN → act → SE → 1×1 conv (16) → BN);
- stages 2–7: inverted residual blocks (1×1 expand ×6 → BN → act → k×k depthwise(stride) → BN
  → act → SE → 1×1 project → BN, + input where stride 1 and widths equal, with drop path);
  (repeats, kernel, stride, width) = (2,3,2,24) (2,5,2,40) (3,3,2,80) (3,5,1,112) (4,5,2,192)
  (1,3,1,320);
- squeeze-excitation: GAP → 1×1 conv (bias) to ¼ of the BLOCK INPUT width → act → 1×1 conv
  (bias) back → sigmoid gate × features. The act is the block's activation (timm's SiLU module
  `act1`, swapped by GoLU's `replace_activation_by_torch_module(model, nn.SiLU, ...)`); the
  gate stays a sigmoid (it is `nn.Sigmoid` there, which that swap leaves alone);
- head 1×1 conv (1280, no bias) → BN → act; timm's dropout (`--drop`) is Model Garden's head
  `dropout_rate`.

So 49 activation sites (stem 1, stage 1: 2, 15 inverted residuals × 3, head 1) and 16 sigmoid
gates; 5,288,548 parameters with the 1000-class head.

Padding is symmetric (timm's non-`tf_` models; `TorchPad2D` for strided convs). BatchNorm:
PyTorch's 0.1 / 1e-5 (Keras momentum 0.9). Init as timm's `_init_weight_goog`: conv kernels
N(0, 2/fan_out) with fan_out = k·k·out/groups (Keras' fan_out of a depthwise kernel is k·k: the
same), biases 0. Drop path: timm's rate·i/16 for block i (0-based), not a linspace to the rate.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import tf_keras

from official.vision.modeling.backbones import factory

from models import common

# (repeats, kernel, stride, expansion, output width) per stage (timm's arch_def for B0).
B0 = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
      (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]
MODEL_TABLE = {'b0': {'stem': 32, 'stages': B0, 'head': 1280}}
SE_RATIO = 0.25


def _conv_init() -> tf_keras.initializers.Initializer:
    return tf_keras.initializers.VarianceScaling(2.0, 'fan_out', 'untruncated_normal')


class ActEfficientNet(common.BackboneModel):
    """timm's EfficientNet (B0 layout) returning endpoints by level; the last is the head."""

    def __init__(self, stages: Sequence[tuple], stem_width: int, head_width: int,
                 activation: Any, drop_path_rate: float = 0.0, norm_momentum: float = 0.9,
                 norm_epsilon: float = 1e-5, use_sync_bn: bool = False,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, None, None, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        acts = common.StageActivations(activation, len(stages))
        total = sum(s[0] for s in stages)

        def bn(x, name):
            return tf_keras.layers.BatchNormalization(
                axis=-1, momentum=norm_momentum, epsilon=norm_epsilon,
                synchronized=use_sync_bn, name=name)(x)

        def pad(x, kernel, stride, name):
            if kernel > 1 and stride > 1:
                return common.TorchPad2D(kernel // 2, name=f'{name}_pad')(x), 'valid'
            return x, 'same'

        def conv(x, filters, kernel, stride, name, bias=False):
            x, padding = pad(x, kernel, stride, name)
            return tf_keras.layers.Conv2D(
                filters, kernel, strides=stride, padding=padding, use_bias=bias,
                kernel_initializer=_conv_init(), bias_initializer='zeros',
                kernel_regularizer=kernel_regularizer, name=name)(x)

        def depthwise(x, kernel, stride, name):
            x, padding = pad(x, kernel, stride, name)
            return tf_keras.layers.DepthwiseConv2D(
                kernel, strides=stride, padding=padding, use_bias=False,
                depthwise_initializer=_conv_init(), depthwise_regularizer=kernel_regularizer,
                name=name)(x)

        def squeeze_excite(x, reduced, stage, name):
            s = tf_keras.layers.GlobalAveragePooling2D(keepdims=True, name=f'{name}_pool')(x)
            s = conv(s, reduced, 1, 1, f'{name}_conv_reduce', bias=True)
            s = acts.get(stage, name=f'{name}_act')(s)
            s = conv(s, int(x.shape[-1]), 1, 1, f'{name}_conv_expand', bias=True)
            s = tf_keras.layers.Activation('sigmoid', name=f'{name}_gate')(s)
            return tf_keras.layers.Multiply(name=f'{name}_scale')([x, s])

        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = acts.get(0, name='stem_act')(bn(conv(inputs, stem_width, 3, 2, 'stem_conv'),
                                             'stem_bn'))
        level, index, features = 1, 0, {}
        for s, (repeats, kernel, stride, expansion, width) in enumerate(stages):
            for b in range(repeats):
                name = f'block{s}_{b}'
                block_stride = stride if b == 0 else 1
                if block_stride > 1:
                    features[str(level)] = x
                    level += 1
                inp = x
                in_width = int(x.shape[-1])
                reduced = max(1, int(round(in_width * SE_RATIO)))
                if expansion == 1:   # timm's DepthwiseSeparableConv
                    y = depthwise(x, kernel, block_stride, f'{name}_conv_dw')
                    y = acts.get(s, name=f'{name}_act1')(bn(y, f'{name}_bn1'))
                    y = squeeze_excite(y, reduced, s, f'{name}_se')
                    y = bn(conv(y, width, 1, 1, f'{name}_conv_pw'), f'{name}_bn2')
                else:                # timm's InvertedResidual
                    y = conv(x, in_width * expansion, 1, 1, f'{name}_conv_pw')
                    y = acts.get(s, name=f'{name}_act1')(bn(y, f'{name}_bn1'))
                    y = depthwise(y, kernel, block_stride, f'{name}_conv_dw')
                    y = acts.get(s, name=f'{name}_act2')(bn(y, f'{name}_bn2'))
                    y = squeeze_excite(y, reduced, s, f'{name}_se')
                    y = bn(conv(y, width, 1, 1, f'{name}_conv_pwl'), f'{name}_bn3')
                if block_stride == 1 and in_width == width:
                    rate = drop_path_rate * index / total
                    y = common.drop_path(rate, name=f'{name}_drop_path')(y)
                    y = tf_keras.layers.Add(name=f'{name}_add')([y, inp])
                x = y
                index += 1
        x = conv(x, head_width, 1, 1, 'head_conv')
        features[str(level)] = acts.get(len(stages) - 1, name='head_act')(bn(x, 'head_bn'))
        config = {'stages': [list(s) for s in stages], 'stem_width': stem_width,
                  'head_width': head_width}
        super().__init__(inputs, features, config, **kwargs)


@factory.register_backbone_builder('act_efficientnet')
def build_act_efficientnet(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                           norm_activation_config: Any,
                           l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                           **kwargs: Any) -> tf_keras.Model:
    """Builds `backbone.act_efficientnet` (model_id b0; `widths`/`depths` shrink it for tests)."""
    del kwargs
    cfg = backbone_config.get()
    key = str(cfg.model_id)
    if key not in MODEL_TABLE:
        raise ValueError(f'act_efficientnet: unknown model_id {cfg.model_id!r}; use one of '
                         f'{sorted(MODEL_TABLE)}.')
    base = MODEL_TABLE[key]
    stages = [list(s) for s in base['stages']]
    if cfg.widths:
        if len(cfg.widths) != len(stages):
            raise ValueError(f'act_efficientnet: `widths` needs {len(stages)} entries (one per '
                             f'stage), got {list(cfg.widths)}.')
        for s, w in zip(stages, cfg.widths):
            s[4] = int(w)
    if cfg.depths:
        if len(cfg.depths) != len(stages):
            raise ValueError(f'act_efficientnet: `depths` needs {len(stages)} entries (one per '
                             f'stage), got {list(cfg.depths)}.')
        for s, d in zip(stages, cfg.depths):
            s[0] = int(d)
    stem = int(cfg.stem_width or base['stem'])
    head = int(cfg.head_width or base['head'])
    rate = 0.2 if cfg.drop_path_rate is None else float(cfg.drop_path_rate)
    return ActEfficientNet([tuple(s) for s in stages], stem, head, cfg.activation, rate,
                           cfg.norm_momentum, cfg.norm_epsilon,
                           bool(getattr(norm_activation_config, 'use_sync_bn', False)),
                           input_specs=input_specs, kernel_regularizer=l2_regularizer,
                           name='act_efficientnet')
