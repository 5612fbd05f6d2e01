"""Swin Transformer (Liu et al. 2021) as a Model Garden backbone with a pluggable MLP activation.

Model Garden has no Swin, so it is written here (channels-last [B, H, W, C] throughout, static
shapes: the input size must be known when the model is built, as the window masks depend on it).

- Patch embed Conv 4×4/4 → LN; blocks of (shifted) window attention with a relative position
  bias table; patch merging (2×2 concat → LN(4C) → Dense(2C, no bias)) after stages 1–3.
- Odd blocks shift by −⌊w/2⌋ cyclically and mask attention between regions that were not
  adjacent (−100). Where a stage's map is not larger than the window, the window shrinks to the
  map and nothing is shifted (the paper's last stage at 224 px).
- The relative position index and the shift masks are numpy constants embedded in the graph,
  not variables: they are neither trainable nor part of the checkpoint.
- LayerNorm eps 1e-5; Linear kernels truncated normal 0.02, biases 0; the patch-embed conv
  keeps PyTorch's default init (Swin's `_init_weights` touches only Linear and LayerNorm).
- Head: the paper's head is LN → average over tokens → Dense; Model Garden's head is
  pool → Dropout → Dense, so the backbone returns LN → token average as the rank-2 `pre_logits`
  endpoint and the stock head's Dense completes the paper's model.
- The pluggable activation replaces the GELU between fc1 and fc2 of every block.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory

from models import common
from official_ext.configs import backbones as backbone_cfg

MODEL_TABLE = {
    'tiny': {'dims': [96, 192, 384, 768], 'depths': [2, 2, 6, 2]},
    'small': {'dims': [96, 192, 384, 768], 'depths': [2, 2, 18, 2]},
}
LN_EPS = 1e-5


def relative_position_index(window: int) -> np.ndarray:
    """[w², w²] index into the ((2w−1)², heads) table for every (query, key) pair of a window."""
    coords = np.stack(np.meshgrid(np.arange(window), np.arange(window), indexing='ij'))
    flat = coords.reshape(2, -1)
    rel = flat[:, :, None] - flat[:, None, :] + (window - 1)
    return (rel[0] * (2 * window - 1) + rel[1]).astype(np.int32)


def shift_attention_mask(height: int, width: int, window: int, shift: int) -> np.ndarray:
    """[num_windows, w², w²] additive mask: 0 within a region of the shifted map, −100 across."""
    labels = np.zeros([height, width], np.int32)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    count = 0
    for hs in cuts:
        for ws in cuts:
            labels[hs, ws] = count
            count += 1
    win = labels.reshape(height // window, window, width // window, window)
    win = win.transpose(0, 2, 1, 3).reshape(-1, window * window)
    diff = win[:, None, :] - win[:, :, None]
    return np.where(diff != 0, -100.0, 0.0).astype(np.float32)


def window_partition(x: tf.Tensor, window: int) -> tf.Tensor:
    """[B, H, W, C] → [B·nW, w², C] (windows in row-major order)."""
    _, h, w, c = x.shape
    x = tf.reshape(x, [-1, h // window, window, w // window, window, c])
    x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
    return tf.reshape(x, [-1, window * window, c])


def window_reverse(x: tf.Tensor, window: int, height: int, width: int) -> tf.Tensor:
    """Inverse of `window_partition`: [B·nW, w², C] → [B, H, W, C]."""
    c = x.shape[-1]
    x = tf.reshape(x, [-1, height // window, width // window, window, window, c])
    x = tf.transpose(x, [0, 1, 3, 2, 4, 5])
    return tf.reshape(x, [-1, height, width, c])


class WindowAttention(tf_keras.layers.Layer):
    """Multi-head self-attention inside windows with a learned relative position bias."""

    def __init__(self, dim: int, num_heads: int, window: int,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f'swin: channels {dim} not divisible by num_heads {num_heads}; '
                             'fix `dims` or `num_heads`.')
        self.dim, self.num_heads, self.window = dim, num_heads, window
        self.head_dim = dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = tf_keras.layers.Dense(3 * dim, kernel_initializer=common.trunc_normal(),
                                         kernel_regularizer=kernel_regularizer, name='qkv')
        self.proj = tf_keras.layers.Dense(dim, kernel_initializer=common.trunc_normal(),
                                          kernel_regularizer=kernel_regularizer, name='proj')
        self.index = relative_position_index(window).reshape(-1)

    def build(self, input_shape: tf.TensorShape) -> None:
        self.table = self.add_weight(
            name='relative_position_bias_table',
            shape=[(2 * self.window - 1) ** 2, self.num_heads],
            initializer=common.trunc_normal(), trainable=True)
        super().build(input_shape)

    def call(self, x: tf.Tensor, mask: Optional[np.ndarray] = None) -> tf.Tensor:
        """x: [B·nW, N, C]; mask: numpy [nW, N, N] or None."""
        n = x.shape[1]
        qkv = tf.reshape(self.qkv(x), [-1, n, 3, self.num_heads, self.head_dim])
        qkv = tf.transpose(qkv, [2, 0, 3, 1, 4])
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = tf.matmul(q, k, transpose_b=True)  # [B·nW, heads, N, N]
        bias = tf.gather(tf.cast(self.table, attn.dtype), tf.constant(self.index))
        attn = attn + tf.transpose(tf.reshape(bias, [n, n, self.num_heads]), [2, 0, 1])
        if mask is not None:
            nw = mask.shape[0]
            attn = tf.reshape(attn, [-1, nw, self.num_heads, n, n])
            attn = attn + tf.constant(mask[:, None], dtype=attn.dtype)
            attn = tf.reshape(attn, [-1, self.num_heads, n, n])
        attn = tf.nn.softmax(attn, axis=-1)
        out = tf.transpose(tf.matmul(attn, v), [0, 2, 1, 3])
        return self.proj(tf.reshape(out, [-1, n, self.dim]))


class SwinBlock(tf_keras.layers.Layer):
    """(Shifted-)window attention half and MLP half, both pre-norm with drop path."""

    def __init__(self, dim: int, resolution: Tuple[int, int], num_heads: int, window: int,
                 shift: int, activation: tf_keras.layers.Layer, mlp_ratio: float = 4.0,
                 drop_path: float = 0.0,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        h, w = resolution
        if min(h, w) <= window:  # the map fits in one window: no shift (Swin's rule)
            window, shift = min(h, w), 0
        if h % window or w % window:
            raise ValueError(f'swin: feature map {h}x{w} is not divisible by window_size {window}; '
                             'choose an input size / window_size so that every stage divides.')
        self.resolution, self.window, self.shift = (h, w), window, shift
        self.norm1 = common.layer_norm(LN_EPS, name='norm1')
        self.attn = WindowAttention(dim, num_heads, window, kernel_regularizer, name='attn')
        self.norm2 = common.layer_norm(LN_EPS, name='norm2')
        self.fc1 = tf_keras.layers.Dense(int(dim * mlp_ratio),
                                         kernel_initializer=common.trunc_normal(),
                                         kernel_regularizer=kernel_regularizer, name='fc1')
        self.act = activation
        self.fc2 = tf_keras.layers.Dense(dim, kernel_initializer=common.trunc_normal(),
                                         kernel_regularizer=kernel_regularizer, name='fc2')
        self.drop_path = common.drop_path(drop_path, name='drop_path')
        self.mask = shift_attention_mask(h, w, window, shift) if shift > 0 else None

    def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
        h, w = self.resolution
        y = self.norm1(x)
        if self.shift:
            y = tf.roll(y, shift=[-self.shift, -self.shift], axis=[1, 2])
        y = self.attn(window_partition(y, self.window), mask=self.mask)
        y = window_reverse(y, self.window, h, w)
        if self.shift:
            y = tf.roll(y, shift=[self.shift, self.shift], axis=[1, 2])
        x = x + self.drop_path(y, training=training)
        y = self.fc2(self.act(self.fc1(self.norm2(x))))
        return x + self.drop_path(y, training=training)


class PatchMerging(tf_keras.layers.Layer):
    """2×2 neighbourhood concat (Swin's x0, x1, x2, x3 order) → LN(4C) → Dense(2C, no bias)."""

    def __init__(self, out_dim: int,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.norm = common.layer_norm(LN_EPS, name='norm')
        self.reduction = tf_keras.layers.Dense(out_dim, use_bias=False,
                                               kernel_initializer=common.trunc_normal(),
                                               kernel_regularizer=kernel_regularizer,
                                               name='reduction')

    def call(self, x: tf.Tensor) -> tf.Tensor:
        if x.shape[1] % 2 or x.shape[2] % 2:
            raise ValueError(f'swin: patch merging needs an even feature map, got {x.shape[1:3]}.')
        x = tf.concat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]],
                      axis=-1)
        return self.reduction(self.norm(x))


class Swin(common.BackboneModel):
    """Swin backbone returning endpoints '2'..'5' (before each merging) and `pre_logits`."""

    def __init__(self, dims: Sequence[int], depths: Sequence[int], num_heads: Sequence[int],
                 activation: Any, window_size: int = 7, patch_size: int = 4,
                 mlp_ratio: float = 4.0, drop_path_rate: float = 0.0,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, 224, 224, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        if len(num_heads) != len(depths):
            raise ValueError(f'swin: `num_heads` {list(num_heads)} needs one entry per stage '
                             f'({len(depths)} stages).')
        height, width = input_specs.shape[1], input_specs.shape[2]
        if height is None or width is None:
            raise ValueError('swin: the input size must be static (set task.model.input_size); '
                             'window masks are computed from it.')
        acts = common.StageActivations(activation, len(depths))
        rates = common.drop_path_rates(drop_path_rate, depths)
        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = tf_keras.layers.Conv2D(dims[0], patch_size, strides=patch_size,
                                   kernel_initializer=common.torch_default_conv_init(),
                                   kernel_regularizer=kernel_regularizer,
                                   name='patch_embed_conv')(inputs)
        x = common.layer_norm(LN_EPS, name='patch_embed_norm')(x)
        features = []
        for s, (dim, depth) in enumerate(zip(dims, depths)):
            if s > 0:
                x = PatchMerging(dim, kernel_regularizer, name=f'merge{s}')(x)
            res = (x.shape[1], x.shape[2])
            for b in range(depth):
                x = SwinBlock(dim, res, num_heads[s], window_size,
                              window_size // 2 if b % 2 else 0, acts.get(s, name='act'),
                              mlp_ratio, rates[s][b], kernel_regularizer,
                              name=f'stage{s + 1}_block{b}')(x)
            features.append(x)
        endpoints = common.stage_outputs_dict(features)
        y = common.layer_norm(LN_EPS, name='head_norm')(x)
        endpoints[common.PRE_LOGITS] = tf_keras.layers.GlobalAveragePooling2D(name='head_pool')(y)
        config = {'dims': list(dims), 'depths': list(depths),
                  'num_heads': list(num_heads), 'window_size': window_size}
        super().__init__(inputs, endpoints, config, **kwargs)


@factory.register_backbone_builder('swin')
def build_swin(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
               norm_activation_config: Any,
               l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
               **kwargs: Any) -> tf_keras.Model:
    """Builds Swin from `backbone.swin` (norm_activation is unused: LN throughout)."""
    del norm_activation_config, kwargs
    cfg = backbone_config.get()
    dims, depths = common.resolve_dims_depths(cfg.model_id, MODEL_TABLE, cfg.dims, cfg.depths,
                                              'swin')
    drop_path_rate = backbone_cfg.resolve_drop_path('swin', cfg.model_id, cfg.drop_path_rate,
                                                    bool(cfg.dims or cfg.depths))
    return Swin(dims, depths, cfg.num_heads, cfg.activation, cfg.window_size, cfg.patch_size,
                cfg.mlp_ratio, drop_path_rate, input_specs=input_specs,
                kernel_regularizer=l2_regularizer, name='swin')
