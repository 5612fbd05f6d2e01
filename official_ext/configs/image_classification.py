"""The `act_image_classification` experiment: Model Garden's image classification with the
extended backbone one-of.

Why subclasses: the stock `ImageClassificationModel.backbone` is typed as Model Garden's
`Backbone`, which rejects `type: convnext` etc., so the model and task configs are subclassed
with `official_ext.configs.backbones.Backbone`. Model Garden finds a task by the EXACT config
class, so the stock `ImageClassificationTask` (losses, metrics, input pipeline unchanged) is
registered for the subclass here, with one change: its head starts from the family's paper init
(`official_ext.head_init`; `task.model.kernel_initializer: ''` is that default).

    cfg = exp_factory.get_exp_config('act_image_classification')
    cfg.override({'task': {'model': {'backbone': {'type': 'swin', 'swin': {'model_id': 'small'}}}}})
    model = task_factory.get_task(cfg.task).build_model()
"""
from __future__ import annotations

import dataclasses

from official.core import config_definitions as cfg
from official.core import exp_factory
from official.core import task_factory
from official.vision.configs import image_classification as mg_ic
from official_ext import head_init
from official_ext.configs import backbones


@dataclasses.dataclass
class ImageClassificationModel(mg_ic.ImageClassificationModel):
    """Stock classification model config whose backbone is the extended one-of.

    Defaults: ImageNet-1k (1000 classes, 0-based labels), 224×224 input, ConvNeXt-T, and the
    classifier init of the backbone's paper (`kernel_initializer: ''`, see
    `official_ext.head_init`: trunc_normal for ConvNeXt/HorNet/Swin/PosMLP, PyTorch's Linear
    default for act_resnet, the stock random_uniform for Model Garden's own backbones).
    """
    kernel_initializer: str = ''
    num_classes: int = 1000
    input_size: list = dataclasses.field(default_factory=lambda: [224, 224, 3])
    backbone: backbones.Backbone = dataclasses.field(
        default_factory=lambda: backbones.Backbone(type='convnext',
                                                   convnext=backbones.ConvNeXt()))


@dataclasses.dataclass
class ImageClassificationTask(mg_ic.ImageClassificationTask):
    """Stock classification task config with the extended model config."""
    model: ImageClassificationModel = dataclasses.field(default_factory=ImageClassificationModel)


task_factory.register_task_cls(ImageClassificationTask)(head_init.ClassificationTask)


@exp_factory.register_config_factory('act_image_classification')
def act_image_classification() -> cfg.ExperimentConfig:
    """Generic experiment: override `task.model.backbone` to pick any family and activation."""
    return cfg.ExperimentConfig(
        task=ImageClassificationTask(),
        trainer=cfg.TrainerConfig(),
        restrictions=['task.train_data.is_training != None',
                      'task.validation_data.is_training != None'])
