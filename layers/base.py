"""Shared base class of every activation layer in this package.

Why a base class: every activation must behave the same way under mixed precision (float32
variables, float32 internals, output in the compute dtype) and must serialize the same way. Keeping
that in one place means each family module only writes its formula.
"""
from typing import Any, Dict, Optional

import tensorflow as tf
import tf_keras

# One package name for every layer, so saved models name them `tpgu_act>ClassName`.
SERIALIZABLE_PACKAGE = 'tpgu_act'


def serializable(cls):
    """Registers `cls` with tf_keras under the project's single serialization package."""
    return tf_keras.utils.register_keras_serializable(package=SERIALIZABLE_PACKAGE)(cls)


class ActivationLayer(tf_keras.layers.Layer):
    """Elementwise activation computed in float32 and returned in the layer's compute dtype.

    Subclasses implement `_activate(x, training)` on a float32 tensor (or, with `fused_input`,
    on the input as it comes) and create their weights with `_add_param` (float32, never
    autocast), so polynomials and exponentials see full-precision parameters even under
    `mixed_bfloat16` or `mixed_float16`. Inputs must be channels-last with rank 2, 3 or 4.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    # -- helpers for subclasses -------------------------------------------------------------
    def _add_param(self, name: str, shape, initializer) -> tf.Variable:
        """Adds a trainable float32 weight that is never autocast to the compute dtype."""
        init = tf_keras.initializers.get(initializer)
        # A fresh copy per weight: one unseeded initializer instance returns the SAME values on
        # every call, which would make e.g. ACON-C's p1 == p2 and TPGU's a1 == a2 == ....
        init = init.__class__.from_config(init.get_config())
        return self.add_weight(
            name=name, shape=shape, dtype=tf.float32,
            initializer=init,
            trainable=True, autocast=False)

    @staticmethod
    def _channels(input_shape) -> int:
        shape = tf.TensorShape(input_shape)
        if shape.rank is None or shape.rank not in (2, 3, 4):
            raise ValueError(
                f'Activation layers take channels-last inputs of rank 2, 3 or 4; got shape {shape}. '
                'Reshape the input to [batch, channels], [batch, tokens, channels] or '
                '[batch, height, width, channels].')
        channels = shape[-1]
        if channels is None:
            raise ValueError(
                f'The channel (last) dimension must be known when the layer is built; got shape {shape}.')
        return int(channels)

    def build(self, input_shape) -> None:
        self._channels(input_shape)
        super().build(input_shape)

    # -- Layer API ---------------------------------------------------------------------------
    # Layers whose per-element math is a `layers.fused.FusedActivation` set this: `_activate`
    # then receives the input in its own dtype (the fused function computes in float32 inside
    # and keeps the narrower input for the backward pass); the others receive float32.
    fused_input: bool = False

    def call(self, inputs: tf.Tensor, training: Optional[bool] = None) -> tf.Tensor:
        x = inputs if self.fused_input else tf.cast(inputs, tf.float32)
        return tf.cast(self._activate(x, training), self.compute_dtype)

    def _activate(self, x: tf.Tensor, training: Optional[bool]) -> tf.Tensor:
        raise NotImplementedError

    def compute_output_shape(self, input_shape):
        return tf.TensorShape(input_shape)

    def _settings(self) -> Dict[str, Any]:
        """Constructor arguments besides the base Layer ones; subclasses override."""
        return {}

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(self._settings())
        return config
