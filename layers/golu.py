"""GoLU — Gompertz Linear Unit: y = x · α · exp(−β · exp(−γ·x)).

Numerical trap: for γ·x ≲ −88.7 (float32) exp(−γx) overflows to inf; the forward value is a finite
−0 but naive autodiff multiplies 0 by inf and returns NaN. Here the inner exponent is selected
with `tf.where` on a safe input: where −γx exceeds `_Z_MAX` the gate is set to its limit 0 and
the exponential sees 0 instead, so both branches and their gradients stay finite. The gate is
exactly 0 in float32 there whenever β ≥ 1e-30 (β·e^80 ≥ 5e4), i.e. for any sensible β.
"""
from typing import Any, Dict

import tensorflow as tf
import tf_keras

from layers.base import ActivationLayer, serializable
from layers.fused import FusedActivation
from layers.registry import register

_Z_MAX = 80.0  # exp(80) ≈ 5.5e34 < float32 max; beyond, the gate exp(−β·e^z) is 0 in float32.


def _golu_parts(x: tf.Tensor, beta: tf.Tensor, gamma: tf.Tensor):
    """(gate, e) with e = exp(−γx) where finite (0 beyond `_Z_MAX`) and gate = exp(−β·e)."""
    z = -gamma * x
    inside = z < _Z_MAX
    e = tf.exp(tf.where(inside, z, tf.zeros_like(z)))
    gate = tf.where(inside, tf.exp(-beta * e), tf.zeros_like(z))
    return gate, tf.where(inside, e, tf.zeros_like(e))


def _golu_forward(x, alpha, beta, gamma):
    gate, _ = _golu_parts(x, beta, gamma)
    return alpha * x * gate


def _golu_backward(x, dy, alpha, beta, gamma):
    """∂y/∂x = α·g·(1 + γ·x·β·e), ∂y/∂α = x·g, ∂y/∂β = −α·x·g·e, ∂y/∂γ = α·x²·g·β·e,
    with g the gate and e = exp(−γx). Where g = 0 every term is 0; where g > 0, β·e < 104, so
    the products stay finite (no 0·inf)."""
    gate, e = _golu_parts(x, beta, gamma)
    live = gate > 0
    be = tf.where(live, beta * e, tf.zeros_like(e))
    xg = x * gate
    dxg = dy * xg
    return (dy * alpha * gate * (1.0 + gamma * x * be),
            [dxg, -alpha * dxg * tf.where(live, e, tf.zeros_like(e)), alpha * dxg * x * be])


_GOLU = FusedActivation('golu', _golu_forward, _golu_backward)


def golu(x: tf.Tensor, alpha, beta, gamma) -> tf.Tensor:
    """x·α·exp(−β·exp(−γx)) in x's dtype (float32 inside), finite gradients for every finite x.

    The per-element part keeps only x for the backward pass (`layers.fused`).
    """
    return _GOLU(x, alpha, beta, gamma)


@serializable
@register('golu')
class GoLU(ActivationLayer):
    """GoLU with α, β, γ fixed floats (authors' code) or, with `learnable=True`, trainable scalars.

    Args:
      alpha, beta, gamma: the function's parameters (defaults 1); the initial values when learnable.
      learnable: make α, β, γ trainable scalar weights named `alpha`, `beta`, `gamma`. (Named
        `learnable`, not `trainable`, because `trainable` is the Keras Layer flag that freezes a layer.)
    """

    fused_input = True

    def __init__(self, alpha: float = 1.0, beta: float = 1.0, gamma: float = 1.0,
                 learnable: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.learnable = bool(learnable)

    def build(self, input_shape) -> None:
        self._channels(input_shape)
        if self.learnable:
            const = tf_keras.initializers.Constant
            self.alpha_w = self._add_param('alpha', [], const(self.alpha))
            self.beta_w = self._add_param('beta', [], const(self.beta))
            self.gamma_w = self._add_param('gamma', [], const(self.gamma))
        super().build(input_shape)

    def _activate(self, x, training):
        if self.learnable:
            return golu(x, self.alpha_w, self.beta_w, self.gamma_w)
        return golu(x, self.alpha, self.beta, self.gamma)

    def _settings(self) -> Dict[str, Any]:
        return {'alpha': self.alpha, 'beta': self.beta, 'gamma': self.gamma,
                'learnable': self.learnable}
