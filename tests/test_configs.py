"""Every YAML under configs/ names its command, hardware and reference, loads and validates."""
import os

import pytest

from tests import train_testlib as lib

FILES = lib.yaml_files()
IDS = [os.path.relpath(p, lib.CONFIG_DIR) for p in FILES]


def test_model_zoo_is_complete():
    names = {os.path.splitext(i)[0] for i in IDS}
    uniform = [f'{o}_{o}_{o}_{o}' for o in range(1, 9)]
    staggered = [f'{o}_{o + 1}_{o + 2}_{o + 3}' for o in range(1, 8)]
    want = {'tpgu/convnext_tiny', 'tpgu/convnext_small', 'tpgu/convnext_small_tpgu_7_7_7_7',
            'tpgu/hornet_tiny', 'tpgu/hornet_small', 'tpgu/hornet_small_tpgu_3_3_3_3',
            'tpgu/swin_tiny', 'tpgu/swin_small', 'tpgu/swin_small_tpgu_3_3_3_3',
            'posmlp/posmlp_tiny', 'posmlp/posmlp_small',
            'posmlp/posmlp_tiny_seed004', 'posmlp/posmlp_small_seed004'}
    want |= {f'tpgu/convnext_tiny_tpgu_{o}' for o in uniform + staggered}
    want |= {f'tpgu/hornet_tiny_tpgu_{o}' for o in uniform[:4] + staggered[:3]}
    want |= {f'tpgu/swin_tiny_tpgu_{o}' for o in uniform[:4] + staggered[:2]}
    want |= {f'acon/resnet{d}_{a}' for d in (50, 101, 152)
             for a in ('relu', 'swish', 'acon_c', 'meta_acon')}
    want |= {f'golu/resnet{d}_{a}' for d in (18, 34, 50)
             for a in ('relu', 'gelu', 'swish', 'mish', 'golu')}
    golu = golu_acts = ('relu', 'gelu', 'swish', 'mish', 'golu')
    want |= {f'golu/vit_{m}_{a}' for m in ('b32', 'b16', 'ti16_cifar10') for a in golu}
    want |= {f'golu/tiny_vit_21m_{a}' for a in golu}
    want |= {f'golu/wide_resnet50_2_{a}' for a in golu_acts}
    want |= {f'golu/cifar10_resnet{d}_{a}' for d in (20, 32, 44, 56, 110) for a in golu_acts}
    want |= {f'golu/cifar10_wide_resnet28_2_{a}' for a in golu_acts}
    want |= {f'golu/densenet121_{a}' for a in golu_acts}
    want |= {f'golu/cifar10_densenet40_{a}' for a in golu_acts}
    want |= {f'golu/efficientnet_b0_{a}' for a in golu_acts}
    want |= {f'trainable/convnext_tiny_{a}' for a in (
        'coslu', 'delu', 'lincomb', 'normlincomb', 'relun', 'scaledsoftsign', 'shilu')}
    # Seed 001's ShuffleNetV2 and Meta-ACON tables, and the ShuffleNetV2/TFNet rows of its TFNet
    # table (its MobileNetV2 rows are other papers' networks, not built here).
    want |= {f'acon_lightweight/shufflenet_v2_{s}_{a}' for s in ('0.5x', '1.5x')
             for a in ('relu', 'swish', 'acon_c', 'meta_acon')}
    want |= {'acon_lightweight/shufflenet_v2_1.0x_relu', 'acon_lightweight/shufflenet_v2_2.0x_relu'}
    want |= {f'acon_lightweight/tfnet_{s}' for s in ('0.5', '1.0', '1.5', '2.0')}
    missing = want - names
    assert not missing, sorted(missing)
    assert len([n for n in names if n.startswith('demo/')]) >= 2


@pytest.mark.parametrize('path', FILES, ids=IDS)
def test_header_names_command_hardware_reference(path):
    head = lib.header(path)
    for key in ('Command', 'Hardware'):
        assert key in head, f'{path}: missing "# {key}:" line'
    assert any(k.startswith('Reference') for k in head), path
    flags = lib.command_flags(head['Command'])
    assert head['Command'].startswith('python3 run.py ')
    assert flags['config_file'] == os.path.relpath(path, lib.ROOT)
    assert flags['mode'] == 'train_and_eval'
    assert 'model_dir' in flags


@pytest.mark.parametrize('path', FILES, ids=IDS)
def test_loads_and_validates(path):
    cfg = lib.load(path)
    family = cfg.task.model.backbone.type
    assert family in lib.REDUCED
    if path.startswith(os.path.join(lib.CONFIG_DIR, 'demo')):
        return
    if cfg.task.train_data.tfds_name == 'cifar10':
        check_cifar10(cfg)
    else:
        assert cfg.task.model.num_classes == 1000
        assert cfg.task.model.input_size == [224, 224, 3]
        assert cfg.runtime.distribution_strategy == 'tpu'
        assert cfg.runtime.mixed_precision_dtype == 'bfloat16'
        effective = cfg.task.train_data.global_batch_size * cfg.trainer.accumulation_steps
        # The authors' effective batches (ConvNeXt/HorNet 4 nodes x 8 GPUs x 128, Swin 8 x 128,
        # PosMLP 8 GPUs x 128 / x 60, seed 004's 256 x 8, ResNets 8 x 32, the ACON authors'
        # ShuffleNetV2 and TFNet train.py --batch-size 1024).
        want = {'convnext': 4096, 'hornet': 4096, 'hornet_small': 4096, 'swin': 1024, 'posmlp_tiny': 1024,
                'posmlp_small': 480, 'posmlp_seed004': 2048, 'acon_resnet': 256,
                'torchvision_resnet': 256, 'torchvision_vit_b16': 4096,
                'torchvision_vit_b32': 4096, 'timm_vit_cifar10': 32, 'tiny_vit': 1024,
                'torchvision_nesterov': 256, 'shufflenet_v2': 1024, 'tfnet': 1024,
                'golu_efficientnet': 1536}   # timm command: 4 GPUs x --batch-size 384
        assert effective == want[cfg.trainer.recipe]
        folder = os.path.basename(os.path.dirname(path))
        expected_recipe = {'acon': 'acon_resnet'}.get(folder)
        if folder == 'golu':
            expected_recipe = golu_recipe(path)
        if path.endswith('_seed004.yaml'):
            expected_recipe = 'posmlp_seed004'
        # GoLU's ViTs: torchvision's recipe (B/16, B/32) and timm's CIFAR-10 one (Ti/16).
        for prefix, vit_recipe in (('vit_b16_', 'torchvision_vit_b16'),
                                   ('vit_b32_', 'torchvision_vit_b32'),
                                   ('vit_ti16_cifar10_', 'timm_vit_cifar10'),
                                   ('tiny_vit_21m_', 'tiny_vit')):
            if os.path.basename(path).startswith(prefix):
                expected_recipe = vit_recipe
        if expected_recipe:
            assert cfg.trainer.recipe == expected_recipe
        elif family != 'posmlp':
            assert cfg.trainer.recipe.startswith(family)


# Seed 002 (GoLU) rows: file-name prefix -> the recipe of the authors' command for that row
# (the longest matching prefix wins).
GOLU_RECIPES = {
    'resnet': 'torchvision_resnet',                 # README ResNet command (--sync-bn)
    'wide_resnet50_2': 'torchvision_nesterov',      # README: --opt sgd_nesterov --sync-bn
    'cifar10_resnet': 'golu_cifar_resnet',          # small_poc/main.py: 0.1, x0.1 at 81, 122
    'cifar10_resnet110': 'golu_cifar_resnet110',    # 0.01, x10 at 2, x0.1 at 81, 122
    'cifar10_wide_resnet28_2': 'golu_cifar_wide_resnet',
    'densenet121': 'torchvision_nesterov',          # README: --opt sgd_nesterov --sync-bn
    'cifar10_densenet40': 'golu_cifar_densenet40',  # batch 64, Nesterov, x0.1 at 150, 225
    'efficientnet_b0': 'golu_efficientnet',         # README timm command
    'vit_b16': 'torchvision_vit_b16',               # README ViT-B/16 (torchvision recipe)
    'vit_b32': 'torchvision_vit_b32',               # README ViT-B/32
    'vit_ti16_cifar10': 'timm_vit_cifar10',         # small_poc/train_vit.py (timm)
    'tiny_vit_21m': 'tiny_vit',                     # tiny_vit/ (tiny_vit_21m.yaml)
}
# CIFAR-10 recipes: (effective batch, input side, head classes) from the authors' CIFAR code.
# GoLU's ViT-Ti/16-224 command passes no --num-classes, so timm keeps its 1000-class head.
CIFAR10 = {'golu_cifar_resnet': (128, 32, 10), 'golu_cifar_resnet110': (128, 32, 10),
           'golu_cifar_wide_resnet': (128, 32, 10), 'golu_cifar_densenet40': (64, 32, 10),
           'timm_vit_cifar10': (32, 224, 1000)}


def golu_recipe(path):
    name = os.path.basename(path)
    prefixes = [p for p in GOLU_RECIPES if name.startswith(p)]
    assert prefixes, f'{name}: add its recipe to GOLU_RECIPES'
    return GOLU_RECIPES[max(prefixes, key=len)]


def check_cifar10(cfg):
    """CIFAR-10 rows: 10 classes at their input size, tfds train / test, the authors' batch."""
    batch, side, classes = CIFAR10[cfg.trainer.recipe]
    assert cfg.task.model.num_classes == classes
    assert cfg.task.model.input_size == [side, side, 3]
    assert cfg.runtime.distribution_strategy == 'tpu'
    train, val = cfg.task.train_data, cfg.task.validation_data
    assert (train.tfds_split, train.num_examples, train.input_path) == ('train', 50000, '')
    assert (val.tfds_name, val.tfds_split, val.num_examples) == ('cifar10', 'test', 10000)
    assert train.global_batch_size * cfg.trainer.accumulation_steps == batch


def test_reference_numbers_match_the_seeds():
    """Spot checks of the header figures against the seeds' tables (typed from the seeds)."""
    def ref(name):
        return lib.header(os.path.join(lib.CONFIG_DIR, name))['Reference top-1']
    assert ref('tpgu/convnext_tiny_tpgu_7_7_7_7.yaml').startswith('81.2%')
    assert ref('tpgu/hornet_tiny_tpgu_3_3_3_3.yaml').startswith('81.7%')
    assert ref('tpgu/swin_small_tpgu_3_3_3_3.yaml').startswith('82.2%')
    assert ref('acon/resnet152_meta_acon.yaml').startswith('79.5%')   # error 20.5
    assert ref('golu/resnet34_golu.yaml').startswith('73.71')
    assert ref('golu/vit_b32_swish.yaml').startswith('72.31 +/- 2.15')
    assert ref('golu/vit_b16_golu.yaml').startswith('80.72 +/- 0.04')
    assert ref('golu/tiny_vit_21m_mish.yaml').startswith('83.01 +/- 0.02')
    assert ref('golu/wide_resnet50_2_golu.yaml').startswith('77.37 +/- 0.03')
    assert ref('golu/wide_resnet50_2_swish.yaml').startswith('75.41 +/- 0.03')
    assert ref('golu/densenet121_golu.yaml').startswith('75.25 +/- 0.03')
    assert ref('golu/densenet121_mish.yaml').startswith('72.97 +/- 0.10')
    assert ref('golu/efficientnet_b0_gelu.yaml').startswith('76.90 +/- 0.01')
    assert ref('golu/efficientnet_b0_golu.yaml').startswith('76.86 +/- 0.04')
    assert ref('posmlp/posmlp_small.yaml').startswith('83.0%')
    assert ref('acon_lightweight/shufflenet_v2_0.5x_acon_c.yaml').startswith('63.0%')  # 37.0
    assert ref('acon_lightweight/shufflenet_v2_1.5x_meta_acon.yaml').startswith('75.3%')  # 24.7
    assert ref('acon_lightweight/shufflenet_v2_2.0x_relu.yaml').startswith('75.0%')  # 25.0
    assert ref('acon_lightweight/tfnet_0.5.yaml').startswith('63.4%')  # error 36.6
    assert ref('acon_lightweight/tfnet_2.0.yaml').startswith('75.7%')  # error 24.3
