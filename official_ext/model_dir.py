"""What a model_dir holds about the runs that wrote it, and the guard that keeps it consistent.

A model_dir is one experiment: its checkpoints, best checkpoints and summaries belong to one
model. Rerunning into it with a config that defines a different model (another TPGU order, a
different backbone width, class count or optimizer) used to restore the old checkpoint into the
new model, continue, and rewrite `params.yaml` to describe the new config: a silent hybrid.

- `check_compatible` compares the new resolved config with the `params.yaml` of the run that
  wrote the checkpoints. A difference in anything that defines the model or the optimizer state
  (`MODEL_KEYS`) is an error listing each key with its old and new value; anything else
  (train_steps, intervals, input paths, evaluation settings, the learning rate) is allowed and
  logged.
- `record_config` never overwrites that record: the first run writes `params.yaml`, every later
  run writes `params-<UTC time>.yaml` beside it. A `params.yaml` from a run that left no
  checkpoint described nothing that was kept; it is renamed to `params-<its time>.yaml` and
  the new run's config becomes `params.yaml`.
- `remove_partial_checkpoints` deletes the `*_temp` folders an interrupted checkpoint write
  leaves behind (TensorFlow writes a checkpoint into `<name>_temp/` and renames it).
"""
from __future__ import annotations

import datetime
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
import tensorflow as tf
import yaml

from official.modeling.hyperparams import params_dict

from data import records

PARAMS_FILE = 'params.yaml'
# Config keys that define the variables a checkpoint holds: all of task.model, the optimizer
# type, and whether an EMA is kept (checked by `_ema_enabled`: its slots are variables too).
MODEL_PREFIX = 'task.model.'
MODEL_KEYS = ('trainer.optimizer_config.optimizer.type',)
# Sub-folders that hold checkpoints (the latest, the best raw/EMA ones and the EMA averages).
CHECKPOINT_FOLDERS = ('', 'best_ckpt', 'ema_best_ckpt', 'ema_checkpoints')
_PARTIAL = re.compile(r'.+-\d+_temp$')


class ModelDirError(ValueError):
    """The model_dir holds a run of another model; the message lists the differences."""


def flatten(tree: Any, prefix: str = '') -> Dict[str, Any]:
    """{'a.b.c': leaf} for a nested dict; lists stay leaves."""
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            out.update(flatten(value, f'{prefix}{key}.'))
        return out
    return {prefix[:-1]: tree}


def _as_yaml_tree(params) -> Dict[str, Any]:
    """The config as params.yaml would read back (same YAML loader, same float parsing)."""
    text = yaml.dump(params.as_dict(), default_flow_style=False)
    return yaml.load(text, Loader=params_dict._LOADER)  # pylint: disable=protected-access


def _read_yaml(path: str) -> Dict[str, Any]:
    with tf.io.gfile.GFile(path) as f:
        return yaml.load(f, Loader=params_dict._LOADER) or {}  # pylint: disable=protected-access


def has_checkpoint(model_dir: str) -> bool:
    return tf.train.latest_checkpoint(model_dir) is not None


def defines_model(key: str) -> bool:
    """Whether a flattened config key is part of what a checkpoint's variables depend on."""
    return key.startswith(MODEL_PREFIX) or key in MODEL_KEYS


class _Unset:
    """A key one config has and the other lacks (e.g. the settings of an unselected one-of)."""

    def __repr__(self) -> str:
        return '(unset)'


UNSET = _Unset()


def differences(old: Dict[str, Any], new: Dict[str, Any]) -> List[Tuple[str, Any, Any]]:
    """(key, old, new) for every flattened key whose value differs, sorted by key."""
    flat_old, flat_new = flatten(old), flatten(new)
    out = []
    for key in sorted(set(flat_old) | set(flat_new)):
        a, b = flat_old.get(key, UNSET), flat_new.get(key, UNSET)
        if a != b:
            out.append((key, a, b))
    return out


def _ema_enabled(tree: Dict[str, Any]) -> bool:
    return bool(tree.get('trainer', {}).get('optimizer_config', {}).get('ema'))


def check_compatible(params, model_dir: str) -> List[Tuple[str, Any, Any]]:
    """Raises ModelDirError when model_dir's checkpoints belong to a different model.

    Returns the allowed differences (also logged) when the checkpoint is compatible; nothing
    when model_dir has no checkpoint yet.
    """
    if not has_checkpoint(model_dir):
        return []
    path = os.path.join(model_dir, PARAMS_FILE)
    if not tf.io.gfile.exists(path):
        raise ModelDirError(
            f'--model_dir={model_dir} holds a checkpoint but no {PARAMS_FILE}, so what '
            'trained it is unknown. Use a new --model_dir (or set task.init_checkpoint to '
            'start from those weights).')
    old = _read_yaml(path)
    new = _as_yaml_tree(params)
    diffs = differences(old, new)
    blocking = [d for d in diffs if defines_model(d[0])]
    # The EMA wrapper adds slot variables: switching it on or off changes the optimizer state.
    if _ema_enabled(old) != _ema_enabled(new):
        blocking.append(('trainer.optimizer_config.ema', _ema_enabled(old), _ema_enabled(new)))
    if blocking:
        lines = '; '.join(f'{k}: {a!r} -> {b!r}' for k, a, b in blocking)
        raise ModelDirError(
            f'--model_dir={model_dir} holds checkpoints of a different model or optimizer '
            f'(recorded in {PARAMS_FILE}); differing keys: {lines}. Use a new --model_dir, '
            'or set task.init_checkpoint to start a new run from those weights.')
    for key, a, b in diffs:
        logging.info('Resuming %s with a changed setting: %s: %r -> %r', model_dir, key, a, b)
    return diffs


def recorded_seed(model_dir: str) -> Optional[int]:
    """The training-input seed recorded in model_dir's params.yaml (None if absent)."""
    path = os.path.join(model_dir, PARAMS_FILE)
    if not model_dir or not tf.io.gfile.exists(path):
        return None
    seed = flatten(_read_yaml(path)).get('task.train_data.seed')
    return None if seed is None else int(seed)


def _utc_stamp(when: Optional[datetime.datetime] = None) -> str:
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.strftime('%Y%m%dT%H%M%S.%fZ')


def record_config(params, model_dir: str) -> str:
    """Writes this run's resolved config without overwriting any earlier record; returns path."""
    tf.io.gfile.makedirs(model_dir)
    text = yaml.dump(params.as_dict(), default_flow_style=False)
    first = os.path.join(model_dir, PARAMS_FILE)
    if tf.io.gfile.exists(first) and not has_checkpoint(model_dir):
        # That run kept nothing; its record moves aside and this run's becomes params.yaml.
        mtime = tf.io.gfile.stat(first).mtime_nsec / 1e9
        stamp = _utc_stamp(datetime.datetime.fromtimestamp(mtime, datetime.timezone.utc))
        tf.io.gfile.rename(first, os.path.join(model_dir, f'params-{stamp}.yaml'),
                           overwrite=False)
    path = first if not tf.io.gfile.exists(first) else os.path.join(
        model_dir, f'params-{_utc_stamp()}.yaml')
    records.write_text(path, text)
    return path


def remove_partial_checkpoints(model_dir: str) -> List[str]:
    """Deletes the `<name>-<step>_temp` folders of interrupted checkpoint writes; returns them."""
    removed = []
    for sub in CHECKPOINT_FOLDERS:
        folder = os.path.join(model_dir, sub) if sub else model_dir
        if not tf.io.gfile.isdir(folder):
            continue
        for name in tf.io.gfile.listdir(folder):
            name = name.rstrip('/')
            path = os.path.join(folder, name)
            if _PARTIAL.match(name) and tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
                removed.append(path)
    for path in removed:
        logging.info('Removed %s, left by an interrupted checkpoint write.', path)
    return removed
