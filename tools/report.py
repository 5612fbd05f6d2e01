"""Compare runs: one table (Markdown and CSV) and PNG plots from their model_dirs.

    python -m tools.report /tmp/act_demo/convnext_tpgu gs://bucket/runs/convnext_tiny_tpgu_7_7_7_7 \
        --out /tmp/act_report

Writes to --out: `runs.md` and `runs.csv` (a row per run: experiment, backbone, activation and
its settings, trainable parameters, GFLOPs, best raw and EMA top-1 with their steps, final top-1,
images/s, wall time, status), `accuracy.png` (raw and EMA validation top-1 against step, all runs
on shared axes), `loss.png` (training and validation loss against step) and
`activations.png` (each run's learned activation per stage, from its best checkpoint: EMA when
there is one, else raw, else the latest checkpoint).

Everything is read from what run.py writes into model_dir: `params.yaml`, `model_summary.txt`,
the TensorBoard event files of `train/` and `validation/`, the best checkpoints' `info.json`.
Runs still training work too (status `running`, the event files read up to their last complete
record); any path tf.io.gfile reads (local, gs://) is accepted.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import sys
from typing import Dict, List, Optional, Sequence, Tuple

if __package__ in (None, ''):  # `python tools/report.py` as well as `python -m tools.report`.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from official_ext import quiet_logs  # pylint: disable=wrong-import-position

quiet_logs.start_tensorflow()

# pylint: disable=g-import-not-at-top,wrong-import-position
import numpy as np
import tensorflow as tf
import yaml

Series = Dict[str, List[Tuple[int, float, float]]]  # tag -> [(step, value, wall time)]

COLUMNS = ('run', 'experiment', 'backbone', 'activation', 'settings', 'trainable_params',
           'gflops', 'best_top1', 'best_top1_step', 'best_ema_top1', 'best_ema_top1_step',
           'final_top1', 'final_ema_top1', 'final_step', 'train_steps', 'images_per_s',
           'wall_time_s', 'status')
HEADERS = ('run', 'experiment', 'backbone', 'activation', 'settings', 'params (M)', 'GFLOPs',
           'best raw top-1 (step)', 'best EMA top-1 (step)', 'final top-1 raw / EMA (step)',
           'images/s', 'wall time', 'status')


class ReportError(ValueError):
    """A run directory the report cannot read; printed as one line."""


# ------------------------------------------------------------------------------ reading
def read_events(folder: str) -> Series:
    """Every scalar of the event files in `folder`, by tag; a torn last record ends a file."""
    series: Series = {}
    for path in sorted(tf.io.gfile.glob(os.path.join(folder, 'events.out.tfevents.*'))):
        try:
            for event in tf.compat.v1.train.summary_iterator(path):
                for value in event.summary.value:
                    if value.metadata.plugin_data.plugin_name not in ('scalars', ''):
                        continue
                    if value.HasField('tensor'):
                        number = tf.make_ndarray(value.tensor)
                        if np.ndim(number) != 0:
                            continue
                    else:
                        number = value.simple_value
                    series.setdefault(value.tag, []).append(
                        (int(event.step), float(number), float(event.wall_time)))
        except tf.errors.DataLossError:
            continue  # A run still writing this file: keep what was complete.
    for values in series.values():
        values.sort()
    return series


def read_yaml(path: str) -> dict:
    """params.yaml with Model Garden's loader (it writes tuples and its float forms)."""
    from official.modeling.hyperparams import params_dict
    with tf.io.gfile.GFile(path) as f:
        return yaml.load(f, Loader=params_dict._LOADER) or {}  # pylint: disable=protected-access


def read_summary(run_dir: str) -> Dict[str, str]:
    """model_summary.txt as {key: value text}."""
    path = os.path.join(run_dir, 'model_summary.txt')
    if not tf.io.gfile.exists(path):
        return {}
    out = {}
    with tf.io.gfile.GFile(path) as f:
        for line in f:
            key, _, value = line.partition(':')
            out[key.strip()] = value.strip()
    return out


def activation_of(params: dict) -> Tuple[str, str]:
    """(activation name, its settings as `k=v` text) from params.yaml's backbone."""
    backbone = params.get('task', {}).get('model', {}).get('backbone', {})
    inner = backbone.get(backbone.get('type') or '', {}) or {}
    activation = inner.get('activation') or {}
    name = activation.get('type') or '-'
    settings = activation.get(name) or {}
    if name == 'tpgu' and settings.get('orders'):
        settings = {k: v for k, v in settings.items() if k != 'order'}
    text = ', '.join(f'{k}={v}' for k, v in settings.items())
    return name, text


def backbone_of(params: dict) -> str:
    backbone = params.get('task', {}).get('model', {}).get('backbone', {})
    kind = backbone.get('type') or '-'
    inner = backbone.get(kind, {}) or {}
    if inner.get('dims'):
        return f"{kind} dims={inner['dims']} depths={inner.get('depths')}"
    return f"{kind}-{inner['model_id']}" if inner.get('model_id') is not None else kind


def _best(values: List[Tuple[int, float, float]]) -> Tuple[Optional[float], Optional[int]]:
    if not values:
        return None, None
    step, value, _ = max(values, key=lambda v: (v[1], -v[0]))  # Earliest step of the best.
    return value, step


@dataclasses.dataclass
class Run:
    """What the report shows of one model_dir."""
    path: str
    row: dict
    train: Series
    validation: Series
    params: dict


def load_run(run_dir: str) -> Run:
    """Reads one run directory (see the module docstring for what is read)."""
    run_dir = run_dir.rstrip('/')
    params_path = os.path.join(run_dir, 'params.yaml')
    if not tf.io.gfile.exists(params_path):
        raise ReportError(f'{run_dir} has no params.yaml: pass the --model_dir of a run.py run.')
    params = read_yaml(params_path)
    summary = read_summary(run_dir)
    train = read_events(os.path.join(run_dir, 'train'))
    validation = read_events(os.path.join(run_dir, 'validation'))
    trainer = params.get('trainer', {})
    data = params.get('task', {}).get('train_data', {})
    batch = int(data.get('global_batch_size') or 0) * int(trainer.get('accumulation_steps') or 1)
    train_steps = int(trainer.get('train_steps') or 0)

    best, best_step = _best(validation.get('accuracy', []))
    best_ema, best_ema_step = _best(validation.get('ema_accuracy', []))
    final = validation.get('accuracy', [])[-1:] or [(None, None, None)]
    final_ema = validation.get('ema_accuracy', [])[-1:] or [(None, None, None)]
    # Our controller's per-loop rate; older runs: Orbit's steps/s (evaluation time included).
    rates = [v for _, v, _ in train.get('images_per_second', [])]
    per_step = 1 if rates else batch
    rates = rates or [v for _, v, _ in train.get('steps_per_second', [])]
    # The first loop's rate includes tracing and compilation.
    rate = float(np.median(rates[1:] if len(rates) > 1 else rates)) if rates else None
    times = [t for series in (train, validation) for values in series.values()
             for _, _, t in values]
    last_step = max([s for series in (train, validation) for values in series.values()
                     for s, _, _ in values] or [0])
    name, settings = activation_of(params)
    gflops = summary.get('flops_G', '').split(' ')[0]
    row = {
        'run': os.path.basename(run_dir),
        'experiment': summary.get('experiment') or '-',
        'backbone': backbone_of(params),
        'activation': name,
        'settings': settings,
        'trainable_params': int(summary['trainable_params'].split()[0])
                            if summary.get('trainable_params') else None,
        'gflops': float(gflops) if gflops not in ('', 'unknown') else None,
        'best_top1': best, 'best_top1_step': best_step,
        'best_ema_top1': best_ema, 'best_ema_top1_step': best_ema_step,
        'final_top1': final[0][1], 'final_ema_top1': final_ema[0][1],
        'final_step': final[0][0] if final[0][0] is not None else final_ema[0][0],
        'train_steps': train_steps,
        'images_per_s': rate * per_step if rate is not None and per_step else None,
        'wall_time_s': (max(times) - min(times)) if times else None,
        'status': 'finished' if train_steps and last_step >= train_steps
                  else f'running (step {last_step}/{train_steps})',
    }
    return Run(run_dir, row, train, validation, params)


# ------------------------------------------------------------------------------ table
def _pct(value) -> str:
    return '-' if value is None else f'{100 * value:.2f}'


def _with_step(value, step) -> str:
    return '-' if value is None else f'{_pct(value)} ({step})'


def _duration(seconds) -> str:
    if seconds is None:
        return '-'
    seconds = int(round(seconds))
    return f'{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}'


def markdown(rows: Sequence[dict]) -> str:
    """The table as Markdown (top-1 in %)."""
    lines = ['| ' + ' | '.join(HEADERS) + ' |', '|' + '---|' * len(HEADERS)]
    for r in rows:
        cells = [r['run'], r['experiment'], r['backbone'], r['activation'], r['settings'] or '-',
                 '-' if r['trainable_params'] is None else f"{r['trainable_params'] / 1e6:.2f}",
                 '-' if r['gflops'] is None else f"{r['gflops']:.4g}",
                 _with_step(r['best_top1'], r['best_top1_step']),
                 _with_step(r['best_ema_top1'], r['best_ema_top1_step']),
                 f"{_pct(r['final_top1'])} / {_pct(r['final_ema_top1'])} ({r['final_step']})",
                 '-' if r['images_per_s'] is None else f"{r['images_per_s']:.0f}",
                 _duration(r['wall_time_s']), r['status']]
        lines.append('| ' + ' | '.join(str(c).replace('|', '/') for c in cells) + ' |')
    return '\n'.join(lines) + '\n'


def csv_text(rows: Sequence[dict]) -> str:
    """The table as CSV with raw numbers (top-1 as fractions, seconds)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator='\n')
    writer.writeheader()
    for r in rows:
        writer.writerow({k: '' if r[k] is None else r[k] for k in COLUMNS})
    return buf.getvalue()


# ------------------------------------------------------------------------------ plots
def plot_curves(runs: Sequence[Run], out_dir: str) -> List[str]:
    """accuracy.png and loss.png: every run on shared axes."""
    from official_ext import plots
    written = []
    panels = [('accuracy.png', [('validation', 'accuracy', 'raw top-1'),
                                ('validation', 'ema_accuracy', 'EMA top-1')]),
              ('loss.png', [('train', 'training_loss', 'training loss'),
                            ('validation', 'validation_loss', 'validation loss (raw)')])]
    for filename, series in panels:
        fig, axes = plots.subplots(1, len(series), width=5.5 * len(series), height=4.0,
                                   sharex=True, sharey=True)
        for ax, (split, tag, title) in zip(axes, series):
            for run in runs:
                values = getattr(run, split).get(tag, [])
                if values:
                    steps, ys, _ = zip(*values)
                    ax.plot(steps, ys, marker='.' if len(values) < 30 else None,
                            label=run.row['run'])
            ax.set_title(title)
            ax.set_xlabel('step')
            ax.grid(alpha=0.3)
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        written.append(plots.save(fig, os.path.join(out_dir, filename)))
    return written


def restore_best(run: Run):
    """(model with the best checkpoint's weights, which checkpoint) or (None, reason)."""
    from official.core import exp_factory
    from official.core import task_factory
    from official.modeling import hyperparams
    from official_ext import registry_imports  # noqa: F401
    experiment = run.row['experiment'] if run.row['experiment'] != '-' else 'act_image_classification'
    config = exp_factory.get_exp_config(experiment)
    config = hyperparams.override_params_dict(
        config, {'task': {'model': run.params['task']['model']}}, is_strict=True)
    model = task_factory.get_task(config.task).build_model()
    for label, folder in (('EMA best', 'ema_best_ckpt'), ('raw best', 'best_ckpt'),
                          ('latest', '')):
        path = tf.train.latest_checkpoint(os.path.join(run.path, folder) if folder else run.path)
        if path:
            tf.train.Checkpoint(model=model).read(path).expect_partial()
            return model, f'{label}, step {path.rsplit("-", 1)[-1]}'
    return None, 'no checkpoint yet'


def plot_activations(runs: Sequence[Run], out_dir: str) -> Optional[str]:
    """activations.png: a row per run, a panel per stage (median, 10-90 % band, GELU)."""
    from official_ext import learned_activations as la
    from official_ext import plots
    rows = []
    for run in runs:
        model, which = restore_best(run)
        curves = la.stage_curves(model) if model is not None else {}
        if curves:
            rows.append((run.row['run'], which, curves))
    if not rows:
        return None
    cols = max(len(c) for _, _, c in rows)
    fig, axes = plots.subplots(len(rows), cols, width=3.0 * cols, height=2.6 * len(rows),
                               sharex=True)
    grid = la.GRID
    reference = la.gelu(grid)
    for r, (name, which, curves) in enumerate(rows):
        for c in range(cols):
            ax = axes[r * cols + c]
            if c >= len(curves):
                ax.axis('off')
                continue
            stage = list(curves)[c]
            median, low, high = curves[stage]
            ax.plot(grid, reference, '--', color='grey', lw=1, label='GELU')
            ax.fill_between(grid, low, high, alpha=0.3, label='10-90 %')
            ax.plot(grid, median, lw=1.5, label='median')
            ax.set_title(f'{name}: ' + (f'stage {stage}' if stage else 'outside stages')
                         + (f'\n({which})' if c == 0 else ''), fontsize=8)
            ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return plots.save(fig, os.path.join(out_dir, 'activations.png'))


# ------------------------------------------------------------------------------ main
def report(run_dirs: Sequence[str], out_dir: str, curves: bool = True) -> Dict[str, str]:
    """Writes the table and the plots; returns {name: path} of what was written."""
    runs = [load_run(d) for d in run_dirs]
    names = [r.row['run'] for r in runs]
    for i, name in enumerate(names):  # Same basenames (runs in different buckets): qualify.
        if names.count(name) > 1:
            runs[i].row['run'] = runs[i].path
    rows = [r.row for r in runs]
    tf.io.gfile.makedirs(out_dir)
    written = {}
    for filename, text in (('runs.md', markdown(rows)), ('runs.csv', csv_text(rows))):
        path = os.path.join(out_dir, filename)
        with tf.io.gfile.GFile(path, 'w') as f:
            f.write(text)
        written[filename] = path
    for path in plot_curves(runs, out_dir):
        written[os.path.basename(path)] = path
    if curves:
        path = plot_activations(runs, out_dir)
        if path:
            written['activations.png'] = path
    return written


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('run_dirs', nargs='+', metavar='RUN_DIR',
                        help='model_dir of a run.py run (local or gs://)')
    parser.add_argument('--out', required=True, help='folder for runs.md, runs.csv and PNGs')
    parser.add_argument('--no_activations', action='store_true',
                        help='skip activations.png (it builds each model and reads its '
                             'best checkpoint)')
    args = parser.parse_args(argv)
    quiet_logs.python_filters()
    try:
        written = report(args.run_dirs, args.out, curves=not args.no_activations)
    except ReportError as e:
        print(f'report.py: error: {e}', file=sys.stderr)
        return 2
    with tf.io.gfile.GFile(written['runs.md']) as f:
        print(f.read(), end='')
    print('Wrote ' + ', '.join(sorted(written.values())))
    return 0


if __name__ == '__main__':
    sys.exit(main())
