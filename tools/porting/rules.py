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
    'posmlp': POSMLP, 'shufflenet_v2': SHUFFLENET, 'tfnet': TFNET,
}

# State-dict entries that are not parameters of the network: batch counters, and index/mask
# buffers our models compute themselves (those with a convention are verified in checks.py).
IGNORED = [r'.*num_batches_tracked', r'.*relative_position_index', r'.*attn_mask',
           r'.*\.rel_indices']


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
