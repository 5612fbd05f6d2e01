"""The trainable activations of seed 003 (Pishchik 2023) plus HELU and SinLU from the same code.

In the authors' code each parameter is a scalar shared by the whole network. Here each call site
(each `layers.get`) owns one scalar set by default; `per_channel=True` gives each channel its own
value (shape [C]; LinComb/NormLinComb weights [4, C]).
"""
from typing import Any, Dict

import tensorflow as tf
import tf_keras

from layers.base import ActivationLayer, serializable
from layers.fused import FusedActivation
from layers.registry import register

_const = tf_keras.initializers.Constant


class _ScalarSetLayer(ActivationLayer):
    """Base for layers whose weights are scalars (default) or per-channel vectors."""

    _PARAMS: Dict[str, str] = {}  # weight name -> name of its init attribute

    def __init__(self, per_channel: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.per_channel = bool(per_channel)

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        shape = [c] if self.per_channel else []
        for weight, init_attr in self._PARAMS.items():
            setattr(self, weight, self._add_param(weight, shape, _const(getattr(self, init_attr))))
        super().build(input_shape)

    def _settings(self) -> Dict[str, Any]:
        out = {attr: getattr(self, attr) for attr in self._PARAMS.values()}
        out['per_channel'] = self.per_channel
        return out


def _gated_trig(trig, trig_derivative) -> FusedActivation:
    """σ(x)·(x + a·trig(b·x)) with ∂y/∂x = σ(1−σ)(x + a·trig) + σ(1 + a·b·trig'),
    ∂y/∂a = σ·trig(b·x), ∂y/∂b = σ·a·x·trig'(b·x).

    trig(b·x) (and trig'(b·x) for the backward pass) are TensorFlow ops outside the compiled
    functions: XLA:CPU's sin/cos ran 4-5x slower than TensorFlow's (docs/benchmarks.md).
    """
    def outside(x, a, b, grad):
        del a
        return (trig(b * x), trig_derivative(b * x)) if grad else (trig(b * x),)

    def forward(x, a, b, t):
        del b
        return tf.sigmoid(x) * (x + a * t)

    def backward(x, dy, a, b, t, dt):
        s = tf.sigmoid(x)
        dys = dy * s
        return (dy * (s * (1.0 - s) * (x + a * t) + s * (1.0 + a * b * dt)),
                [dys * t, dys * a * x * dt])
    return FusedActivation(trig.__name__ + 'lu', forward, backward, outside=outside)


_COSLU = _gated_trig(tf.cos, lambda t: -tf.sin(t))
_SINLU = _gated_trig(tf.sin, tf.cos)


class _GatedTrig(_ScalarSetLayer):
    _PARAMS = {'a': 'a_init', 'b': 'b_init'}
    _FUNCTION = _COSLU
    fused_input = True

    def __init__(self, a_init: float = 1.0, b_init: float = 1.0, per_channel: bool = False,
                 **kwargs: Any) -> None:
        self.a_init = float(a_init)
        self.b_init = float(b_init)
        super().__init__(per_channel=per_channel, **kwargs)

    def _activate(self, x, training):
        return self._FUNCTION(x, self.a, self.b)


@serializable
@register('coslu')
class CosLU(_GatedTrig):
    """CosLU: σ(x)·(x + a·cos(b·x)), a = b = 1 initially."""
    _FUNCTION = _COSLU


@serializable
@register('sinlu')
class SinLU(_GatedTrig):
    """SinLU: σ(x)·(x + a·sin(b·x)), a = b = 1 initially (authors' code, not their README)."""
    _FUNCTION = _SINLU


def _delu_forward(x: tf.Tensor, n) -> tf.Tensor:
    """SiLU(x) for x ≤ 0, (n + 0.5)·x + |e^(−x) − 1| = (n + 0.5)·x + 1 − e^(−x) for x > 0.

    Both branches are computed everywhere and one is selected, so each must stay finite for
    every input: σ(x) is, and the exponential sees −max(x, 0) ≤ 0 (never overflows; a mask
    multiply of e^(−x) would give 0·inf = NaN for x ≲ −89).
    """
    s = tf.sigmoid(x)
    e = tf.exp(-tf.maximum(x, 0.0))
    return tf.where(x <= 0, x * s, (n + 0.5) * x + 1.0 - e)


def _delu_backward(x: tf.Tensor, dy: tf.Tensor, n):
    """∂y/∂x = σ(x)(1 + x(1 − σ(x))) for x ≤ 0 and n + 0.5 + e^(−x) for x > 0; ∂y/∂n = x for
    x > 0, else 0. Finite everywhere for the same reasons as the forward pass."""
    neg = x <= 0
    s = tf.sigmoid(x)
    e = tf.exp(-tf.maximum(x, 0.0))
    dx = tf.where(neg, s * (1.0 + x * (1.0 - s)), n + 0.5 + e)
    return dy * dx, [tf.where(neg, tf.zeros_like(x), dy * x)]


_DELU = FusedActivation('delu', _delu_forward, _delu_backward)


def delu(x: tf.Tensor, n) -> tf.Tensor:
    """DELU in x's dtype; `n` a float32 weight or a Python number (HELU's fixed 0)."""
    return _DELU(x, n)


@serializable
@register('delu')
class DELU(_ScalarSetLayer):
    """DELU with trainable `n` (init 0)."""
    _PARAMS = {'n': 'n_init'}
    fused_input = True

    def __init__(self, n_init: float = 0.0, per_channel: bool = False, **kwargs: Any) -> None:
        self.n_init = float(n_init)
        super().__init__(per_channel=per_channel, **kwargs)

    def _activate(self, x, training):
        return delu(x, self.n)


@serializable
@register('helu')
class HELU(ActivationLayer):
    """HELU: DELU with n fixed at 0 (no weights)."""

    fused_input = True

    def _activate(self, x, training):
        return delu(x, 0.0)


@serializable
@register('relun')
class ReLUN(_ScalarSetLayer):
    """ReLUN: min(max(0, x), n) with trainable `n` (init 1)."""
    _PARAMS = {'n': 'n_init'}

    def __init__(self, n_init: float = 1.0, per_channel: bool = False, **kwargs: Any) -> None:
        self.n_init = float(n_init)
        super().__init__(per_channel=per_channel, **kwargs)

    def _activate(self, x, training):
        return tf.minimum(tf.nn.relu(x), self.n)


@serializable
@register('scaledsoftsign')
class ScaledSoftSign(_ScalarSetLayer):
    """ScaledSoftSign: α·x / (β + |x| + 1e-8), α = β = 1 initially."""
    _PARAMS = {'alpha': 'alpha_init', 'beta': 'beta_init'}

    def __init__(self, alpha_init: float = 1.0, beta_init: float = 1.0, per_channel: bool = False,
                 **kwargs: Any) -> None:
        self.alpha_init = float(alpha_init)
        self.beta_init = float(beta_init)
        super().__init__(per_channel=per_channel, **kwargs)

    def _activate(self, x, training):
        return self.alpha * x / (self.beta + tf.abs(x) + 1e-8)


@serializable
@register('shilu')
class ShiLU(_ScalarSetLayer):
    """ShiLU: α·relu(x) + β, α = β = 1 initially."""
    _PARAMS = {'alpha': 'alpha_init', 'beta': 'beta_init'}

    def __init__(self, alpha_init: float = 1.0, beta_init: float = 1.0, per_channel: bool = False,
                 **kwargs: Any) -> None:
        self.alpha_init = float(alpha_init)
        self.beta_init = float(beta_init)
        super().__init__(per_channel=per_channel, **kwargs)

    def _activate(self, x, training):
        return self.alpha * tf.nn.relu(x) + self.beta


def _basis(x: tf.Tensor) -> list:
    """[relu, sigmoid, tanh, softsign] of x, the authors' order."""
    return [tf.nn.relu(x), tf.sigmoid(x), tf.tanh(x), tf.nn.softsign(x)]


def _lincomb_forward(x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    return tf.add_n([w[i] * f for i, f in enumerate(_basis(x))])


def _lincomb_backward(x: tf.Tensor, dy: tf.Tensor, w: tf.Tensor):
    """∂y/∂x = w0·[x > 0] + w1·σ(1 − σ) + w2·(1 − tanh²) + w3/(1 + |x|)²; ∂y/∂w_i = F_i(x)."""
    s = tf.sigmoid(x)
    t = tf.tanh(x)
    q = 1.0 / (1.0 + tf.abs(x))
    relu_slope = tf.cast(x > 0, tf.float32)
    dx = w[0] * relu_slope + w[1] * s * (1.0 - s) + w[2] * (1.0 - t * t) + w[3] * q * q
    return dy * dx, [[dy * tf.nn.relu(x), dy * s, dy * t, dy * x * q]]


_LINCOMB = FusedActivation('lincomb', _lincomb_forward, _lincomb_backward)


class _LinCombBase(ActivationLayer):
    def __init__(self, w_init: float = 0.25, per_channel: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.w_init = float(w_init)
        self.per_channel = bool(per_channel)

    def build(self, input_shape) -> None:
        c = self._channels(input_shape)
        shape = [4, c] if self.per_channel else [4]
        self.w = self._add_param('w', shape, _const(self.w_init))
        super().build(input_shape)

    fused_input = True

    def _settings(self) -> Dict[str, Any]:
        return {'w_init': self.w_init, 'per_channel': self.per_channel}


@serializable
@register('lincomb')
class LinComb(_LinCombBase):
    """LinComb: Σ_i w_i F_i(x), F = [relu, sigmoid, tanh, softsign], w = 1/4 initially."""

    def _activate(self, x, training):
        return _LINCOMB(x, self.w)


_NORM_EPS = 1e-8


def safe_denominator(total: tf.Tensor) -> tf.Tensor:
    """total + 1e-8 as in the authors' code, kept at least 1e-8 in magnitude (sign kept, 0 -> +).

    The authors divide by the SIGNED sum Σw + 1e-8, which is 0 when Σw = −1e-8 and tiny near it;
    clamping |denominator| ≥ 1e-8 keeps the output and gradients finite there and changes nothing
    elsewhere.
    """
    d = total + _NORM_EPS
    sign = tf.where(d < 0, -tf.ones_like(d), tf.ones_like(d))
    return tf.where(tf.abs(d) < _NORM_EPS, sign * _NORM_EPS, d)


@serializable
@register('normlincomb')
class NormLinComb(_LinCombBase):
    """NormLinComb: Σ_i w_i F_i(x) / (Σ_i w_i + 1e-8) (signed sum, authors' code; see
    `safe_denominator`). Per channel the sum runs over the four weights of each channel."""

    def _activate(self, x, training):
        # The normalisation acts on the [4] / [4, C] weights only (autodiff there).
        return _LINCOMB(x, self.w / safe_denominator(tf.reduce_sum(self.w, axis=0)))
