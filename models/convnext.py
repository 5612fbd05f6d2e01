"""ConvNeXt (Liu et al. 2022) as a Model Garden backbone with a pluggable MLP activation.

Model Garden has no ConvNeXt, so it is written here. Layout (channels-last, static shapes):
stem Conv 4×4/4 → LN; per stage: [LN → Conv 2×2/2] (stages 2–4) → blocks; each block is
dwconv 7×7 → LN → Dense(4C) → act → Dense(C) → layer scale → drop path → + input.

Head: the paper's head is GAP → LayerNorm → Dense, while Model Garden's `ClassificationModel`
head is GAP → Dropout → Dense. The backbone therefore ends with GAP → LayerNorm and returns that
rank-2 feature under the `pre_logits` endpoint (the head's pick, see `common.PRE_LOGITS`); the
stock head skips pooling for rank-2 inputs, so its Dense completes exactly the paper's model.
The stage feature maps are also returned as endpoints '2'..'5'.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory

from models import common
from official_ext.configs import backbones as backbone_cfg

MODEL_TABLE = {
    'tiny': {'dims': [96, 192, 384, 768], 'depths': [3, 3, 9, 3]},
    'small': {'dims': [96, 192, 384, 768], 'depths': [3, 3, 27, 3]},
}


class ConvNeXtBlock(tf_keras.layers.Layer):
    """One ConvNeXt block; `activation` is a fresh layer for this block's MLP."""

    def __init__(self, dim: int, activation: tf_keras.layers.Layer, drop_path: float = 0.0,
                 layer_scale_init_value: float = 1e-6,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.dim = dim
        self.dwconv = tf_keras.layers.DepthwiseConv2D(
            7, padding='same', depthwise_initializer=common.trunc_normal(),
            depthwise_regularizer=kernel_regularizer,
            name='dwconv')
        self.norm = common.layer_norm(1e-6, name='norm')
        self.pwconv1 = tf_keras.layers.Dense(4 * dim, kernel_initializer=common.trunc_normal(),
                                             kernel_regularizer=kernel_regularizer, name='pwconv1')
        self.act = activation
        self.pwconv2 = tf_keras.layers.Dense(dim, kernel_initializer=common.trunc_normal(),
                                             kernel_regularizer=kernel_regularizer, name='pwconv2')
        self.layer_scale = (common.LayerScale(layer_scale_init_value, name='ls')
                            if layer_scale_init_value > 0 else None)
        self.drop_path = common.drop_path(drop_path, name='drop_path')

    def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
        y = self.dwconv(x)
        y = self.norm(y)
        y = self.pwconv1(y)
        y = self.act(y)
        y = self.pwconv2(y)
        if self.layer_scale is not None:
            y = self.layer_scale(y)
        return x + self.drop_path(y, training=training)


def stem_layers(dim: int, regularizer: Optional[tf_keras.regularizers.Regularizer],
                name: str = 'stem') -> List[tf_keras.layers.Layer]:
    """ConvNeXt/HorNet stem: Conv 4×4 stride 4 (bias) → LayerNorm(1e-6)."""
    return [tf_keras.layers.Conv2D(dim, 4, strides=4, kernel_initializer=common.trunc_normal(),
                                   kernel_regularizer=regularizer, name=f'{name}_conv'),
            common.layer_norm(1e-6, name=f'{name}_norm')]


def downsample_layers(dim: int, regularizer: Optional[tf_keras.regularizers.Regularizer],
                      name: str) -> List[tf_keras.layers.Layer]:
    """ConvNeXt/HorNet downsampling: LayerNorm(1e-6) → Conv 2×2 stride 2 (bias)."""
    return [common.layer_norm(1e-6, name=f'{name}_norm'),
            tf_keras.layers.Conv2D(dim, 2, strides=2, kernel_initializer=common.trunc_normal(),
                                   kernel_regularizer=regularizer, name=f'{name}_conv')]


def head_feature(x: tf.Tensor) -> tf.Tensor:
    """The paper's pre-classifier feature: global average pool → LayerNorm(1e-6)."""
    x = tf_keras.layers.GlobalAveragePooling2D(name='head_pool')(x)
    return common.layer_norm(1e-6, name='head_norm')(x)


class ConvNeXt(common.BackboneModel):
    """ConvNeXt backbone returning endpoints '2'..'5' and `pre_logits`."""

    def __init__(self, dims: Sequence[int], depths: Sequence[int], activation: Any,
                 drop_path_rate: float = 0.0, layer_scale_init_value: float = 1e-6,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, None, None, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        acts = common.StageActivations(activation, len(depths))
        rates = common.drop_path_rates(drop_path_rate, depths)
        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = inputs
        features = []
        for s, (dim, depth) in enumerate(zip(dims, depths)):
            ops = (stem_layers(dim, kernel_regularizer) if s == 0
                   else downsample_layers(dim, kernel_regularizer, f'downsample{s}'))
            for op in ops:
                x = op(x)
            for b in range(depth):
                x = ConvNeXtBlock(dim, acts.get(s, name='act'), rates[s][b], layer_scale_init_value,
                                  kernel_regularizer, name=f'stage{s + 1}_block{b}')(x)
            features.append(x)
        endpoints = common.stage_outputs_dict(features)
        endpoints[common.PRE_LOGITS] = head_feature(x)
        config = {'dims': list(dims), 'depths': list(depths),
                  'drop_path_rate': drop_path_rate,
                  'layer_scale_init_value': layer_scale_init_value}
        super().__init__(inputs, endpoints, config, **kwargs)


@factory.register_backbone_builder('convnext')
def build_convnext(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                   norm_activation_config: Any,
                   l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                   **kwargs: Any) -> tf_keras.Model:
    """Builds ConvNeXt from `backbone.convnext` (norm_activation is unused: LN throughout)."""
    del norm_activation_config, kwargs
    cfg = backbone_config.get()
    dims, depths = common.resolve_dims_depths(cfg.model_id, MODEL_TABLE, cfg.dims, cfg.depths,
                                              'convnext')
    drop_path_rate = backbone_cfg.resolve_drop_path('convnext', cfg.model_id, cfg.drop_path_rate,
                                                    bool(cfg.dims or cfg.depths))
    return ConvNeXt(dims, depths, cfg.activation, drop_path_rate, cfg.layer_scale_init_value,
                    input_specs=input_specs, kernel_regularizer=l2_regularizer, name='convnext')
