"""Schedules in epochs: steps, warm-up, decay and intervals from epochs, data size and batch.

Why: Model Garden's schedules are in steps, frozen when an experiment is registered, so a run
with another batch, accumulation or dataset kept ImageNet-at-4096 step counts and learning
rate. Here every derived value follows from

    effective batch = task.train_data.global_batch_size x trainer.accumulation_steps
    steps per epoch = task.train_data.num_examples // effective batch   (drop_last, as the
                      authors' loaders; at least 1)
    peak lr         = trainer.base_learning_rate x effective batch / trainer.base_batch_size

and a key that the user set explicitly (in a --config_file or --params_override: `user_keys`)
is never touched, so explicit values win.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Iterable, Set

INTERVALS = ('steps_per_loop', 'summary_interval', 'checkpoint_interval', 'validation_interval')
_LR = 'trainer.optimizer_config.learning_rate'
_WARMUP = 'trainer.optimizer_config.warmup.linear'
_SCHEDULE_TYPES = {'cosine': 'cosine', 'stepwise': 'stepwise', 'linear': 'polynomial',
                   'exponential': 'exponential'}


def is_free(key: str, user_keys: Iterable[str]) -> bool:
    """Whether `key` may be derived: neither it nor a section above it was set by the user."""
    return not any(key == u or key.startswith(u + '.') for u in user_keys)


def _set(params, key: str, value: Any, user_keys: Set[str], out: Dict[str, Any]) -> None:
    if not is_free(key, user_keys):
        return
    *path, leaf = key.split('.')
    node = params
    for part in path:
        node = getattr(node, part)
    setattr(node, leaf, value)
    out[key] = value


def derive(params, recipe, user_keys: Set[str]) -> Dict[str, Any]:
    """Fills the derived schedule values of `params` (in place) that the user did not set.

    Args:
      params: an unlocked experiment config of `official_ext.configs.experiments`.
      recipe: the `official_ext.recipes.Recipe` the run trains with (its schedule type, decay
        factor and learning-rate ends).
      user_keys: dotted keys set by the user's config files and overrides.

    Returns:
      {dotted key: value} of everything derived, plus 'effective_batch' and 'steps_per_epoch'.
    """
    t, data = params.trainer, params.task.train_data
    out: Dict[str, Any] = {}
    effective = int(data.global_batch_size) * int(t.accumulation_steps)
    examples = int(data.num_examples or 0)
    spe = max(examples // effective, 1) if examples else 0
    out['effective_batch'], out['steps_per_epoch'] = effective, spe
    if spe and t.epochs:
        _set(params, 'trainer.train_steps', int(round(t.epochs * spe)), user_keys, out)
    steps = int(t.train_steps)

    if spe:
        interval = min(spe, steps) if steps > 0 else spe
        loop = interval if is_free('trainer.steps_per_loop', user_keys) else t.steps_per_loop
        interval = max(loop, interval // loop * loop)   # summaries need multiples of the loop
        for name in INTERVALS:
            _set(params, f'trainer.{name}', interval, user_keys, out)
    val = params.task.validation_data
    if getattr(val, 'num_examples', 0):
        _set(params, 'trainer.validation_steps',
             math.ceil(val.num_examples / val.global_batch_size), user_keys, out)

    scale = effective / t.base_batch_size if t.base_batch_size else 1.0
    peak = t.base_learning_rate * scale
    ends = scale if recipe.scale_lr_ends else 1.0
    opt = params.trainer.optimizer_config
    warmup = 0
    if opt.warmup.type == 'linear':
        if spe:
            _set(params, f'{_WARMUP}.warmup_steps', int(round(t.warmup_epochs * spe)),
                 user_keys, out)
        _set(params, f'{_WARMUP}.warmup_learning_rate', recipe.warmup_learning_rate * ends,
             user_keys, out)
        warmup = int(opt.warmup.linear.warmup_steps)

    lr_type = opt.learning_rate.type
    if lr_type != _SCHEDULE_TYPES[recipe.schedule] or not t.base_learning_rate:
        return out   # the user chose another schedule: its fields stay as given
    key = f'{_LR}.{lr_type}'
    if lr_type == 'cosine':
        _set(params, f'{key}.initial_learning_rate', peak, user_keys, out)
        _set(params, f'{key}.offset', warmup, user_keys, out)
        _set(params, f'{key}.decay_steps', max(steps - warmup, 1), user_keys, out)
        initial = opt.learning_rate.cosine.initial_learning_rate
        _set(params, f'{key}.alpha', recipe.min_learning_rate * ends / initial, user_keys, out)
    elif lr_type == 'stepwise':
        epochs = list(t.lr_decay_epochs)
        _set(params, f'{key}.boundaries', [int(round(e * spe)) for e in epochs], user_keys, out)
        factors = list(getattr(recipe, 'lr_decay_factors', ()) or
                       [recipe.lr_decay_rate] * len(epochs))
        if len(factors) != len(epochs):
            raise ValueError(f'trainer.lr_decay_epochs {epochs} needs one factor per epoch; '
                             f'recipe {recipe.name} multiplies by {factors}: give '
                             f'{len(factors)} epochs or set the stepwise values explicitly.')
        values = [peak]
        for factor in factors:
            values.append(values[-1] * factor)
        _set(params, f'{key}.values', values, user_keys, out)
    elif lr_type == 'exponential':
        # x decay_rate every lr_decay_epochs[0] epochs (timm's step scheduler, staircase).
        period = list(t.lr_decay_epochs)[:1] or [1.0]
        _set(params, f'{key}.initial_learning_rate', peak, user_keys, out)
        _set(params, f'{key}.decay_steps', max(int(round(period[0] * spe)), 1), user_keys, out)
    else:
        _set(params, f'{key}.initial_learning_rate', peak, user_keys, out)
        _set(params, f'{key}.decay_steps', max(steps, 1), user_keys, out)
    return out
