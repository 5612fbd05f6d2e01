"""Recipe resolution (issue 10, items 2-4): each family's published recipe, the recipe following
the backbone under any experiment name, and schedules that follow epochs, data size and batch.

Expected numbers are typed from the authors' files, not computed by the code under test:
ConvNeXt TRAINING.md (4 x 8 x 128 = 4096, lr 4e-3, 20 warm-up epochs of 300, wd 0.05, EMA
0.9999); HorNet TRAINING.md (HorNet-T 7x7 --clip_grad 100, HorNet-S 5); Swin configs and
main.py (BASE_LR 5e-4, WARMUP_LR 5e-7, MIN_LR 5e-6 per 512, x2 at 8 x 128 = 1024, clip 5);
PosMLP config/PosMLP_T.yaml and _S.yaml (lr 2e-3 / 1e-3, batch 128 / 60 per GPU on 8 GPUs,
warm-up 10 epochs from 1e-5, min 1e-6, wd 0.067, eps 1e-5, clip 1.0, EMA 0.99992, mixup 0.5,
rand-m6-n3-mstd1.0, reprob 0, crop_pct 0.9, drop 0.02333); ACON train.py (batch 256, lr 0.1
linearly to 0 over 600,000 iterations, wd 1e-4, colour jitter 0.4, smoothing 0); torchvision
references (batch 256, lr 0.1, x0.1 every 30 epochs, 90 epochs, wd 1e-4 on every parameter).
ImageNet-1k has 1,281,167 training images: steps per epoch 312 at 4096, 1251 at 1024, 2669 at
480, 625 at 2048, 5004 at 256.
"""
import os

import numpy as np
import pytest
import yaml

from tests import train_testlib as lib

from official_ext import registry_imports  # noqa: F401
from official_ext import resolve
from official_ext import validate

C = lib.CONFIG_DIR
YAMLS = {
    'convnext': 'tpgu/convnext_tiny.yaml', 'hornet': 'tpgu/hornet_tiny.yaml',
    'hornet_small': 'tpgu/hornet_small.yaml', 'swin': 'tpgu/swin_tiny.yaml',
    'posmlp_tiny': 'posmlp/posmlp_tiny.yaml', 'posmlp_small': 'posmlp/posmlp_small.yaml',
    'posmlp_seed004': 'posmlp/posmlp_tiny_seed004.yaml',
    'acon_resnet': 'acon/resnet50_meta_acon.yaml', 'torchvision_resnet': 'golu/resnet18_golu.yaml',
    'torchvision_vit_b16': 'golu/vit_b16_golu.yaml',
    'torchvision_vit_b32': 'golu/vit_b32_gelu.yaml',
    'timm_vit_cifar10': 'golu/vit_ti16_cifar10_golu.yaml',
    'tiny_vit': 'golu/tiny_vit_21m_golu.yaml',
    'shufflenet_v2': 'acon_lightweight/shufflenet_v2_1.5x_acon_c.yaml',
    'tfnet': 'acon_lightweight/tfnet_1.0.yaml',
}
OWN_EXPERIMENT = {'convnext': 'convnext_imagenet', 'hornet': 'hornet_imagenet',
                  'hornet_small': 'hornet_imagenet', 'swin': 'swin_imagenet',
                  'posmlp_tiny': 'posmlp_imagenet', 'posmlp_small': 'posmlp_imagenet',
                  'posmlp_seed004': 'posmlp_imagenet', 'acon_resnet': 'act_resnet_imagenet',
                  'torchvision_resnet': 'act_resnet_imagenet',
                  'torchvision_vit_b16': 'act_vit_imagenet',
                  'torchvision_vit_b32': 'act_vit_imagenet', 'timm_vit_cifar10': 'act_vit_imagenet',
                  'tiny_vit': 'tiny_vit_imagenet',
                  'shufflenet_v2': 'shufflenet_v2_imagenet', 'tfnet': 'tfnet_imagenet'}


def load(recipe, override=None, experiment=None):
    return resolve.load(experiment or OWN_EXPERIMENT[recipe], [os.path.join(C, YAMLS[recipe])],
                        override)


def lr_of(cfg):
    return cfg.trainer.optimizer_config.learning_rate


def warmup_of(cfg):
    w = cfg.trainer.optimizer_config.warmup
    return (w.linear.warmup_steps, w.linear.warmup_learning_rate) if w.type == 'linear' else None


def effective(cfg):
    return cfg.task.train_data.global_batch_size * cfg.trainer.accumulation_steps


# ------------------------------------------------------------------------ published recipes
@pytest.mark.parametrize('recipe,batch,lr,spe,clip', [
    ('convnext', 4096, 4e-3, 312, None),
    ('hornet', 4096, 4e-3, 312, 100.0),
    ('hornet_small', 4096, 4e-3, 312, 5.0),
    ('swin', 1024, 1e-3, 1251, 5.0),
    ('posmlp_tiny', 1024, 2e-3, 1251, 1.0),
    ('posmlp_small', 480, 1e-3, 2669, 1.0),
    ('posmlp_seed004', 2048, 2e-3, 625, None),
])
def test_adamw_recipes(recipe, batch, lr, spe, clip):
    cfg = load(recipe)
    assert cfg.trainer.recipe == recipe
    assert effective(cfg) == batch
    adamw = cfg.trainer.optimizer_config.optimizer.adamw
    assert cfg.trainer.optimizer_config.optimizer.type == 'adamw'
    assert adamw.global_clipnorm == clip
    assert adamw.gradient_clip_norm == 0.0       # Model Garden's per-replica clip stays off
    assert lr_of(cfg).type == 'cosine'
    cosine = lr_of(cfg).cosine
    assert cosine.initial_learning_rate == pytest.approx(lr)
    assert cfg.trainer.train_steps == 300 * spe
    warmup_epochs = 10 if recipe.startswith('posmlp_') and recipe != 'posmlp_seed004' else 20
    assert warmup_of(cfg)[0] == warmup_epochs * spe
    assert cosine.offset == warmup_epochs * spe
    assert cosine.decay_steps == (300 - warmup_epochs) * spe
    assert cfg.trainer.validation_interval == spe and cfg.trainer.checkpoint_interval == spe
    assert cfg.trainer.validation_steps == 50                  # 50,000 / 1000


def test_convnext_and_hornet_details():
    cfg = load('convnext')
    adamw = cfg.trainer.optimizer_config.optimizer.adamw
    assert adamw.weight_decay_rate == 0.05 and adamw.epsilon == 1e-8
    assert cfg.trainer.optimizer_config.ema.average_decay == 0.9999
    assert lr_of(cfg).cosine.alpha * 4e-3 == pytest.approx(1e-6)    # min_lr 1e-6
    assert warmup_of(cfg)[1] == 0.0                                  # warm-up from 0
    assert cfg.task.train_data.mixup_and_cutmix.mixup_alpha == 0.8
    assert cfg.task.train_data.random_erasing.probability == 0.25


def test_swin_scales_every_lr_of_its_schedule():
    cfg = load('swin')
    assert warmup_of(cfg)[1] == pytest.approx(1e-6)                  # 5e-7 per 512, x2
    assert lr_of(cfg).cosine.alpha * 1e-3 == pytest.approx(1e-5)     # 5e-6 per 512, x2


@pytest.mark.parametrize('recipe,lr', [('posmlp_tiny', 2e-3), ('posmlp_small', 1e-3)])
def test_posmlp_authors_config(recipe, lr):
    cfg = load(recipe)
    t, data = cfg.trainer, cfg.task.train_data
    adamw = t.optimizer_config.optimizer.adamw
    assert adamw.weight_decay_rate == 0.067 and adamw.epsilon == 1e-5
    assert t.optimizer_config.ema.average_decay == 0.99992
    assert warmup_of(cfg)[1] == 1e-5
    assert lr_of(cfg).cosine.alpha * lr == pytest.approx(1e-6)
    randaug = data.aug_type.randaug
    assert (randaug.num_layers, randaug.magnitude, randaug.magnitude_std) == (3, 6, 1.0)
    assert data.mixup_and_cutmix.mixup_alpha == 0.5 and data.mixup_and_cutmix.cutmix_alpha == 1.0
    assert data.random_erasing is None                                # reprob 0
    assert cfg.task.validation_data.center_crop_fraction == 0.9      # crop_pct 0.9
    assert cfg.task.model.dropout_rate == 0.02333                    # drop (head)
    assert cfg.task.losses.label_smoothing == 0.1


def test_posmlp_seed004_keeps_the_seed_command():
    cfg = load('posmlp_seed004')
    assert cfg.trainer.optimizer_config.optimizer.adamw.weight_decay_rate == 0.05
    assert cfg.task.train_data.aug_type.randaug.magnitude == 9
    assert cfg.task.model.backbone.posmlp.model_id == 'tiny'
    small = resolve.load('posmlp_imagenet', [os.path.join(C, 'posmlp/posmlp_small_seed004.yaml')])
    assert small.trainer.recipe == 'posmlp_seed004'
    assert small.task.model.backbone.posmlp.model_id == 'small'


def test_acon_resnet_recipe():
    cfg = load('acon_resnet')
    t = cfg.trainer
    assert effective(cfg) == 256
    assert t.optimizer_config.optimizer.type == 'sgd'
    assert t.optimizer_config.optimizer.sgd.momentum == 0.9
    assert lr_of(cfg).type == 'polynomial'
    poly = lr_of(cfg).polynomial
    assert poly.initial_learning_rate == pytest.approx(0.1)
    assert (poly.end_learning_rate, poly.power) == (0.0, 1.0)        # linear to 0
    assert poly.decay_steps == t.train_steps
    assert abs(t.train_steps - 600000) / 600000 < 1e-3               # 600k iterations
    assert warmup_of(cfg) is None and t.optimizer_config.ema is None
    assert cfg.task.losses.l2_weight_decay == 1e-4                   # >= 2-D weights only
    assert cfg.task.losses.l2_weight_decay_all == 0.0
    assert cfg.task.losses.label_smoothing == 0.0
    data = cfg.task.train_data
    assert data.color_jitter == 0.4
    assert data.aug_type is None and data.mixup_and_cutmix is None
    assert data.random_erasing is None


@pytest.mark.parametrize('recipe', ['shufflenet_v2', 'tfnet'])
def test_acon_lightweight_recipes(recipe):
    """The ACON authors' ShuffleNetV2 / Meta-ACON ShuffleNet / TFNet train.py: batch 1024,
    SGD 0.9, lr 0.5 linearly to 0 over 300,000 iterations, wd 4e-5 on >= 2-D weights, label
    smoothing 0.1, ColorJitter(0.4, 0.4, 0.4), RandomResizedCrop(224), eval resize 256, crop 224.
    """
    cfg = load(recipe)
    t = cfg.trainer
    assert effective(cfg) == 1024
    assert t.optimizer_config.optimizer.type == 'sgd'
    assert t.optimizer_config.optimizer.sgd.momentum == 0.9
    assert not t.optimizer_config.optimizer.sgd.nesterov
    poly = lr_of(cfg).polynomial
    assert lr_of(cfg).type == 'polynomial'
    assert poly.initial_learning_rate == pytest.approx(0.5)
    assert (poly.end_learning_rate, poly.power) == (0.0, 1.0)
    assert poly.decay_steps == t.train_steps == 240 * 1251            # 300,240 steps
    assert abs(t.train_steps - 300000) / 300000 < 1e-3
    assert warmup_of(cfg) is None and t.optimizer_config.ema is None
    assert cfg.task.losses.l2_weight_decay == 4e-5
    assert cfg.task.losses.l2_weight_decay_all == 0.0
    assert cfg.task.losses.label_smoothing == 0.1
    assert cfg.task.losses.one_hot
    assert cfg.task.model.dropout_rate == 0.0     # the backbone holds the authors' dropout
    data = cfg.task.train_data
    assert data.color_jitter == 0.4 and data.crop_area_range == [0.08, 1.0]
    assert data.aug_type is None and data.mixup_and_cutmix is None
    assert data.random_erasing is None
    assert cfg.task.validation_data.center_crop_fraction == 0.875
    half = load(recipe, 'task.train_data.global_batch_size=512')
    assert lr_of(half).polynomial.initial_learning_rate == pytest.approx(0.25)
    assert half.trainer.train_steps == 240 * 2502


def test_torchvision_resnet_recipe():
    cfg = load('torchvision_resnet')
    t = cfg.trainer
    assert effective(cfg) == 256
    assert t.optimizer_config.optimizer.type == 'sgd'
    step = lr_of(cfg).stepwise
    assert lr_of(cfg).type == 'stepwise'
    assert step.boundaries == [30 * 5004, 60 * 5004]
    np.testing.assert_allclose(step.values, [0.1, 0.01, 0.001], rtol=1e-12)
    assert t.train_steps == 90 * 5004
    assert warmup_of(cfg) is None and t.optimizer_config.ema is None
    assert cfg.task.losses.l2_weight_decay_all == 1e-4               # every parameter
    assert cfg.task.losses.l2_weight_decay == 0.0                    # not twice on kernels
    assert cfg.task.model.norm_activation.use_sync_bn
    assert cfg.task.losses.label_smoothing == 0.0
    assert cfg.task.train_data.color_jitter == 0.0
    mirrored = load('torchvision_resnet', 'runtime.distribution_strategy=mirrored')
    assert mirrored.task.model.norm_activation.use_sync_bn
    # SyncBN hangs under multi_worker_mirrored: off there unless set explicitly.
    multi = load('torchvision_resnet', 'runtime.distribution_strategy=multi_worker_mirrored')
    assert not multi.task.model.norm_activation.use_sync_bn
    forced = load('torchvision_resnet', 'runtime.distribution_strategy=multi_worker_mirrored,'
                                        'task.model.norm_activation.use_sync_bn=true')
    assert forced.task.model.norm_activation.use_sync_bn


@pytest.mark.parametrize('recipe,micro,accumulation', [('torchvision_vit_b16', 256, 16),
                                                      ('torchvision_vit_b32', 512, 8)])
def test_torchvision_vit_recipe(recipe, micro, accumulation):
    """GoLU's ViT command: --batch-size 4096 --gradient-accumulation-steps 8 --opt adamw
    --lr 0.003 --wd 0.3 --lr-warmup-epochs 30 --lr-warmup-decay 0.033 --label-smoothing 0.11
    --mixup-alpha 0.2 --cutmix-alpha 1.0 --auto-augment imagenet --clip-grad-norm 1.0
    --ra-sampler --model-ema (every 32 iterations, 0.99998 adjusted by 4 GPUs x 4096 x 32 /
    300 epochs)."""
    cfg = load(recipe)
    t = cfg.trainer
    assert (cfg.task.train_data.global_batch_size, t.accumulation_steps) == (micro, accumulation)
    assert effective(cfg) == 4096 and t.train_steps == 300 * 312
    adamw = t.optimizer_config.optimizer.adamw
    assert adamw.weight_decay_rate == 0.3 and adamw.global_clipnorm == 1.0
    assert (adamw.beta_1, adamw.beta_2, adamw.epsilon) == (0.9, 0.999, 1e-8)
    # torchvision's recipe decays every parameter (norms, biases, embeddings): only the
    # trainable activations' parameters are excluded.
    assert not any(p in adamw.exclude_from_weight_decay
                   for p in ('bias', 'norm', 'position', 'gamma', 'beta'))
    cos = lr_of(cfg).cosine
    assert cos.initial_learning_rate == pytest.approx(3e-3) and cos.alpha == 0.0
    assert warmup_of(cfg) == (30 * 312, pytest.approx(0.033 * 3e-3))
    assert cos.offset == 30 * 312 and cos.decay_steps == 270 * 312
    per_four_updates = 1 - 2e-5 * 4 * 4096 * 32 / 300
    assert t.optimizer_config.ema.average_decay == pytest.approx(per_four_updates ** 0.25,
                                                                 abs=1e-6)
    assert cfg.task.losses.label_smoothing == 0.11
    data = cfg.task.train_data
    assert data.pipeline == 'model_garden' and data.tf_resize_method == 'bilinear'
    assert data.aug_type.type == 'autoaug'
    assert data.aug_type.autoaug.augmentation_name == 'reduced_imagenet'
    assert (data.mixup_and_cutmix.mixup_alpha, data.mixup_and_cutmix.cutmix_alpha) == (0.2, 1.0)
    assert data.random_erasing is None
    assert data.repeated_augment == 3                # --ra-sampler, torchvision's ra_reps 3
    assert cfg.task.model.kernel_initializer == ''   # the family default: torchvision's zeros


def test_timm_vit_cifar10_recipe():
    """GoLU's ViT-Ti/16-224 command: --batch-size 32 (one process) --lr-base 5e-4 (timm: sqrt
    rule for AdamW, base 256) --warmup-epochs 20 --warmup-lr 5e-7 --min-lr 5e-6
    --weight-decay 0.05 --clip-grad 5 --drop-path 0.1 --aa rand-m9-mstd0.5-inc1 --reprob 0.25
    --mixup 0.8 --cutmix 1.0 --epochs 300, no EMA; CIFAR-10: 50,000 / 10,000 images."""
    cfg = load('timm_vit_cifar10')
    t = cfg.trainer
    assert effective(cfg) == 32 and t.train_steps == 300 * 1562
    cos = lr_of(cfg).cosine
    assert cos.initial_learning_rate == pytest.approx(5e-4 * (32 / 256) ** 0.5)
    assert cos.initial_learning_rate * cos.alpha == pytest.approx(5e-6)
    assert warmup_of(cfg) == (20 * 1562, pytest.approx(5e-7))
    adamw = t.optimizer_config.optimizer.adamw
    assert adamw.weight_decay_rate == 0.05 and adamw.global_clipnorm == 5.0
    assert {'bias', 'norm', 'position', 'class_token'} <= set(adamw.exclude_from_weight_decay)
    assert t.optimizer_config.ema is None
    assert t.validation_steps == 10
    data = cfg.task.train_data
    assert (data.tfds_name, data.tfds_split, data.num_examples) == ('cifar10', 'train', 50000)
    val = cfg.task.validation_data
    assert (val.tfds_name, val.tfds_split, val.num_examples) == ('cifar10', 'test', 10000)
    assert data.pipeline == 'timm' and data.aug_type.randaug.magnitude == 9
    assert data.random_erasing.probability == 0.25
    assert (data.mixup_and_cutmix.mixup_alpha, data.mixup_and_cutmix.cutmix_alpha) == (0.8, 1.0)
    assert val.center_crop_fraction == 0.9
    model = cfg.task.model
    assert model.num_classes == 1000 and model.input_size == [224, 224, 3]
    assert model.backbone.act_vit.drop_path_rate == 0.1
    assert model.kernel_initializer == 'trunc_normal'


def test_tiny_vit_recipe():
    """GoLU's Tiny-ViT command (--batch-size 256 per GPU, 4 GPUs) with TinyViT's config.py:
    BASE_LR 5e-4, WARMUP_LR 5e-7, MIN_LR 5e-6 per 512 (x 1024 / 512 in main.py), 300 epochs, 20
    warm-up, AdamW wd 0.05, clip 5.0, rand-m9-mstd0.5-inc1, reprob 0.25, mixup 0.8 / cutmix 1.0,
    smoothing 0.1, drop path 0.2 (tiny_vit_21m.yaml), no EMA; eval resize 256 / crop 224."""
    cfg = load('tiny_vit')
    t = cfg.trainer
    assert effective(cfg) == 1024 and t.train_steps == 300 * 1251
    cos = lr_of(cfg).cosine
    assert cos.initial_learning_rate == pytest.approx(1e-3)
    assert cos.initial_learning_rate * cos.alpha == pytest.approx(1e-5)
    assert warmup_of(cfg) == (20 * 1251, pytest.approx(1e-6))
    adamw = t.optimizer_config.optimizer.adamw
    assert adamw.weight_decay_rate == 0.05 and adamw.global_clipnorm == 5.0
    assert t.optimizer_config.ema is None
    data = cfg.task.train_data
    assert data.pipeline == 'timm' and data.aug_type.randaug.magnitude == 9
    assert data.random_erasing.probability == 0.25
    assert (data.mixup_and_cutmix.mixup_alpha, data.mixup_and_cutmix.cutmix_alpha) == (0.8, 1.0)
    assert cfg.task.losses.label_smoothing == 0.1
    assert cfg.task.validation_data.center_crop_fraction == 0.875
    assert cfg.task.model.backbone.tiny_vit.model_id == '21m'


# ------------------------------------------------------------------ recipe follows backbone
@pytest.mark.parametrize('recipe', sorted(YAMLS))
def test_seed_experiment_name_trains_each_family_with_its_recipe(recipe):
    seed = load(recipe, experiment='tf_vision_example_experiment')
    own = load(recipe)
    assert seed.trainer.recipe == recipe
    assert seed.as_dict() == own.as_dict()


def test_any_experiment_name_rebases_on_the_backbone():
    cfg = load('swin', experiment='act_resnet_imagenet')
    assert cfg.trainer.recipe == 'swin'
    assert cfg.trainer.optimizer_config.optimizer.type == 'adamw'
    assert lr_of(cfg).cosine.initial_learning_rate == pytest.approx(1e-3)
    assert cfg.task.losses.l2_weight_decay_all == 0.0


def test_explicit_recipe_wins_and_unknown_recipe_is_listed():
    cfg = load('swin', 'trainer.recipe=convnext')
    assert cfg.trainer.recipe == 'convnext'
    assert effective(cfg) == 4096
    assert lr_of(cfg).cosine.initial_learning_rate == pytest.approx(4e-3)
    with pytest.raises(validate.ConfigValidationError, match='torchvision_resnet'):
        load('swin', 'trainer.recipe=convnxt')


# ------------------------------------------------------------ batch and schedule overrides
def test_batch_override_rescales_lr_and_steps():
    cfg = load('swin', 'task.train_data.global_batch_size=256,trainer.accumulation_steps=1')
    assert lr_of(cfg).cosine.initial_learning_rate == pytest.approx(5e-4 * 256 / 512)
    assert warmup_of(cfg) == (20 * 5004, pytest.approx(5e-7 * 256 / 512))
    assert lr_of(cfg).cosine.alpha == pytest.approx(5e-6 / 5e-4)
    assert cfg.trainer.train_steps == 300 * 5004
    assert cfg.trainer.steps_per_loop == 5004


def test_accumulation_override_rescales():
    cfg = load('convnext', 'trainer.accumulation_steps=4')          # 512 x 4 = 2048
    assert lr_of(cfg).cosine.initial_learning_rate == pytest.approx(2e-3)
    assert cfg.trainer.train_steps == 300 * 625
    assert lr_of(cfg).cosine.decay_steps == 280 * 625


@pytest.mark.parametrize('recipe,override,lr,spe', [
    ('torchvision_resnet', 'task.train_data.global_batch_size=1024', 0.4, 1251),
    ('acon_resnet', 'trainer.accumulation_steps=2', 0.2, 2502),
])
def test_sgd_recipes_rescale(recipe, override, lr, spe):
    cfg = load(recipe, override)
    if recipe == 'torchvision_resnet':
        assert lr_of(cfg).stepwise.boundaries == [30 * spe, 60 * spe]
        assert lr_of(cfg).stepwise.values[0] == pytest.approx(lr)
        assert cfg.trainer.train_steps == 90 * spe
    else:
        assert lr_of(cfg).polynomial.initial_learning_rate == pytest.approx(lr)
        assert lr_of(cfg).polynomial.decay_steps == cfg.trainer.train_steps == 120 * spe


def test_explicit_values_win_over_derivation():
    cfg = load('convnext', '{task: {train_data: {global_batch_size: 256}}, trainer: '
                           '{accumulation_steps: 1, train_steps: 50000, optimizer_config: '
                           '{learning_rate: {cosine: {initial_learning_rate: 0.001}}, '
                           'warmup: {linear: {warmup_steps: 100}}}}}')
    assert cfg.trainer.train_steps == 50000
    cosine = lr_of(cfg).cosine
    assert cosine.initial_learning_rate == 0.001                     # not rescaled
    assert warmup_of(cfg)[0] == 100 and cosine.offset == 100
    assert cosine.decay_steps == 50000 - 100                         # follows train_steps
    assert cosine.alpha == pytest.approx(1e-6 / 1e-3)
    assert 'train_steps 50000 (set explicitly' in resolve.describe(cfg)


def test_epochs_examples_and_base_lr_keys():
    cfg = load('convnext', 'trainer.epochs=100,trainer.warmup_epochs=5,'
                           'task.train_data.num_examples=100000,trainer.base_learning_rate=0.008')
    spe = 100000 // 4096
    assert cfg.trainer.train_steps == 100 * spe
    assert warmup_of(cfg)[0] == 5 * spe
    assert lr_of(cfg).cosine.initial_learning_rate == pytest.approx(8e-3)


def test_demo_keeps_its_explicit_schedule():
    cfg = resolve.load('convnext_imagenet', [os.path.join(C, 'demo/convnext_tpgu_digits.yaml')])
    t = cfg.trainer
    assert (t.train_steps, t.steps_per_loop, t.validation_interval) == (450, 50, 150)
    assert lr_of(cfg).cosine.initial_learning_rate == 0.002
    assert warmup_of(cfg) == (50, 0.0)
    resnet = resolve.load('act_resnet_imagenet', [os.path.join(C, 'demo/resnet_acon_digits.yaml')])
    assert lr_of(resnet).type == 'cosine' and lr_of(resnet).cosine.decay_steps == 450
    assert warmup_of(resnet) == (30, 0.0)


def test_resolved_numbers_reach_params_yaml_and_the_log(tmp_path):
    from official_ext import model_dir
    cfg = load('swin', 'task.train_data.global_batch_size=256,trainer.accumulation_steps=1')
    with open(model_dir.record_config(cfg, str(tmp_path))) as f:
        recorded = yaml.load(f, Loader=yaml.FullLoader)
    assert recorded['trainer']['recipe'] == 'swin'
    assert recorded['trainer']['train_steps'] == 300 * 5004
    lr = recorded['trainer']['optimizer_config']['learning_rate']['cosine']
    assert float(lr['initial_learning_rate']) == pytest.approx(2.5e-4)
    line = resolve.describe(cfg)
    assert 'recipe swin' in line and '5004 steps/epoch' in line and '1501200' in line


def test_run_py_parser_resolves_the_recipe(tmp_path):
    from official.core import train_utils
    import run
    opts = train_utils.ParseConfigOptions(
        experiment='tf_vision_example_experiment', config_file=[os.path.join(C, YAMLS['hornet'])],
        params_override='task.train_data.global_batch_size=1024', tpu='')
    opts.mode = 'train'
    cfg = run.parse_params(opts)
    assert cfg.trainer.recipe == 'hornet'
    assert cfg.trainer.optimizer_config.optimizer.adamw.global_clipnorm == 100.0
    assert lr_of(cfg).cosine.initial_learning_rate == pytest.approx(4e-3 * 1024 * 8 / 4096)


# ------------------------------------------------------------ weight decay on every parameter
def test_l2_on_every_parameter_is_pytorch_weight_decay():
    """The added loss is wd * sum(v^2) / 2 over ALL trainable variables (BN gamma/beta too)."""
    from official.core import task_factory
    cfg = lib.reduced(load('torchvision_resnet'))
    task = task_factory.get_task(cfg.task)
    model = task.build_model()
    names = [v.name for v in model.trainable_variables]
    assert any('gamma' in n for n in names) and any('bias' in n for n in names)
    want = 1e-4 * sum(float(np.sum(np.square(v.numpy()))) for v in model.trainable_variables) / 2
    got = float(sum(float(l) for l in model.losses))
    assert want > 0 and got == pytest.approx(want, rel=1e-5)


def test_acon_decay_reaches_every_kernel_as_get_parameters():
    """ACON's get_parameters decays every >= 2-D `weight` (convs, fc, Meta-ACON's projections)
    and nothing else: the regularization equals 1e-4 * sum(w^2) / 2 over exactly those."""
    from official.core import task_factory
    cfg = lib.reduced(load('acon_resnet'))
    task = task_factory.get_task(cfg.task)
    model = task.build_model()
    kernels = [v for v in model.trainable_variables if len(v.shape) >= 2]
    assert any('fc1' in v.name for v in kernels) and any('fc2' in v.name for v in kernels)
    want = 1e-4 * sum(float(np.sum(np.square(v.numpy()))) for v in kernels) / 2
    got = float(sum(float(l) for l in model.losses))
    assert want > 0 and got == pytest.approx(want, rel=1e-5)


# GoLU's CIFAR-10 code (tasks/small_poc/main.py): batch 128 -> 50,000 // 128 = 390 steps per
# epoch; its lr changes at the start of 1-based epoch m, i.e. after m - 1 epochs (81 -> 80).
@pytest.mark.parametrize('name,values,epochs,nesterov,wd,total', [
    ('cifar10_resnet20_relu', [0.1, 0.01, 0.001], [80, 121], False, 1e-4, 164),
    ('cifar10_resnet110_golu', [0.01, 0.1, 0.01, 0.001], [1, 80, 121], False, 1e-4, 164),
    ('cifar10_wide_resnet28_2_mish', [0.1, 0.02, 0.004, 0.0008], [59, 119, 159], True, 5e-4,
     200),
])
def test_golu_cifar_schedules(name, values, epochs, nesterov, wd, total):
    cfg = resolve.load('cifar_resnet_cifar10', [os.path.join(C, 'golu', name + '.yaml')])
    stepwise = lr_of(cfg).stepwise
    np.testing.assert_allclose(stepwise.values, values, rtol=1e-9)
    assert list(stepwise.boundaries) == [e * 390 for e in epochs]
    assert cfg.trainer.train_steps == total * 390
    assert cfg.trainer.optimizer_config.optimizer.sgd.nesterov is nesterov
    assert cfg.task.losses.l2_weight_decay_all == wd
    assert cfg.task.losses.l2_weight_decay == 0.0
    assert warmup_of(cfg) is None
    assert cfg.task.train_data.crop_padding == 4 and not cfg.task.train_data.aug_crop


def test_golu_wide_resnet50_2_is_torchvision_with_nesterov():
    cfg = resolve.load('act_resnet_imagenet', [os.path.join(C, 'golu', 'wide_resnet50_2_relu.yaml')])
    assert cfg.trainer.recipe == 'torchvision_nesterov'
    assert cfg.trainer.optimizer_config.optimizer.sgd.nesterov is True
    assert list(lr_of(cfg).stepwise.boundaries) == [30 * 5004, 60 * 5004]
    assert cfg.task.model.norm_activation.use_sync_bn
    assert cfg.task.losses.l2_weight_decay_all == 1e-4


def test_decay_factors_need_one_epoch_each():
    with pytest.raises(ValueError, match='one factor per epoch'):
        resolve.load('cifar_resnet_cifar10', [os.path.join(C, 'golu', 'cifar10_resnet110_relu.yaml')],
                     'trainer.lr_decay_epochs=[80, 121]')


def test_golu_efficientnet_is_the_timm_command():
    """GoLU's README: 4 GPUs x --batch-size 384, --lr 0.048, --opt rmsproptf --opt-eps 0.001,
    --sched step --decay-epochs 2.4 --decay-rate 0.97, --epochs 450, warm-up 5 epochs (timm
    default) from --warmup-lr 1e-6, --weight-decay 1e-5, --drop 0.2, --drop-connect 0.2,
    --model-ema-decay 0.9999, --aa rand-m9-mstd0.5, --reprob 0.2 --remode pixel; 1536 ->
    1,281,167 // 1536 = 834 steps per epoch."""
    cfg = resolve.load('act_efficientnet_imagenet',
                       [os.path.join(C, 'golu', 'efficientnet_b0_golu.yaml')])
    assert cfg.trainer.recipe == 'golu_efficientnet' and effective(cfg) == 1536
    opt = cfg.trainer.optimizer_config
    assert opt.optimizer.type == 'rmsprop'
    assert (opt.optimizer.rmsprop.rho, opt.optimizer.rmsprop.momentum,
            opt.optimizer.rmsprop.epsilon) == (0.9, 0.9, 1e-3)
    exp = lr_of(cfg).exponential
    assert lr_of(cfg).type == 'exponential' and exp.staircase
    assert (exp.initial_learning_rate, exp.decay_rate, exp.decay_steps) == (0.048, 0.97,
                                                                            round(2.4 * 834))
    assert cfg.trainer.train_steps == 450 * 834
    assert warmup_of(cfg) == (5 * 834, 1e-6)
    assert cfg.task.losses.l2_weight_decay == 1e-5 and cfg.task.losses.l2_weight_decay_all == 0
    assert cfg.task.losses.label_smoothing == 0.1
    assert cfg.task.model.dropout_rate == 0.2
    assert cfg.task.model.backbone.act_efficientnet.drop_path_rate is None   # = 0.2
    assert opt.ema.average_decay == 0.9999
    train = cfg.task.train_data
    assert train.pipeline == 'timm' and not train.timm.increasing
    randaug = train.aug_type.randaug
    assert (randaug.num_layers, randaug.magnitude, randaug.magnitude_std) == (2, 9, 0.5)
    assert train.random_erasing.probability == 0.2
    assert not train.mixup_and_cutmix
