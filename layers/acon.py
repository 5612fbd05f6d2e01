"""ACON family (Ma et al., CVPR 2021): ACON-A, ACON-B, ACON-C and Meta-ACON-C.

    ACON-C:  y = (p1 − p2)·x·σ(β·(p1 − p2)·x) + p2·x        per-channel p1, p2, β
    ACON-B:  p1 = 1, p2 = p;   ACON-A: p1 = 1, p2 = 0 (= x·σ(βx))
    Meta-ACON-C: β = σ(BN2(W2·BN1(W1·mean(x) + c1) + c2)) per sample and channel.

Initial values follow the authors' code: p1, p2 (and p) standard normal, β = 1.
"""
from typing import Any, Dict

import tensorflow as tf
import tf_keras

from layers.base import ActivationLayer, serializable
from layers.fused import FusedActivation
from layers.registry import register


def _acon_forward(x: tf.Tensor, u: tf.Tensor, p2: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
    """u·x·σ(β·u·x) + p2·x with u = p1 − p2."""
    ux = u * x
    return ux * tf.sigmoid(beta * ux) + p2 * x


def _acon_backward(x: tf.Tensor, dy: tf.Tensor, u: tf.Tensor, p2: tf.Tensor, beta: tf.Tensor):
    """With s = σ(β·u·x) and h = s·(1 + β·u·x·(1 − s)):
    ∂y/∂x = u·h + p2,  ∂y/∂u = x·h,  ∂y/∂p2 = x,  ∂y/∂β = (u·x)²·s·(1 − s)."""
    ux = u * x
    s = tf.sigmoid(beta * ux)
    ds = s * (1.0 - s)
    h = s + beta * ux * ds
    return dy * (u * h + p2), [dy * x * h, dy * x, dy * ux * ux * ds]


_ACON = FusedActivation('acon_c', _acon_forward, _acon_backward)


def acon_c(x: tf.Tensor, p1, p2, beta) -> tf.Tensor:
    """(p1 − p2)·x·σ(β·(p1 − p2)·x) + p2·x in x's dtype, everything broadcast over channels.

    The per-element part keeps only x for the backward pass (`layers.fused`); p1 − p2 is
    formed outside it, so the gradients of p1 and p2 follow by autodiff of that difference.
    Python numbers (ACON-A's p1 = 1, p2 = 0) are constants without gradients.
    """
    return _ACON(x, p1 - p2, p2, beta)


@serializable
@register('acon_a')
class AconA(ActivationLayer):
    """ACON-A: x·σ(β·x) with per-channel `beta` (a per-channel trainable Swish)."""

    fused_input = True

    def __init__(self, beta_init: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.beta_init = float(beta_init)

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        self.beta = self._add_param('beta', [c], tf_keras.initializers.Constant(self.beta_init))
        super().build(input_shape)

    def _activate(self, x, training):
        return acon_c(x, 1.0, 0.0, self.beta)

    def _settings(self) -> Dict[str, Any]:
        return {'beta_init': self.beta_init}


@serializable
@register('acon_b')
class AconB(ActivationLayer):
    """ACON-B: (1 − p)·x·σ(β·(1 − p)·x) + p·x with per-channel `p`, `beta`."""

    fused_input = True

    def __init__(self, p_stddev: float = 1.0, beta_init: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.p_stddev = float(p_stddev)
        self.beta_init = float(beta_init)

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        self.p = self._add_param('p', [c], tf_keras.initializers.RandomNormal(stddev=self.p_stddev))
        self.beta = self._add_param('beta', [c], tf_keras.initializers.Constant(self.beta_init))
        super().build(input_shape)

    def _activate(self, x, training):
        return acon_c(x, 1.0, self.p, self.beta)

    def _settings(self) -> Dict[str, Any]:
        return {'p_stddev': self.p_stddev, 'beta_init': self.beta_init}


@serializable
@register('acon_c')
class AconC(ActivationLayer):
    """ACON-C with per-channel `p1`, `p2` (standard normal init) and `beta` (init 1)."""

    fused_input = True

    def __init__(self, p_stddev: float = 1.0, beta_init: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.p_stddev = float(p_stddev)
        self.beta_init = float(beta_init)

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        init = tf_keras.initializers.RandomNormal(stddev=self.p_stddev)
        self.p1 = self._add_param('p1', [c], init)
        self.p2 = self._add_param('p2', [c], init)
        self.beta = self._add_param('beta', [c], tf_keras.initializers.Constant(self.beta_init))
        super().build(input_shape)

    def _activate(self, x, training):
        return acon_c(x, self.p1, self.p2, self.beta)

    def _settings(self) -> Dict[str, Any]:
        return {'p_stddev': self.p_stddev, 'beta_init': self.beta_init}


@serializable
@register('meta_acon')
class MetaAcon(ActivationLayer):
    """Meta-ACON-C: ACON-C whose β is generated per sample and channel from the input.

    Generator (authors' code): mean over the spatial/token axes -> Dense C -> max(r, C // r)
    (bias) -> BN -> Dense -> C (bias) -> BN -> sigmoid; no nonlinearity in between. A 1×1 conv on a
    pooled 1×1 map is a Dense layer. Rank 4 pools over H, W; rank 3 over tokens; rank 2 uses the
    per-sample vector itself. The generator runs in float32 (its sublayers have a float32 policy).

    BatchNorm over the pooled [B, C] vectors depends on the batch: with batch size 1 in training
    the normalised value is constant. `use_bn=False` leaves both BNs out (the common variant, e.g.
    YOLOv5's MetaAconC).

    Args:
      r: reduction ratio (16 in the paper; 8 in the smallest ShuffleNet).
      use_bn: BatchNorm after each projection (authors' default).
      p_stddev: stddev of the normal initializer of p1, p2.
      bn_momentum, bn_epsilon: BatchNorm settings; defaults are PyTorch's (the authors' framework)
        written in Keras convention (momentum 0.9 = PyTorch 0.1).
    """

    def __init__(self, r: int = 16, use_bn: bool = True, p_stddev: float = 1.0,
                 bn_momentum: float = 0.9, bn_epsilon: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if int(r) < 1:
            raise ValueError(f'Meta-ACON reduction ratio r must be >= 1; got {r}.')
        self.r = int(r)
        self.use_bn = bool(use_bn)
        self.p_stddev = float(p_stddev)
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        hidden = max(self.r, c // self.r)
        init = tf_keras.initializers.RandomNormal(stddev=self.p_stddev)
        self.p1 = self._add_param('p1', [c], init)
        self.p2 = self._add_param('p2', [c], init)
        self.fc1 = tf_keras.layers.Dense(hidden, use_bias=True, dtype='float32', name='fc1')
        self.fc2 = tf_keras.layers.Dense(c, use_bias=True, dtype='float32', name='fc2')
        if self.use_bn:
            bn = dict(momentum=self.bn_momentum, epsilon=self.bn_epsilon, dtype='float32')
            self.bn1 = tf_keras.layers.BatchNormalization(name='bn1', **bn)
            self.bn2 = tf_keras.layers.BatchNormalization(name='bn2', **bn)
        super().build(input_shape)

    fused_input = True

    def _activate(self, x, training):
        rank = x.shape.rank
        x32 = tf.cast(x, tf.float32)  # pooled in float32; its gradient needs no saved tensor
        pooled = tf.reduce_mean(x32, axis=list(range(1, rank - 1))) if rank > 2 else x32
        h = self.fc1(pooled)
        if self.use_bn:
            h = self.bn1(h, training=training)
        h = self.fc2(h)
        if self.use_bn:
            h = self.bn2(h, training=training)
        beta = tf.sigmoid(h)  # [B, C]
        beta = tf.reshape(beta, [-1] + [1] * (rank - 2) + [beta.shape[-1]])
        return acon_c(x, self.p1, self.p2, beta)

    def _settings(self) -> Dict[str, Any]:
        return {'r': self.r, 'use_bn': self.use_bn, 'p_stddev': self.p_stddev,
                'bn_momentum': self.bn_momentum, 'bn_epsilon': self.bn_epsilon}
