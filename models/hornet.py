"""HorNet with 7×7 gnConv (Rao et al. 2022) as a Model Garden backbone.

Model Garden has no HorNet, so it is written here. Stem, downsampling and head are ConvNeXt's
(reused from `models.convnext`); the head feature GAP → LayerNorm is returned as `pre_logits` so
the stock `ClassificationModel` Dense completes the paper's GAP → LN → Dense head (see convnext).

Block: x + DropPath(γ1·gnConv(LN(x))), then x + DropPath(γ2·MLP(LN(x))), with
MLP = Dense(4C) → act → Dense(C); the pluggable activation replaces the MLP's GELU only.
gnConv orders per stage 2, 3, 4, 5; the depthwise output is scaled by s = 1/3.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory

from models import common
from official_ext.configs import backbones as backbone_cfg
from models import convnext

MODEL_TABLE = {
    'tiny': {'dims': [64, 128, 256, 512], 'depths': [2, 3, 18, 2]},
    'small': {'dims': [96, 192, 384, 768], 'depths': [2, 3, 18, 2]},
}


def gnconv_widths(dim: int, order: int) -> List[int]:
    """Channel widths d = [C/2^(n-1), ..., C/2, C] of the n recursive gating steps."""
    if dim % (2 ** (order - 1)):
        raise ValueError(f'hornet: channels {dim} must be divisible by 2^(order-1) = '
                         f'{2 ** (order - 1)} for gnConv order {order}; change `dims` or '
                         '`gnconv_orders`.')
    return [dim // 2 ** i for i in range(order)][::-1]


class GnConv(tf_keras.layers.Layer):
    """Recursive gated convolution gnConv(C, n) with a 7×7 depthwise filter.

    proj_in (1×1, C→2C) splits into pwa (d[0]) and abc (Σd); abc → depthwise 7×7 × scale →
    q_0..q_{n-1}; p = pwa·q_0; p = pw_k(p)·q_{k+1}; proj_out (1×1, C→C).
    """

    def __init__(self, dim: int, order: int, scale: float = 1.0 / 3.0,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.dim, self.order, self.scale = dim, order, scale
        self.widths = gnconv_widths(dim, order)
        # 1×1 convolutions as in the paper (a Conv2D is one graph op; Dense on a rank-4 input
        # becomes a tensordot with many shape ops, which made building HorNet-S slow).
        self.proj_in = tf_keras.layers.Conv2D(2 * dim, 1, kernel_initializer=common.trunc_normal(),
                                              kernel_regularizer=kernel_regularizer, name='proj_in')
        self.dwconv = tf_keras.layers.DepthwiseConv2D(
            7, padding='same', depthwise_initializer=common.trunc_normal(),
            depthwise_regularizer=kernel_regularizer,
            name='dwconv')
        self.pws = [tf_keras.layers.Conv2D(self.widths[k + 1], 1,
                                           kernel_initializer=common.trunc_normal(),
                                           kernel_regularizer=kernel_regularizer, name=f'pw{k}')
                    for k in range(order - 1)]
        self.proj_out = tf_keras.layers.Conv2D(dim, 1, kernel_initializer=common.trunc_normal(),
                                               kernel_regularizer=kernel_regularizer,
                                               name='proj_out')

    def call(self, x: tf.Tensor) -> tf.Tensor:
        fused = self.proj_in(x)
        pwa, abc = tf.split(fused, [self.widths[0], sum(self.widths)], axis=-1)
        q = tf.split(self.dwconv(abc) * self.scale, self.widths, axis=-1)
        p = pwa * q[0]
        for k, pw in enumerate(self.pws):
            p = pw(p) * q[k + 1]
        return self.proj_out(p)

    def get_config(self) -> dict:
        return {**super().get_config(), 'dim': self.dim, 'order': self.order, 'scale': self.scale}


class HorNetBlock(tf_keras.layers.Layer):
    """gnConv half and MLP half, each with its own layer scale and drop path."""

    def __init__(self, dim: int, order: int, activation: tf_keras.layers.Layer,
                 drop_path: float = 0.0, layer_scale_init_value: float = 1e-6,
                 gnconv_scale: float = 1.0 / 3.0,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.norm1 = common.layer_norm(1e-6, name='norm1')
        self.gnconv = GnConv(dim, order, gnconv_scale, kernel_regularizer, name='gnconv')
        self.norm2 = common.layer_norm(1e-6, name='norm2')
        self.pwconv1 = tf_keras.layers.Dense(4 * dim, kernel_initializer=common.trunc_normal(),
                                             kernel_regularizer=kernel_regularizer, name='pwconv1')
        self.act = activation
        self.pwconv2 = tf_keras.layers.Dense(dim, kernel_initializer=common.trunc_normal(),
                                             kernel_regularizer=kernel_regularizer, name='pwconv2')
        self.ls1 = common.LayerScale(layer_scale_init_value, name='ls1')
        self.ls2 = common.LayerScale(layer_scale_init_value, name='ls2')
        self.drop_path = common.drop_path(drop_path, name='drop_path')

    def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
        x = x + self.drop_path(self.ls1(self.gnconv(self.norm1(x))), training=training)
        y = self.pwconv2(self.act(self.pwconv1(self.norm2(x))))
        return x + self.drop_path(self.ls2(y), training=training)


class HorNet(common.BackboneModel):
    """HorNet backbone returning endpoints '2'..'5' and `pre_logits`."""

    def __init__(self, dims: Sequence[int], depths: Sequence[int], activation: Any,
                 orders: Sequence[int] = (2, 3, 4, 5), drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = 1e-6, gnconv_scale: float = 1.0 / 3.0,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, None, None, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        if len(orders) != len(depths):
            raise ValueError(f'hornet: `gnconv_orders` {list(orders)} needs one order per stage '
                             f'({len(depths)} stages).')
        acts = common.StageActivations(activation, len(depths))
        rates = common.drop_path_rates(drop_path_rate, depths)
        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = inputs
        features = []
        for s, (dim, depth) in enumerate(zip(dims, depths)):
            ops = (convnext.stem_layers(dim, kernel_regularizer) if s == 0
                   else convnext.downsample_layers(dim, kernel_regularizer, f'downsample{s}'))
            for op in ops:
                x = op(x)
            for b in range(depth):
                x = HorNetBlock(dim, orders[s], acts.get(s, name='act'), rates[s][b],
                                layer_scale_init_value, gnconv_scale, kernel_regularizer,
                                name=f'stage{s + 1}_block{b}')(x)
            features.append(x)
        endpoints = common.stage_outputs_dict(features)
        endpoints[common.PRE_LOGITS] = convnext.head_feature(x)
        config = {'dims': list(dims), 'depths': list(depths), 'orders': list(orders),
                  'drop_path_rate': drop_path_rate}
        super().__init__(inputs, endpoints, config, **kwargs)


@factory.register_backbone_builder('hornet')
def build_hornet(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                 norm_activation_config: Any,
                 l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any) -> tf_keras.Model:
    """Builds HorNet from `backbone.hornet` (norm_activation is unused: LN throughout)."""
    del norm_activation_config, kwargs
    cfg = backbone_config.get()
    dims, depths = common.resolve_dims_depths(cfg.model_id, MODEL_TABLE, cfg.dims, cfg.depths,
                                              'hornet')
    drop_path_rate = backbone_cfg.resolve_drop_path('hornet', cfg.model_id, cfg.drop_path_rate,
                                                    bool(cfg.dims or cfg.depths))
    return HorNet(dims, depths, cfg.activation, cfg.gnconv_orders, drop_path_rate,
                  cfg.layer_scale_init_value, cfg.gnconv_scale, input_specs=input_specs,
                  kernel_regularizer=l2_regularizer, name='hornet')
