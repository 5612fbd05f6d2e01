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

`micro_batch` below is `train_data.global_batch_size`: one optimizer update consumes
`accumulation_steps` such batches (512 x 8 = 4096 for ConvNeXt/HorNet, as in the seed).
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.modeling import optimization
from official.vision.configs import common

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
NO_WEIGHT_DECAY = [
    r'bias', r'beta', r'gamma', r'norm', r'/ln', r'layer_scale', r'position',
    r'/a\d+:', r'/b:', r'/p1:', r'/p2:', r'/p:', r'/alpha:', r'/n:', r'/w:', r'/a:',
]


@dataclasses.dataclass
class TrainerConfig(cfg.TrainerConfig):
    """Model Garden's trainer config plus gradient accumulation and the EMA best checkpoint.

    Attributes:
      accumulation_steps: optimizer updates happen once per this many micro-batches of
        `task.train_data.global_batch_size` each; `train_steps`, the learning-rate schedule and
        EMA count optimizer updates.
      ema_best_checkpoint_export_subdir: folder under model_dir for the best EMA checkpoint.
      ema_best_checkpoint_eval_metric: the metric that picks it (EMA-weight accuracy).
    """
    accumulation_steps: int = 1
    best_checkpoint_export_subdir: str = 'best_ckpt'
    best_checkpoint_eval_metric: str = 'accuracy'
    best_checkpoint_metric_comp: str = 'higher'
    ema_best_checkpoint_export_subdir: str = 'ema_best_ckpt'
    ema_best_checkpoint_eval_metric: str = 'ema_accuracy'


_BaseTaskConfig = type(exp_factory.get_exp_config('act_image_classification').task)


@dataclasses.dataclass
class TaskConfig(_BaseTaskConfig):
    """The backbone project's classification task config, served by this project's task.

    Its data configs carry the input-pipeline switch (`pipeline: timm | model_garden`).
    """
    train_data: data_cfg.DataConfig = dataclasses.field(
        default_factory=lambda: data_cfg.DataConfig(is_training=True))
    validation_data: data_cfg.DataConfig = dataclasses.field(
        default_factory=lambda: data_cfg.DataConfig(is_training=False))


@dataclasses.dataclass
class ExperimentConfig(cfg.ExperimentConfig):
    """An experiment whose trainer section accepts `accumulation_steps`."""
    task: TaskConfig = dataclasses.field(default_factory=TaskConfig)
    trainer: TrainerConfig = dataclasses.field(default_factory=TrainerConfig)


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The numbers that differ between the families' published ImageNet recipes."""
    backbone: str
    model_id: str
    micro_batch: int
    accumulation_steps: int
    learning_rate: float
    epochs: int = 300
    warmup_epochs: int = 20
    min_learning_rate: float = 1e-6
    warmup_learning_rate: float = 1e-6
    weight_decay: float = 0.05
    global_clipnorm: Optional[float] = None
    ema: bool = True


# Drop path is left to the backbone config, whose default (None) is the paper's rate for the
# model_id (ConvNeXt T 0.1 / S 0.4, HorNet 0.2 / 0.4, Swin 0.2 / 0.3, PosMLP 0.1).
RECIPES = {
    # ConvNeXt (Liu et al. 2022): AdamW 4e-3 at 4096 (512 x 8), 20 warm-up epochs.
    'convnext': Recipe('convnext', 'tiny', 512, 8, 4e-3),
    # HorNet (Rao et al. 2022): as ConvNeXt, gradients clipped at global norm 5.
    'hornet': Recipe('hornet', 'tiny', 512, 8, 4e-3, global_clipnorm=5.0),
    # Swin (Liu et al. 2021): AdamW 1e-3 at 1024 (512 x 2), min lr 1e-5, clip 5.
    'swin': Recipe('swin', 'tiny', 512, 2, 1e-3, min_learning_rate=1e-5, global_clipnorm=5.0),
    # PosMLP (seed 004's command): AdamW 2e-3 at 256 x 8 = 2048 (512 x 4).
    'posmlp': Recipe('posmlp', 'tiny', 512, 4, 2e-3),
}


def _steps(examples: int, batch: int) -> int:
    return examples // batch


def transformer_recipe(recipe: Recipe) -> ExperimentConfig:
    """The ConvNeXt/Swin/HorNet/PosMLP ImageNet recipe on a TPU (bfloat16)."""
    effective_batch = recipe.micro_batch * recipe.accumulation_steps
    steps_per_epoch = _steps(IMAGENET_TRAIN_EXAMPLES, effective_batch)
    train_steps = recipe.epochs * steps_per_epoch
    warmup_steps = recipe.warmup_epochs * steps_per_epoch
    eval_batch = 1000  # 50 steps cover the 50,000 validation images exactly.

    config = ExperimentConfig()
    backbone = {'type': recipe.backbone, recipe.backbone: {'model_id': recipe.model_id}}
    ema = ({'average_decay': 0.9999, 'dynamic_decay': True, 'trainable_weights_only': True}
           if recipe.ema else None)
    randaug = common.Augmentation(type='randaug', randaug=common.RandAugment(
        num_layers=2, magnitude=9, magnitude_std=0.5, prob_to_apply=0.5,
        translate_const=100, exclude_ops=['Cutout']))
    config.override({
        'runtime': {'distribution_strategy': 'tpu', 'mixed_precision_dtype': 'bfloat16'},
        'task': {
            'model': {'num_classes': 1000, 'input_size': [224, 224, 3], 'backbone': backbone},
            'losses': {'one_hot': False, 'soft_labels': True, 'label_smoothing': 0.1},
            'train_data': {
                'input_path': IMAGENET_TRAIN_PATH, 'is_training': True, 'pipeline': 'timm',
                'global_batch_size': recipe.micro_batch, 'dtype': 'bfloat16',
                'tf_resize_method': 'bicubic', 'crop_area_range': [0.08, 1.0],
                'aug_type': randaug.as_dict(),
                'random_erasing': {'probability': 0.25},
                'mixup_and_cutmix': {'mixup_alpha': 0.8, 'cutmix_alpha': 1.0, 'prob': 1.0,
                                     'switch_prob': 0.5, 'label_smoothing': 0.1},
            },
            'validation_data': {
                'input_path': IMAGENET_VAL_PATH, 'is_training': False, 'pipeline': 'timm',
                'global_batch_size': eval_batch, 'dtype': 'bfloat16',
                'tf_resize_method': 'bicubic', 'drop_remainder': False,
            },
        },
        'trainer': {
            'accumulation_steps': recipe.accumulation_steps,
            'train_steps': train_steps,
            'steps_per_loop': steps_per_epoch,
            'summary_interval': steps_per_epoch,
            'checkpoint_interval': steps_per_epoch,
            'validation_interval': steps_per_epoch,
            'validation_steps': _steps(IMAGENET_VAL_EXAMPLES, eval_batch),
            'optimizer_config': {
                'optimizer': {'type': 'adamw', 'adamw': {
                    'weight_decay_rate': recipe.weight_decay,
                    'exclude_from_weight_decay': list(NO_WEIGHT_DECAY),
                    'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': 1e-8,
                    'gradient_clip_norm': 0.0,
                    'global_clipnorm': recipe.global_clipnorm}},
                'learning_rate': {'type': 'cosine', 'cosine': {
                    'initial_learning_rate': recipe.learning_rate,
                    'decay_steps': train_steps - warmup_steps,
                    'offset': warmup_steps,
                    'alpha': recipe.min_learning_rate / recipe.learning_rate}},
                'warmup': {'type': 'linear', 'linear': {
                    'warmup_steps': warmup_steps,
                    'warmup_learning_rate': recipe.warmup_learning_rate}},
                'ema': ema,
            },
        },
    })
    return config


def resnet_recipe(model_id: int = 50) -> ExperimentConfig:
    """Model Garden's stock ResNet ImageNet recipe on the act_resnet backbone.

    SGD momentum 0.9, 4096 per update (512 x 8), lr 0.1 per 256 with 5 warm-up epochs and
    steps at 30/60/80 of 90 epochs, L2 1e-4, no EMA and no mixup: the baseline recipe the ACON
    and GoLU papers compare activations under.
    """
    micro_batch, accumulation = 512, 8
    effective_batch = micro_batch * accumulation
    steps_per_epoch = _steps(IMAGENET_TRAIN_EXAMPLES, effective_batch)
    eval_batch = 1000
    base_lr = 0.1 * effective_batch / 256
    config = ExperimentConfig()
    config.override({
        'runtime': {'distribution_strategy': 'tpu', 'mixed_precision_dtype': 'bfloat16'},
        'task': {
            'model': {'num_classes': 1000, 'input_size': [224, 224, 3],
                      'backbone': {'type': 'act_resnet', 'act_resnet': {'model_id': model_id}}},
            'losses': {'l2_weight_decay': 1e-4, 'one_hot': True, 'label_smoothing': 0.0},
            'train_data': {'input_path': IMAGENET_TRAIN_PATH, 'is_training': True,
                           'global_batch_size': micro_batch, 'dtype': 'bfloat16'},
            'validation_data': {'input_path': IMAGENET_VAL_PATH, 'is_training': False,
                                'global_batch_size': eval_batch, 'dtype': 'bfloat16',
                                'drop_remainder': False},
        },
        'trainer': {
            'accumulation_steps': accumulation,
            'train_steps': 90 * steps_per_epoch,
            'steps_per_loop': steps_per_epoch,
            'summary_interval': steps_per_epoch,
            'checkpoint_interval': steps_per_epoch,
            'validation_interval': steps_per_epoch,
            'validation_steps': _steps(IMAGENET_VAL_EXAMPLES, eval_batch),
            'optimizer_config': {
                'optimizer': {'type': 'sgd', 'sgd': {'momentum': 0.9}},
                'learning_rate': {'type': 'stepwise', 'stepwise': {
                    'boundaries': [e * steps_per_epoch for e in (30, 60, 80)],
                    'values': [base_lr * f for f in (1.0, 0.1, 0.01, 0.001)]}},
                'warmup': {'type': 'linear', 'linear': {
                    'warmup_steps': 5 * steps_per_epoch, 'warmup_learning_rate': 0.0}},
            },
        },
    })
    return config


def _register(name: str, factory) -> None:
    exp_factory.register_config_factory(name)(factory)


_register('convnext_imagenet', lambda: transformer_recipe(RECIPES['convnext']))
_register('hornet_imagenet', lambda: transformer_recipe(RECIPES['hornet']))
_register('swin_imagenet', lambda: transformer_recipe(RECIPES['swin']))
_register('posmlp_imagenet', lambda: transformer_recipe(RECIPES['posmlp']))
_register('act_resnet_imagenet', resnet_recipe)
# The seed README's experiment name; its models were ConvNeXt/HorNet/Swin + TPGU, and its
# YAML files choose the backbone, so the name maps to the ConvNeXt recipe.
_register('tf_vision_example_experiment', lambda: transformer_recipe(RECIPES['convnext']))

EXPERIMENTS: List[str] = ['convnext_imagenet', 'hornet_imagenet', 'swin_imagenet',
                          'posmlp_imagenet', 'act_resnet_imagenet',
                          'tf_vision_example_experiment']
