"""PosMLP (seed 004) as a Model Garden backbone: PoSGU token mixing with GQPE (or LRPE).

Model Garden has no PosMLP, so it is written here (channels-last, static shapes).

- Stem (÷4): Conv 3×3/2 (3→C/2) → BN → GELU → Conv 3×3/2 (C/2→C) → BN → GELU → Conv 1×1 → BN
  (convs with bias, BN eps 1e-6, PyTorch-style symmetric padding). The stem GELUs stay exact
  GELU whatever the configured activation: the pluggable activation is a property of the
  *blocks* (it replaces each block's MLP GELU, the site TPGU targets in every family), and the
  stem is not a block.
- Downsample: grouped Conv 3×3/2 with groups = in channels, in → 2·in, with bias, then
  LayerNorm(1e-6). A grouped conv with one input channel per group and two outputs per group is
  exactly `DepthwiseConv2D(depth_multiplier=2)` (output channel g·2+j comes from input g), which
  also runs on CPU where grouped `Conv2D` does not.
- Block: LN → Dense(hidden = C·mlp_ratio) → act → split u, v → PoSGU mixes u's tokens inside
  each window → g = mixed(u)·v → Dense(C) → dropout → drop path → + input.
- PoSGU/GQPE: channel c belongs to group c mod γ; for group s the score of output token m and
  input token n is −½ (Δ−δ_s)ᵀ S_s S_sᵀ (Δ−δ_s), softmax over n, plus a learned per-token bias
  (one value per window token). Learned per block: 2γ (δ) + 4γ (S) + w².
  Δ follows the authors' code (Zhicaiwww/PosMLP, models/posmlp2D.py), so that their δ and S
  load unchanged: Δ = (Δx, Δy) = (col(n) − col(m), −(row(n) − row(m))), i.e. x to the right and
  y upwards. The quadratic form is evaluated directly as ‖S_sᵀ(Δ−δ_s)‖², which equals their
  expansion in [Δx, Δy, Δx², Δy², ΔxΔy] (the constant term cancels in the softmax).
  Init as theirs: δ ~ N(0, 0.01), S = I + N(0, 0.01) noise, bias 0.
- Every conv and Dense kernel starts from trunc_normal(0.02), biases 0 (the authors'
  `_init_weights`, which also covers the stem and downsampling convs).
- LRPE (`positional_encoding: lrpe`): a Swin-style table (2w−1)² × γ indexed by the relative
  offset, used directly as mixing weights (no softmax).
- Head: the paper's LN → GAP → dropout → Dense; the backbone returns LN → GAP as `pre_logits`
  and the stock head's Dropout → Dense completes it.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory

from models import common
from official_ext.configs import backbones as backbone_cfg
from models import swin

MODEL_TABLE = {
    'tiny': {'dims': [96, 192, 384, 768], 'depths': [2, 2, 18, 2]},
    'small': {'dims': [128, 256, 512, 1024], 'depths': [2, 2, 18, 2]},
}
LN_EPS = 1e-6
ENCODINGS = ('gqpe', 'lrpe')


GQPE_INIT_STD = 0.01  # the authors' att_std: noise of δ and of S around the identity


def relative_offsets(window: int) -> np.ndarray:
    """[w², w², 2] offsets Δ of input token n from output token m in the authors' convention.

    Tokens are numbered row-major inside a window. Δ = (Δx, Δy) = (col(n) − col(m),
    −(row(n) − row(m))): the authors' GQPE features (x to the right, y upwards). Keeping their
    convention is what makes their learned centres δ and shape factors S mean the same here;
    with (Δrow, Δcol) a ported PosMLP-T gave logits 1.3e-1 (relative) away from theirs.
    """
    rows, cols = np.divmod(np.arange(window * window), window)
    dx = cols[None, :] - cols[:, None]
    dy = -(rows[None, :] - rows[:, None])
    return np.stack([dx, dy], axis=-1).astype(np.float32)


def _identity_plus_noise(shape: Sequence[int], dtype: Any = None, **_: Any) -> tf.Tensor:
    """[γ, 2, 2] identity matrices plus N(0, 0.01) noise (the authors' S init)."""
    eye = tf.eye(shape[-1], batch_shape=shape[:-2], dtype=dtype or tf.float32)
    return eye + tf.random.normal(shape, stddev=GQPE_INIT_STD, dtype=dtype or tf.float32)


class PoSGU(tf_keras.layers.Layer):
    """Positional spatial gating: mixes tokens of u per channel group inside each window."""

    def __init__(self, window: int, groups: int, encoding: str = 'gqpe', **kwargs: Any):
        super().__init__(**kwargs)
        if encoding not in ENCODINGS:
            raise ValueError(f'posmlp: unknown positional_encoding {encoding!r}; use one of '
                             f'{list(ENCODINGS)}.')
        self.window, self.groups, self.encoding = window, groups, encoding
        self.offsets = relative_offsets(window)
        self.index = swin.relative_position_index(window)

    def build(self, input_shape: tf.TensorShape) -> None:
        channels = int(input_shape[-1])
        if channels % self.groups:
            raise ValueError(f'posmlp: gated channels {channels} not divisible by groups '
                             f'{self.groups}; change `dims`, `mlp_ratios` or `groups`.')
        n = self.window ** 2
        if self.encoding == 'gqpe':
            self.center = self.add_weight(
                name='position_center', shape=[self.groups, 2],
                initializer=tf_keras.initializers.RandomNormal(stddev=GQPE_INIT_STD),
                trainable=True, autocast=False)
            self.shape_factor = self.add_weight(name='position_shape',
                                                shape=[self.groups, 2, 2],
                                                initializer=_identity_plus_noise, trainable=True,
                                                autocast=False)
        else:
            self.table = self.add_weight(name='relative_position_table',
                                         shape=[(2 * self.window - 1) ** 2, self.groups],
                                         initializer=common.trunc_normal(), trainable=True,
                                         autocast=False)
        self.token_bias = self.add_weight(name='position_bias', shape=[n], initializer='zeros',
                                          trainable=True)
        super().build(input_shape)

    def mixing_weights(self) -> tf.Tensor:
        """[γ, N(out m), N(in n)] token-mixing weights, computed in float32 (the weights are
        created with autocast=False so mixed precision never rounds the positional encoding)."""
        if self.encoding == 'gqpe':
            d = tf.constant(self.offsets)[None] - self.center[:, None, None, :]  # [γ, N, N, 2]
            proj = tf.einsum('smni,sij->smnj', d, self.shape_factor)  # (S_sᵀ d) per pair
            score = -0.5 * tf.reduce_sum(tf.square(proj), axis=-1)
            return tf.nn.softmax(score, axis=-1)
        w = tf.gather(self.table, tf.constant(self.index.reshape(-1)))
        n = self.window ** 2
        return tf.transpose(tf.reshape(w, [n, n, self.groups]), [2, 0, 1])

    def call(self, u: tf.Tensor) -> tf.Tensor:
        _, h, w, c = u.shape
        tokens = swin.window_partition(u, self.window)  # [B·nW, N, c]
        n = self.window ** 2
        tokens = tf.reshape(tokens, [-1, n, c // self.groups, self.groups])  # group = c mod γ
        mix = tf.cast(self.mixing_weights(), u.dtype)
        out = tf.einsum('smn,bnks->bmks', mix, tokens)
        out = tf.reshape(out, [-1, n, c]) + tf.cast(self.token_bias, u.dtype)[None, :, None]
        return swin.window_reverse(out, self.window, h, w)


class PosMLPBlock(tf_keras.layers.Layer):
    """LN → Dense(hidden) → act → PoSGU gating → Dense(C) → dropout → drop path → + input."""

    def __init__(self, dim: int, hidden: int, window: int, groups: int, encoding: str,
                 activation: tf_keras.layers.Layer, drop_path: float = 0.0,
                 dropout: float = 0.0,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if hidden % 2:
            raise ValueError(f'posmlp: hidden width {hidden} must be even (split into u and v).')
        self.hidden = hidden
        self.norm = common.layer_norm(LN_EPS, name='norm')
        self.fc1 = tf_keras.layers.Dense(hidden, kernel_initializer=common.trunc_normal(),
                                         kernel_regularizer=kernel_regularizer, name='fc1')
        self.act = activation
        self.sgu = PoSGU(window, groups, encoding, name='posgu')
        self.fc2 = tf_keras.layers.Dense(dim, kernel_initializer=common.trunc_normal(),
                                         kernel_regularizer=kernel_regularizer, name='fc2')
        self.dropout = tf_keras.layers.Dropout(dropout, name='dropout')
        self.drop_path = common.drop_path(drop_path, name='drop_path')

    def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
        y = self.act(self.fc1(self.norm(x)))
        u, v = tf.split(y, 2, axis=-1)
        y = self.fc2(self.sgu(u) * v)
        y = self.dropout(y, training=training)
        return x + self.drop_path(y, training=training)


class PosMLP(common.BackboneModel):
    """PosMLP backbone returning endpoints '2'..'5' and `pre_logits`."""

    def __init__(self, dims: Sequence[int], depths: Sequence[int], activation: Any,
                 window_sizes: Sequence[int] = (14, 14, 14, 7),
                 groups: Sequence[int] = (8, 16, 32, 64),
                 mlp_ratios: Sequence[float] = (4, 4, 4, 2),
                 positional_encoding: str = 'gqpe', drop_path_rate: float = 0.0,
                 dropout_rate: float = 0.0, norm_momentum: float = 0.9,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, 224, 224, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        for field, values in (('window_sizes', window_sizes), ('groups', groups),
                              ('mlp_ratios', mlp_ratios)):
            if len(values) != len(depths):
                raise ValueError(f'posmlp: `{field}` {list(values)} needs one entry per stage '
                                 f'({len(depths)} stages).')
        acts = common.StageActivations(activation, len(depths))
        rates = common.drop_path_rates(drop_path_rate, depths)

        def bn(t: tf.Tensor, name: str) -> tf.Tensor:
            return tf_keras.layers.BatchNormalization(momentum=norm_momentum, epsilon=1e-6,
                                                      name=name)(t)

        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = inputs
        widths = [dims[0] // 2, dims[0]]
        for i, width in enumerate(widths):
            x = common.TorchPad2D(1, name=f'stem_pad{i + 1}')(x)
            x = tf_keras.layers.Conv2D(width, 3, strides=2,
                                       kernel_initializer=common.trunc_normal(),
                                       kernel_regularizer=kernel_regularizer,
                                       name=f'stem_conv{i + 1}')(x)
            x = common.exact_gelu(name=f'stem_gelu{i + 1}')(bn(x, f'stem_bn{i + 1}'))
        x = tf_keras.layers.Conv2D(dims[0], 1, kernel_initializer=common.trunc_normal(),
                                   kernel_regularizer=kernel_regularizer, name='stem_conv3')(x)
        x = bn(x, 'stem_bn3')
        features = []
        for s, (dim, depth) in enumerate(zip(dims, depths)):
            if s > 0:
                if dim != 2 * dims[s - 1]:
                    raise ValueError(f'posmlp: the downsampling doubles channels, so dims[{s}] '
                                     f'must be 2·dims[{s - 1}] = {2 * dims[s - 1]}, got {dim}.')
                x = common.TorchPad2D(1, name=f'downsample{s}_pad')(x)
                x = tf_keras.layers.DepthwiseConv2D(
                    3, strides=2, depth_multiplier=2,
                    depthwise_initializer=common.trunc_normal(),
                    depthwise_regularizer=kernel_regularizer, name=f'downsample{s}_conv')(x)
                x = common.layer_norm(LN_EPS, name=f'downsample{s}_norm')(x)
            h, w = x.shape[1], x.shape[2]
            if h is None or w is None:
                raise ValueError('posmlp: the input size must be static (set '
                                 'task.model.input_size); windows are computed from it.')
            window = min(window_sizes[s], h, w)
            if h % window or w % window:
                raise ValueError(f'posmlp: stage {s + 1} map {h}x{w} is not divisible by window '
                                 f'{window}; change `window_sizes` or the input size.')
            hidden = int(dim * mlp_ratios[s])
            for b in range(depth):
                x = PosMLPBlock(dim, hidden, window, groups[s], positional_encoding,
                                acts.get(s, name='act'), rates[s][b], dropout_rate,
                                kernel_regularizer, name=f'stage{s + 1}_block{b}')(x)
            features.append(x)
        endpoints = common.stage_outputs_dict(features)
        y = common.layer_norm(LN_EPS, name='head_norm')(x)
        endpoints[common.PRE_LOGITS] = tf_keras.layers.GlobalAveragePooling2D(name='head_pool')(y)
        config = {'dims': list(dims), 'depths': list(depths),
                  'window_sizes': list(window_sizes), 'groups': list(groups),
                  'positional_encoding': positional_encoding}
        super().__init__(inputs, endpoints, config, **kwargs)


@factory.register_backbone_builder('posmlp')
def build_posmlp(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                 norm_activation_config: Any,
                 l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any) -> tf_keras.Model:
    """Builds PosMLP from `backbone.posmlp` (BN settings are PyTorch's, see the config)."""
    del norm_activation_config, kwargs
    cfg = backbone_config.get()
    dims, depths = common.resolve_dims_depths(cfg.model_id, MODEL_TABLE, cfg.dims, cfg.depths,
                                              'posmlp')
    drop_path_rate = backbone_cfg.resolve_drop_path('posmlp', cfg.model_id, cfg.drop_path_rate,
                                                    bool(cfg.dims or cfg.depths))
    return PosMLP(dims, depths, cfg.activation, cfg.window_sizes, cfg.groups, cfg.mlp_ratios,
                  cfg.positional_encoding, drop_path_rate, cfg.dropout_rate,
                  cfg.norm_momentum, input_specs=input_specs,
                  kernel_regularizer=l2_regularizer, name='posmlp')
