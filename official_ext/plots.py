"""matplotlib in one place: the headless backend, figure creation and PNG/RGBA output.

Training runs on machines without a display (TPU VMs, CI), so the Agg backend is selected before
pyplot is imported; every figure is closed after it is written so that an evaluation loop does not
accumulate them.
"""
from __future__ import annotations

import os
from typing import Tuple

import numpy as np


def _pyplot():
    import matplotlib  # pylint: disable=g-import-not-at-top
    matplotlib.use('Agg')
    from matplotlib import pyplot  # pylint: disable=g-import-not-at-top
    return pyplot


def subplots(rows: int, cols: int, width: float, height: float, **kwargs) -> Tuple[object, list]:
    """A figure and its axes as a flat list (also for a single panel)."""
    fig, axes = _pyplot().subplots(rows, cols, figsize=(width, height), squeeze=False, **kwargs)
    return fig, list(np.asarray(axes).reshape(-1))


def to_rgba(fig) -> np.ndarray:
    """The rendered figure as an [H, W, 4] uint8 array; closes the figure."""
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba()).copy()
    _pyplot().close(fig)
    return image


def save(fig, path: str, dpi: int = 110) -> str:
    """Writes the figure as PNG to a local path or gs:// (through tf.io.gfile); closes it."""
    import io  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi)
    _pyplot().close(fig)
    parent = os.path.dirname(path)
    if parent:
        tf.io.gfile.makedirs(parent)
    with tf.io.gfile.GFile(path, 'wb') as f:
        f.write(buf.getvalue())
    return path
