"""ShuffleNetV2 (Ma et al., ECCV 2018) as the ACON authors built it, with a pluggable activation.

Model Garden has no ShuffleNet. This is the network of nmaac/acon `ACON/ShuffleNetV2_ACON` and
`MetaACON/ShuffleNet_MetaACON` (the seed-001 ShuffleNetV2 rows), where `activation` takes the
place of every ReLU of the original network:

- stem Conv 3×3/2 (bias) → BN → act → MaxPool 3×3/2 (symmetric padding, -inf for the pool);
- three stages of [4, 8, 4] blocks; the first block of a stage has stride 2 and two branches
  (proj: dw 3×3/2 → BN → pw → BN → act; main: pw → BN → act → dw 3×3/2 → BN → pw → BN → act),
  concatenated; the others split the channels by the channel shuffle (even channels pass
  through, odd channels go through the main branch, stride 1) and concatenate
  [passed, main] (the authors' `channel_shuffle`, applied at the start of each block);
- last Conv 1×1 (bias) → BN → act, global average pool, dropout (0.2 for 2.0x only), Dense.

Every conv has a bias, as in the authors' ACON networks (the original ShuffleNetV2 has none);
the ReLU and Swish rows use the same network, so only the activation differs between rows.

Meta-ACON: the authors' generator ratio is r = 8 for 0.5x and 16 for the others. The builder
sets it from the model_id (`meta_acon_r` overrides it); a different `activation.meta_acon.r`
is refused so that the two settings cannot disagree silently.

Initialisation (the authors' `_initialize_weights`): the stem conv N(0, 0.01), every other conv
N(0, 1 / (input channels per group)) (so depthwise kernels N(0, 1)), biases 0, BatchNorm γ = 1,
β = 1e-4, Meta-ACON's generator included (its two 1×1 convs are the network's); the classifier
N(0, 0.01) with a zero bias (`official_ext.head_init`).

Endpoints: '2' the pooled stem (stride 4), '3'..'5' the stage outputs (strides 8..32), and
`pre_logits` = dropout(GAP(last conv → BN → act)), the classifier's input (rank 2: the stock
head skips its own pooling; its dropout stays 0). Blocks are named `block{i}` with i counted
over the whole network, as the authors' `features.{i}`.
"""
from __future__ import annotations

from typing import Any, List, Optional, Sequence

import tensorflow as tf
import tf_keras

from official.vision.modeling.backbones import factory

import layers as act_layers
from models import common

# model_id → stage widths, last conv width, Meta-ACON ratio, classifier dropout (authors' code).
MODEL_TABLE = {
    '0.5x': {'dims': [48, 96, 192], 'last_width': 1024, 'meta_acon_r': 8, 'dropout': 0.0},
    '1.0x': {'dims': [116, 232, 464], 'last_width': 1024, 'meta_acon_r': 16, 'dropout': 0.0},
    '1.5x': {'dims': [176, 352, 704], 'last_width': 1024, 'meta_acon_r': 16, 'dropout': 0.0},
    '2.0x': {'dims': [244, 488, 976], 'last_width': 2048, 'meta_acon_r': 16, 'dropout': 0.2},
}
DEPTHS = [4, 8, 4]
STEM_WIDTH = 24
BN_OFFSET_INIT = 1e-4   # the authors' nn.init.constant_(bn.bias, 0.0001)
STEM_STDDEV = 0.01      # the authors' init of the `first_conv` kernel
META_ACON_DEFAULT_R = 16


class ChannelShuffleSplit(tf_keras.layers.Layer):
    """The authors' `channel_shuffle` of a stride-1 block: (even channels, odd channels)."""

    def call(self, x: tf.Tensor):
        if x.shape[-1] % 4:
            raise ValueError(f'shufflenet_v2: a stride-1 block needs a channel count divisible '
                             f'by 4; got {x.shape[-1]} (choose stage widths divisible by 4).')
        return x[..., 0::2], x[..., 1::2]


class _Builder:
    """Shared settings while the functional graph is assembled."""

    def __init__(self, acts: common.StageActivations, momentum: float, eps: float,
                 sync_bn: bool, regularizer: Optional[tf_keras.regularizers.Regularizer]):
        self.acts = acts
        self.momentum, self.eps, self.sync_bn = momentum, eps, sync_bn
        self.regularizer = regularizer

    def conv(self, x: tf.Tensor, filters: int, kernel: int, stride: int, name: str,
             stddev: Optional[float] = None) -> tf.Tensor:
        if kernel > 1 and stride > 1:
            x = common.TorchPad2D(kernel // 2, name=f'{name}_pad')(x)
        std = stddev if stddev is not None else 1.0 / int(x.shape[-1])
        return tf_keras.layers.Conv2D(
            filters, kernel, strides=stride, padding='valid' if stride > 1 else 'same',
            use_bias=True, kernel_initializer=tf_keras.initializers.RandomNormal(stddev=std),
            kernel_regularizer=self.regularizer, name=name)(x)

    def dwconv(self, x: tf.Tensor, stride: int, name: str) -> tf.Tensor:
        if stride > 1:
            x = common.TorchPad2D(1, name=f'{name}_pad')(x)
        # N(0, 1 / (input channels per group)) = N(0, 1) for a depthwise kernel.
        return tf_keras.layers.DepthwiseConv2D(
            3, strides=stride, padding='valid' if stride > 1 else 'same', use_bias=True,
            depthwise_initializer=tf_keras.initializers.RandomNormal(stddev=1.0),
            depthwise_regularizer=self.regularizer, name=name)(x)

    def bn(self, x: tf.Tensor, name: str) -> tf.Tensor:
        return tf_keras.layers.BatchNormalization(
            axis=-1, momentum=self.momentum, epsilon=self.eps, synchronized=self.sync_bn,
            beta_initializer=tf_keras.initializers.Constant(BN_OFFSET_INIT), name=name)(x)

    def act(self, x: tf.Tensor, stage: int, name: str) -> tf.Tensor:
        return self.acts.get(stage, name=name)(x)

    def block(self, x: tf.Tensor, out: int, stride: int, stage: int, name: str) -> tf.Tensor:
        """One ShuffleNetV2 block; `out` output channels, half of them from the main branch."""
        if stride == 1:
            passed, x = ChannelShuffleSplit(name=f'{name}_shuffle')(x)
        else:
            p = self.bn(self.dwconv(x, stride, f'{name}_proj_dw_conv'), f'{name}_proj_dw_bn')
            c = int(x.shape[-1])
            p = self.bn(self.conv(p, c, 1, 1, f'{name}_proj_pw_conv'), f'{name}_proj_pw_bn')
            passed = self.act(p, stage, f'{name}_proj_act')
        rest = out - int(passed.shape[-1])
        if rest <= 0:
            raise ValueError(f'shufflenet_v2: a stage width ({out}) must exceed the '
                             f'{int(passed.shape[-1])} channels its first block passes through; '
                             'widen `dims` or narrow `stem_width`.')
        mid = out // 2
        y = self.bn(self.conv(x, mid, 1, 1, f'{name}_main_pw1_conv'), f'{name}_main_pw1_bn')
        y = self.act(y, stage, f'{name}_main_act1')
        y = self.bn(self.dwconv(y, stride, f'{name}_main_dw_conv'), f'{name}_main_dw_bn')
        y = self.bn(self.conv(y, rest, 1, 1, f'{name}_main_pw2_conv'), f'{name}_main_pw2_bn')
        y = self.act(y, stage, f'{name}_main_act2')
        return tf_keras.layers.Concatenate(axis=-1, name=f'{name}_concat')([passed, y])


class ShuffleNetV2(common.BackboneModel):
    """ShuffleNetV2 returning endpoints '2'..'5' and `pre_logits`."""

    def __init__(self, dims: Sequence[int], depths: Sequence[int], activation: Any,
                 stem_width: int = STEM_WIDTH, last_width: int = 1024, dropout_rate: float = 0.0,
                 meta_acon_r: int = META_ACON_DEFAULT_R, norm_momentum: float = 0.9,
                 norm_epsilon: float = 1e-5, use_sync_bn: bool = False,
                 input_specs: tf_keras.layers.InputSpec = tf_keras.layers.InputSpec(
                     shape=[None, None, None, 3]),
                 kernel_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                 **kwargs: Any):
        if len(dims) != len(depths):
            raise ValueError(f'shufflenet_v2: `dims` {list(dims)} and `depths` {list(depths)} '
                             'need one entry per stage.')
        acts = common.StageActivations(activation, len(depths))
        for spec in acts.specs:
            if spec['type'] == 'meta_acon':
                spec['meta_acon']['r'] = int(meta_acon_r)
        b = _Builder(acts, norm_momentum, norm_epsilon, use_sync_bn, kernel_regularizer)
        inputs = tf_keras.Input(shape=input_specs.shape[1:])
        x = b.bn(b.conv(inputs, stem_width, 3, 2, 'stem_conv', stddev=STEM_STDDEV), 'stem_bn')
        x = b.act(x, 0, 'stem_act')
        x = common.TorchPad2D(1, for_max_pool=True, name='stem_pool_pad')(x)
        x = tf_keras.layers.MaxPool2D(3, strides=2, padding='valid', name='stem_pool')(x)
        features: List[tf.Tensor] = [x]
        i = 0
        for s, (dim, depth) in enumerate(zip(dims, depths)):
            for j in range(depth):
                x = b.block(x, dim, 2 if j == 0 else 1, s, f'block{i}')
                i += 1
            features.append(x)
        y = b.bn(b.conv(x, last_width, 1, 1, 'last_conv'), 'last_bn')
        y = b.act(y, len(depths) - 1, 'last_act')
        y = tf_keras.layers.GlobalAveragePooling2D(name='head_pool')(y)
        y = tf_keras.layers.Dropout(dropout_rate, name='head_dropout')(y)
        endpoints = common.stage_outputs_dict(features)
        endpoints[common.PRE_LOGITS] = y
        config = {'dims': list(dims), 'depths': list(depths), 'stem_width': stem_width,
                  'last_width': last_width, 'dropout_rate': dropout_rate,
                  'meta_acon_r': meta_acon_r}
        super().__init__(inputs, endpoints, config, **kwargs)
        _init_meta_acon_generators(self)


def _init_meta_acon_generators(model: tf_keras.Model) -> None:
    """The authors' `_initialize_weights` reaches Meta-ACON's generator too (its fc1/fc2 are
    1x1 convs of the network): kernels N(0, 1 / input width), biases 0, BatchNorm beta 1e-4.
    The generic layer starts from Keras defaults, so its built weights are re-drawn here."""
    meta_cls = type(act_layers.get('meta_acon'))
    for layer in model.submodules:
        if not isinstance(layer, meta_cls):
            continue
        for dense in (layer.fc1, layer.fc2):
            fan_in = int(dense.kernel.shape[0])
            dense.kernel.assign(tf_keras.initializers.RandomNormal(stddev=1.0 / fan_in)(
                dense.kernel.shape, dtype=dense.kernel.dtype))
            dense.bias.assign(tf.zeros_like(dense.bias))
        if layer.use_bn:
            for bn in (layer.bn1, layer.bn2):
                bn.beta.assign(tf.fill(bn.beta.shape, tf.constant(BN_OFFSET_INIT, bn.beta.dtype)))


def resolve(cfg: Any) -> dict:
    """The network settings of a `shufflenet_v2` config: model_id defaults, explicit overrides.

    Raises:
      ValueError: unknown model_id without explicit dims and depths, or a Meta-ACON ratio set
        under `activation.meta_acon.r` (it belongs in `meta_acon_r`).
    """
    key = str(cfg.model_id)
    if key not in MODEL_TABLE and not cfg.dims:
        raise ValueError(f'shufflenet_v2: unknown model_id {cfg.model_id!r}; use one of '
                         f'{sorted(MODEL_TABLE)} or give `dims` (3 stage widths) explicitly.')
    base = MODEL_TABLE.get(key, {})
    activation = cfg.activation
    if activation.type == 'meta_acon' and activation.meta_acon.r != META_ACON_DEFAULT_R:
        raise ValueError(
            'shufflenet_v2: set the Meta-ACON ratio with shufflenet_v2.meta_acon_r (0 = the '
            f'authors\' ratio for the model_id), not activation.meta_acon.r '
            f'(= {activation.meta_acon.r}).')
    dropout = cfg.dropout_rate
    return {
        'dims': list(cfg.dims) if cfg.dims else list(base['dims']),
        'depths': list(cfg.depths) if cfg.depths else list(DEPTHS),
        'stem_width': int(cfg.stem_width),
        'last_width': int(cfg.last_width or base.get('last_width', 1024)),
        'dropout_rate': float(base.get('dropout', 0.0) if dropout is None else dropout),
        'meta_acon_r': int(cfg.meta_acon_r or base.get('meta_acon_r', META_ACON_DEFAULT_R)),
    }


@factory.register_backbone_builder('shufflenet_v2')
def build_shufflenet_v2(input_specs: tf_keras.layers.InputSpec, backbone_config: Any,
                        norm_activation_config: Any,
                        l2_regularizer: Optional[tf_keras.regularizers.Regularizer] = None,
                        **kwargs: Any) -> tf_keras.Model:
    """Builds ShuffleNetV2 from `backbone.shufflenet_v2` (only `use_sync_bn` is read from
    norm_activation; BatchNorm momentum/epsilon are the backbone's own PyTorch-equal fields)."""
    del kwargs
    cfg = backbone_config.get()
    settings = resolve(cfg)
    sync = bool(getattr(norm_activation_config, 'use_sync_bn', False))
    return ShuffleNetV2(activation=cfg.activation, norm_momentum=cfg.norm_momentum,
                        norm_epsilon=cfg.norm_epsilon, use_sync_bn=sync,
                        input_specs=input_specs, kernel_regularizer=l2_regularizer,
                        name='shufflenet_v2', **settings)
