"""Per-family rules: which PyTorch state-dict key fills which Keras variable, and how.

A rule is (regex over the Keras variable name, PyTorch key template, transform). Names are the
variables' names without ':0' (`stage2_block0/dwconv/depthwise_kernel`); the classifier is
called `head/kernel` and `head/bias` whatever Keras named its Dense layer. Named groups of the
regex fill the template; `{x_1}` is group `x` minus one (our stages count from 1, the PyTorch
module lists from 0). Keys of the state dict that are not parameters (index buffers, batch
counters) are listed in `IGNORED`; those that encode a convention our model hard-codes are
checked by `checks.py` instead of being ignored silently.

Sources (key names are facts about their state dicts; no code is taken from them):
- `convnext`: timm `convnext_*` (timm 0.9); `swin`: timm `swin_*_patch4_window7_224`;
- `act_resnet`: torchvision `resnet*`, and nmaac/acon's ResNet-ACON / ResNet-Meta-ACON
  (`acon`, the activation after each bottleneck's 3×3, is their name for that site);
- `hornet`: raoyongming/HorNet `hornet.py` (7×7 gnConv);
- `posmlp`: Zhicaiwww/PosMLP `models/posmlp.py` (GQPE = `QuaMap`, LRPE = `LearnedPosMap`);
- `act_vit`: torchvision `vit_b_16`/`vit_b_32` and timm `vit_*_patch*_224` (two layouts);
- `tiny_vit`: automl/GoLU `tasks/image_classification/tiny_vit/models/tiny_vit.py` (Microsoft's
  TinyViT code, the one GoLU trained) and timm's `tiny_vit_*` (the same network, other names).
- `act_resnet` with `width_multiplier`: torchvision `wide_resnet50_2` (same keys as ResNet-50);
- `cifar_resnet`, `cifar_wide_resnet`: automl/GoLU `tasks/small_poc/resnet.py` and
  `wide_resnet.py` (`shortcut` is their projection, `linear` the classifier; WideResNet's top-level
  `conv1` is the stem and `bn1` the head BN);
- `densenet`: torchvision `densenet121` (`features.*`, `classifier`) and the GoLU authors' CIFAR
  DenseNet-40 (`tasks/small_poc/dense_net.py`: `dense{i}`, `trans{i}`, `bn`, `linear`), told
  apart by their head's key (`LAYOUTS`);
- `act_efficientnet`: timm `efficientnet_b0` (`blocks.{stage}.{block}`, `se.conv_reduce`,
  `conv_head`, the stem's `bn1` and the head's `bn2` at the top level).
- `shufflenet_v2`, `tfnet`: nmaac/acon `ACON/ShuffleNetV2_ACON/network.py`,
  `MetaACON/ShuffleNet_MetaACON/network.py` (with ReLU/Swish: no activation tensors) and
  `TFNet/network.py`.
"""
from __future__ import annotations

import re
from typing import Dict, List, NamedTuple, Optional, Tuple

from tools.porting import transforms as t


class Rule(NamedTuple):
    pattern: str
    template: str
    transform: t.Transform = t.identity


def _ln(ours: str, theirs: str) -> List[Rule]:
    """LayerNorm (or the affine part of any norm): gamma/beta ← weight/bias."""
    return [Rule(f'{ours}/gamma', f'{theirs}.weight'), Rule(f'{ours}/beta', f'{theirs}.bias')]


def _bn(ours: str, theirs: str) -> List[Rule]:
    """BatchNorm: the affine part and the running statistics."""
    return _ln(ours, theirs) + [Rule(f'{ours}/moving_mean', f'{theirs}.running_mean'),
                                Rule(f'{ours}/moving_variance', f'{theirs}.running_var')]


def _layer(ours: str, theirs: str, kernel: t.Transform, kernel_name: str = 'kernel'
           ) -> List[Rule]:
    """A conv/dense layer: kernel (transformed) and bias."""
    return [Rule(f'{ours}/{kernel_name}', f'{theirs}.weight', kernel),
            Rule(f'{ours}/bias', f'{theirs}.bias')]


def _head(theirs: str) -> List[Rule]:
    return _layer('head', theirs, t.linear)


S, B, D = r'(?P<s>\d+)', r'(?P<b>\d+)', r'(?P<d>\d+)'
BLOCK = f'stage{S}_block{B}'

CONVNEXT = (
    _layer('stem_conv', 'stem.0', t.conv) + _ln('stem_norm', 'stem.1')
    + _ln(f'downsample{D}_norm', 'stages.{d}.downsample.0')
    + _layer(f'downsample{D}_conv', 'stages.{d}.downsample.1', t.conv)
    + _layer(f'{BLOCK}/dwconv', 'stages.{s_1}.blocks.{b}.conv_dw', t.depthwise,
             'depthwise_kernel')
    + _ln(f'{BLOCK}/norm', 'stages.{s_1}.blocks.{b}.norm')
    + _layer(f'{BLOCK}/pwconv1', 'stages.{s_1}.blocks.{b}.mlp.fc1', t.linear)
    + _layer(f'{BLOCK}/pwconv2', 'stages.{s_1}.blocks.{b}.mlp.fc2', t.linear)
    + [Rule(f'{BLOCK}/ls/layer_scale', 'stages.{s_1}.blocks.{b}.gamma')]
    + _ln('head_norm', 'head.norm') + _head('head.fc'))

SWIN = (
    _layer('patch_embed_conv', 'patch_embed.proj', t.conv) + _ln('patch_embed_norm',
                                                                  'patch_embed.norm')
    + _ln(f'merge{D}/norm', 'layers.{d}.downsample.norm')
    + [Rule(f'merge{D}/reduction/kernel', 'layers.{d}.downsample.reduction.weight', t.linear)]
    + _ln(f'{BLOCK}/norm1', 'layers.{s_1}.blocks.{b}.norm1')
    + [Rule(f'{BLOCK}/attn/relative_position_bias_table',
            'layers.{s_1}.blocks.{b}.attn.relative_position_bias_table')]
    + _layer(f'{BLOCK}/attn/qkv', 'layers.{s_1}.blocks.{b}.attn.qkv', t.linear)
    + _layer(f'{BLOCK}/attn/proj', 'layers.{s_1}.blocks.{b}.attn.proj', t.linear)
    + _ln(f'{BLOCK}/norm2', 'layers.{s_1}.blocks.{b}.norm2')
    + _layer(f'{BLOCK}/fc1', 'layers.{s_1}.blocks.{b}.mlp.fc1', t.linear)
    + _layer(f'{BLOCK}/fc2', 'layers.{s_1}.blocks.{b}.mlp.fc2', t.linear)
    + _ln('head_norm', 'norm') + _head('head.fc'))

_RB = f'stage{S}_block{B}'
_TB = 'layer{s}.{b}'
_ACON = f'{_RB}_act(?P<k>[12])'  # the configured activation at its site (see _acon_module)
RESNET = (
    _layer('stem_conv', 'conv1', t.conv) + _bn('stem_bn', 'bn1')
    + _layer(f'{_RB}_conv(?P<k>[123])', _TB + '.conv{k}', t.conv)
    + _bn(f'{_RB}_bn(?P<k>[123])', _TB + '.bn{k}')
    + _layer(f'{_RB}_proj_conv', _TB + '.downsample.0', t.conv)
    + _bn(f'{_RB}_proj_bn', _TB + '.downsample.1')
    # ACON-C (p1, p2, beta) and Meta-ACON (p1, p2, generator fc1/bn1/fc2/bn2) at the ACON site:
    # `acon` after a bottleneck's 3×3 (our act2), `acon1` after a basic block's first conv.
    + [Rule(f'{_ACON}/{p}', _TB + '.{acon}.' + p, t.vector) for p in ('p1', 'p2', 'beta')]
    + _layer(f'{_ACON}/fc(?P<j>[12])', _TB + '.{acon}.fc{j}', t.conv1x1_as_dense)
    + _bn(f'{_ACON}/bn(?P<j>[12])', _TB + '.{acon}.bn{j}')
    + _head('fc'))

HORNET = (
    _layer('stem_conv', 'downsample_layers.0.0', t.conv) + _ln('stem_norm',
                                                               'downsample_layers.0.1')
    + _ln(f'downsample{D}_norm', 'downsample_layers.{d}.0')
    + _layer(f'downsample{D}_conv', 'downsample_layers.{d}.1', t.conv)
    + _ln(f'{BLOCK}/norm1', 'stages.{s_1}.{b}.norm1')
    + _layer(f'{BLOCK}/gnconv/proj_in', 'stages.{s_1}.{b}.gnconv.proj_in', t.conv)
    + _layer(f'{BLOCK}/gnconv/dwconv', 'stages.{s_1}.{b}.gnconv.dwconv', t.depthwise,
             'depthwise_kernel')
    + _layer(f'{BLOCK}/gnconv/pw(?P<k>\\d+)', 'stages.{s_1}.{b}.gnconv.pws.{k}', t.conv)
    + _layer(f'{BLOCK}/gnconv/proj_out', 'stages.{s_1}.{b}.gnconv.proj_out', t.conv)
    + _ln(f'{BLOCK}/norm2', 'stages.{s_1}.{b}.norm2')
    + _layer(f'{BLOCK}/pwconv1', 'stages.{s_1}.{b}.pwconv1', t.linear)
    + _layer(f'{BLOCK}/pwconv2', 'stages.{s_1}.{b}.pwconv2', t.linear)
    + [Rule(f'{BLOCK}/ls1/layer_scale', 'stages.{s_1}.{b}.gamma1'),
       Rule(f'{BLOCK}/ls2/layer_scale', 'stages.{s_1}.{b}.gamma2')]
    + _ln('head_norm', 'norm') + _head('head'))

_PB = 'levels.{s_1}.encoder.{b}'
POSMLP = (
    _layer('stem_conv(?P<k>[123])', 'patch_embed.projs.{k_1}', t.conv)
    + _bn('stem_bn(?P<k>[123])', 'patch_embed.norms.{k_1}')
    + _layer(f'downsample{D}_conv', 'levels.{d}.pool.conv', t.depthwise_x2, 'depthwise_kernel')
    + _ln(f'downsample{D}_norm', 'levels.{d}.pool.norm')
    + _ln(f'{BLOCK}/norm', _PB + '.norm')
    + _layer(f'{BLOCK}/fc1', _PB + '.proj_c_e', t.linear)
    + _layer(f'{BLOCK}/fc2', _PB + '.proj_c_s', t.linear)
    + [Rule(f'{BLOCK}/posgu/position_center', _PB + '.gate_unit.pos.attention_centers'),
       Rule(f'{BLOCK}/posgu/position_shape', _PB + '.gate_unit.pos.attention_spreads'),
       Rule(f'{BLOCK}/posgu/position_bias', _PB + '.gate_unit.pos.token_proj_n_bias', t.vector),
       Rule(f'{BLOCK}/posgu/relative_position_table',
            _PB + '.gate_unit.pos.window_relative_position_bias_table')]
    + _ln('head_norm', 'norm') + _head('head'))

_VB = r'block(?P<i>\d+)'
_TVB = 'encoder.layers.encoder_layer_{i}'
VIT_TORCHVISION = (
    _layer('patch_embed', 'conv_proj', t.conv)
    + [Rule('embed/class_token', 'class_token'),
       Rule('embed/position_embedding', 'encoder.pos_embedding')]
    + _ln(f'{_VB}/norm1', _TVB + '.ln_1')
    + [Rule(f'{_VB}/attn/qkv/kernel', _TVB + '.self_attention.in_proj_weight', t.linear),
       Rule(f'{_VB}/attn/qkv/bias', _TVB + '.self_attention.in_proj_bias')]
    + _layer(f'{_VB}/attn/proj', _TVB + '.self_attention.out_proj', t.linear)
    + _ln(f'{_VB}/norm2', _TVB + '.ln_2')
    + _layer(f'{_VB}/fc1', _TVB + '.mlp.0', t.linear)
    + _layer(f'{_VB}/fc2', _TVB + '.mlp.3', t.linear)
    + _ln('head_norm', 'encoder.ln') + _head('heads.head'))

VIT_TIMM = (
    _layer('patch_embed', 'patch_embed.proj', t.conv)
    + [Rule('embed/class_token', 'cls_token'), Rule('embed/position_embedding', 'pos_embed')]
    + _ln(f'{_VB}/norm1', 'blocks.{i}.norm1')
    + _layer(f'{_VB}/attn/qkv', 'blocks.{i}.attn.qkv', t.linear)
    + _layer(f'{_VB}/attn/proj', 'blocks.{i}.attn.proj', t.linear)
    + _ln(f'{_VB}/norm2', 'blocks.{i}.norm2')
    + _layer(f'{_VB}/fc1', 'blocks.{i}.mlp.fc1', t.linear)
    + _layer(f'{_VB}/fc2', 'blocks.{i}.mlp.fc2', t.linear)
    + _ln('head_norm', 'norm') + _head('head'))

def _conv_bn(ours: str, theirs: str) -> List[Rule]:
    """TinyViT's Conv2d_BN (`c`, `bn`) as our `<name>_conv` + `<name>_bn`; the regex group
    `k` picks the depthwise conv (k = 2) or a full one."""
    return ([Rule(f'{ours}_conv/kernel', theirs + '.c.weight', t.conv),
             Rule(f'{ours}_conv/depthwise_kernel', theirs + '.c.weight', t.depthwise)]
            + _bn(f'{ours}_bn', theirs + '.bn'))


_TVB_ = 'layers.{s_1}.blocks.{b}'
TINY_VIT = (
    _conv_bn('stem1', 'patch_embed.seq.0') + _conv_bn('stem2', 'patch_embed.seq.2')
    + _conv_bn(f'stage1_block{B}_conv(?P<k>[123])', 'layers.0.blocks.{b}.conv{k}')
    + _conv_bn(f'merge{D}_conv(?P<k>[123])', 'layers.{d_1}.downsample.conv{k}')
    + [Rule(f'{BLOCK}/attn/attention_biases', _TVB_ + '.attn.attention_biases')]
    + _ln(f'{BLOCK}/attn/norm', _TVB_ + '.attn.norm')
    + _layer(f'{BLOCK}/attn/qkv', _TVB_ + '.attn.qkv', t.linear)
    + _layer(f'{BLOCK}/attn/proj', _TVB_ + '.attn.proj', t.linear)
    + [Rule(f'{BLOCK}/local_conv/depthwise_kernel', _TVB_ + '.local_conv.c.weight',
            t.depthwise)]
    + _bn(f'{BLOCK}/local_bn', _TVB_ + '.local_conv.bn')
    + _ln(f'{BLOCK}/mlp_norm', _TVB_ + '.mlp.norm')
    + _layer(f'{BLOCK}/fc1', _TVB_ + '.mlp.fc1', t.linear)
    + _layer(f'{BLOCK}/fc2', _TVB_ + '.mlp.fc2', t.linear)
    + _ln('head_norm', 'norm_head') + _head('head'))


def _timm_conv_bn(ours: str, theirs: str) -> List[Rule]:
    """timm's ConvNorm (`conv`, `bn`) as our `<name>_conv` + `<name>_bn`."""
    return ([Rule(f'{ours}_conv/kernel', theirs + '.conv.weight', t.conv),
             Rule(f'{ours}_conv/depthwise_kernel', theirs + '.conv.weight', t.depthwise)]
            + _bn(f'{ours}_bn', theirs + '.bn'))


_TMB = 'stages.{s_1}.blocks.{b}'
TINY_VIT_TIMM = (   # timm's tiny_vit_*: merging at the start of the next stage, NormMlp head
    _timm_conv_bn('stem1', 'patch_embed.conv1') + _timm_conv_bn('stem2', 'patch_embed.conv2')
    + _timm_conv_bn(f'stage1_block{B}_conv(?P<k>[123])', 'stages.0.blocks.{b}.conv{k}')
    + _timm_conv_bn(f'merge{D}_conv(?P<k>[123])', 'stages.{d}.downsample.conv{k}')
    + [Rule(f'{BLOCK}/attn/attention_biases', _TMB + '.attn.attention_biases')]
    + _ln(f'{BLOCK}/attn/norm', _TMB + '.attn.norm')
    + _layer(f'{BLOCK}/attn/qkv', _TMB + '.attn.qkv', t.linear)
    + _layer(f'{BLOCK}/attn/proj', _TMB + '.attn.proj', t.linear)
    + [Rule(f'{BLOCK}/local_conv/depthwise_kernel', _TMB + '.local_conv.conv.weight',
            t.depthwise)]
    + _bn(f'{BLOCK}/local_bn', _TMB + '.local_conv.bn')
    + _ln(f'{BLOCK}/mlp_norm', _TMB + '.mlp.norm')
    + _layer(f'{BLOCK}/fc1', _TMB + '.mlp.fc1', t.linear)
    + _layer(f'{BLOCK}/fc2', _TMB + '.mlp.fc2', t.linear)
    + _ln('head_norm', 'head.norm') + _head('head.fc'))

CIFAR_RESNET = (
    _layer('stem_conv', 'conv1', t.conv) + _bn('stem_bn', 'bn1')
    + _layer(f'{_RB}_conv(?P<k>[12])', _TB + '.conv{k}', t.conv)
    + _bn(f'{_RB}_bn(?P<k>[12])', _TB + '.bn{k}')
    + _layer(f'{_RB}_proj_conv', _TB + '.shortcut.0', t.conv)
    + _bn(f'{_RB}_proj_bn', _TB + '.shortcut.1')
    + _head('linear'))

CIFAR_WIDE_RESNET = (
    _layer('stem_conv', 'conv1', t.conv)
    + _layer(f'{_RB}_conv(?P<k>[12])', _TB + '.conv{k}', t.conv)
    + _bn(f'{_RB}_bn(?P<k>[12])', _TB + '.bn{k}')
    + _layer(f'{_RB}_proj_conv', _TB + '.shortcut.0', t.conv)
    + _bn('head_bn', 'bn1') + _head('linear'))

_DL = r'block(?P<i>\d+)_layer(?P<j>\d+)'
_TR = r'transition(?P<i>\d+)'
DENSENET = (
    _layer('stem_conv', 'features.conv0', t.conv) + _bn('stem_bn', 'features.norm0')
    + _layer(f'{_DL}_conv(?P<k>[12])', 'features.denseblock{i}.denselayer{j}.conv{k}', t.conv)
    + _bn(f'{_DL}_bn(?P<k>[12])', 'features.denseblock{i}.denselayer{j}.norm{k}')
    + _layer(f'{_TR}_conv', 'features.transition{i}.conv', t.conv)
    + _bn(f'{_TR}_bn', 'features.transition{i}.norm')
    + _bn('head_bn', 'features.norm5') + _head('classifier'))

DENSENET_CIFAR = (
    _layer('stem_conv', 'conv1', t.conv)
    + _layer(f'{_DL}_conv(?P<k>[12])', 'dense{i}.{j_1}.conv{k}', t.conv)
    + _bn(f'{_DL}_bn(?P<k>[12])', 'dense{i}.{j_1}.bn{k}')
    + _layer(f'{_TR}_conv', 'trans{i}.conv', t.conv) + _bn(f'{_TR}_bn', 'trans{i}.bn')
    + _bn('head_bn', 'bn') + _head('linear'))

_EB = r'block(?P<s>\d+)_(?P<b>\d+)'
_TEB = 'blocks.{s}.{b}'
EFFICIENTNET = (
    _layer('stem_conv', 'conv_stem', t.conv) + _bn('stem_bn', 'bn1')
    + _layer(f'{_EB}_conv_dw', _TEB + '.conv_dw', t.depthwise, 'depthwise_kernel')
    + _layer(f'{_EB}_conv_(?P<k>pwl?)', _TEB + '.conv_{k}', t.conv)
    + _bn(f'{_EB}_bn(?P<k>[123])', _TEB + '.bn{k}')
    + _layer(f'{_EB}_se_conv_(?P<k>reduce|expand)', _TEB + '.se.conv_{k}', t.conv)
    + _layer('head_conv', 'conv_head', t.conv) + _bn('head_bn', 'bn2')
    + _head('classifier'))



def _acon(ours: str, theirs: str) -> List[Rule]:
    """ACON-C (p1, p2, beta) or Meta-ACON (p1, p2, generator fc1/bn1/fc2/bn2) at one site."""
    return ([Rule(f'{ours}/{p}', f'{theirs}.{p}', t.vector) for p in ('p1', 'p2', 'beta')]
            + _layer(f'{ours}/fc(?P<j>[12])', theirs + '.fc{j}', t.conv1x1_as_dense)
            + _bn(f'{ours}/bn(?P<j>[12])', theirs + '.bn{j}'))


def _frelu(ours: str, theirs: str) -> List[Rule]:
    """ACON-FReLU: the funnel's depthwise conv and the two BatchNorms."""
    return (_layer(f'{ours}/conv_frelu', f'{theirs}.conv_frelu', t.depthwise, 'depthwise_kernel')
            + _bn(f'{ours}/bn1', f'{theirs}.bn1') + _bn(f'{ours}/bn2', f'{theirs}.bn2'))


# ShuffleNetV2 (nmaac/acon ShuffleNetV2_ACON / ShuffleNet_MetaACON): `features.{i}` is our
# `block{i}`; branch_main = [pw, bn, act, dw, bn, pw, bn, act], branch_proj = [dw, bn, pw, bn, act].
_SB, _TSB = r'block(?P<i>\d+)', 'features.{i}'
SHUFFLENET = (
    _layer('stem_conv', 'first_conv.0', t.conv) + _bn('stem_bn', 'first_conv.1')
    + _acon('stem_act', 'first_conv.2')
    + _layer(f'{_SB}_main_pw1_conv', _TSB + '.branch_main.0', t.conv)
    + _bn(f'{_SB}_main_pw1_bn', _TSB + '.branch_main.1')
    + _acon(f'{_SB}_main_act1', _TSB + '.branch_main.2')
    + _layer(f'{_SB}_main_dw_conv', _TSB + '.branch_main.3', t.depthwise, 'depthwise_kernel')
    + _bn(f'{_SB}_main_dw_bn', _TSB + '.branch_main.4')
    + _layer(f'{_SB}_main_pw2_conv', _TSB + '.branch_main.5', t.conv)
    + _bn(f'{_SB}_main_pw2_bn', _TSB + '.branch_main.6')
    + _acon(f'{_SB}_main_act2', _TSB + '.branch_main.7')
    + _layer(f'{_SB}_proj_dw_conv', _TSB + '.branch_proj.0', t.depthwise, 'depthwise_kernel')
    + _bn(f'{_SB}_proj_dw_bn', _TSB + '.branch_proj.1')
    + _layer(f'{_SB}_proj_pw_conv', _TSB + '.branch_proj.2', t.conv)
    + _bn(f'{_SB}_proj_pw_bn', _TSB + '.branch_proj.3')
    + _acon(f'{_SB}_proj_act', _TSB + '.branch_proj.4')
    + _layer('last_conv', 'conv_last.0', t.conv) + _bn('last_bn', 'conv_last.1')
    + _acon('last_act', 'conv_last.2')
    + _head('classifier.0'))

# TFNet (nmaac/acon TFNet/network.py): branch_main = [pw, bn, Acon_FReLU, pw, bn], then `acon`.
TFNET = (
    _layer('stem_conv', 'first_conv.0', t.conv) + _bn('stem_bn', 'first_conv.1')
    + _layer(f'{_SB}_pw1_conv', _TSB + '.branch_main.0', t.conv)
    + _bn(f'{_SB}_pw1_bn', _TSB + '.branch_main.1')
    + _frelu(f'{_SB}_act1', _TSB + '.branch_main.2')
    + _layer(f'{_SB}_pw2_conv', _TSB + '.branch_main.3', t.conv)
    + _bn(f'{_SB}_pw2_bn', _TSB + '.branch_main.4')
    + _frelu(f'{_SB}_act_out', _TSB + '.acon')
    + _layer('last_conv', 'conv_last.0', t.conv) + _bn('last_bn', 'conv_last.1')
    + _frelu('last_act', 'conv_last.2')
    + _head('classifier.0'))

RULES: Dict[str, List[Rule]] = {
    'convnext': CONVNEXT, 'swin': SWIN, 'act_resnet': RESNET, 'hornet': HORNET,
    'posmlp': POSMLP, 'act_vit': VIT_TORCHVISION, 'tiny_vit': TINY_VIT,
    'cifar_resnet': CIFAR_RESNET, 'cifar_wide_resnet': CIFAR_WIDE_RESNET,
    'densenet': DENSENET, 'act_efficientnet': EFFICIENTNET,
    'shufflenet_v2': SHUFFLENET, 'tfnet': TFNET,
}
# Families whose weights come in more than one layout: (a key only that layout's state dicts
# have, its rules); `rules_for` picks the first whose key is present, else RULES[family].
LAYOUTS: Dict[str, List[Tuple[str, List[Rule]]]] = {
    'act_vit': [('cls_token', VIT_TIMM)],   # timm's ViT (torchvision's has `class_token`)
    'tiny_vit': [('head.fc.weight', TINY_VIT_TIMM)],   # timm's (GoLU's has `norm_head`)
    # The GoLU authors' CIFAR DenseNet-40 (torchvision's DenseNet calls its head `classifier`).
    'densenet': [('linear.weight', DENSENET_CIFAR)],
}


def rules_for(family: str, state: Dict[str, object]) -> Optional[List[Rule]]:
    """The rules of `family` for the layout of `state` (see LAYOUTS); None: no rules."""
    for marker, rules in LAYOUTS.get(family, []):
        if marker in state:
            return rules
    return RULES.get(family)


# State-dict entries that are not parameters of the network: batch counters, and index/mask
# buffers our models compute themselves (those with a convention are verified in checks.py).
IGNORED = [r'.*num_batches_tracked', r'.*relative_position_index', r'.*attn_mask',
           r'.*\.rel_indices', r'.*attention_bias_idxs']


def _acon_module(fields: Dict[str, str]) -> str:
    """The ACON authors name the bottleneck site `acon` and a basic block's first `acon1`."""
    return 'acon' if fields.get('k') == '2' else 'acon1'


def source_key(rules: List[Rule], name: str) -> Optional[Tuple[str, Rule]]:
    """The PyTorch key for Keras variable `name` under `rules`, or None if no rule matches."""
    for rule in rules:
        m = re.fullmatch(rule.pattern, name)
        if m is None:
            continue
        fields: Dict[str, object] = dict(m.groupdict())
        for k, v in list(fields.items()):
            if v is not None and v.isdigit():
                fields[f'{k}_1'] = int(v) - 1
        fields['acon'] = _acon_module(m.groupdict())
        return rule.template.format(**fields), rule
    return None
