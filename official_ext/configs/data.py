"""The data config with a pipeline switch: Model Garden's stock input or timm's.

Why a switch: the transformer-era papers (ConvNeXt, Swin, HorNet, PosMLP) trained with timm's
data pipeline, which Model Garden's parser does not reproduce (official_ext/timm_input.py); the
stock pipeline stays selectable for the recipes that use it (ResNet) and for comparisons.

    task:
      train_data: {pipeline: timm}        # or model_garden
      validation_data: {pipeline: timm, center_crop_fraction: 0.875}   # timm's crop_pct

With `pipeline: timm` the stock fields keep their meaning where timm has the same knob
(`aug_type.randaug` num_layers/magnitude/magnitude_std/prob_to_apply/exclude_ops,
`random_erasing`, `mixup_and_cutmix`, `crop_area_range`, `aug_rand_hflip`,
`center_crop_fraction` = crop_pct); `timm` holds the rest.
"""
from __future__ import annotations

import dataclasses
from typing import List

from official.modeling import hyperparams
from official.vision.configs import image_classification as mg_ic

PIPELINES = ('model_garden', 'timm')


@dataclasses.dataclass
class TimmData(hyperparams.Config):
    """timm's knobs that Model Garden's data config lacks.

    Attributes:
      increasing: RandAugment's `inc1` op set (PosterizeIncreasing, SolarizeIncreasing, enhance
        factors with a random sign, ...); the four papers all used it.
      magnitude_max: timm's `mmax`, the upper clip of the noisy magnitude.
      crop_aspect_ratio: RandomResizedCrop's aspect range (timm's `ratio`).
      erasing_mode: random erasing fill: pixel (N(0,1) per pixel; the papers), rand, const.
    """
    increasing: bool = True
    magnitude_max: float = 10.0
    crop_aspect_ratio: List[float] = dataclasses.field(default_factory=lambda: [3 / 4, 4 / 3])
    erasing_mode: str = 'pixel'


@dataclasses.dataclass
class DataConfig(mg_ic.DataConfig):
    """Model Garden's classification data config plus `pipeline`, `timm` and `num_examples`.

    Attributes:
      num_examples: images in the split; steps per epoch = num_examples // effective batch for
        training, and validation_steps = ceil(num_examples / global_batch_size) for evaluation
        (0: not used). The recipes default to ImageNet-1k (1,281,167 / 50,000).
      crop_padding: training only, stock pipeline: zero-pad each side by this many pixels and
        crop a random window of the original size (CIFAR's RandomCrop(32, padding=4); needs
        `aug_crop: false`, which it replaces). 0: off.

    CIFAR-10 is read with Model Garden's own tfds keys (no files to convert):

        train_data: {tfds_name: cifar10, tfds_split: train, num_examples: 50000,
                     aug_crop: false, crop_padding: 4}
        validation_data: {tfds_name: cifar10, tfds_split: test, num_examples: 10000,
                          aug_crop: false}

    (`tfds_data_dir` points at a prepared copy where the machine has no internet.)
    """
    num_examples: int = 0
    crop_padding: int = 0
    pipeline: str = 'model_garden'
    timm: TimmData = dataclasses.field(default_factory=TimmData)
