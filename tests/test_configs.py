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
    if not path.startswith(os.path.join(lib.CONFIG_DIR, 'demo')):
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
                'torchvision_resnet': 256, 'shufflenet_v2': 1024, 'tfnet': 1024}
        assert effective == want[cfg.trainer.recipe]
        folder = os.path.basename(os.path.dirname(path))
        expected_recipe = {'acon': 'acon_resnet', 'golu': 'torchvision_resnet'}.get(folder)
        if path.endswith('_seed004.yaml'):
            expected_recipe = 'posmlp_seed004'
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
    assert ref('posmlp/posmlp_small.yaml').startswith('83.0%')
    assert ref('acon_lightweight/shufflenet_v2_0.5x_acon_c.yaml').startswith('63.0%')  # 37.0
    assert ref('acon_lightweight/shufflenet_v2_1.5x_meta_acon.yaml').startswith('75.3%')  # 24.7
    assert ref('acon_lightweight/shufflenet_v2_2.0x_relu.yaml').startswith('75.0%')  # 25.0
    assert ref('acon_lightweight/tfnet_0.5.yaml').startswith('63.4%')  # error 36.6
    assert ref('acon_lightweight/tfnet_2.0.yaml').startswith('75.7%')  # error 24.3
