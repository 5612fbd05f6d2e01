"""Fixed (weightless) baseline activations: ReLU, GELU, Swish/SiLU, Mish.

Why layers rather than `tf_utils.get_activation`: Model Garden's string `'gelu'` is the tanh
approximation while ConvNeXt/Swin/HorNet use the exact erf form, and the backbones here take any
activation through one `layers.get` interface, trainable or not.
"""
from typing import Any, Dict, Optional

import tensorflow as tf

from layers.base import ActivationLayer, serializable
from layers.registry import register


@serializable
@register('relu')
class ReLU(ActivationLayer):
    """max(0, x)."""

    def _activate(self, x: tf.Tensor, training: Optional[bool]) -> tf.Tensor:
        return tf.nn.relu(x)


@serializable
@register('gelu')
class GELU(ActivationLayer):
    """GELU: exact 0.5·x·(1 + erf(x/√2)) by default, tanh approximation with `approximate=True`.

    Args:
      approximate: use the tanh approximation (Model Garden's `'gelu'` string) instead of the
        exact form the ConvNeXt/Swin/HorNet papers use.
    """

    def __init__(self, approximate: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.approximate = bool(approximate)

    def _activate(self, x: tf.Tensor, training: Optional[bool]) -> tf.Tensor:
        return tf.nn.gelu(x, approximate=self.approximate)

    def _settings(self) -> Dict[str, Any]:
        return {'approximate': self.approximate}


@serializable
@register('swish', 'silu')
class Swish(ActivationLayer):
    """Swish / SiLU: x·σ(x). Registered under both names."""

    def _activate(self, x: tf.Tensor, training: Optional[bool]) -> tf.Tensor:
        return x * tf.sigmoid(x)


@serializable
@register('mish')
class Mish(ActivationLayer):
    """Mish: x·tanh(softplus(x)); TF's softplus is overflow-safe for large x."""

    def _activate(self, x: tf.Tensor, training: Optional[bool]) -> tf.Tensor:
        return x * tf.tanh(tf.nn.softplus(x))
