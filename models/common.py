"""Building blocks shared by the backbone families.

Model Garden already has per-sample stochastic depth (`nn_layers.StochasticDepth`), which is
reused as drop path. What it lacks, and is therefore written here:

- the stochastic-depth schedule of ConvNeXt/Swin/HorNet/PosMLP (`linspace(0, rate, n_blocks)`;
  Model Garden's `get_stochastic_depth_rate` scales by `i / n` instead, which never reaches the
  rate and gives the first block a non-zero rate);
- a learnable per-channel layer scale (ConvNeXt/HorNet γ, initialised to 1e-6);
- the per-stage activation factory that turns a backbone config's `activation` into one fresh
  `layers.get` layer per call site (TPGU orders differ per stage);
- PyTorch-style symmetric padding for strided convolutions and max-pooling, because Keras'
  'same' pads asymmetrically (0 before, 1 after) for stride 2 on even sizes, which would shift
  every feature map by half a pixel relative to the reference networks.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import numpy as np
import tensorflow as tf
import tf_keras

from official.vision.modeling.layers import nn_layers

import layers as act_layers

# The papers' initialiser for conv/dense kernels is timm's trunc_normal_(std=.02), whose cut-offs
# are absolute (±2, i.e. ±100σ), so in effect an untruncated normal. Keras' TruncatedNormal cuts at
# ±2σ (actual std ≈ 0.88·0.02). The reference says "truncated normal std 0.02"; the difference is
# immaterial for training, so Keras' initializer is used and the deviation documented here.
def trunc_normal(std: float = 0.02) -> tf_keras.initializers.Initializer:
    """Returns the truncated-normal initializer used by ConvNeXt, Swin, HorNet and PosMLP."""
    return tf_keras.initializers.TruncatedNormal(stddev=std)


def torch_default_conv_init() -> tf_keras.initializers.Initializer:
    """PyTorch's default Conv2d/Linear kernel init, kaiming_uniform(a=√5): U(±1/√fan_in).

    Swin and PosMLP leave their convolutions at PyTorch's default; VarianceScaling with scale 1/3,
    fan_in, uniform gives the same bound √(3·(1/3)/fan_in) = 1/√fan_in.
    """
    return tf_keras.initializers.VarianceScaling(scale=1.0 / 3.0, mode='fan_in',
                                                 distribution='uniform')


def drop_path_rates(rate: float, depths: Sequence[int]) -> List[List[float]]:
    """Per-block drop-path rates growing linearly from 0 to `rate` over all blocks.

    Args:
      rate: the rate of the last block.
      depths: blocks per stage.

    Returns:
      One list of rates per stage (`torch.linspace(0, rate, sum(depths))` split by stage).
    """
    total = int(sum(depths))
    flat = np.linspace(0.0, rate, total) if total > 1 else np.zeros([total])
    out, start = [], 0
    for d in depths:
        out.append([float(r) for r in flat[start:start + d]])
        start += d
    return out


def drop_path(rate: float, name: Optional[str] = None) -> tf_keras.layers.Layer:
    """Per-sample stochastic depth (Model Garden's layer; identity at rate 0 or inference)."""
    return nn_layers.StochasticDepth(rate, name=name)


class LayerScale(tf_keras.layers.Layer):
    """Multiplies by a learnable per-channel vector γ (last axis), initialised to `init_value`.

    The weight is named `layer_scale` so that weight-decay exclusion regexes can find it.
    """

    def __init__(self, init_value: float = 1e-6, **kwargs: Any):
        super().__init__(**kwargs)
        self.init_value = init_value

    def build(self, input_shape: tf.TensorShape) -> None:
        self.gamma = self.add_weight(
            name='layer_scale', shape=[int(input_shape[-1])],
            initializer=tf_keras.initializers.Constant(self.init_value), trainable=True)
        super().build(input_shape)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x * tf.cast(self.gamma, x.dtype)

    def get_config(self) -> dict:
        return {**super().get_config(), 'init_value': self.init_value}


class BackboneModel(tf_keras.Model):
    """A functional backbone whose outputs are a dict of endpoints, as Model Garden expects.

    Model Garden's factory and `ClassificationModel` read `output_specs`; every family here passes
    its endpoints and the settings `get_config` should report, so that plumbing lives once.
    """

    def __init__(self, inputs: tf_keras.Input, endpoints: dict, config: dict,
                 **kwargs: Any) -> None:
        self._output_specs = {k: v.get_shape() for k, v in endpoints.items()}
        super().__init__(inputs=inputs, outputs=endpoints, **kwargs)
        self._config_dict = dict(config)

    @property
    def output_specs(self) -> dict:
        return self._output_specs

    def get_config(self) -> dict:
        return dict(self._config_dict)


def layer_norm(eps: float, name: Optional[str] = None) -> tf_keras.layers.Layer:
    """LayerNorm over the channel (last) axis; channels-last makes ConvNeXt's 'channels_first' LN
    the same operation."""
    return tf_keras.layers.LayerNormalization(axis=-1, epsilon=eps, name=name)


class StageActivations:
    """Turns a backbone config's `activation` into fresh activation layers, one per call site.

    `official_ext.configs.activations.stage_specs` resolves per-stage settings (TPGU `orders`
    gives each stage its own order); every `get(stage)` returns a NEW layer so that trainable
    activations never share parameters between sites.
    """

    def __init__(self, activation: Any, num_stages: int):
        from official_ext.configs import activations as act_cfg  # pylint: disable=g-import-not-at-top
        self.specs = act_cfg.stage_specs(activation, num_stages)
        if len(self.specs) != num_stages:
            raise ValueError(f'stage_specs returned {len(self.specs)} specs for {num_stages} stages')

    def get(self, stage: int, name: Optional[str] = None) -> tf_keras.layers.Layer:
        """Returns a new activation layer for `stage` (0-based)."""
        return act_layers.get(self.specs[stage], name=name)


def exact_gelu(name: Optional[str] = None) -> tf_keras.layers.Layer:
    """Exact (erf) GELU, for fixed non-block sites such as the PosMLP stem.

    Model Garden's string 'gelu' is the tanh approximation, hence an explicit layer.
    """
    return tf_keras.layers.Activation(gelu_exact, name=name)


def gelu_exact(x: tf.Tensor) -> tf.Tensor:
    """0.5·x·(1 + erf(x/√2))."""
    return tf.nn.gelu(x, approximate=False)


class TorchPad2D(tf_keras.layers.Layer):
    """Symmetric spatial padding of `pad` pixels, with zeros or with -inf (for max-pooling).

    PyTorch pads convolutions and max-pools symmetrically; Keras 'same' does not for stride 2.
    Max-pool padding must be -inf, not zero: with activations that output negative values (TPGU,
    GELU) zero padding would change the maxima on the border.
    """

    def __init__(self, pad: int, for_max_pool: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.pad = pad
        self.for_max_pool = for_max_pool

    def call(self, x: tf.Tensor) -> tf.Tensor:
        p = self.pad
        value = x.dtype.min if self.for_max_pool else 0
        return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], constant_values=value)

    def get_config(self) -> dict:
        return {**super().get_config(), 'pad': self.pad, 'for_max_pool': self.for_max_pool}


def resolve_dims_depths(model_id: Any, table: dict, dims: Sequence[int],
                        depths: Sequence[int], family: str) -> tuple:
    """Returns (dims, depths): explicit lists override the model_id's defaults.

    Raises:
      ValueError: naming the unknown model_id and the known ones, or mismatched list lengths.
    """
    key = str(model_id)
    if key not in table and not (dims and depths):
        raise ValueError(f'{family}: unknown model_id {model_id!r}; use one of '
                         f'{sorted(table)} or give both `dims` and `depths` explicitly.')
    base = table.get(key, {})
    out_dims = list(dims) if dims else list(base['dims'])
    out_depths = list(depths) if depths else list(base['depths'])
    if len(out_dims) != len(out_depths):
        raise ValueError(f'{family}: `dims` {out_dims} and `depths` {out_depths} must have the '
                         'same length (one entry per stage).')
    return [int(d) for d in out_dims], [int(d) for d in out_depths]


def stage_outputs_dict(features: Sequence[tf.Tensor]) -> dict:
    """Endpoints '2'..'5' (stride 4..32), Model Garden's level naming for stage outputs."""
    return {str(i + 2): f for i, f in enumerate(features)}


# Key of the head-ready feature. `ClassificationModel` takes endpoints[max(keys)] with keys
# compared as strings; 'pre_logits' sorts after the digit level keys, so the head picks it.
PRE_LOGITS = 'pre_logits'
