"""Shared references of the ShuffleNetV2 / TFNet tests: the authors' counts and a MAC counter.

Counts were taken from the ACON authors' PyTorch classes (nmaac/acon: `ShuffleNetV2_ACON`,
`ShuffleNetV2_MetaACON`, `TFNet`, 1000 classes, `sum(p.numel() for p in model.parameters())`);
the ReLU/Swish network is the ACON network without ACON's p1, p2, beta. Multiply-accumulates
(conv and fully-connected layers only, per 224-px image) from forward hooks on the same classes.
"""
from __future__ import annotations

import math
from typing import List, Tuple

import numpy as np
import tensorflow as tf
import tf_keras

SHUFFLENET_PARAMS = {  # model_id → (ACON-C, Meta-ACON, ReLU/Swish)
    '0.5x': (1_379_600, 1_686_620, 1_370_768),
    '1.0x': (2_304_740, 2_596_384, 2_287_850),
    '1.5x': (3_543_440, 3_953_842, 3_519_440),
    '2.0x': (7_455_588, 8_437_946, 7_420_458),
}
SHUFFLENET_MACS = {'0.5x': 40_476_448, '1.0x': 145_814_296, '1.5x': 298_970_656,
                   '2.0x': 590_783_000}
TFNET_PARAMS = {'0.5': 1_344_504, '1.0': 1_923_336, '1.5': 2_778_904, '2.0': 3_911_208}
# TFNet's conv/fc kernels only (>= 2-D weights, no biases or BatchNorm): the convention that
# the seed's TFNet "#Params." column rounds (1.3M, 1.9M, 2.7M, 3.8M).
TFNET_KERNEL_PARAMS = {'0.5': 1_320_224, '1.0': 1_883_968, '1.5': 2_724_448, '2.0': 3_841_664}
TFNET_MACS = {'0.5': 42_450_560, '1.0': 134_805_760, '1.5': 278_541_184, '2.0': 473_656_832}

# Seed 001's tables (FLOPs in M, params in M). FLOPs there are conv + fc multiply-accumulates in
# millions rounded up (ShuffleNetV2 0.5x: 40.48 → 41, as the ShuffleNetV2 paper prints it).
SEED_SHUFFLENET = {'0.5x': (41, 1.4, 1.7), '1.0x': (146, 2.3, None), '1.5x': (299, 3.5, 3.9),
                   '2.0x': (591, 7.4, None)}   # (FLOPs, ReLU/ACON params, Meta-ACON params)
SEED_TFNET = {'0.5': (43, 1.3), '1.0': (135, 1.9), '1.5': (279, 2.7), '2.0': (474, 3.8)}


def printed_matches(count: int, millions: float, decimals: int = 1) -> bool:
    """The seed prints counts in millions, rounded or truncated."""
    m = count / 1e6
    scale = 10 ** decimals
    return (math.isclose(round(m, decimals), millions)
            or math.isclose(math.floor(m * scale) / scale, millions))


def conv_dense_macs(model: tf_keras.Model, size: int = 224) -> int:
    """Multiply-accumulates of every Conv2D, DepthwiseConv2D and Dense call for one image.

    Each such layer (nested ones inside activation layers included) records the shape of its
    output during one eager forward pass; MACs = output elements x kernel taps x input
    channels per group (Dense: in x out per row).
    """
    records: List[Tuple[tf_keras.layers.Layer, tf.TensorShape, tf.TensorShape]] = []
    wrapped = []
    kinds = (tf_keras.layers.Conv2D, tf_keras.layers.DepthwiseConv2D, tf_keras.layers.Dense)
    for layer in model.submodules:
        if isinstance(layer, kinds):
            original = layer.call

            def call(inputs, *args, _layer=layer, _original=original, **kwargs):
                out = _original(inputs, *args, **kwargs)
                records.append((_layer, inputs.shape, out.shape))
                return out
            layer.call = call
            wrapped.append(layer)
    try:
        model(tf.zeros([1, size, size, 3]), training=False)
    finally:
        for layer in wrapped:
            del layer.call
    total = 0
    for layer, in_shape, out_shape in records:
        out_elems = int(np.prod(out_shape[1:]))
        if isinstance(layer, tf_keras.layers.DepthwiseConv2D):
            kh, kw = layer.kernel_size
            total += out_elems * kh * kw
        elif isinstance(layer, tf_keras.layers.Conv2D):
            kh, kw = layer.kernel_size
            total += out_elems * kh * kw * int(in_shape[-1]) // layer.groups
        else:
            total += out_elems * int(in_shape[-1])
    return total


def kernel_count(model: tf_keras.Model) -> int:
    """Trainable parameters in tensors of rank >= 2 (conv and dense kernels)."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables if len(v.shape) >= 2))
