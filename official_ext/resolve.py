"""Resolves a run's recipe and schedule in one place, before the config is locked (issue 10).

Why a re-base: an experiment name (`tf_vision_example_experiment`, `convnext_imagenet`, ...)
only picks the recipe its config starts from; the seed's README runs every YAML under one
name, so a Swin YAML trained with the ConvNeXt recipe. Here the recipe follows the backbone:

1. The user's layers (each --config_file, --tpu, --params_override) are applied to the
   experiment's config once, to learn the backbone and whether `trainer.recipe` was set.
2. The recipe is `trainer.recipe` when the user set it, else the backbone family's
   (`recipes.recipe_for_backbone`).
3. The same layers are applied again on top of that recipe's config, so everything the user
   wrote still wins over the recipe.
4. `schedule.derive` fills train_steps, warm-up, decay steps, intervals and the learning rate
   from epochs, `task.train_data.num_examples` and the effective batch, skipping every key the
   layers set.

Experiments whose trainer has no recipe fields (`act_image_classification`, Model Garden's own)
are returned unchanged.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, List, Optional, Set

from absl import logging
import tensorflow as tf
import yaml

from official.core import exp_factory
from official.modeling import hyperparams

from official_ext import recipes
from official_ext import schedule
from official_ext import validate
from official_ext.configs import experiments as exp


def _flatten(data: Any, prefix: str = '') -> Set[str]:
    if not isinstance(data, dict) or not data:
        return {prefix} if prefix else set()
    keys: Set[str] = set()
    for key, value in data.items():
        keys |= _flatten(value, f'{prefix}.{key}' if prefix else str(key))
    return keys


def user_keys(config_files: Iterable[str] = (), params_override: Optional[str] = None,
              extra: Iterable[dict] = ()) -> Set[str]:
    """Dotted keys set by the user's layers (YAML files, the override string, dicts)."""
    keys: Set[str] = set()
    for path in config_files or ():
        with tf.io.gfile.GFile(path) as f:   # gs:// paths too, as Model Garden reads them
            keys |= _flatten(yaml.load(f, Loader=validate._yaml_loader()) or {})  # pylint: disable=protected-access
    if params_override:
        data, _ = validate._parse_override(params_override)  # pylint: disable=protected-access
        keys |= _flatten(data)
    for data in extra:
        keys |= _flatten(data)
    return keys


def has_recipe(params) -> bool:
    return isinstance(params.trainer, exp.TrainerConfig)


def recipe_name(params, keys: Set[str]) -> Optional[str]:
    """`trainer.recipe` if the user set it (and it is not empty), else the backbone's."""
    if 'trainer.recipe' in keys and params.trainer.recipe:
        return params.trainer.recipe
    backbone = params.task.model.backbone
    settings = backbone.get()
    return recipes.recipe_for_backbone(backbone.type, getattr(settings, 'model_id', None))


def resolve(params, apply_layers: Callable[[Any], Any], keys: Set[str]):
    """The run's config: its recipe's config <- the user's layers <- the derived schedule.

    Args:
      params: the experiment's config with the user's layers applied (step 1 above).
      apply_layers: applies the same layers to another config (returns it).
      keys: the dotted keys the layers set (`user_keys`).

    Returns:
      The resolved, validated config (not locked); `trainer.recipe` names the recipe used.
    """
    if not has_recipe(params):
        return params
    name = recipe_name(params, keys)
    if name is None:   # a backbone without a recipe (Model Garden's own): keep the experiment's
        return _finish(params, recipes.get(params.trainer.recipe), keys)
    recipe = recipes.get(name)
    rebased = apply_layers(recipes.experiment_config(name))
    return _finish(rebased, recipe, keys)


SYNC_BN = 'task.model.norm_activation.use_sync_bn'


def _finish(params, recipe, keys: Set[str]):
    params.trainer.recipe = recipe.name
    if (recipe.sync_bn and schedule.is_free(SYNC_BN, keys)
            and params.runtime.distribution_strategy == 'multi_worker_mirrored'):
        # Synchronized BatchNorm under MultiWorkerMirroredStrategy hung (CPU collectives, two
        # workers: no step in 400 s, 40 s without it): per-worker statistics instead.
        logging.warning('%s: SyncBN is off under multi_worker_mirrored (it hangs there); set '
                        '%s: true to force it.', recipe.name, SYNC_BN)
        params.task.model.norm_activation.use_sync_bn = False
    schedule.derive(params, recipe, keys)
    params.validate()
    return params


def describe(params) -> str:
    """One log line with the recipe and the resolved numbers (written to the run's log)."""
    if not has_recipe(params):
        return f'no recipe ({type(params.trainer).__name__}): the experiment\'s values as given'
    t, data = params.trainer, params.task.train_data
    effective = data.global_batch_size * t.accumulation_steps
    spe = data.num_examples // effective if data.num_examples else 0
    opt = t.optimizer_config
    lr = opt.learning_rate.get()
    peak = getattr(lr, 'initial_learning_rate', None)
    if peak is None and getattr(lr, 'values', None):
        peak = lr.values[0]
    warmup = opt.warmup.linear.warmup_steps if opt.warmup.type == 'linear' else 0
    length = (f'{t.epochs:g} epochs' if spe and t.train_steps == round(t.epochs * spe)
              else f'set explicitly: {t.train_steps / spe:.3g} epochs' if spe else 'explicit')
    return (f'recipe {t.recipe} for backbone {params.task.model.backbone.type}: effective batch '
            f'{effective} = {data.global_batch_size} x {t.accumulation_steps}, '
            f'{data.num_examples} examples -> {spe} steps/epoch; train_steps {t.train_steps} '
            f'({length}), warm-up {warmup} steps, {opt.learning_rate.type} lr peak '
            f'{peak} (base {t.base_learning_rate:g} per {t.base_batch_size}), optimizer '
            f'{opt.optimizer.type}, validation every {t.validation_interval} steps')


def load(experiment: str, config_files: List[str] = (), params_override: Optional[str] = None):
    """The resolved config of an experiment + YAML files + override, as run.py resolves it.

    For tools and tests that do not go through run.py's flags.
    """
    def apply_layers(params):
        for path in config_files:
            params = hyperparams.override_params_dict(params, path, is_strict=True)
        if params_override:
            params = hyperparams.override_params_dict(params, params_override, is_strict=True)
        return params

    params = apply_layers(exp_factory.get_exp_config(experiment))
    return resolve(params, apply_layers, user_keys(config_files, params_override))

