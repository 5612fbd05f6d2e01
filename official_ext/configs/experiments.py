"""Experiment registrations: one ImageNet recipe per backbone family, plus the seed's name.

Everything reuses Model Garden's configs; what is added and why:

- `TrainerConfig` adds `accumulation_steps` (no gradient accumulation exists in Model Garden)
  and the sub-folder / metric of the second best-checkpoint exporter (EMA weights), because the
  stock trainer evaluates only one weight set and keeps one best checkpoint.
- `TaskConfig` is a distinct subclass of the backbone project's task config only so that this
  project's task (`official_ext.task.ActClassificationTask`) can be registered for it: Model
  Garden looks tasks up by the exact config class.
- The recipes follow ../shared/reference/architectures.md and avoid the optimizer traps listed
  in model_garden.md: AdamW's per-replica `gradient_clip_norm` is switched off (0.0) and the
  recipes that clip use `global_clipnorm` (applied after the cross-replica sum), and
  `exclude_from_weight_decay` is a LIST of regexes (a plain string is read per character).

The recipes themselves (one per family, as its authors trained) live in
`official_ext/recipes.py`; `official_ext/resolve.py` picks the one that matches the backbone and
derives the schedule from epochs, the training-set size and the effective batch.
"""
from __future__ import annotations

import dataclasses
from typing import List

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.vision.configs import image_classification as mg_ic

# Importing the backbone project's config module registers `act_image_classification`, whose
# task config carries the extended Backbone one-of (convnext, hornet, swin, act_resnet, posmlp).
from official_ext.configs import image_classification as act_ic  # noqa: F401  (registers)
from official_ext.configs import data as data_cfg

IMAGENET_TRAIN_EXAMPLES = 1281167
IMAGENET_VAL_EXAMPLES = 50000
# Placeholders the user replaces (the seed README's "check input_path in the config file").
IMAGENET_TRAIN_PATH = 'gs://YOUR_BUCKET/imagenet/train-*'
IMAGENET_VAL_PATH = 'gs://YOUR_BUCKET/imagenet/validation-*'

# Weights that are NOT decayed, as regexes searched in variable names. timm and the ConvNeXt,
# Swin and HorNet codes exclude every 1-D parameter: biases, norm scales/offsets, layer scale,
# position-bias tables and the per-channel parameters of trainable activations (decaying TPGU's
# a0 = 1 or ACON's p1/p2 towards 0 would change the activation itself, not regularize it).
#
# The trainable-activation names are whole path components, so they are anchored at both ends;
# the right anchor accepts the replica suffix: under MirroredStrategy (and TPU) the optimizer
# updates each replica's copy, named `.../a0:0` on replica 0 but `.../a0/replica_1:0` on the
# others, and an exclusion that only matched `/a0:` decayed copies 1..N-1 (they drifted apart).
REPLICA_SUFFIX = r'(?:/replica_\d+)?:'
NO_WEIGHT_DECAY = [
    r'bias', r'beta', r'gamma', r'norm', r'/ln', r'layer_scale', r'position',
] + [rf'/{leaf}{REPLICA_SUFFIX}' for leaf in (
    r'a\d+', 'b', 'p1', 'p2', 'p', 'alpha', 'n', 'w', 'a')]


@dataclasses.dataclass
class TrainerConfig(cfg.TrainerConfig):
    """Model Garden's trainer config plus accumulation, the EMA best checkpoint and the recipe.

    The schedule keys below are in epochs so that a run keeps its paper's schedule whatever the
    batch: `official_ext.resolve` turns them into steps (and scales the learning rate with the
    effective batch) before the config is locked. A derived value given explicitly (e.g.
    `train_steps`, `warmup_steps`, `initial_learning_rate`) wins over the derivation.

    Attributes:
      accumulation_steps: optimizer updates happen once per this many micro-batches of
        `task.train_data.global_batch_size` each; `train_steps`, the learning-rate schedule and
        EMA count optimizer updates.
      ema_best_checkpoint_export_subdir: folder under model_dir for the best EMA checkpoint.
      ema_best_checkpoint_eval_metric: the metric that picks it (EMA-weight accuracy).
      recipe: the training recipe (`official_ext.recipes.RECIPES`); '' picks the backbone
        family's (the resolved config records the one used).
      epochs: training length; `train_steps` = epochs x steps per epoch (0: keep train_steps).
      warmup_epochs: linear warm-up length.
      lr_decay_epochs: epochs at which a step schedule multiplies the learning rate by its
        recipe's factor (torchvision: 30, 60).
      base_learning_rate: the peak learning rate at `base_batch_size`; the run's peak is
        base_learning_rate x effective batch / base_batch_size (the papers' linear rule).
      base_batch_size: the batch `base_learning_rate` is quoted for (0: no scaling).
    """
    accumulation_steps: int = 1
    best_checkpoint_export_subdir: str = 'best_ckpt'
    best_checkpoint_eval_metric: str = 'accuracy'
    best_checkpoint_metric_comp: str = 'higher'
    ema_best_checkpoint_export_subdir: str = 'ema_best_ckpt'
    ema_best_checkpoint_eval_metric: str = 'ema_accuracy'
    recipe: str = ''
    epochs: float = 0.0
    warmup_epochs: float = 0.0
    lr_decay_epochs: List[float] = dataclasses.field(default_factory=list)
    base_learning_rate: float = 0.0
    base_batch_size: int = 0


# Model Garden's data config plus `num_examples`, the pipeline switch and timm's settings.
DataConfig = data_cfg.DataConfig


@dataclasses.dataclass
class Losses(mg_ic.Losses):
    """Model Garden's losses plus PyTorch-style weight decay on every parameter.

    Attributes:
      l2_weight_decay_all: coupled L2 on every trainable variable (kernels, biases, norm
        scales/offsets, activation parameters): adds l2_weight_decay_all * sum(v^2) / 2 to the
        loss, i.e. the gradient term of PyTorch SGD's `weight_decay` (torchvision's recipe
        decays every parameter). Model Garden's `l2_weight_decay` only reaches kernels.
    """
    l2_weight_decay_all: float = 0.0


_BaseTaskConfig = type(exp_factory.get_exp_config('act_image_classification').task)


@dataclasses.dataclass
class TaskConfig(_BaseTaskConfig):
    """The backbone project's classification task config, served by this project's task."""
    train_data: DataConfig = dataclasses.field(
        default_factory=lambda: DataConfig(is_training=True))
    validation_data: DataConfig = dataclasses.field(
        default_factory=lambda: DataConfig(is_training=False))
    losses: Losses = dataclasses.field(default_factory=Losses)


@dataclasses.dataclass
class ExperimentConfig(cfg.ExperimentConfig):
    """An experiment whose trainer section accepts `accumulation_steps` and the recipe keys."""
    task: TaskConfig = dataclasses.field(default_factory=TaskConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)


def _register(name: str, recipe: str) -> None:
    def factory() -> ExperimentConfig:
        from official_ext import recipes  # pylint: disable=g-import-not-at-top  (cycle)
        return recipes.experiment_config(recipe)
    exp_factory.register_config_factory(name)(factory)


# Each name starts from its family's recipe; whatever the name, a YAML whose backbone is another
# family's trains with that family's recipe (official_ext/resolve.py re-bases it).
_register('convnext_imagenet', 'convnext')
_register('hornet_imagenet', 'hornet')
_register('swin_imagenet', 'swin')
_register('posmlp_imagenet', 'posmlp_tiny')
_register('act_resnet_imagenet', 'torchvision_resnet')
_register('act_vit_imagenet', 'torchvision_vit_b16')
_register('tiny_vit_imagenet', 'tiny_vit')
_register('cifar_resnet_cifar10', 'golu_cifar_resnet')
_register('cifar_wide_resnet_cifar10', 'golu_cifar_wide_resnet')
_register('densenet_imagenet', 'torchvision_nesterov')
_register('densenet_cifar10', 'golu_cifar_densenet40')
_register('act_efficientnet_imagenet', 'golu_efficientnet')
_register('shufflenet_v2_imagenet', 'shufflenet_v2')
_register('tfnet_imagenet', 'tfnet')
# The seed README's experiment name; its YAML files choose the backbone (and so the recipe).
_register('tf_vision_example_experiment', 'convnext')

EXPERIMENTS: List[str] = ['convnext_imagenet', 'hornet_imagenet', 'swin_imagenet',
                          'posmlp_imagenet', 'act_resnet_imagenet',
                          'tf_vision_example_experiment', 'act_vit_imagenet',
                          'tiny_vit_imagenet', 'cifar_resnet_cifar10',
                          'cifar_wide_resnet_cifar10', 'densenet_imagenet', 'densenet_cifar10',
                          'act_efficientnet_imagenet', 'shufflenet_v2_imagenet',
                          'tfnet_imagenet']
