"""Vision Transformer with a class token (torchvision / timm layout) and a pluggable MLP activation.

Registered as `act_vit` because Model Garden's backbone one-of already has `vit`. Model Garden's
ViT is not reused: its encoder block takes the MLP activation as a *string* (no trainable
activation layers), keeps separate query/key/value projections and defaults to other
initialisers, so torchvision's and timm's networks would not be reproduced.

The reference network per `model_id` (the ones GoLU trained, automl/GoLU):
- `b16`: torchvision `vit_b_16` (ImageNet rows; `tasks/image_classification/train.py`);
- `b32`: torchvision `vit_b_32` (ImageNet rows; same script);
- `ti16`: timm `vit_tiny_patch16_224` (CIFAR-10 row; `tasks/small_poc/train_vit.py`).

Both layouts are the same network: Conv p×p/p patch embedding (with bias) → flatten → prepend
the class token → add the learned position embedding (class position included) → dropout →
pre-norm blocks [x + attn(LN(x)); x + MLP(LN(x))] → LN → the class token → head. LayerNorm
eps 1e-6; attention has one packed qkv projection (torchvision's `in_proj_weight` has the same
q, k, v order as timm's `qkv.weight`), scale 1/√head_dim. The MLP is fc1 → GELU → dropout → fc2
→ dropout, and the configured `activation` replaces that GELU, the only GELU module of both
references (one per block).

Initialisation (`weight_init`, '' = the reference of the model_id):
- `torchvision`: patch conv N(0, 1/fan_in) (torch's trunc_normal_ cuts at ±2 absolute, ≥50σ
  here, so untruncated), class token 0, position embedding N(0, 0.02), qkv Xavier-uniform over
  the packed [D, 3D] matrix with zero bias, output projection U(±1/√D) with zero bias, MLP
  Xavier-uniform with N(0, 1e-6) biases; the head is zero (head_init's family default).
- `timm`: every Linear trunc_normal(0.02) with zero bias (Keras' truncation, see
  `common.trunc_normal`), position embedding trunc_normal(0.02), class token N(0, 1e-6), the
  patch conv PyTorch's default.

Head: the backbone returns the class token after the final LN as the rank-2 `pre_logits`
endpoint; Model Garden's head (dropout 0 → Dense) completes the reference.
"""
from __future__ import annotations

from typing import Any, Optional

import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory

from models import common

# model_id → patch size, width, depth, heads, MLP width, reference init.
MODEL_TABLE = {
    'b16': {'patch_size': 16, 'hidden_size': 768, 'depth': 12, 'num_heads': 12,
            'mlp_dim': 3072, 'weight_init': 'torchvision'},
    'b32': {'patch_size': 32, 'hidden_size': 768, 'depth': 12, 'num_heads': 12,
            'mlp_dim': 3072, 'weight_init': 'torchvision'},
    'ti16': {'patch_size': 16, 'hidden_size': 192, 'depth': 12, 'num_heads': 3,
             'mlp_dim': 768, 'weight_init': 'timm'},
}
WEIGHT_INITS = ('torchvision', 'timm')
LN_EPS = 1e-6


class _Init:
    """The initialisers of one reference (`torchvision` or `timm`).

    Each attribute is a factory: every layer gets a fresh initializer instance, because an
    unseeded Keras initializer instance returns the same values on every call.
    """

    def __init__(self, kind: str, patch_fan_in: int):
        tv = kind == 'torchvision'
        bound = patch_fan_in ** -0.5  # PyTorch's default conv bias: U(±1/√fan_in)
        ki = tf_keras.initializers
        self.patch = ((lambda: ki.VarianceScaling(1.0, 'fan_in', 'untruncated_normal')) if tv
                      else common.torch_default_conv_init)
        self.patch_bias = ((lambda: 'zeros') if tv else (lambda: ki.RandomUniform(-bound, bound)))
        self.class_token = ((lambda: 'zeros') if tv else (lambda: ki.RandomNormal(stddev=1e-6)))
        self.position = ((lambda: ki.RandomNormal(stddev=0.02)) if tv else common.trunc_normal)
        self.qkv = ki.GlorotUniform if tv else common.trunc_normal
        self.proj = common.torch_default_conv_init if tv else common.trunc_normal
        self.mlp = ki.GlorotUniform if tv else common.trunc_normal
        self.mlp_bias = ((lambda: ki.RandomNormal(stddev=1e-6)) if tv else (lambda: 'zeros'))


class TokenEmbedding(tf_keras.layers.Layer):
    """Prepends the learned class token and adds the learned position embedding."""

    def __init__(self, init: _Init, **kwargs: Any):
        super().__init__(**kwargs)
        self._init = init

    def build(self, input_shape: tf.TensorShape) -> None:
        n, d = int(input_shape[1]), int(input_shape[2])
        self.class_token = self.add_weight(name='class_token', shape=[1, 1, d],
                                           initializer=self._init.class_token(), trainable=True)
        self.position_embedding = self.add_weight(
            name='position_embedding', shape=[1, n + 1, d], initializer=self._init.position(),
            trainable=True)
        super().build(input_shape)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        token = tf.cast(self.class_token, x.dtype)
        token = tf.tile(token, [tf.shape(x)[0], 1, 1])
        return tf.concat([token, x], axis=1) + tf.cast(self.position_embedding, x.dtype)


class Attention(tf_keras.layers.Layer):
    """Multi-head self-attention with one packed qkv projection (q, k, v order)."""

    def __init__(self, dim: int, num_heads: int, init: _Init, attention_dropout: float = 0.0,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        if dim % num_heads:
            raise ValueError(f'act_vit: hidden_size {dim} not divisible by num_heads '
                             f'{num_heads}; fix `hidden_size` or `num_heads`.')
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.scale = self.head_dim ** -0.5
        self.qkv = tf_keras.layers.Dense(3 * dim, kernel_initializer=init.qkv(),
                                         kernel_regularizer=kernel_regularizer, name='qkv')
        self.proj = tf_keras.layers.Dense(dim, kernel_initializer=init.proj(),
                                          kernel_regularizer=kernel_regularizer, name='proj')
        self.dropout = tf_keras.layers.Dropout(attention_dropout)

    def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
        n = x.shape[1]
        qkv = tf.reshape(self.qkv(x), [-1, n, 3, self.num_heads, self.head_dim])
        qkv = tf.transpose(qkv, [2, 0, 3, 1, 4])
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = tf.nn.softmax(tf.matmul(q, k, transpose_b=True), axis=-1)
        attn = self.dropout(attn, training=training)
        out = tf.transpose(tf.matmul(attn, v), [0, 2, 1, 3])
        return self.proj(tf.reshape(out, [-1, n, self.dim]))


class EncoderBlock(tf_keras.layers.Layer):
    """Pre-norm attention half and MLP half, each with dropout and drop path."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, activation: tf_keras.layers.Layer,
                 init: _Init, dropout: float = 0.0, attention_dropout: float = 0.0,
                 drop_path: float = 0.0,
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.norm1 = common.layer_norm(LN_EPS, name='norm1')
        self.attn = Attention(dim, num_heads, init, attention_dropout, kernel_regularizer,
                              name='attn')
        self.norm2 = common.layer_norm(LN_EPS, name='norm2')
        self.fc1 = tf_keras.layers.Dense(mlp_dim, kernel_initializer=init.mlp(),
                                         bias_initializer=init.mlp_bias(),
                                         kernel_regularizer=kernel_regularizer, name='fc1')
        self.act = activation
        self.fc2 = tf_keras.layers.Dense(dim, kernel_initializer=init.mlp(),
                                         bias_initializer=init.mlp_bias(),
                                         kernel_regularizer=kernel_regularizer, name='fc2')
        self.dropout = tf_keras.layers.Dropout(dropout)
        self.drop_path = common.drop_path(drop_path, name='drop_path')

    def call(self, x: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
        y = self.dropout(self.attn(self.norm1(x), training=training), training=training)
        x = x + self.drop_path(y, training=training)
        y = self.dropout(self.act(self.fc1(self.norm2(x))), training=training)
        y = self.dropout(self.fc2(y), training=training)
        return x + self.drop_path(y, training=training)


class ActViT(common.BackboneModel):
    """ViT backbone returning the final-LN class token as `pre_logits` [B, hidden_size]."""

    def __init__(self, patch_size: int, hidden_size: int, depth: int, num_heads: int,
                 mlp_dim: int, activation: Any, weight_init: str = 'torchvision',
                 dropout_rate: float = 0.0, attention_dropout_rate: float = 0.0,
                 drop_path_rate: float = 0.0,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, 224, 224, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        if weight_init not in WEIGHT_INITS:
            raise ValueError(f'act_vit: unknown weight_init {weight_init!r}; use one of '
                             f'{list(WEIGHT_INITS)} or \'\' (the model_id\'s reference).')
        height, width = input_specs.shape[1], input_specs.shape[2]
        if height is None or width is None:
            raise ValueError('act_vit: the input size must be static (set task.model.input_size);'
                             ' the position embedding has one entry per patch.')
        if height % patch_size or width % patch_size:
            raise ValueError(f'act_vit: input {height}x{width} is not divisible by patch_size '
                             f'{patch_size}; choose task.model.input_size as a multiple of it.')
        init = _Init(weight_init, int(input_specs.shape[-1]) * patch_size * patch_size)
        acts = common.StageActivations(activation, 1)
        rates = common.drop_path_rates(drop_path_rate, [depth])[0]
        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = tf_keras.layers.Conv2D(hidden_size, patch_size, strides=patch_size,
                                   kernel_initializer=init.patch(),
                                   bias_initializer=init.patch_bias(),
                                   kernel_regularizer=kernel_regularizer,
                                   name='patch_embed')(inputs)
        x = tf_keras.layers.Reshape([(height // patch_size) * (width // patch_size), hidden_size],
                                    name='patch_flatten')(x)
        x = TokenEmbedding(init, name='embed')(x)
        x = tf_keras.layers.Dropout(dropout_rate, name='embed_dropout')(x)
        for i in range(depth):
            x = EncoderBlock(hidden_size, num_heads, mlp_dim, acts.get(0, name='act'), init,
                             dropout_rate, attention_dropout_rate, rates[i], kernel_regularizer,
                             name=f'block{i}')(x)
        x = common.layer_norm(LN_EPS, name='head_norm')(x)
        token = tf_keras.layers.Lambda(lambda t: t[:, 0], name='class_token_out')(x)
        config = {'patch_size': patch_size, 'hidden_size': hidden_size, 'depth': depth,
                  'num_heads': num_heads, 'mlp_dim': mlp_dim, 'weight_init': weight_init}
        super().__init__(inputs, {common.PRE_LOGITS: token}, config, **kwargs)


def resolve(cfg: Any) -> dict:
    """The model_id's settings with every explicit (non-zero / non-empty) field of `cfg` on top.

    Raises:
      ValueError: an unknown model_id without every size field set explicitly.
    """
    key = str(cfg.model_id)
    sizes = ('patch_size', 'hidden_size', 'depth', 'num_heads', 'mlp_dim')
    if key not in MODEL_TABLE and not all(getattr(cfg, k) for k in sizes):
        raise ValueError(f'act_vit: unknown model_id {cfg.model_id!r}; use one of '
                         f'{sorted(MODEL_TABLE)} or set {", ".join(sizes)} explicitly.')
    out = dict(MODEL_TABLE.get(key, {'weight_init': 'torchvision'}))
    for k in sizes + ('weight_init',):
        if getattr(cfg, k):
            out[k] = getattr(cfg, k)
    return out


@factory.register_backbone_builder('act_vit')
def build_act_vit(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                  norm_activation_config: Any,
                  l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                  **kwargs: Any) -> tf_keras.Model:
    """Builds the ViT from `backbone.act_vit` (norm_activation is unused: LN throughout)."""
    del norm_activation_config, kwargs
    cfg = backbone_config.get()
    s = resolve(cfg)
    return ActViT(s['patch_size'], s['hidden_size'], s['depth'], s['num_heads'], s['mlp_dim'],
                  cfg.activation, s['weight_init'], float(cfg.dropout_rate),
                  float(cfg.attention_dropout_rate), float(cfg.drop_path_rate or 0.0),
                  input_specs=input_specs, kernel_regularizer=l2_regularizer, name='act_vit')
