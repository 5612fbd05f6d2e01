"""Every registered activation and its derivative at initialisation, on one sheet.

    python tools/plot_activations.py --out docs/activations.png

Each panel is one name of `layers.names()` built with its default settings (TPGU of order 3),
applied to a constant input x on 16 channels: the curve is the median over the channels and the
band their 10-90 % range (per-channel weights such as TPGU's a_i or ACON's p1/p2 start random);
the derivative is the central difference of the same response (so Meta-ACON's input-dependent β
is differentiated too; some kernels have no forward-mode gradient, e.g. softsign). Exact GELU is drawn dashed in every panel for scale. The layers are seeded
(`--seed`), so the sheet is the same on every run.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

if __package__ in (None, ''):  # `python tools/plot_activations.py` as well as `-m`.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from official_ext import quiet_logs  # pylint: disable=wrong-import-position

quiet_logs.start_tensorflow()

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import tensorflow as tf
import tf_keras

import layers
from official_ext import learned_activations as la
from official_ext import plots

CHANNELS = 16
GRID = np.linspace(-4.0, 4.0, 161, dtype=np.float32)
STEP = np.float32(1e-2)  # Central differences: error ~1e-4, far below a line's width.


def response(name: str, grid: np.ndarray = GRID, channels: int = CHANNELS):
    """(f, df/dx), each [grid, channels], of a new `name` layer on a constant input per channel."""
    layer = layers.get(name)

    def f(points):
        x = tf.constant(np.repeat(points[:, None], channels, axis=1).astype(np.float32))
        return tf.cast(layer(x, training=False), tf.float64).numpy()

    values = f(grid)
    return values, (f(grid + STEP) - f(grid - STEP)) / (2 * STEP)


def sheet(names: Sequence[str], seed: int = 0):
    """The figure: a panel per activation, f solid, f' dotted, GELU dashed."""
    tf_keras.utils.set_random_seed(seed)
    cols = 5
    rows = -(-len(names) // cols)
    fig, axes = plots.subplots(rows, cols, width=3.0 * cols, height=2.5 * rows, sharex=True)
    reference = la.gelu(GRID)
    for ax, name in zip(axes, names):
        f, df = response(name)
        ax.plot(GRID, reference, '--', color='grey', lw=0.8, label='GELU')
        for values, style, label in ((f, '-', 'f(x)'), (df, ':', "f'(x)")):
            low, median, high = np.percentile(values, [10, 50, 90], axis=1)
            line, = ax.plot(GRID, median, style, lw=1.4, label=label)
            if np.any(high - low > 1e-6):
                ax.fill_between(GRID, low, high, alpha=0.25, color=line.get_color())
        ax.set_title(name, fontsize=9)
        ax.set_ylim(-2.5, 4.5)
        ax.grid(alpha=0.3)
    for ax in axes[len(names):]:
        ax.axis('off')
    axes[0].legend(fontsize=7, loc='upper left')
    fig.suptitle('Registered activations at initialisation (median and 10-90 % over 16 '
                 'channels; dotted: derivative)', fontsize=10)
    fig.tight_layout()
    return fig


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='docs/activations.png', help='PNG to write')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random initialisers')
    args = parser.parse_args(argv)
    path = plots.save(sheet(layers.names(), args.seed), args.out, dpi=90)
    print(f'Wrote {path} ({len(layers.names())} activations)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
