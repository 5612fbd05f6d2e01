"""TinyViT (Wu et al. 2022) as GoLU trained it, with a pluggable activation at every GELU site.

Reference: automl/GoLU `tasks/image_classification/tiny_vit/models/tiny_vit.py` (Microsoft's
TinyViT code) with `configs/1k/tiny_vit_21m.yaml` (`model_id: 21m`: dims 96/192/384/576, depths
2/2/6/2, heads 3/6/12/18, windows 7/7/14/7, drop path 0.2). timm 0.9's `tiny_vit_21m_224` is the
same network under other key names, but with one GELU module per patch-merging activation where
the authors' class has one module called twice; the authors' class is what GoLU trained.
Channels-last ([B, H, W, C]) throughout; a stage's token sequence is its map in row-major order.

- Patch embed: Conv 3×3/2 → BN → act → Conv 3×3/2 → BN (the input shrinks by 4).
- Stage 1: MBConv blocks: 1×1 (4×) → BN → act → depthwise 3×3 → BN → act → 1×1 → BN (γ = 0 at
  init) → drop path → + input → act.
- Stages 2–4: TinyViT blocks: x + drop_path(window attention(x)), where the attention has its own
  LayerNorm, per-head [q, k, v] slices of one qkv projection and a learned bias per head and
  |Δrow|, |Δcol| offset (maps that the window does not divide are zero-padded at the bottom/right
  first, as the reference does, and the padded tokens take part in the attention); then a
  depthwise 3×3 conv + BN ("local conv", no activation); then x + drop_path(MLP(x)) with the MLP
  LN → fc1 → act → dropout → fc2 → dropout.
- Patch merging after stages 1–3: 1×1 → BN → act → depthwise 3×3/2 → BN → act → 1×1 → BN, the
  SAME activation module at both sites (the reference's `self.act`); it counts as the next
  stage's for per-stage settings (it works at the next stage's width).
- Head: token mean → LN → Dense; the backbone returns mean → LN as the rank-2 `pre_logits`.

Activation sites: 1 (patch embed) + 3 per MBConv + 1 module (2 calls) per patch merging + 1 per
TinyViT block: 20 modules and 23 calls for 21m, exactly the GELU modules/calls of the reference.
Initialisation as the reference: Linear trunc_normal(0.02) with zero bias (Keras' truncation, see
`common.trunc_normal`), LayerNorm 1/0, convs PyTorch's default U(±1/√fan_in) without bias, BN
γ 1 (0 for each MBConv's last BN), attention biases 0. LayerNorm and BatchNorm eps 1e-5, BN
momentum PyTorch's 0.1 (Keras 0.9).
"""
from __future__ import annotations

import itertools
from typing import Any, List, Optional, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory

from models import common
from official_ext.configs import backbones as backbone_cfg

MODEL_TABLE = {
    '21m': {'dims': [96, 192, 384, 576], 'depths': [2, 2, 6, 2]},
}
EPS = 1e-5
BN_MOMENTUM = 0.9


def attention_bias_index(window: int) -> np.ndarray:
    """[w², w²] index of the (|Δrow|, |Δcol|) offset of every (query, key) pair of a window.

    Offsets are numbered in order of first appearance over row-major (query, key) pairs, the
    numbering of the reference's `attention_bias_idxs` (the table's columns follow it).
    """
    points = list(itertools.product(range(window), range(window)))
    offsets, idxs = {}, []
    for p1 in points:
        for p2 in points:
            off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
            idxs.append(offsets.setdefault(off, len(offsets)))
    n = len(points)
    return np.asarray(idxs, np.int32).reshape(n, n)


class _Builder:
    """Shared conv/BN settings while the functional graph is assembled."""

    def __init__(self, sync_bn: bool,
                 regularizer: Optional[tf_keras.regularizers.Regularizer]):
        self.sync_bn, self.regularizer = sync_bn, regularizer

    def conv_bn(self, x: tf.Tensor, filters: int, kernel: int, stride: int, name: str,
                depthwise: bool = False, gamma_zero: bool = False) -> tf.Tensor:
        """Conv (no bias, PyTorch's default init and symmetric padding) → BatchNorm."""
        pad = kernel // 2
        if pad:
            x = common.TorchPad2D(pad, name=f'{name}_pad')(x)
        if depthwise:
            bound = 1.0 / kernel   # fan_in of a depthwise kernel: k·k
            x = tf_keras.layers.DepthwiseConv2D(
                kernel, strides=stride, padding='valid', use_bias=False,
                depthwise_initializer=tf_keras.initializers.RandomUniform(-bound, bound),
                depthwise_regularizer=self.regularizer, name=f'{name}_conv')(x)
        else:
            x = tf_keras.layers.Conv2D(
                filters, kernel, strides=stride, padding='valid', use_bias=False,
                kernel_initializer=common.torch_default_conv_init(),
                kernel_regularizer=self.regularizer, name=f'{name}_conv')(x)
        return tf_keras.layers.BatchNormalization(
            axis=-1, momentum=BN_MOMENTUM, epsilon=EPS, synchronized=self.sync_bn,
            gamma_initializer='zeros' if gamma_zero else 'ones', name=f'{name}_bn')(x)

    def mbconv(self, x: tf.Tensor, act1: tf_keras.layers.Layer, act2: tf_keras.layers.Layer,
               act3: tf_keras.layers.Layer, expand: float, drop_path: float,
               name: str) -> tf.Tensor:
        c = int(x.shape[-1])
        hidden = int(c * expand)
        y = act1(self.conv_bn(x, hidden, 1, 1, f'{name}_conv1'))
        y = act2(self.conv_bn(y, hidden, 3, 1, f'{name}_conv2', depthwise=True))
        y = self.conv_bn(y, c, 1, 1, f'{name}_conv3', gamma_zero=True)
        y = common.drop_path(drop_path, name=f'{name}_drop_path')(y)
        return act3(tf_keras.layers.Add(name=f'{name}_add')([y, x]))

    def patch_merging(self, x: tf.Tensor, out_dim: int, act: tf_keras.layers.Layer,
                      name: str) -> tf.Tensor:
        y = act(self.conv_bn(x, out_dim, 1, 1, f'{name}_conv1'))
        y = act(self.conv_bn(y, out_dim, 3, 2, f'{name}_conv2', depthwise=True))
        return self.conv_bn(y, out_dim, 1, 1, f'{name}_conv3')


class WindowAttention(tf_keras.layers.Layer):
    """LN → qkv → per-head attention with the offset bias → proj, on [B', N, C] windows."""

    def __init__(self, dim: int, num_heads: int, window: int,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f'tiny_vit: channels {dim} not divisible by num_heads {num_heads}; '
                             'fix `dims` or `num_heads`.')
        self.dim, self.num_heads, self.key_dim = dim, num_heads, dim // num_heads
        self.scale = self.key_dim ** -0.5
        self.index = attention_bias_index(window)
        self.num_offsets = int(self.index.max()) + 1
        self.norm = common.layer_norm(EPS, name='norm')
        self.qkv = tf_keras.layers.Dense(3 * dim, kernel_initializer=common.trunc_normal(),
                                         kernel_regularizer=kernel_regularizer, name='qkv')
        self.proj = tf_keras.layers.Dense(dim, kernel_initializer=common.trunc_normal(),
                                          kernel_regularizer=kernel_regularizer, name='proj')

    def build(self, input_shape: tf.TensorShape) -> None:
        self.attention_biases = self.add_weight(
            name='attention_biases', shape=[self.num_heads, self.num_offsets],
            initializer='zeros', trainable=True)
        super().build(input_shape)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        n = x.shape[1]
        qkv = tf.reshape(self.qkv(self.norm(x)), [-1, n, self.num_heads, 3 * self.key_dim])
        qkv = tf.transpose(qkv, [0, 2, 1, 3])   # [B', heads, N, 3·kd]: per head q | k | v
        q, k, v = tf.split(qkv, 3, axis=-1)
        attn = tf.matmul(q, k, transpose_b=True) * self.scale
        bias = tf.gather(tf.cast(self.attention_biases, attn.dtype), tf.constant(self.index),
                         axis=1)   # [heads, N, N]
        attn = tf.nn.softmax(attn + bias, axis=-1)
        out = tf.transpose(tf.matmul(attn, v), [0, 2, 1, 3])
        return self.proj(tf.reshape(out, [-1, n, self.dim]))


class TinyViTBlock(tf_keras.layers.Layer):
    """Window attention, local depthwise conv + BN, MLP; on [B, H, W, C] maps."""

    def __init__(self, dim: int, num_heads: int, window: int,
                 activation: tf_keras.layers.Layer, mlp_ratio: float = 4.0,
                 dropout: float = 0.0, drop_path: float = 0.0, local_conv_size: int = 3,
                 sync_bn: bool = False,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.window = window
        self.attn = WindowAttention(dim, num_heads, window, kernel_regularizer, name='attn')
        self.drop_path = common.drop_path(drop_path, name='drop_path')
        bound = 1.0 / local_conv_size
        self.local_pad = local_conv_size // 2
        self.local_conv = tf_keras.layers.DepthwiseConv2D(
            local_conv_size, padding='valid', use_bias=False,
            depthwise_initializer=tf_keras.initializers.RandomUniform(-bound, bound),
            depthwise_regularizer=kernel_regularizer, name='local_conv')
        self.local_bn = tf_keras.layers.BatchNormalization(
            axis=-1, momentum=BN_MOMENTUM, epsilon=EPS, synchronized=sync_bn, name='local_bn')
        self.mlp_norm = common.layer_norm(EPS, name='mlp_norm')
        self.fc1 = tf_keras.layers.Dense(int(dim * mlp_ratio),
                                         kernel_initializer=common.trunc_normal(),
                                         kernel_regularizer=kernel_regularizer, name='fc1')
        self.act = activation
        self.fc2 = tf_keras.layers.Dense(dim, kernel_initializer=common.trunc_normal(),
                                         kernel_regularizer=kernel_regularizer, name='fc2')
        self.dropout = tf_keras.layers.Dropout(dropout)

    def _attention(self, x: tf.Tensor) -> tf.Tensor:
        _, h, w, c = x.shape
        ws = self.window
        if h == ws and w == ws:
            return tf.reshape(self.attn(tf.reshape(x, [-1, h * w, c])), [-1, h, w, c])
        pad_b, pad_r = (ws - h % ws) % ws, (ws - w % ws) % ws
        if pad_b or pad_r:
            x = tf.pad(x, [[0, 0], [0, pad_b], [0, pad_r], [0, 0]])
        ph, pw = h + pad_b, w + pad_r
        y = tf.reshape(x, [-1, ph // ws, ws, pw // ws, ws, c])
        y = tf.reshape(tf.transpose(y, [0, 1, 3, 2, 4, 5]), [-1, ws * ws, c])
        y = tf.reshape(self.attn(y), [-1, ph // ws, pw // ws, ws, ws, c])
        y = tf.reshape(tf.transpose(y, [0, 1, 3, 2, 4, 5]), [-1, ph, pw, c])
        return y[:, :h, :w]

    def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
        x = x + self.drop_path(self._attention(x), training=training)
        p = self.local_pad
        x = self.local_bn(self.local_conv(tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]])),
                          training=training)
        y = self.dropout(self.act(self.fc1(self.mlp_norm(x))), training=training)
        y = self.dropout(self.fc2(y), training=training)
        return x + self.drop_path(y, training=training)


class TinyViT(common.BackboneModel):
    """TinyViT backbone: stage maps '2'..'5' (before each patch merging) and `pre_logits`."""

    def __init__(self, dims: Sequence[int], depths: Sequence[int], num_heads: Sequence[int],
                 window_sizes: Sequence[int], activation: Any, mlp_ratio: float = 4.0,
                 mbconv_expand_ratio: float = 4.0, local_conv_size: int = 3,
                 dropout_rate: float = 0.0, drop_path_rate: float = 0.0, use_sync_bn: bool = False,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, 224, 224, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        stages = len(depths)
        for field, value in (('num_heads', num_heads), ('window_sizes', window_sizes)):
            if len(value) != stages:
                raise ValueError(f'tiny_vit: `{field}` {list(value)} needs one entry per stage '
                                 f'({stages} stages).')
        if input_specs.shape[1] is None or input_specs.shape[2] is None:
            raise ValueError('tiny_vit: the input size must be static (set '
                             'task.model.input_size); the windows are computed from it.')
        acts = common.StageActivations(activation, stages)
        rates = common.drop_path_rates(drop_path_rate, depths)
        b = _Builder(use_sync_bn, kernel_regularizer)
        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = b.conv_bn(inputs, dims[0] // 2, 3, 2, 'stem1')
        x = acts.get(0, name='stem_act')(x)
        x = b.conv_bn(x, dims[0], 3, 2, 'stem2')
        features: List[tf.Tensor] = []
        for s, depth in enumerate(depths):
            if s > 0:
                x = b.patch_merging(x, dims[s], acts.get(s, name=f'merge{s}_act'), f'merge{s}')
            for i in range(depth):
                name = f'stage{s + 1}_block{i}'
                if s == 0:
                    x = b.mbconv(x, acts.get(0, name=f'{name}_act1'),
                                 acts.get(0, name=f'{name}_act2'),
                                 acts.get(0, name=f'{name}_act3'), mbconv_expand_ratio,
                                 rates[s][i], name)
                else:
                    x = TinyViTBlock(dims[s], num_heads[s], window_sizes[s],
                                     acts.get(s, name='act'), mlp_ratio, dropout_rate,
                                     rates[s][i], local_conv_size, use_sync_bn,
                                     kernel_regularizer, name=name)(x)
            features.append(x)
        endpoints = common.stage_outputs_dict(features)
        y = tf_keras.layers.GlobalAveragePooling2D(name='head_pool')(x)
        endpoints[common.PRE_LOGITS] = common.layer_norm(EPS, name='head_norm')(y)
        config = {'dims': list(dims), 'depths': list(depths), 'num_heads': list(num_heads),
                  'window_sizes': list(window_sizes)}
        super().__init__(inputs, endpoints, config, **kwargs)


@factory.register_backbone_builder('tiny_vit')
def build_tiny_vit(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                   norm_activation_config: Any,
                   l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                   **kwargs: Any) -> tf_keras.Model:
    """Builds TinyViT from `backbone.tiny_vit` (only norm_activation.use_sync_bn is read)."""
    del kwargs
    cfg = backbone_config.get()
    dims, depths = common.resolve_dims_depths(cfg.model_id, MODEL_TABLE, cfg.dims, cfg.depths,
                                              'tiny_vit')
    custom = bool(cfg.dims or cfg.depths)
    drop_path_rate = backbone_cfg.resolve_drop_path('tiny_vit', cfg.model_id, cfg.drop_path_rate,
                                                    custom)
    sync = bool(getattr(norm_activation_config, 'use_sync_bn', False))
    return TinyViT(dims, depths, cfg.num_heads, cfg.window_sizes, cfg.activation, cfg.mlp_ratio,
                   cfg.mbconv_expand_ratio, cfg.local_conv_size, cfg.dropout_rate,
                   drop_path_rate, sync, input_specs=input_specs,
                   kernel_regularizer=l2_regularizer, name='tiny_vit')
