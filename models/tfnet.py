"""TFNet (Ma et al., CVPR 2021): the ACON authors' toy funnel network of pointwise convs and
ACON-FReLU only (nmaac/acon `TFNet/network.py`).

- stem Conv 3×3/2 (bias) → BN → ReLU, 16·size channels;
- four stages of [2, 3, 8, 3] blocks. A block is pw Conv (bias) → BN → ACON-FReLU → pw Conv
  (bias) → BN, then ACON-FReLU of (input + branch) at stride 1; the first block of a stage
  concatenates [input, branch] (twice the channels) and applies a stride-2 ACON-FReLU, which
  max-pools its identity branch and strides its depthwise funnel conv (`layers.acon_frelu`);
- last Conv 1×1 (bias) → BN → ACON-FReLU (1024 channels), global average pool, dropout 0.2 for
  the sizes above 0.5, Dense.

`activation` must be `acon_frelu` (the network is made of it, its downsampling included); its
settings (BatchNorm momentum/epsilon) apply to every site. The stem's ReLU is fixed.

Initialisation (the authors' `_initialize_weights`): the stem conv N(0, 0.01), every other
pointwise conv N(0, 1 / input channels), the funnel depthwise convs N(0, 0.01) (the layer's
default), biases 0, BatchNorm γ = 1, β = 1e-4; the classifier N(0, 0.01), zero bias.

Endpoints '2'..'5' are the stage outputs (strides 4..32); `pre_logits` = dropout(GAP(last)).
Blocks are named `block{i}` counted over the whole network, as the authors' `features.{i}`.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory

import layers as act_layers
from models import common

# model_id (the authors' `model_size`) → multiplier of the stem width 16.
SIZES = {'0.5': 0.5, '1.0': 1.0, '1.5': 1.5, '2.0': 2.0}
DEPTHS = [2, 3, 8, 3]
LAST_WIDTH = 1024
BN_OFFSET_INIT = 1e-4
STEM_STDDEV = 0.01


def model_key(model_id: Any) -> str:
    """'1.0' for 1, 1.0 or '1.0' (YAML may write the size as a number)."""
    try:
        return f'{float(model_id):.1f}'
    except (TypeError, ValueError):
        return str(model_id)


class TFNet(common.BackboneModel):
    """TFNet returning endpoints '2'..'5' and `pre_logits`."""

    def __init__(self, stem_width: int, depths: Sequence[int], activation: Any,
                 last_width: int = LAST_WIDTH, dropout_rate: float = 0.0,
                 norm_momentum: float = 0.9, norm_epsilon: float = 1e-5,
                 use_sync_bn: bool = False,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, None, None, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        spec = common.StageActivations(activation, 1).specs[0]
        if spec['type'] != 'acon_frelu':
            raise ValueError(f"tfnet is built from ACON-FReLU only (its downsampling is in the "
                             f"activation); set activation.type to 'acon_frelu', not "
                             f"{spec['type']!r}.")
        settings = dict(spec['acon_frelu'])

        def frelu(x: tf.Tensor, stride: int, name: str) -> tf.Tensor:
            return act_layers.get({'type': 'acon_frelu',
                                   'acon_frelu': dict(settings, stride=stride)}, name=name)(x)

        def conv(x: tf.Tensor, filters: int, kernel: int, stride: int, name: str,
                 stddev: Optional[float] = None) -> tf.Tensor:
            if kernel > 1 and stride > 1:
                x = common.TorchPad2D(kernel // 2, name=f'{name}_pad')(x)
            std = stddev if stddev is not None else 1.0 / int(x.shape[-1])
            return tf_keras.layers.Conv2D(
                filters, kernel, strides=stride, padding='valid' if stride > 1 else 'same',
                use_bias=True, kernel_initializer=tf_keras.initializers.RandomNormal(stddev=std),
                kernel_regularizer=kernel_regularizer, name=name)(x)

        def bn(x: tf.Tensor, name: str) -> tf.Tensor:
            return tf_keras.layers.BatchNormalization(
                axis=-1, momentum=norm_momentum, epsilon=norm_epsilon, synchronized=use_sync_bn,
                beta_initializer=tf_keras.initializers.Constant(BN_OFFSET_INIT), name=name)(x)

        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = bn(conv(inputs, stem_width, 3, 2, 'stem_conv', stddev=STEM_STDDEV), 'stem_bn')
        x = tf_keras.layers.ReLU(name='stem_act')(x)
        features: List[tf.Tensor] = []
        i = 0
        for depth in depths:
            for j in range(depth):
                name = f'block{i}'
                c = int(x.shape[-1])
                y = bn(conv(x, c, 1, 1, f'{name}_pw1_conv'), f'{name}_pw1_bn')
                y = frelu(y, 1, f'{name}_act1')
                y = bn(conv(y, c, 1, 1, f'{name}_pw2_conv'), f'{name}_pw2_bn')
                if j == 0:
                    x = tf_keras.layers.Concatenate(axis=-1, name=f'{name}_concat')([x, y])
                else:
                    x = tf_keras.layers.Add(name=f'{name}_add')([x, y])
                x = frelu(x, 2 if j == 0 else 1, f'{name}_act_out')
                i += 1
            features.append(x)
        y = bn(conv(x, last_width, 1, 1, 'last_conv'), 'last_bn')
        y = frelu(y, 1, 'last_act')
        y = tf_keras.layers.GlobalAveragePooling2D(name='head_pool')(y)
        y = tf_keras.layers.Dropout(dropout_rate, name='head_dropout')(y)
        endpoints = common.stage_outputs_dict(features)
        endpoints[common.PRE_LOGITS] = y
        config = {'stem_width': stem_width, 'depths': list(depths), 'last_width': last_width,
                  'dropout_rate': dropout_rate}
        super().__init__(inputs, endpoints, config, **kwargs)


def resolve(cfg: Any) -> dict:
    """The network settings of a `tfnet` config: model_id defaults, explicit overrides.

    Raises:
      ValueError: an unknown model_id without an explicit `stem_width`.
    """
    key = model_key(cfg.model_id)
    if key not in SIZES and not cfg.stem_width:
        raise ValueError(f'tfnet: unknown model_id {cfg.model_id!r}; use one of '
                         f'{sorted(SIZES)} or set `stem_width` explicitly.')
    size = SIZES.get(key)
    dropout = cfg.dropout_rate
    if dropout is None:
        dropout = 0.2 if size is not None and size > 0.5 else 0.0
    return {
        'stem_width': int(cfg.stem_width or int(16 * size)),
        'depths': list(cfg.depths) if cfg.depths else list(DEPTHS),
        'last_width': int(cfg.last_width),
        'dropout_rate': float(dropout),
    }


@factory.register_backbone_builder('tfnet')
def build_tfnet(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                norm_activation_config: Any,
                l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                **kwargs: Any) -> tf_keras.Model:
    """Builds TFNet from `backbone.tfnet` (only `use_sync_bn` is read from norm_activation)."""
    del kwargs
    cfg = backbone_config.get()
    sync = bool(getattr(norm_activation_config, 'use_sync_bn', False))
    return TFNet(activation=cfg.activation, norm_momentum=cfg.norm_momentum,
                 norm_epsilon=cfg.norm_epsilon, use_sync_bn=sync, input_specs=input_specs,
                 kernel_regularizer=l2_regularizer, name='tfnet', **resolve(cfg))
