"""Layout changes from PyTorch tensors to Keras variables (channels-last, [in, out] kernels).

Each function takes the PyTorch array and returns the array in the Keras variable's layout.
"""
from __future__ import annotations

from typing import Callable

import numpy as np


def identity(w: np.ndarray) -> np.ndarray:
    return w


def vector(w: np.ndarray) -> np.ndarray:
    """[1, C, 1, 1] ACON parameters, [1, N, 1] PosMLP token bias → [C] / [N]."""
    return w.reshape(-1)


def conv(w: np.ndarray) -> np.ndarray:
    """Conv2d [out, in, kh, kw] → Conv2D [kh, kw, in, out]."""
    return w.transpose(2, 3, 1, 0)


def _depthwise(w: np.ndarray, multiplier: int) -> np.ndarray:
    out_channels, _, kh, kw = w.shape
    return w.reshape(out_channels // multiplier, multiplier, kh, kw).transpose(2, 3, 0, 1)


def depthwise(w: np.ndarray) -> np.ndarray:
    """Depthwise Conv2d [C, 1, kh, kw] (groups = C) → DepthwiseConv2D [kh, kw, C, 1]."""
    return _depthwise(w, 1)


def depthwise_x2(w: np.ndarray) -> np.ndarray:
    """Grouped Conv2d(C → 2C, groups = C) [2C, 1, k, k] → DepthwiseConv2D [k, k, C, 2].

    Output channel o of the grouped conv comes from input o // 2, as channel g·2 + j of
    `DepthwiseConv2D(depth_multiplier=2)`.
    """
    return _depthwise(w, 2)


def linear(w: np.ndarray) -> np.ndarray:
    """Linear [out, in] → Dense [in, out]."""
    return w.T


def conv1x1_as_dense(w: np.ndarray) -> np.ndarray:
    """1×1 Conv2d [out, in, 1, 1] applied to a pooled vector → Dense [in, out]."""
    return w.reshape(w.shape[0], w.shape[1]).T


Transform = Callable[[np.ndarray], np.ndarray]
