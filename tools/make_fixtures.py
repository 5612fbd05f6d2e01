"""Makes the reference fixtures of tests/test_import_weights.py (run by hand, needs torch).

    python -m venv /tmp/ref && /tmp/ref/bin/pip install timm==0.9.16 safetensors einops
    git clone https://github.com/raoyongming/HorNet /tmp/authors/HorNet   # likewise
    git clone https://github.com/Zhicaiwww/PosMLP /tmp/authors/PosMLP     # nmaac/acon
    git clone https://github.com/automl/GoLU /tmp/authors/GoLU
    /tmp/ref/bin/python tools/make_fixtures.py --hornet_dir=/tmp/authors/HorNet \
        --posmlp_dir=/tmp/authors/PosMLP --acon_dir=/tmp/authors/acon \
        --golu_dir=/tmp/authors/GoLU --out=tests/fixtures

For each reference network (timm ConvNeXt and Swin, torchvision ResNet with basic and bottleneck
blocks and the Wide ResNet's widened bottleneck, the ACON authors' ResNet-ACON-C,
ResNet-Meta-ACON, ShuffleNetV2 (ReLU, Swish, ACON-C, Meta-ACON) and TFNet, the HorNet and PosMLP
authors' models, torchvision's and timm's ViT, GoLU's and timm's TinyViT, the GoLU authors' CIFAR
ResNet, WideResNet and DenseNet, timm's EfficientNet) it builds a tiny variant from the
reference's own classes (a few channels, one or two blocks per stage), sets EVERY parameter and
BatchNorm statistic to random values (layer scales and positional parameters included, so that
nothing is at an init value that would hide a mapping mistake), and writes `<name>.safetensors`
(the state dict, float32),
`<name>.npz` (`images` [B, 3, H, W] and the reference `logits`, eval mode, float32) and
`<name>.json` (our experiment and the `--params_override` that builds the same network).

The authors' repositories are imported from the given checkouts, never copied here.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import sys
import types
from functools import partial
from typing import Callable, Dict, Tuple

import numpy as np
import torch
from safetensors.torch import save_file

IMAGE, BATCH, CLASSES = 32, 2, 10


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Every float parameter and BN statistic ← random values of a sensible scale."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(('.p1', '.p2', '.beta')) and p.ndim == 4:
                # ACON's [1, C, 1, 1] parameters at their init scale (randn), not as kernels:
                # scaled by 1/sqrt(C) they shrink every ACON output and the tiny ShuffleNets'
                # logits barely depended on the image.
                p.copy_(torch.randn(p.shape, generator=g))
            elif p.ndim >= 2 and not name.endswith(('attention_spreads', 'bias_table')):
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            elif name.endswith('attention_spreads'):
                p.copy_(torch.eye(2) + 0.3 * torch.randn(p.shape, generator=g))
            elif name.endswith(('attention_centers', 'bias_table')):
                p.copy_(torch.randn(p.shape, generator=g))
            elif name.endswith(('gamma', 'gamma1', 'gamma2', 'p1', 'p2', 'beta')):
                p.copy_(torch.randn(p.shape, generator=g))
            elif name.endswith('weight'):  # norm scales
                p.copy_(1.0 + 0.3 * torch.randn(p.shape, generator=g))
            else:  # biases, token biases
                p.copy_(0.3 * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name.endswith('running_mean'):
                b.copy_(0.3 * torch.randn(b.shape, generator=g))
            elif name.endswith('running_var'):
                b.copy_(0.5 + torch.rand(b.shape, generator=g))


def _module_from(path: str, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _narrow(resnet_cls: type, divisor: int) -> type:
    """A subclass of a torchvision-style ResNet whose stage widths are 64·2^i / divisor.

    The class's own `_make_layer`, blocks and forward are used; only `planes` is divided, and
    the classifier is re-created for the narrower feature width.
    """
    class Narrow(resnet_cls):  # pylint: disable=too-few-public-methods
        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
            return super()._make_layer(block, planes // divisor, blocks, stride, dilate)

    return Narrow


def _resnet(cls: type, block: type, depths, expansion: int, divisor: int = 16, **kwargs):
    model = _narrow(cls, divisor)(block, depths, num_classes=CLASSES, **kwargs)
    model.fc = torch.nn.Linear(512 // divisor * expansion, CLASSES)
    return model


def _resnet_override(depths, block: str, divisor: int = 16, **extra) -> dict:
    dims = [64 // divisor * 2 ** i for i in range(4)]
    return {'act_resnet': {'model_id': 0, 'block': block, 'dims': dims, 'depths': list(depths),
                           **extra}}


def _golu_small_poc(golu_dir: str) -> Dict[str, types.ModuleType]:
    """The GoLU authors' CIFAR modules (tasks/small_poc), imported from their checkout.

    `golu.golu_activation` compiles a CUDA kernel when imported; the fixtures use ReLU only, so
    a stand-in module without the kernel is registered first.
    """
    sys.path.insert(0, golu_dir)
    stub = types.ModuleType('golu.golu_activation')

    class GoLU(torch.nn.Module):  # pylint: disable=too-few-public-methods
        def forward(self, x):
            return x * torch.exp(-torch.exp(-x))

    stub.GoLU = GoLU
    sys.modules['golu.golu_activation'] = stub
    return {name: importlib.import_module(f'tasks.small_poc.{name}')
            for name in ('resnet', 'wide_resnet', 'dense_net')}
def _fixed(cls: type, **values) -> type:
    """A subclass of `cls` whose listed attributes read `values`, whatever `__init__` assigns.

    The ACON authors' ShuffleNetV2 and TFNet hard-code their stage widths and depths in
    `__init__`; read-only properties make the class's own `__init__` build a tiny variant.
    """
    props = {k: property(lambda self, v=v: list(v) if isinstance(v, list) else v,
                         lambda self, value: None) for k, v in values.items()}
    return type(f'Tiny{cls.__name__}', (cls,), dict(props, __module__=cls.__module__))


def _global_pool(model: torch.nn.Module) -> torch.nn.Module:
    """Their head pools with AvgPool2d(7), i.e. globally at 224 px; at 32 px the last map is
    1x1, so the same global average is taken with AdaptiveAvgPool2d(1)."""
    model.globalpool = torch.nn.AdaptiveAvgPool2d(1)
    return model


# Tiny ShuffleNetV2 (stem 8; stages 16, 32, 64 with 2, 2, 1 blocks; last conv 48) and TFNet
# (stem 4 = int(16 x 0.25); stages of 2, 1, 1, 1 blocks; last conv 24).
_SHUFFLE_TINY = dict(stage_out_channels=[-1, 8, 16, 32, 64, 48], stage_repeats=[2, 2, 1])
_SHUFFLE_OURS = {'model_id': '0.5x', 'dims': [16, 32, 64], 'depths': [2, 2, 1],
                 'stem_width': 8, 'last_width': 48}
_TFNET_TINY = dict(stages=[2, 1, 1, 1], out_channel=24)
_TFNET_OURS = {'model_id': '0.5', 'stem_width': 4, 'depths': [2, 1, 1, 1], 'last_width': 24}


def _acon_lightweight(acon_dir: str) -> dict:
    """ShuffleNetV2 with each activation of the seed's tables, and TFNet (the authors' code).

    ReLU and Swish: the authors' ACON ShuffleNetV2 module with `AconC` bound to nn.ReLU /
    nn.SiLU while it builds (the network whose activation the seed's rows vary).
    """
    out = {}
    for act, swap in (('acon_c', None), ('relu', torch.nn.ReLU), ('swish', torch.nn.SiLU)):
        module = _module_from(os.path.join(acon_dir, 'ACON/ShuffleNetV2_ACON/network.py'),
                              f'ref_shufflenet_{act}')
        if swap is not None:
            module.AconC = lambda width, swap=swap: swap()
        cls = _fixed(module.ShuffleNetV2_ACON, **_SHUFFLE_TINY)
        out[f'shufflenet_v2_{act}'] = (
            lambda cls=cls: _global_pool(cls(n_class=CLASSES, model_size='0.5x')),
            'shufflenet_v2_imagenet',
            {'shufflenet_v2': dict(_SHUFFLE_OURS, activation={'type': act})})
    meta = _module_from(os.path.join(acon_dir, 'MetaACON/ShuffleNet_MetaACON/network.py'),
                        'ref_shufflenet_meta_acon')
    cls = _fixed(meta.ShuffleNetV2_MetaACON, **_SHUFFLE_TINY)   # 0.5x: generator ratio r = 8
    out['shufflenet_v2_meta_acon'] = (
        lambda: _global_pool(cls(n_class=CLASSES, model_size='0.5x')),
        'shufflenet_v2_imagenet',
        {'shufflenet_v2': dict(_SHUFFLE_OURS, activation={'type': 'meta_acon'})})
    tf_module = _module_from(os.path.join(acon_dir, 'TFNet/network.py'), 'ref_tfnet')
    tiny_tfnet = _fixed(tf_module.TFNet, **_TFNET_TINY)
    out['tfnet'] = (lambda: _global_pool(tiny_tfnet(n_class=CLASSES, model_size=0.25)),
                    'tfnet_imagenet', {'tfnet': dict(_TFNET_OURS)})
    return out


def builders(args) -> Dict[str, Tuple[Callable[[], torch.nn.Module], str, dict]]:
    """name → (builder, our experiment, our backbone settings)."""
    import timm  # pylint: disable=g-import-not-at-top
    import timm.models.tiny_vit  # pylint: disable=g-import-not-at-top
    import timm.models.vision_transformer  # pylint: disable=g-import-not-at-top
    import torchvision  # pylint: disable=g-import-not-at-top
    from timm.models import convnext, swin_transformer  # pylint: disable=g-import-not-at-top
    tv = torchvision.models.resnet
    out = {
        'convnext': (lambda: convnext.ConvNeXt(depths=(1, 1, 1, 1), dims=(8, 16, 24, 32),
                                               num_classes=CLASSES),
                     'convnext_imagenet',
                     {'convnext': {'dims': [8, 16, 24, 32], 'depths': [1, 1, 1, 1]}}),
        'swin': (lambda: swin_transformer.SwinTransformer(
                     img_size=IMAGE, patch_size=4, window_size=4, embed_dim=8, depths=(2, 1, 1),
                     num_heads=(1, 2, 2), num_classes=CLASSES),
                 'swin_imagenet',
                 {'swin': {'dims': [8, 16, 32], 'depths': [2, 1, 1], 'num_heads': [1, 2, 2],
                           'window_size': 4}}),
        'resnet_basic': (lambda: _resnet(tv.ResNet, tv.BasicBlock, [1, 1, 1, 1], 1),
                         'act_resnet_imagenet', _resnet_override([1, 1, 1, 1], 'basic')),
        'resnet_bottleneck': (lambda: _resnet(tv.ResNet, tv.Bottleneck, [2, 1, 1, 1], 4),
                              'act_resnet_imagenet',
                              _resnet_override([2, 1, 1, 1], 'bottleneck')),
    }
    vit = {'patch_size': 8, 'hidden_size': 16, 'depth': 2, 'num_heads': 2, 'mlp_dim': 32}
    out['vit_torchvision'] = (
        lambda: torchvision.models.vision_transformer.VisionTransformer(
            image_size=IMAGE, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16,
            mlp_dim=32, num_classes=CLASSES),
        'act_vit_imagenet', {'act_vit': {'model_id': 'custom', **vit}})
    out['vit_timm'] = (
        lambda: timm.models.vision_transformer.VisionTransformer(
            img_size=IMAGE, patch_size=8, embed_dim=16, depth=2, num_heads=2, mlp_ratio=2.0,
            num_classes=CLASSES),
        'act_vit_imagenet', {'act_vit': {'model_id': 'custom', 'weight_init': 'timm', **vit}})
    tiny = {'dims': [8, 16, 24, 32], 'depths': [1, 2, 1, 1], 'num_heads': [1, 2, 3, 4],
            'window_sizes': [1, 3, 2, 1]}   # 3 on a 4x4 map: the zero-padded windows
    out['tiny_vit_timm'] = (
        lambda: timm.models.tiny_vit.TinyVit(
            num_classes=CLASSES, embed_dims=tiny['dims'], depths=tiny['depths'],
            num_heads=tiny['num_heads'], window_sizes=tiny['window_sizes'], drop_path_rate=0.0),
        'tiny_vit_imagenet', {'tiny_vit': {'model_id': 'custom', **tiny}})
    if args.golu_dir:
        tv = _module_from(os.path.join(args.golu_dir,
                                       'tasks/image_classification/tiny_vit/models/tiny_vit.py'),
                          'ref_golu_tiny_vit')
        out['tiny_vit'] = (
            lambda: tv.TinyViT(img_size=IMAGE, num_classes=CLASSES, embed_dims=tiny['dims'],
                               depths=tiny['depths'], num_heads=tiny['num_heads'],
                               window_sizes=tiny['window_sizes'], drop_path_rate=0.0),
            'tiny_vit_imagenet', {'tiny_vit': {'model_id': 'custom', **tiny}})
    # wide_resnet50_2 is ResNet(Bottleneck, width_per_group=128): inner widths x2.
    out['wide_resnet_bottleneck'] = (
        lambda: _resnet(tv.ResNet, tv.Bottleneck, [2, 1, 1, 1], 4, width_per_group=128),
        'act_resnet_imagenet',
        _resnet_override([2, 1, 1, 1], 'bottleneck', width_multiplier=2))
    # densenet121's layout (torchvision DenseNet), two blocks of one and two layers.
    out['densenet'] = (
        lambda: torchvision.models.densenet.DenseNet(
            growth_rate=4, block_config=(1, 2), num_init_features=8, num_classes=CLASSES),
        'densenet_imagenet',
        {'densenet': {'model_id': 0, 'layout': 'imagenet', 'growth_rate': 4, 'depths': [1, 2],
                      'stem_width': 8}})
    # timm's efficientnet_b0 classes (DepthwiseSeparableConv, InvertedResidual with SE, skips)
    # on a narrow arch: one block per stage but two in stage 2.
    from timm.models import efficientnet  # pylint: disable=g-import-not-at-top
    from timm.models._efficientnet_builder import decode_arch_def  # pylint: disable=g-import-not-at-top
    arch = [['ds_r1_k3_s1_e1_c8_se0.25'], ['ir_r2_k3_s2_e6_c8_se0.25'],
            ['ir_r1_k5_s2_e6_c8_se0.25'], ['ir_r1_k3_s2_e6_c16_se0.25'],
            ['ir_r1_k5_s1_e6_c16_se0.25'], ['ir_r1_k5_s2_e6_c24_se0.25'],
            ['ir_r1_k3_s1_e6_c24_se0.25']]
    out['efficientnet'] = (
        lambda: efficientnet.EfficientNet(block_args=decode_arch_def(arch), num_features=32,
                                          stem_size=8, num_classes=CLASSES,
                                          act_layer=torch.nn.SiLU),
        'act_efficientnet_imagenet',
        {'act_efficientnet': {'model_id': 'b0', 'widths': [8, 8, 8, 16, 16, 24, 24],
                              'depths': [1, 2, 1, 1, 1, 1, 1], 'stem_width': 8,
                              'head_width': 32}})
    del timm
    if args.golu_dir:
        golu = _golu_small_poc(args.golu_dir)
        out['cifar_resnet'] = (
            lambda: golu['resnet'].ResNet(num_blocks=[2, 1, 1], num_classes=CLASSES,
                                          activation='ReLU'),
            'cifar_resnet_cifar10',
            {'cifar_resnet': {'model_id': 0, 'dims': [16, 32, 64], 'depths': [2, 1, 1]}})
        out['cifar_wide_resnet'] = (
            lambda: golu['wide_resnet'].Wide_ResNet(activation='ReLU', num_classes=CLASSES,
                                                    depth=10, widen_factor=1),
            'cifar_wide_resnet_cifar10',
            {'cifar_wide_resnet': {'model_id': '', 'dims': [16, 32, 64], 'depths': [1, 1, 1]}})
        out['densenet_cifar'] = (
            lambda: golu['dense_net'].DenseNet(nblocks=[2, 1, 1], growth_rate=4, reduction=0.5,
                                               activation='ReLU', num_classes=CLASSES),
            'densenet_cifar10',
            {'densenet': {'model_id': 0, 'layout': 'cifar', 'growth_rate': 4,
                          'depths': [2, 1, 1], 'stem_width': 8}})
    if args.acon_dir:
        sys.path.insert(0, args.acon_dir)  # their modules import `acon` from the repo root
        ra = _module_from(os.path.join(args.acon_dir, 'ACON/ResNet_ACON/resnet_acon.py'),
                          'ref_resnet_acon')
        rm = _module_from(os.path.join(args.acon_dir,
                                       'MetaACON/ResNet_MetaACON/resnet_metaacon.py'),
                          'ref_resnet_metaacon')
        acon = dict(activation_sites='bottleneck_3x3', stride_in_1x1=True, conv_bias=True)
        out['resnet_acon_c'] = (
            lambda: _resnet(ra.ResNet, ra.Bottleneck_ACON, [2, 1, 1, 1], 4),
            'act_resnet_imagenet',
            _resnet_override([2, 1, 1, 1], 'bottleneck', activation={'type': 'acon_c'},
                             **acon))
        out['resnet_meta_acon'] = (
            lambda: _resnet(rm.ResNet, rm.Bottleneck_MetaACON, [2, 1, 1, 1], 4),
            'act_resnet_imagenet',
            _resnet_override([2, 1, 1, 1], 'bottleneck', activation={'type': 'meta_acon'},
                             **acon))
        out.update(_acon_lightweight(args.acon_dir))
    if args.hornet_dir:
        hn = _module_from(os.path.join(args.hornet_dir, 'hornet.py'), 'ref_hornet')
        s = 1.0 / 3.0
        out['hornet'] = (
            lambda: hn.HorNet(depths=[1, 1, 1, 1], base_dim=8, num_classes=CLASSES,
                              gnconv=[partial(hn.gnconv, order=o, s=s) for o in (2, 3, 4, 5)]),
            'hornet_imagenet',
            {'hornet': {'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1]}})
    if args.posmlp_dir:
        package = types.ModuleType('models')  # their package, without its __init__'s imports
        package.__path__ = [os.path.join(args.posmlp_dir, 'models')]
        sys.modules['models'] = package
        pm = importlib.import_module('models.posmlp')
        out['posmlp'] = (
            lambda: pm.PosMLP(img_size=(IMAGE, IMAGE), embed_dims=(8, 16, 32, 64),
                              win_size=(4, 2, 2, 1), gamma=(2, 2, 4, 4), depths=(1, 1, 1, 1),
                              mlp_ratio=(4, 4, 4, 2), num_levels=4, num_classes=CLASSES,
                              drop_path_rate=0.0),
            'posmlp_imagenet',
            {'posmlp': {'dims': [8, 16, 32, 64], 'depths': [1, 1, 1, 1],
                        'window_sizes': [4, 2, 2, 1], 'groups': [2, 2, 4, 4],
                        'mlp_ratios': [4.0, 4.0, 4.0, 2.0]}})
    return out


def override(experiment_backbone: dict) -> dict:
    (family, settings), = experiment_backbone.items()
    settings = dict(settings)
    # No stochastic depth in these (densenet has no residual branches).
    if family not in ('act_resnet', 'densenet', 'shufflenet_v2', 'tfnet'):
        settings.setdefault('drop_path_rate', 0.0)
    return {'task': {'model': {'num_classes': CLASSES, 'input_size': [IMAGE, IMAGE, 3],
                               'backbone': {'type': family, family: settings}},
                     'init_checkpoint_modules': 'all'}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='tests/fixtures')
    parser.add_argument('--hornet_dir')
    parser.add_argument('--posmlp_dir')
    parser.add_argument('--acon_dir')
    parser.add_argument('--golu_dir', help='automl/GoLU checkout (TinyViT, CIFAR networks)')
    parser.add_argument('--only', nargs='*')
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.set_grad_enabled(False)
    for i, (name, (build, experiment, backbone)) in enumerate(sorted(builders(args).items())):
        if args.only and name not in args.only:
            continue
        torch.manual_seed(i)
        model = build().eval()
        randomize(model, seed=100 + i)
        model.eval()  # again: TinyViT caches its attention biases when switched to eval
        images = torch.randn(BATCH, 3, IMAGE, IMAGE, generator=torch.Generator().manual_seed(i))
        logits = model(images)
        state = {k: v.detach().float().contiguous() if v.is_floating_point() else v.contiguous()
                 for k, v in model.state_dict().items()}
        save_file(state, os.path.join(args.out, f'{name}.safetensors'))
        np.savez_compressed(os.path.join(args.out, f'{name}.npz'),
                            images=images.numpy().astype(np.float32),
                            logits=logits.numpy().astype(np.float32))
        with open(os.path.join(args.out, f'{name}.json'), 'w', encoding='utf-8') as f:
            json.dump({'experiment': experiment, 'params_override': override(backbone),
                       'reference': type(model).__module__ + '.' + type(model).__qualname__},
                      f, indent=1)
        count = sum(p.numel() for p in model.parameters())
        print(f'{name}: {count} parameters, logits {list(logits.shape)}, '
              f'max |logit| {logits.abs().max():.3g}')


if __name__ == '__main__':
    main()
