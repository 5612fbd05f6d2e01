"""Trainer that evaluates raw and EMA weights in one evaluation and keeps a best checkpoint each.

Model Garden's `base_trainer.Trainer` swaps the EMA weights in for the whole evaluation, so it
reports only EMA metrics and exports only an EMA best checkpoint; papers report the raw-weight
accuracy too, and which one is better changes during training. This subclass runs one pass with
the raw weights and (when the optimizer keeps an EMA) one with the EMA weights swapped in, returns
`accuracy`, `top_5_accuracy`, `ema_accuracy`, `ema_top_5_accuracy` (and the losses) together, and
keeps `best_ckpt/` on `accuracy` (raw weights) and `ema_best_ckpt/` on `ema_accuracy` (saved
while the EMA weights are swapped in, as Model Garden does, so its `model` holds EMA weights).

It also hands `trainer.accumulation_steps` to the task before the datasets are built, since
the task's input batch and train step both depend on it, and rebuilds the training input at the
step the checkpoint was restored to (see official_ext/stream.py), so a resumed run reads the
batches the interrupted run would have read next.

Best checkpoints are written checkpoint first, then `info.json` atomically (Model Garden writes
the json first, in place: a kill in between left an `info.json` naming a checkpoint that was
never written, and a torn `info.json` stopped every later run of that model_dir).
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Optional

from absl import logging
import numpy as np
import tensorflow as tf

from official.core import base_trainer
from official.core import train_utils
from official.modeling import optimization

from data import records
from official_ext import learned_activations

EMA_PREFIX = 'ema_'


class BestCheckpointExporter(train_utils.BestCheckpointExporter):
    """Model Garden's exporter with crash-safe writes (see the module docstring), a quiet
    comparison (the stock one logs every evaluation's logs and both values at info level) and
    an `info.json` that names what it holds: `best_<metric>` and `best_ckpt_global_step`
    besides the evaluation's metrics."""

    def maybe_export_checkpoint(self, checkpoint, eval_logs, global_step,
                                write_logs=True) -> bool:
        if self._best_ckpt_logs is not None and not self._is_better(eval_logs):
            return False
        self._get_checkpoint_manager(checkpoint).save(checkpoint_number=global_step)
        self._best_ckpt_logs = eval_logs
        self._best_step = int(global_step)
        if write_logs:
            self.export_best_eval_metric(eval_logs, global_step)
        return True

    @property
    def metric(self) -> str:
        return '|'.join(self._metric_name)

    @property
    def best_step(self) -> Optional[int]:
        """The step of the best checkpoint (this run's, or the one info.json records)."""
        step = getattr(self, '_best_step', None)
        if step is None and self._best_ckpt_logs and (
                'best_ckpt_global_step' in self._best_ckpt_logs):
            step = int(self._best_ckpt_logs['best_ckpt_global_step'])
        return step

    def _is_better(self, new_logs) -> bool:
        def value(logs):
            return float(np.asarray(train_utils.get_leaf_nested_dict(logs, self._metric_name)))
        old, new = value(self._best_ckpt_logs), value(new_logs)
        return new > old if self._metric_comp == 'higher' else new < old

    def export_best_eval_metric(self, eval_logs, global_step) -> None:
        logs = train_utils._filter_leaf_nested_dict(  # pylint: disable=protected-access
            eval_logs, lambda x: tf.rank(x) <= 1)
        # Another exporter's `best_*` entry would describe a different checkpoint.
        logs = {k: v for k, v in logs.items() if not k.startswith('best_')}
        logs = train_utils.cast_leaf_nested_dict(logs, lambda x: float(np.asarray(x)))
        logs['best_' + self.metric] = float(np.asarray(
            train_utils.get_leaf_nested_dict(eval_logs, self._metric_name)))
        logs['best_ckpt_global_step'] = int(global_step)
        records.write_text(self.best_ckpt_logs_path, json.dumps(logs, indent=4) + '\n')

    def _maybe_load_best_eval_metric(self):
        try:
            return super()._maybe_load_best_eval_metric()
        except ValueError:
            logging.warning('%s is unreadable; the best checkpoint is chosen anew from the next '
                            'evaluation on.', self.best_ckpt_logs_path)
            return None


def _exporter(export_dir: str, metric: str, comp: str, chief: bool):
    """A best-checkpoint exporter; non-chief workers write into a throw-away folder.

    Multi-worker saving needs every worker to take part (variables sync on read), but only
    the chief may write into model_dir: Model Garden's checkpoint manager does the same.
    """
    if not chief:
        export_dir = tempfile.mkdtemp()
    exporter = BestCheckpointExporter(export_dir, metric, comp)
    return exporter, metric


class ActTrainer(base_trainer.Trainer):
    """Model Garden's trainer with raw + EMA evaluation and two best checkpoints."""

    def __init__(self, config, task, model, optimizer, train: bool = True,
                 evaluate: bool = True, model_dir: Optional[str] = None, **kwargs):
        steps = getattr(config.trainer, 'accumulation_steps', 1)
        if hasattr(task, 'accumulation_steps'):
            task.accumulation_steps = steps
        elif steps != 1:
            raise ValueError(
                f'trainer.accumulation_steps={steps} needs official_ext.task.'
                f'ActClassificationTask, got {type(task).__name__}; use an experiment from '
                'official_ext.configs.experiments.')
        # The train step keys its random draws by the optimizer step: create the counter here,
        # in the strategy's scope, not lazily inside a replica context.
        optimizer.iterations  # pylint: disable=pointless-statement
        kwargs.pop('checkpoint_exporter', None)
        super().__init__(config, task, model, optimizer, train=train, evaluate=evaluate,
                         checkpoint_exporter=None, **kwargs)
        self._raw_exporter = (None, '')
        self._ema_exporter = (None, '')
        self.last_eval_logs = {}
        self._activation_summaries = True
        if model_dir and evaluate:
            chief = self.strategy.extended.should_checkpoint
            t = config.trainer
            comp = t.best_checkpoint_metric_comp
            if t.best_checkpoint_export_subdir and t.best_checkpoint_eval_metric:
                self._raw_exporter = _exporter(
                    os.path.join(model_dir, t.best_checkpoint_export_subdir),
                    t.best_checkpoint_eval_metric, comp, chief)
            ema_dir = getattr(t, 'ema_best_checkpoint_export_subdir', '')
            ema_metric = getattr(t, 'ema_best_checkpoint_eval_metric', '')
            if self.has_ema and ema_dir and ema_metric:
                self._ema_exporter = _exporter(os.path.join(model_dir, ema_dir), ema_metric,
                                               comp, chief)

    def train(self, num_steps):
        """Orbit's train loop; first rebuilds the input at the restored step (exact resume)."""
        step = int(self.global_step.numpy())
        if self._train_iter is None and getattr(self.task, 'start_step', step) != step:
            self.task.start_step = step
            self.train_dataset = self.distribute_dataset(self.task.build_inputs,
                                                         self.config.task.train_data)
        return super().train(num_steps)

    @property
    def has_ema(self) -> bool:
        """Whether the optimizer keeps an exponential moving average of the weights."""
        return isinstance(self.optimizer, optimization.ExponentialMovingAverage)

    def eval_begin(self):
        """Resets metrics; unlike the stock trainer, does NOT swap in the EMA weights."""
        for metric in self.validation_metrics + [self.validation_loss]:
            metric.reset_states()

    def eval_end(self, aggregated_logs=None):
        """Collects this pass's metrics; no swap and no export (done once in `evaluate`)."""
        self.join()
        logs = {metric.name: metric.result() for metric in self.validation_metrics}
        if self.validation_loss.count.numpy() != 0:
            logs[self.validation_loss.name] = self.validation_loss.result()
        if aggregated_logs:
            logs.update(self.task.reduce_aggregated_logs(aggregated_logs,
                                                         global_step=self.global_step))
        return logs

    def evaluate(self, num_steps):
        """One evaluation: raw-weight pass, then EMA-weight pass, metrics side by side."""
        logs = dict(super().evaluate(num_steps))
        step = int(self.global_step.numpy())
        if self.has_ema:
            self.optimizer.swap_weights()
            try:
                ema_logs = super().evaluate(num_steps)
                logs.update({EMA_PREFIX + k: v for k, v in ema_logs.items()})
                self._export(self._ema_exporter, logs, step)
            finally:
                self.optimizer.swap_weights()
        self._export(self._raw_exporter, logs, step)
        self.last_eval_logs = {k: np.asarray(tf.convert_to_tensor(v)) for k, v in logs.items()}
        logging.info('%s', eval_line(step, self.last_eval_logs, self._best_steps()))
        self._write_activation_summaries(step)
        return logs

    def _best_steps(self) -> dict:
        """{metric: step of its best checkpoint} of both exporters (for the evaluation line)."""
        steps = {}
        for exporter, metric in (self._raw_exporter, self._ema_exporter):
            if exporter is not None and exporter.best_step is not None:
                steps[metric] = exporter.best_step
        return steps

    def _write_activation_summaries(self, step: int) -> None:
        """The learned activation parameters and curves to TensorBoard (the eval writer).

        Orbit calls `evaluate` under the evaluation summary writer, so these land beside the
        accuracy curves in model_dir/validation. A failure here never stops training: it is
        logged once and the summaries are skipped from then on.
        """
        if not self._activation_summaries or not tf.summary.should_record_summaries():
            return
        try:
            learned_activations.write_summaries(self.model, step)
        except Exception as e:  # pylint: disable=broad-except
            self._activation_summaries = False
            logging.warning('Activation summaries are off for this run: %s: %s',
                            type(e).__name__, str(e).splitlines()[0][:200] if str(e) else '')

    def _export(self, exporter_and_metric, logs, step: int) -> None:
        exporter, metric = exporter_and_metric
        if exporter is None:
            return
        exporter.maybe_export_checkpoint(self.checkpoint, logs, step)
        best = exporter.best_ckpt_logs
        if best is not None and metric in best:
            logs['best_' + metric] = best[metric]


def eval_line(step: int, logs: dict, best_steps: dict) -> str:
    """One line per evaluation: raw and EMA top-1 side by side, the bests and their steps."""
    def pct(key):
        return f'{100 * float(logs[key]):.2f} %' if key in logs else None
    parts = [f'eval | step {step}']
    for label, prefix in (('raw', ''), ('EMA', EMA_PREFIX)):
        top1 = pct(prefix + 'accuracy')
        if top1 is None:
            continue
        text = f'{label} top-1 {top1}'
        best = pct('best_' + prefix + 'accuracy')
        if best is not None:
            at = best_steps.get(prefix + 'accuracy')
            text += f' (best {best}' + (f' at step {at})' if at is not None else ')')
        parts.append(text)
    for key in ('validation_loss', EMA_PREFIX + 'validation_loss'):
        if key in logs:
            parts.append(f'{key} {float(logs[key]):.4f}')
    return ' | '.join(parts)
