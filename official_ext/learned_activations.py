"""What a trained backbone's activations learned: their parameters and curves, per stage.

Used at every evaluation (TensorBoard scalars, histograms and one curve image per stage, written
by `official_ext.trainer.ActTrainer`), by `tools/report.py` (curves from each run's best
checkpoint) and by `tools/plot_activations.py` (every activation at initialisation).

Stages are read from the variable names the backbones give their blocks (`stage{N}_block{b}`,
see `models/`); activation layers outside a `stage{N}` scope (a future backbone with other
names) are grouped under stage 0 instead of being left out.

A curve is the layer applied to a constant input x on every channel (a [grid, channels] batch),
so per-channel weights give one curve per channel, summarised by the median and the 10-90 %
band over the channels of every block of the stage. Meta-ACON's β depends on its input: its curve
is the response to the constant input x (its generator sees that vector).
"""
from __future__ import annotations

import collections
import math
import re
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tf_keras

from layers.base import ActivationLayer

_STAGE = re.compile(r'stage(\d+)')
GRID = np.linspace(-4.0, 4.0, 161, dtype=np.float32)
BAND = (10.0, 90.0)


def stage_of(layer: ActivationLayer) -> int:
    """The 1-based stage of an activation layer from its weights' (or its own) name; 0 if none."""
    names = [w.name for w in layer.weights] + [layer.name]
    for name in names:
        match = _STAGE.search(name)
        if match:
            return int(match.group(1))
    return 0


def by_stage(model: tf.Module) -> Dict[int, List[ActivationLayer]]:
    """Every built activation layer of `model` grouped by stage, stages in order."""
    groups = collections.defaultdict(list)
    for layer in model.submodules:
        if isinstance(layer, ActivationLayer) and layer.built:
            groups[stage_of(layer)].append(layer)
    return dict(sorted(groups.items()))


def own_parameters(layer: ActivationLayer) -> Dict[str, np.ndarray]:
    """The layer's own trainable weights by short name (a0, b, p1, beta, alpha, ...).

    Weights of nested sublayers (Meta-ACON's generator Dense/BN) are left out: they are not
    parameters of the activation's formula.
    """
    out = {}
    for weight in layer.trainable_weights:
        parts = weight.name.split(':')[0].split('/')
        if len(parts) >= 2 and parts[-2] == layer.name:
            out[parts[-1]] = np.asarray(weight.numpy(), np.float32).reshape(-1)
    return out


def stage_parameters(model: tf.Module) -> Dict[int, Dict[str, np.ndarray]]:
    """{stage: {parameter: values of every block of the stage, concatenated}}."""
    stages = {}
    for stage, acts in by_stage(model).items():
        values = collections.defaultdict(list)
        for layer in acts:
            for name, value in own_parameters(layer).items():
                values[name].append(value)
        if values:
            stages[stage] = {k: np.concatenate(v) for k, v in sorted(values.items())}
    return stages


def layer_curve(layer: tf_keras.layers.Layer, grid: np.ndarray = GRID) -> np.ndarray:
    """[grid, channels]: the layer on a constant input x per channel, in inference mode."""
    channels = int(tf.TensorShape(layer._build_input_shape)[-1])  # pylint: disable=protected-access
    x = np.repeat(grid[:, None], channels, axis=1)
    y = layer(tf.constant(x), training=False)
    return np.asarray(tf.cast(y, tf.float32).numpy())


def stage_curves(model: tf.Module, grid: np.ndarray = GRID
                 ) -> Dict[int, Tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """{stage: (median, 10th percentile, 90th percentile)} over the stage's channels."""
    out = {}
    for stage, acts in by_stage(model).items():
        ys = np.concatenate([layer_curve(layer, grid) for layer in acts], axis=1)
        low, high = np.percentile(ys, BAND, axis=1)
        out[stage] = (np.median(ys, axis=1), low, high)
    return out


def gelu(x: np.ndarray) -> np.ndarray:
    """Exact GELU, the reference curve drawn beside every learned one."""
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def curve_figure(curves: Dict[int, Tuple[np.ndarray, np.ndarray, np.ndarray]],
                 title: str = '', grid: np.ndarray = GRID, stages: Optional[List[int]] = None):
    """A matplotlib figure: one panel per stage, median and 10-90 % band beside GELU."""
    from official_ext import plots  # pylint: disable=g-import-not-at-top
    stages = stages or list(curves)
    fig, axes = plots.subplots(1, len(stages), width=3.2 * len(stages), height=3.0)
    for ax, stage in zip(axes, stages):
        median, low, high = curves[stage]
        ax.plot(grid, gelu(grid), '--', color='grey', lw=1, label='GELU')
        ax.fill_between(grid, low, high, alpha=0.3, label='10-90 % of channels')
        ax.plot(grid, median, lw=1.5, label='median')
        ax.set_title(f'stage {stage}' if stage else 'all stages')
        ax.set_xlabel('x')
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def stage_image(curve: Tuple[np.ndarray, np.ndarray, np.ndarray], stage: int,
                grid: np.ndarray = GRID) -> np.ndarray:
    """One stage's curve panel as a [1, H, W, 4] uint8 image (for tf.summary.image)."""
    from official_ext import plots  # pylint: disable=g-import-not-at-top
    fig = curve_figure({stage: curve}, grid=grid)
    return plots.to_rgba(fig)[None]


def write_summaries(model: tf.Module, step: int) -> List[str]:
    """Writes the activation parameters and curves of `model` to the default summary writer.

    Tags: `activation/stage{N}/{param}` (mean over channels and blocks), a histogram
    `activation/stage{N}/{param}/values` where a parameter has more than one value, and the
    image `activation/stage{N}/curve`. Returns the tags written.
    """
    tags = []
    for stage, params in stage_parameters(model).items():
        for name, values in params.items():
            tag = f'activation/stage{stage}/{name}'
            tf.summary.scalar(tag, float(np.mean(values)), step=step)
            tags.append(tag)
            if values.size > 1:
                tf.summary.histogram(tag + '/values', values, step=step)
                tags.append(tag + '/values')
    for stage, curve in stage_curves(model).items():
        tag = f'activation/stage{stage}/curve'
        tf.summary.image(tag, stage_image(curve, stage), step=step)
        tags.append(tag)
    return tags
