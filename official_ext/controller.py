"""Orbit's controller with a schedule that survives restarts, and a guard on non-finite weights.

Orbit's `Controller` counts its intervals from wherever a run (re)starts: resumed at step 100 with
`validation_interval: 150` it evaluates at 250, 400, ...; and it saves a checkpoint at the first
loop end at least `checkpoint_interval` steps after the last one, so restarts shift the
checkpoint steps too. Runs with the same config must evaluate and checkpoint at the same steps,
or their curves and best checkpoints are not comparable. Here:

- training loops end exactly at every multiple of `checkpoint_interval` and of
  `validation_interval` (and at `train_steps`), whatever `steps_per_loop` and the step a run
  resumed at; checkpoints are written at the multiples of `checkpoint_interval` and at the end;
  evaluations run at the multiples of `validation_interval` and at the end;
- an evaluation that was due at the restored step but did not finish before the interruption
  (the checkpoint of step s is written just before the evaluation of step s) runs first;
  `model_dir/eval_state.json` records the last completed evaluation;
- a loss or weight that is not finite stops training with `NonFiniteError` (step range, last good
  checkpoint, usual causes) BEFORE any checkpoint of those weights is written: the latest and
  best checkpoints always hold finite weights;
- each line once: Orbit's `_log` both logs and prints every message, so with absl logging to
  stderr every line appeared twice; here it only logs, and its output dicts fit on one line. Each training loop ends with one line
  giving steps/s and images/s of that loop and the ETA to `train_steps`.
"""
from __future__ import annotations

import datetime
import json
import os
import time
from typing import Optional

from absl import logging
import orbit
from orbit import controller as orbit_controller
import tensorflow as tf

from data import records

EVAL_STATE = 'eval_state.json'
IMAGES_PER_SECOND = 'images_per_second'  # Train summary tag, read by tools/report.py.


class NonFiniteError(RuntimeError):
    """Training produced a NaN/Inf loss or weight; nothing non-finite was checkpointed."""


def all_finite(variables) -> bool:
    """Whether every value of every variable is finite (one fused reduction per variable)."""
    checks = [tf.reduce_all(tf.math.is_finite(v)) for v in variables
              if v.dtype.is_floating]
    return bool(tf.reduce_all(checks).numpy()) if checks else True


def _next_multiple(step: int, interval: int) -> int:
    return (step // interval + 1) * interval


def _log_once(message: str) -> None:
    """Orbit's `_log` without its `print` (absl already writes the line to stderr)."""
    logging.info(message)


logging.ABSLLogger.register_frame_to_skip(__file__, _log_once.__name__)


def _format_once(output, indent=4) -> str:
    """Orbit's output dict on one line, floats to 4 significant digits (Orbit pretty-prints
    each key on its own line)."""
    del indent
    if not isinstance(output, dict):
        return str(output)
    items = []
    for key in sorted(output):
        value = output[key]
        try:
            items.append(f'{key}={float(value):.4g}')
        except (TypeError, ValueError):
            items.append(f'{key}={value}')
    return ', '.join(items)


def progress_line(step: int, train_steps: int, num_steps: int, seconds: float,
                  images_per_step: int) -> str:
    """`train | step 150/450 (33 %) | 15.4 steps/s | 986 images/s | ETA 0:00:19`.

    Rates are those of the loop that just ended (`num_steps` steps in `seconds`), so the first
    loop's include tracing; the ETA counts the training steps left at that rate (evaluations
    and checkpoints add to it).
    """
    rate = num_steps / seconds if seconds > 0 else float('inf')
    left = max(train_steps - step, 0)
    eta = str(datetime.timedelta(seconds=round(left / rate))) if rate > 0 else '?'
    share = f' ({100 * step / train_steps:.0f} %)' if train_steps else ''
    return (f'train | step {step}/{train_steps}{share} | {rate:.1f} steps/s | '
            f'{rate * images_per_step:.0f} images/s | ETA {eta}')


class ActController(orbit.Controller):
    """`orbit.Controller` with restart-proof intervals and the non-finite guard (see module)."""

    def __init__(self, *args, **kwargs):
        orbit_controller._log = _log_once  # pylint: disable=protected-access
        orbit_controller._format_output = _format_once  # pylint: disable=protected-access
        super().__init__(*args, **kwargs)
        self._checkpoint_interval = (self.checkpoint_manager.checkpoint_interval
                                     if self.checkpoint_manager is not None else None)

    # ---------------------------------------------------------------------------- state
    @property
    def _eval_state_path(self) -> Optional[str]:
        if self.checkpoint_manager is None:
            return None
        return os.path.join(self.checkpoint_manager.directory, EVAL_STATE)

    def _last_eval_step(self) -> int:
        path = self._eval_state_path
        if path is None or not tf.io.gfile.exists(path):
            return -1
        try:
            with tf.io.gfile.GFile(path) as f:
                return int(json.load(f)['last_eval_step'])
        except (ValueError, KeyError, TypeError, tf.errors.OpError):
            return -1

    def _record_eval(self, step: int) -> None:
        path = self._eval_state_path
        if path is None or not self.strategy.extended.should_checkpoint:
            return
        records.write_text(path, json.dumps({'last_eval_step': step}) + '\n')

    def _last_checkpoint(self) -> str:
        latest = self.checkpoint_manager.latest_checkpoint if self.checkpoint_manager else None
        return latest or 'none (the run had not reached its first checkpoint)'

    # ---------------------------------------------------------------------------- training
    def _train_n_steps(self, num_steps: int):
        start = int(self.global_step.numpy())
        began = time.perf_counter()
        try:
            super()._train_n_steps(num_steps)
        except RuntimeError as e:
            if 'loss value' not in str(e):
                raise
            self._raise_non_finite(start, num_steps, 'the training loss')
        if not all_finite(self.trainer.model.variables):
            self._raise_non_finite(start, num_steps, 'a model weight')
        self._log_progress(num_steps, time.perf_counter() - began)

    def _log_progress(self, num_steps: int, seconds: float) -> None:
        """The progress line, and `images_per_second` of this loop in the train summaries
        (Orbit's `steps_per_second` counts the time between loops, evaluations included)."""
        config = getattr(self.trainer, 'config', None)
        if config is None:
            return
        images = (config.task.train_data.global_batch_size
                  * getattr(config.trainer, 'accumulation_steps', 1))
        step = int(self.global_step.numpy())
        logging.info('%s', progress_line(step, int(config.trainer.train_steps), num_steps,
                                         seconds, images))
        if self.summary_manager is not None and seconds > 0:
            with self.summary_manager.summary_writer().as_default():
                tf.summary.scalar(IMAGES_PER_SECOND, num_steps * images / seconds, step=step)

    def _raise_non_finite(self, start: int, num_steps: int, what: str) -> None:
        steps = (f'at step {start + 1}' if num_steps == 1 else
                 f'between steps {start + 1} and {start + num_steps}')
        raise NonFiniteError(
            f'{what} became NaN or Inf {steps}; '
            f'training stopped and no checkpoint of these weights was written (last good '
            f'checkpoint: {self._last_checkpoint()}). Usual causes: a learning rate too high '
            f'for the batch (lower trainer.optimizer_config.learning_rate or lengthen the '
            f'warm-up), bad input data (run with --check_data), or float16 overflow (use '
            f'runtime.mixed_precision_dtype: bfloat16 or float32). Use a new --model_dir, or '
            f'fix the config and rerun: the run resumes from that checkpoint.')

    def train(self, steps: int, checkpoint_at_completion: bool = True):
        """Trains to `steps`, ending loops (and saving) at multiples of checkpoint_interval."""
        self._require('trainer', for_method='train')
        current = int(self.global_step.numpy())
        logging.info('train | step: %6d | training until step %d...', current, steps)
        while current < steps:
            end = min(steps, current + self.steps_per_loop)
            if self._checkpoint_interval:
                end = min(end, _next_multiple(current, self._checkpoint_interval))
            self._train_n_steps(end - current)
            current = int(self.global_step.numpy())
            if self._checkpoint_interval and current % self._checkpoint_interval == 0:
                self._save(current)
        if checkpoint_at_completion:
            self._save(current)
        self._sync_on_async_checkpointing()

    def _save(self, step: int) -> None:
        if self.checkpoint_manager is None:
            return
        if self.checkpoint_manager.latest_checkpoint and (
                self.checkpoint_manager.latest_checkpoint.endswith(f'-{step}')):
            return  # Already saved at this step (e.g. the final save after the last loop).
        path = self.checkpoint_manager.save(checkpoint_number=step, check_interval=False,
                                            options=self._checkpoint_options)
        if path:
            logging.info('saved checkpoint to %s.', path)

    def _maybe_save_checkpoint(self, check_interval: bool = True):
        """Orbit's hook (used by its own loops); saves only on the schedule above."""
        step = int(self.global_step.numpy())
        if not check_interval or (self._checkpoint_interval
                                  and step % self._checkpoint_interval == 0):
            self._save(step)
            return True
        return False

    # ---------------------------------------------------------------------------- evaluation
    def evaluate(self, steps: int = -1):
        output = super().evaluate(steps)
        self._record_eval(int(self.global_step.numpy()))
        return output

    def train_and_evaluate(self, train_steps: int, eval_steps: int = -1,
                           eval_interval: Optional[int] = None):
        """Evaluates at every multiple of eval_interval and at train_steps, across restarts."""
        self._require('trainer', for_method='train_and_evaluate')
        self._require('evaluator', for_method='train_and_evaluate')
        output = None
        current = int(self.global_step.numpy())
        interval = eval_interval or max(train_steps, 1)
        due = current > 0 and (current % interval == 0 or current >= train_steps)
        if due and self._last_eval_step() < current:
            logging.info('The evaluation of step %d did not complete before the restart; '
                         'running it now.', current)
            output = self.evaluate(steps=eval_steps)
        while current < train_steps:
            target = min(train_steps, _next_multiple(current, interval))
            self.train(steps=target, checkpoint_at_completion=False)
            output = self.evaluate(steps=eval_steps)
            current = int(self.global_step.numpy())
        self._save(current)
        self._sync_on_async_checkpointing()
        return output
