"""The ImageNet training recipes, one per family, as their authors trained (issue 10).

Each `Recipe` holds the numbers of the authors' published training code (the source file is
named in `source`; docs/recipes.md compares every item with ours). `experiment_config(name)`
turns one into a complete experiment config at its default batch; `official_ext.resolve`
re-derives the schedule for the batch, accumulation and dataset size a run actually uses.

Batches: `micro_batch` x `accumulation_steps` is the authors' effective batch where a TPU
v3-8 holds it (ConvNeXt/HorNet 4096, Swin 1024, the ResNets 256, torchvision's ViTs 4096,
TinyViT 1024, the CIFAR-10 ViT-Ti 32, ShuffleNetV2/TFNet 1024). Learning rates are quoted per
`base_batch_size` and scale linearly with the effective batch (the rule each paper states:
ConvNeXt/HorNet 4e-3 per 4096, Swin 5e-4 per 512, ResNets 0.1 per 256, ShuffleNetV2/TFNet 0.5
per 1024; timm's sqrt rule of the ViT-Ti command is applied once, at its batch of 32).
"""
from __future__ import annotations

import dataclasses
from typing import Dict, Optional, Tuple

from official.vision.configs import common

from official_ext import schedule
from official_ext import validate
from official_ext.configs import experiments as exp

EVAL_BATCH = 1000  # 50 steps cover ImageNet's 50,000 validation images exactly (CIFAR: 10).

# Where a recipe's data comes from: ImageNet-1k TFRecords (paths the user sets), or CIFAR-10
# through tfds (Model Garden's tfds_name / tfds_split keys; official_ext/inputs.TfdsDecoder keeps
# its pixels exact). The test split is CIFAR's evaluation set, as in the authors' code.
DATASETS: Dict[str, dict] = {
    'imagenet': {
        'num_classes': 1000,
        'train': {'input_path': exp.IMAGENET_TRAIN_PATH,
                  'num_examples': exp.IMAGENET_TRAIN_EXAMPLES},
        'validation': {'input_path': exp.IMAGENET_VAL_PATH,
                       'num_examples': exp.IMAGENET_VAL_EXAMPLES}},
    'cifar10': {
        'num_classes': 10,
        'train': {'tfds_name': 'cifar10', 'tfds_split': 'train', 'num_examples': 50000},
        'validation': {'tfds_name': 'cifar10', 'tfds_split': 'test', 'num_examples': 10000}},
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One published ImageNet-1k recipe (the defaults are the ConvNeXt/timm-style values).

    Learning rates (`base_learning_rate`, `min_learning_rate`, `warmup_learning_rate`) are at
    `base_batch_size`; the last two scale with the batch only where `scale_lr_ends` (Swin).
    """
    name: str
    family: str
    model_id: object
    source: str
    micro_batch: int
    accumulation_steps: int
    base_learning_rate: float
    base_batch_size: int
    epochs: float = 300
    warmup_epochs: float = 20
    schedule: str = 'cosine'              # cosine | stepwise | linear (to 0) | exponential
                                          # (x lr_decay_rate every lr_decay_epochs[0] epochs)
    lr_decay_epochs: Tuple[float, ...] = ()
    lr_decay_rate: float = 0.1            # stepwise factor
    lr_decay_factors: Tuple[float, ...] = ()   # per-boundary factors (overrides lr_decay_rate)
    min_learning_rate: float = 1e-6
    warmup_learning_rate: float = 0.0
    scale_lr_ends: bool = False
    optimizer: str = 'adamw'              # adamw | sgd | rmsprop (TF-style, timm's rmsproptf)
    nesterov: bool = False                # SGD
    weight_decay: float = 0.05            # AdamW decoupled decay (1-D weights excluded)
    epsilon: float = 1e-8
    global_clipnorm: Optional[float] = None
    l2_kernels: float = 0.0               # SGD: coupled L2 on conv/dense kernels
    l2_all: float = 0.0                   # SGD: coupled L2 on every parameter
    ema_decay: Optional[float] = 0.9999
    label_smoothing: float = 0.1
    randaug: Optional[Tuple[int, int, float]] = (2, 9, 0.5)   # layers, magnitude, mstd
    randaug_increasing: bool = True       # timm's `inc1` op set
    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    erasing_prob: float = 0.25
    color_jitter: float = 0.0
    resize: str = 'bicubic'
    pipeline: str = 'timm'                # timm's augmentation (the four transformer papers)
    center_crop_fraction: float = 0.875
    head_dropout: float = 0.0
    sync_bn: bool = False
    autoaugment: Optional[str] = None     # Model Garden AutoAugment policy (torchvision's)
    repeated_augment: Optional[int] = None   # copies of each image per epoch (RASampler)
    # Weight-decay exclusion regexes (None: exp.NO_WEIGHT_DECAY, every 1-D weight).
    no_weight_decay: Optional[Tuple[str, ...]] = None
    dataset: str = 'imagenet'             # a key of DATASETS
    image_size: int = 224
    crop_padding: int = 0                 # CIFAR's pad-and-crop (replaces the inception crop)
    precision: str = 'bfloat16'           # runtime.mixed_precision_dtype

    @property
    def effective_batch(self) -> int:
        return self.micro_batch * self.accumulation_steps


_CONVNEXT = 'facebookresearch/ConvNeXt TRAINING.md, main.py, optim_factory.py, utils.py'
_HORNET = 'raoyongming/HorNet TRAINING.md (ConvNeXt codebase)'
_SWIN = 'microsoft/Swin-Transformer configs/swin/*.yaml, config.py, main.py, lr_scheduler.py'
_POSMLP = 'Zhicaiwww/PosMLP config/PosMLP_{T,S}.yaml (timm 0.4.5 train.py), README.md'
_ACON = 'nmaac/acon ACON/ResNet_ACON/train.py, MetaACON/ResNet_MetaACON/train.py'
_ACON_LIGHT = ('nmaac/acon ACON/ShuffleNetV2_ACON/train.py, MetaACON/ShuffleNet_MetaACON/train.py, '
               'TFNet/train.py, */utils.py (get_parameters)')
_TV = ('automl/GoLU tasks/image_classification/train.py + README ResNet command (--sync-bn); '
       'pytorch/vision references/classification/train.py')

_TV_VIT = ('automl/GoLU README ViT-B/32, ViT-B/16 command + tasks/image_classification/train.py '
           '(torchvision reference script)')
_TIMM_VIT = 'automl/GoLU README ViT-Ti/16-224 command + tasks/small_poc/train_vit.py (timm 0.9)'
_TINY_VIT = ('automl/GoLU README Tiny-ViT command + tasks/image_classification/tiny_vit/ '
             '(config.py, configs/1k/tiny_vit_21m.yaml, main.py, optimizer.py)')
# Only the trainable activations' parameters are kept out of the decay where the authors decay
# every parameter (torchvision's ViT recipe: no norm/bias/embedding exclusions).
ACTIVATION_PARAMETERS = tuple(p for p in exp.NO_WEIGHT_DECAY if p.endswith(exp.REPLICA_SUFFIX))
_VIT = dict(family='act_vit', source=_TV_VIT, base_learning_rate=3e-3, base_batch_size=4096,
            epochs=300, warmup_epochs=30, min_learning_rate=0.0,
            warmup_learning_rate=0.033 * 3e-3, scale_lr_ends=True, weight_decay=0.3,
            global_clipnorm=1.0, ema_decay=0.991145, label_smoothing=0.11, randaug=None,
            autoaugment='reduced_imagenet', mixup_alpha=0.2, cutmix_alpha=1.0, erasing_prob=0.0,
            resize='bilinear', pipeline='model_garden', repeated_augment=3,
            no_weight_decay=ACTIVATION_PARAMETERS)
_GOLU_TIMM = ('automl/GoLU README EfficientNet-B0 command (tasks/image_classification/'
              'timm_training_script.py, timm train.py defaults)')
_GOLU_CIFAR = 'automl/GoLU tasks/small_poc/main.py (python -m tasks.small_poc.main), README'
_TV_NESTEROV = ('automl/GoLU README WideResNet-50-2 / DenseNet-121 command (--opt sgd_nesterov '
                '--sync-bn) + tasks/image_classification/train.py defaults')

_RESNET = dict(family='act_resnet', model_id=50, micro_batch=256, accumulation_steps=1,
               base_learning_rate=0.1, base_batch_size=256, warmup_epochs=0, optimizer='sgd',
               weight_decay=0.0, min_learning_rate=0.0, ema_decay=None, label_smoothing=0.0,
               randaug=None, mixup_alpha=0.0, cutmix_alpha=0.0, erasing_prob=0.0,
               resize='bilinear', pipeline='model_garden')
_CIFAR = dict(warmup_epochs=0, schedule='stepwise', optimizer='sgd', weight_decay=0.0,
              min_learning_rate=0.0, ema_decay=None, label_smoothing=0.0, randaug=None,
              mixup_alpha=0.0, cutmix_alpha=0.0, erasing_prob=0.0, resize='bilinear',
              pipeline='model_garden', sync_bn=True, dataset='cifar10', image_size=32,
              crop_padding=4, precision='float32')
# The ACON authors' ShuffleNetV2 / Meta-ACON ShuffleNet / TFNet train.py (identical recipes):
# batch 1024, SGD 0.9, lr 0.5 linearly to 0 over 300k iterations (= 240 epochs), wd 4e-5 on
# >=2-D weights only, label smoothing 0.1, colour jitter 0.4, no warm-up.
_ACON_LIGHTWEIGHT = dict(_RESNET, micro_batch=1024, base_learning_rate=0.5,
                         base_batch_size=1024, epochs=240, schedule='linear', l2_kernels=4e-5,
                         label_smoothing=0.1, color_jitter=0.4, source=_ACON_LIGHT)
_POSMLP_COMMON = dict(family='posmlp', source=_POSMLP, accumulation_steps=1, warmup_epochs=10,
                      min_learning_rate=1e-6, warmup_learning_rate=1e-5, weight_decay=0.067,
                      epsilon=1e-5, global_clipnorm=1.0, ema_decay=0.99992, randaug=(3, 6, 1.0),
                      mixup_alpha=0.5, erasing_prob=0.0, center_crop_fraction=0.9,
                      head_dropout=0.02333)

RECIPES: Dict[str, Recipe] = {r.name: r for r in (
    # ConvNeXt-T/S: 4 nodes x 8 GPUs x 128 = 4096, lr 4e-3, 20 warm-up epochs from 0, cosine to
    # 1e-6, AdamW wd 0.05, no clipping, EMA 0.9999.
    Recipe('convnext', 'convnext', 'tiny', _CONVNEXT, 512, 8, 4e-3, 4096),
    # HorNet-T (7x7): the ConvNeXt recipe with --clip_grad 100 (TRAINING.md); HorNet-S: 5.
    Recipe('hornet', 'hornet', 'tiny', _HORNET, 512, 8, 4e-3, 4096, global_clipnorm=100.0),
    Recipe('hornet_small', 'hornet', 'small', _HORNET, 512, 8, 4e-3, 4096,
           global_clipnorm=5.0),
    # Swin-T/S: 8 GPUs x 128 = 1024; BASE_LR 5e-4, WARMUP_LR 5e-7, MIN_LR 5e-6, all per 512
    # and scaled linearly; clip 5.0.
    Recipe('swin', 'swin', 'tiny', _SWIN, 512, 2, 5e-4, 512, min_learning_rate=5e-6,
           warmup_learning_rate=5e-7, scale_lr_ends=True, global_clipnorm=5.0),
    # PosMLP authors' configs: 8 GPUs (README) x 128 (T) / x 60 (S) per GPU.
    Recipe('posmlp_tiny', model_id='tiny', micro_batch=1024, base_learning_rate=2e-3,
           base_batch_size=1024, **_POSMLP_COMMON),
    Recipe('posmlp_small', model_id='small', micro_batch=480, base_learning_rate=1e-3,
           base_batch_size=480, **_POSMLP_COMMON),
    # Seed 004's command (the ViP command): AdamW 2e-3 at 2048, the ConvNeXt-style rest.
    Recipe('posmlp_seed004', 'posmlp', 'tiny', 'seed 004 README command (ViP)', 512, 4, 2e-3,
           2048),
    # ACON / Meta-ACON ResNets: batch 256, SGD 0.9, lr 0.1 linearly to 0 over 600k iterations
    # (= 120 epochs), wd 1e-4 on >=2-D weights only, colour jitter 0.4, no warm-up/smoothing.
    Recipe('acon_resnet', source=_ACON, epochs=120, schedule='linear', l2_kernels=1e-4,
           color_jitter=0.4, **_RESNET),
    # torchvision's ResNet recipe as GoLU ran it: 256 overall, lr 0.1 x0.1 every 30 epochs, 90
    # epochs, wd 1e-4 on every parameter, SyncBN across replicas.
    Recipe('torchvision_resnet', source=_TV, epochs=90, schedule='stepwise',
           lr_decay_epochs=(30, 60), l2_all=1e-4, sync_bn=True, **_RESNET),
    # torchvision's ViT recipe as GoLU ran ViT-B/32 and ViT-B/16: 4096 overall (4 GPUs x 128 x
    # 8 accumulation), AdamW lr 3e-3, wd 0.3 on every parameter, 30 linear warm-up epochs from
    # 0.033 x lr, cosine to 0, clip 1.0, label smoothing 0.11, mixup 0.2 / cutmix 1.0,
    # AutoAugment ImageNet, repeated augmentation x3 (--ra-sampler), EMA every 32 iterations
    # with 1 - 2e-5 x 4 x 4096 x 32 / 300 (= 0.96505 per 4 optimizer steps, 0.991145 per
    # step). B/16 takes 32 images per core.
    Recipe('torchvision_vit_b16', model_id='b16', micro_batch=256, accumulation_steps=16,
           **_VIT),
    Recipe('torchvision_vit_b32', model_id='b32', micro_batch=512, accumulation_steps=8,
           **_VIT),
    # timm's ViT-Ti/16-224 on CIFAR-10 (GoLU's train_vit.py): one process, batch 32, AdamW with
    # timm's sqrt rule lr = 5e-4 x sqrt(32 / 256); warm-up 20 epochs from 5e-7, cosine to
    # 5e-6, wd 0.05 (not on 1-D weights, position embedding, class token), clip 5.0,
    # RandAugment rand-m9-mstd0.5-inc1, erasing 0.25, mixup 0.8 / cutmix 1.0, no EMA.
    Recipe('timm_vit_cifar10', 'act_vit', 'ti16', _TIMM_VIT, 32, 1, 5e-4 * (32 / 256) ** 0.5,
           32, min_learning_rate=5e-6, warmup_learning_rate=5e-7, global_clipnorm=5.0,
           ema_decay=None, center_crop_fraction=0.9,
           no_weight_decay=tuple(exp.NO_WEIGHT_DECAY) + ('class_token',)),
    # TinyViT-21M as GoLU ran it (Swin's code base and defaults): 4 GPUs x 256 = 1024, BASE_LR
    # 5e-4, WARMUP_LR 5e-7, MIN_LR 5e-6 per 512 scaled linearly, 20 of 300 epochs warm-up,
    # AdamW wd 0.05 (not on 1-D weights, biases, attention biases), clip 5.0, no EMA.
    Recipe('tiny_vit', 'tiny_vit', '21m', _TINY_VIT, 512, 2, 5e-4, 512, min_learning_rate=5e-6,
           warmup_learning_rate=5e-7, scale_lr_ends=True, global_clipnorm=5.0, ema_decay=None),
    # GoLU's WideResNet-50-2 / DenseNet-121: the same with Nesterov momentum (sgd_nesterov).
    Recipe('torchvision_nesterov', source=_TV_NESTEROV, epochs=90, schedule='stepwise',
           lr_decay_epochs=(30, 60), l2_all=1e-4, sync_bn=True, nesterov=True, **_RESNET),
    # GoLU's CIFAR-10 nets (small_poc/main.py): one GPU, SGD momentum 0.9, weight decay on every
    # parameter, flip + RandomCrop(32, padding=4), ImageNet mean/std, float32, no warm-up. Their
    # loop multiplies the lr at the START of 1-based epoch m in `milestones`, i.e. after m - 1
    # epochs: ResNets 0.1 x0.1 at 81, 122 of 164 (ResNet-110: 0.01, x10 at 2 = one warm-up
    # epoch); WRN-28-2 Nesterov 0.1 x0.2 at 60, 120, 160 of 200, wd 5e-4; DenseNet-40 Nesterov
    # batch 64, 0.1 x0.1 at 150, 225 of 300. SyncBN: BatchNorm over the whole batch, as on
    # their single GPU.
    Recipe('golu_cifar_resnet', 'cifar_resnet', 20, _GOLU_CIFAR, 128, 1, 0.1, 128, epochs=164,
           lr_decay_epochs=(80, 121), l2_all=1e-4, **_CIFAR),
    Recipe('golu_cifar_resnet110', 'cifar_resnet', 110, _GOLU_CIFAR, 128, 1, 0.01, 128,
           epochs=164, lr_decay_epochs=(1, 80, 121), lr_decay_factors=(10.0, 0.1, 0.1),
           l2_all=1e-4, **_CIFAR),
    Recipe('golu_cifar_wide_resnet', 'cifar_wide_resnet', '28-2', _GOLU_CIFAR, 128, 1, 0.1, 128,
           epochs=200, lr_decay_epochs=(59, 119, 159), lr_decay_rate=0.2, l2_all=5e-4,
           nesterov=True, **_CIFAR),
    # GoLU's EfficientNet-B0 (timm): 4 GPUs x 384 = 1536, lr 0.048, RMSpropTF (eps 1e-3,
    # alpha 0.9, momentum 0.9), step decay x0.97 every 2.4 epochs, 450 epochs, 5 warm-up epochs
    # from 1e-6, wd 1e-5 (timm skips 1-D weights), dropout 0.2, drop connect 0.2 (the
    # backbone's default), EMA 0.9999, rand-m9-mstd0.5 (no inc1), reprob 0.2 pixel,
    # smoothing 0.1, no mixup/cutmix.
    Recipe('golu_efficientnet', 'act_efficientnet', 'b0', _GOLU_TIMM, 1536, 1, 0.048, 1536,
           epochs=450, warmup_epochs=5, schedule='exponential', lr_decay_epochs=(2.4,),
           lr_decay_rate=0.97, warmup_learning_rate=1e-6, optimizer='rmsprop',
           weight_decay=0.0, epsilon=1e-3, l2_kernels=1e-5, ema_decay=0.9999,
           randaug=(2, 9, 0.5), randaug_increasing=False, mixup_alpha=0.0, cutmix_alpha=0.0,
           erasing_prob=0.2, head_dropout=0.2),
    Recipe('golu_cifar_densenet40', 'densenet', 40, _GOLU_CIFAR, 64, 1, 0.1, 64, epochs=300,
           lr_decay_epochs=(149, 224), l2_all=1e-4, nesterov=True, **_CIFAR),
    Recipe('shufflenet_v2', **dict(_ACON_LIGHTWEIGHT, family='shufflenet_v2', model_id='1.5x')),
    Recipe('tfnet', **dict(_ACON_LIGHTWEIGHT, family='tfnet', model_id='1.0')),
)}

# The recipe a backbone family trains with when `trainer.recipe` is empty: (family, model_id).
FAMILY_RECIPES: Dict[Tuple[str, object], str] = {
    ('convnext', None): 'convnext', ('hornet', None): 'hornet',
    ('hornet', 'small'): 'hornet_small', ('swin', None): 'swin',
    ('posmlp', None): 'posmlp_tiny', ('posmlp', 'small'): 'posmlp_small',
    ('act_resnet', None): 'torchvision_resnet',
    ('act_vit', None): 'torchvision_vit_b16', ('act_vit', 'b32'): 'torchvision_vit_b32',
    ('act_vit', 'ti16'): 'timm_vit_cifar10', ('tiny_vit', None): 'tiny_vit',
    ('cifar_resnet', None): 'golu_cifar_resnet', ('cifar_resnet', 110): 'golu_cifar_resnet110',
    ('cifar_wide_resnet', None): 'golu_cifar_wide_resnet',
    ('densenet', None): 'torchvision_nesterov', ('densenet', 40): 'golu_cifar_densenet40',
    ('act_efficientnet', None): 'golu_efficientnet',
    ('shufflenet_v2', None): 'shufflenet_v2', ('tfnet', None): 'tfnet',
}


def recipe_for_backbone(family: str, model_id: object = None) -> Optional[str]:
    """The recipe of a backbone family (and model_id where the authors' recipes differ)."""
    return FAMILY_RECIPES.get((family, model_id), FAMILY_RECIPES.get((family, None)))


def get(name: str) -> Recipe:
    """The recipe called `name`; an unknown name lists the known ones."""
    if name not in RECIPES:
        raise validate.ConfigValidationError(f'trainer.recipe={name!r} is not a recipe; use one of '
                         f'{", ".join(sorted(RECIPES))} or \'\' (the backbone\'s).')
    return RECIPES[name]


def _input(r: Recipe) -> dict:
    """The recipe's input: timm's pipeline for the transformer-era recipes, stock for ResNets."""
    data = DATASETS[r.dataset]
    dtype = 'bfloat16' if r.precision == 'bfloat16' else 'float32'
    train = {
        **data['train'], 'is_training': True, 'pipeline': r.pipeline,
        'global_batch_size': r.micro_batch, 'dtype': dtype, 'tf_resize_method': r.resize,
        'crop_area_range': [0.08, 1.0], 'color_jitter': r.color_jitter,
    }
    if r.crop_padding:
        train.update({'aug_crop': False, 'crop_padding': r.crop_padding})
    if r.randaug:
        layers, magnitude, mstd = r.randaug
        train['aug_type'] = common.Augmentation(type='randaug', randaug=common.RandAugment(
            num_layers=layers, magnitude=magnitude, magnitude_std=mstd, prob_to_apply=0.5,
            translate_const=100, exclude_ops=['Cutout'])).as_dict()
    if r.autoaugment:
        # torchvision's `--auto-augment imagenet` is the AutoAugment paper's ImageNet policy,
        # Model Garden's `reduced_imagenet`; translation 150/331 of the image (torchvision).
        train['aug_type'] = common.Augmentation(type='autoaug', autoaug=common.AutoAugment(
            augmentation_name=r.autoaugment, translate_const=100)).as_dict()
    if r.repeated_augment:
        train['repeated_augment'] = r.repeated_augment
    if r.randaug and not r.randaug_increasing:
        train['timm'] = {'increasing': False}
    if r.erasing_prob:
        train['random_erasing'] = {'probability': r.erasing_prob}
    if r.mixup_alpha or r.cutmix_alpha:
        train['mixup_and_cutmix'] = {
            'mixup_alpha': r.mixup_alpha, 'cutmix_alpha': r.cutmix_alpha, 'prob': 1.0,
            'switch_prob': 0.5, 'label_smoothing': r.label_smoothing}
    validation = {
        **data['validation'], 'is_training': False, 'pipeline': r.pipeline,
        'global_batch_size': EVAL_BATCH, 'dtype': dtype, 'tf_resize_method': r.resize,
        'drop_remainder': False, 'center_crop_fraction': r.center_crop_fraction,
    }
    if r.crop_padding:   # CIFAR: the whole 32x32 image, no centre crop
        validation['aug_crop'] = False
    return {'train_data': train, 'validation_data': validation}


def _optimizer(r: Recipe) -> dict:
    if r.optimizer == 'sgd':
        return {'type': 'sgd', 'sgd': {'momentum': 0.9, 'nesterov': r.nesterov}}
    if r.optimizer == 'rmsprop':   # TF's RMSprop: eps inside the root, as timm's rmsproptf
        return {'type': 'rmsprop', 'rmsprop': {'rho': 0.9, 'momentum': 0.9,
                                               'epsilon': r.epsilon, 'centered': False}}
    return {'type': 'adamw', 'adamw': {
        'weight_decay_rate': r.weight_decay,
        'exclude_from_weight_decay': list(exp.NO_WEIGHT_DECAY if r.no_weight_decay is None
                                          else r.no_weight_decay),
        'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': r.epsilon,
        'gradient_clip_norm': 0.0,   # Model Garden's per-replica clip (trap): off
        'global_clipnorm': r.global_clipnorm}}


def _learning_rate(r: Recipe) -> dict:
    """The schedule's type and its constant fields (the rest is derived by `schedule`)."""
    if r.schedule == 'cosine':
        return {'type': 'cosine', 'cosine': {'initial_learning_rate': r.base_learning_rate}}
    if r.schedule == 'stepwise':
        return {'type': 'stepwise', 'stepwise': {'boundaries': [0], 'values': [0.0, 0.0]}}
    if r.schedule == 'exponential':
        return {'type': 'exponential', 'exponential': {
            'initial_learning_rate': r.base_learning_rate, 'decay_rate': r.lr_decay_rate,
            'staircase': True}}
    return {'type': 'polynomial', 'polynomial': {
        'initial_learning_rate': r.base_learning_rate, 'end_learning_rate': 0.0, 'power': 1.0,
        'cycle': False}}


def experiment_config(name: str) -> exp.ExperimentConfig:
    """The complete experiment config of recipe `name` at its default batch, on a TPU."""
    r = get(name)
    config = exp.ExperimentConfig()
    backbone = {'type': r.family, r.family: {'model_id': r.model_id}}
    losses = ({'one_hot': False, 'soft_labels': True} if r.mixup_alpha or r.cutmix_alpha
              else {'one_hot': True, 'soft_labels': False})
    losses.update({'label_smoothing': r.label_smoothing, 'l2_weight_decay': r.l2_kernels,
                   'l2_weight_decay_all': r.l2_all})
    optimizer_config = {'optimizer': _optimizer(r), 'learning_rate': _learning_rate(r)}
    if r.warmup_epochs:
        optimizer_config['warmup'] = {'type': 'linear', 'linear': {'warmup_steps': 0}}
    if r.ema_decay:
        optimizer_config['ema'] = {'average_decay': r.ema_decay, 'dynamic_decay': True,
                                   'trainable_weights_only': True}
    config.override({
        'runtime': {'distribution_strategy': 'tpu', 'mixed_precision_dtype': r.precision},
        'task': {
            'model': {'num_classes': DATASETS[r.dataset]['num_classes'],
                      'input_size': [r.image_size, r.image_size, 3], 'backbone': backbone,
                      'dropout_rate': r.head_dropout,
                      'norm_activation': {'use_sync_bn': r.sync_bn}},
            'losses': losses,
            **_input(r),
        },
        'trainer': {
            'recipe': r.name, 'epochs': r.epochs, 'warmup_epochs': r.warmup_epochs,
            'lr_decay_epochs': list(r.lr_decay_epochs),
            'base_learning_rate': r.base_learning_rate, 'base_batch_size': r.base_batch_size,
            'accumulation_steps': r.accumulation_steps,
            'optimizer_config': optimizer_config,
        },
    })
    schedule.derive(config, r, user_keys=set())
    return config
