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
    golu = ('relu', 'gelu', 'swish', 'mish', 'golu')
    want |= {f'golu/vit_{m}_{a}' for m in ('b32', 'b16', 'ti16_cifar10') for a in golu}
    want |= {f'golu/tiny_vit_21m_{a}' for a in golu}
    want |= {f'trainable/convnext_tiny_{a}' for a in (
        'coslu', 'delu', 'lincomb', 'normlincomb', 'relun', 'scaledsoftsign', 'shilu')}
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
    if not path.startswith(os.path.join(lib.CONFIG_DIR, 'demo')):
        assert cfg.task.model.num_classes == 1000
        assert cfg.task.model.input_size == [224, 224, 3]
        assert cfg.runtime.distribution_strategy == 'tpu'
        assert cfg.runtime.mixed_precision_dtype == 'bfloat16'
        effective = cfg.task.train_data.global_batch_size * cfg.trainer.accumulation_steps
        # The authors' effective batches (ConvNeXt/HorNet 4 nodes x 8 GPUs x 128, Swin 8 x 128,
        # PosMLP 8 GPUs x 128 / x 60, seed 004's 256 x 8, ResNets 8 x 32).
        want = {'convnext': 4096, 'hornet': 4096, 'hornet_small': 4096, 'swin': 1024, 'posmlp_tiny': 1024,
                'posmlp_small': 480, 'posmlp_seed004': 2048, 'acon_resnet': 256,
                'torchvision_resnet': 256, 'torchvision_vit_b16': 4096,
                'torchvision_vit_b32': 4096, 'timm_vit_cifar10': 32, 'tiny_vit': 1024}
        assert effective == want[cfg.trainer.recipe]
        folder = os.path.basename(os.path.dirname(path))
        expected_recipe = {'acon': 'acon_resnet', 'golu': 'torchvision_resnet'}.get(folder)
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
    assert ref('posmlp/posmlp_small.yaml').startswith('83.0%')
