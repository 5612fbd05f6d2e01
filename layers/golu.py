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
from layers.registry import register

_Z_MAX = 80.0  # exp(80) ≈ 5.5e34 < float32 max; beyond, the gate exp(−β·e^z) is 0 in float32.


def golu(x: tf.Tensor, alpha: tf.Tensor, beta: tf.Tensor, gamma: tf.Tensor) -> tf.Tensor:
    """x·α·exp(−β·exp(−γx)) in float32 with finite gradients for every finite x."""
    z = -gamma * x
    inside = z < _Z_MAX
    z_safe = tf.where(inside, z, tf.zeros_like(z))
    gate = tf.where(inside, tf.exp(-beta * tf.exp(z_safe)), tf.zeros_like(z))
    return alpha * x * gate


@serializable
@register('golu')
class GoLU(ActivationLayer):
    """GoLU with α, β, γ fixed floats (authors' code) or, with `learnable=True`, trainable scalars.

    Args:
      alpha, beta, gamma: the function's parameters (defaults 1); the initial values when learnable.
      learnable: make α, β, γ trainable scalar weights named `alpha`, `beta`, `gamma`. (Named
        `learnable`, not `trainable`, because `trainable` is the Keras Layer flag that freezes a layer.)
    """

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
