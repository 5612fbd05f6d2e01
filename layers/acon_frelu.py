"""ACON-FReLU (Ma et al., CVPR 2021, TFNet): ACON between the identity and a funnel branch.

    x1 = x                       (stride 1)   or   MaxPool 3×3/2, pad 1 (x)   (stride 2)
    x2 = BN1(DWConv3×3/stride(x) + bias)                       the FReLU funnel condition
    y  = BN2((x1 − x2)·σ(x1 − x2) + x2)

The smooth maximum of the two branches (ACON-C with p1 = 1, p2 = 0 applied to x1 − x2, β = 1),
followed by BatchNorm, exactly as the authors' TFNet `Acon_FReLU` computes it; it has no p1, p2
or β of its own. The weights are the branch's depthwise kernel and bias and the two BatchNorms.

Why a layer apart from the elementwise ones: the funnel branch convolves over height and width,
so the input must be a rank-4 [batch, height, width, channels] map (other ranks are refused with
a clear error); `INPUT_RANKS` says so to generic code and tests. As an activation in any
convolutional backbone it keeps stride 1 (the shape is unchanged); stride 2 is TFNet's
downsampling site, where the layer halves the spatial size (ceil(H / 2), as PyTorch's padding 1).

Initial values follow the authors' TFNet `_initialize_weights`: depthwise kernel N(0, 0.01)
(their rule for `frelu` convolutions), bias 0, BatchNorm γ = 1, β = 1e-4. The sublayers run in
float32 like the rest of every activation here (see `layers.base`).
"""
from typing import Any, Dict

import tensorflow as tf
import tf_keras

from layers.base import ActivationLayer, serializable
from layers.registry import register

# The authors' BatchNorm offset init (nn.init.constant_(m.bias, 0.0001) for every BN).
BN_OFFSET_INIT = 1e-4
KERNEL_STDDEV = 0.01


def _pad(x: tf.Tensor, value: float) -> tf.Tensor:
    """One pixel on each side of H and W (PyTorch's symmetric `padding=1`)."""
    return tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=value)


@serializable
@register('acon_frelu')
class AconFReLU(ActivationLayer):
    """ACON-FReLU with a depthwise 3×3 funnel branch, for rank-4 channels-last inputs.

    Args:
      stride: 1 (an activation: shape unchanged) or 2 (TFNet's downsampling site: the identity
        branch is max-pooled 3×3/2 and the depthwise conv has stride 2).
      bn_momentum, bn_epsilon: both BatchNorms; defaults are PyTorch's (the authors' framework)
        in Keras convention (momentum 0.9 = PyTorch 0.1).
    """

    INPUT_RANKS = (4,)

    def __init__(self, stride: int = 1, bn_momentum: float = 0.9, bn_epsilon: float = 1e-5,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if stride not in (1, 2) or isinstance(stride, bool):
            raise ValueError(f'acon_frelu: stride must be 1 or 2; got {stride!r}.')
        self.stride = int(stride)
        self.bn_momentum = float(bn_momentum)
        self.bn_epsilon = float(bn_epsilon)

    @staticmethod
    def _channels(input_shape) -> int:
        shape = tf.TensorShape(input_shape)
        if shape.rank != 4:
            raise ValueError(
                f'acon_frelu takes rank-4 [batch, height, width, channels] inputs (its funnel '
                f'branch is a 3x3 depthwise conv); got shape {shape}. Use it in a convolutional '
                'backbone, or choose an elementwise activation for this site.')
        return ActivationLayer._channels(shape)

    def build(self, input_shape) -> None:
        self._channels(input_shape)
        self.conv_frelu = tf_keras.layers.DepthwiseConv2D(
            3, strides=self.stride, padding='same' if self.stride == 1 else 'valid',
            use_bias=True,
            depthwise_initializer=tf_keras.initializers.RandomNormal(stddev=KERNEL_STDDEV),
            bias_initializer='zeros', dtype='float32', name='conv_frelu')
        bn = dict(momentum=self.bn_momentum, epsilon=self.bn_epsilon, dtype='float32',
                  beta_initializer=tf_keras.initializers.Constant(BN_OFFSET_INIT))
        self.bn1 = tf_keras.layers.BatchNormalization(name='bn1', **bn)
        self.bn2 = tf_keras.layers.BatchNormalization(name='bn2', **bn)
        super().build(input_shape)

    def _activate(self, x, training):
        if self.stride == 2:
            x1 = tf.nn.max_pool2d(_pad(x, x.dtype.min), 3, 2, 'VALID')
            x2 = self.conv_frelu(_pad(x, 0.0))
        else:
            x1 = x
            x2 = self.conv_frelu(x)
        x2 = self.bn1(x2, training=training)
        d = x1 - x2
        return self.bn2(d * tf.sigmoid(d) + x2, training=training)

    def compute_output_shape(self, input_shape):
        shape = tf.TensorShape(input_shape)
        if self.stride == 1:
            return shape
        half = [None if d is None else (d + 1) // 2 for d in (shape[1], shape[2])]
        return tf.TensorShape([shape[0], half[0], half[1], shape[3]])

    def _settings(self) -> Dict[str, Any]:
        return {'stride': self.stride, 'bn_momentum': self.bn_momentum,
                'bn_epsilon': self.bn_epsilon}
