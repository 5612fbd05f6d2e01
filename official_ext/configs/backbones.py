"""Backbone configs: Model Garden's `Backbone` one-of extended with this project's families.

Model Garden's one-of cannot be extended in place, so (as `projects/maxvit` does) a subclass adds
one field per new type: `convnext`, `hornet`, `swin`, `act_resnet`, `posmlp`, `act_vit`,
`tiny_vit`, `cifar_resnet`, `cifar_wide_resnet`, `densenet`, `act_efficientnet`. Each family config
has `model_id`, optional explicit `dims`/`depths` (they replace the model_id's, so a tiny test
network is a config, not a code path), `drop_path_rate` (None = the paper's rate for the
model_id, 0 for custom sizes) and `activation`, an `activations.Activation` one-of whose default
reproduces the original network (exact GELU; ReLU for `act_resnet`).

Example (YAML):
  task.model.backbone: {type: convnext, convnext: {model_id: tiny, drop_path_rate: 0.1,
                        activation: {type: tpgu, tpgu: {orders: [7, 7, 7, 7]}}}}
"""
from __future__ import annotations

import dataclasses
from typing import List, Optional

from official.modeling import hyperparams
from official.vision.configs import backbones as mg_backbones

from official_ext.configs.activations import Activation, default_activation

# The papers' stochastic-depth rates per (family, model_id), used when drop_path_rate is None.
DEFAULT_DROP_PATH = {
    'convnext': {'tiny': 0.1, 'small': 0.4},
    'hornet': {'tiny': 0.2, 'small': 0.4},
    'swin': {'tiny': 0.2, 'small': 0.3},
    'posmlp': {'tiny': 0.1, 'small': 0.1},
    'tiny_vit': {'21m': 0.2},
}


def resolve_drop_path(family: str, model_id: object, rate: Optional[float],
                      custom_size: bool) -> float:
    """The configured rate, else the paper's rate for the model_id (0 for custom dims/depths)."""
    if rate is not None:
        return float(rate)
    if custom_size:
        return 0.0
    return DEFAULT_DROP_PATH.get(family, {}).get(str(model_id), 0.0)


def _gelu() -> Activation:
    return default_activation('gelu')


@dataclasses.dataclass
class ConvNeXt(hyperparams.Config):
    """ConvNeXt: model_id tiny | small."""
    model_id: str = 'tiny'
    dims: List[int] = dataclasses.field(default_factory=list)
    depths: List[int] = dataclasses.field(default_factory=list)
    drop_path_rate: Optional[float] = None
    layer_scale_init_value: float = 1e-6
    activation: Activation = dataclasses.field(default_factory=_gelu)


@dataclasses.dataclass
class HorNet(hyperparams.Config):
    """HorNet 7×7 gnConv: model_id tiny | small; gnConv order and scale per the paper."""
    model_id: str = 'tiny'
    dims: List[int] = dataclasses.field(default_factory=list)
    depths: List[int] = dataclasses.field(default_factory=list)
    drop_path_rate: Optional[float] = None
    layer_scale_init_value: float = 1e-6
    gnconv_orders: List[int] = dataclasses.field(default_factory=lambda: [2, 3, 4, 5])
    gnconv_scale: float = 1.0 / 3.0
    activation: Activation = dataclasses.field(default_factory=_gelu)


@dataclasses.dataclass
class Swin(hyperparams.Config):
    """Swin: model_id tiny | small; `num_heads` per stage, square `window_size`."""
    model_id: str = 'tiny'
    dims: List[int] = dataclasses.field(default_factory=list)
    depths: List[int] = dataclasses.field(default_factory=list)
    drop_path_rate: Optional[float] = None
    num_heads: List[int] = dataclasses.field(default_factory=lambda: [3, 6, 12, 24])
    window_size: int = 7
    patch_size: int = 4
    mlp_ratio: float = 4.0
    activation: Activation = dataclasses.field(default_factory=_gelu)


@dataclasses.dataclass
class ActResNet(hyperparams.Config):
    """torchvision-layout ResNet: model_id 18 | 34 | 50 | 101 | 152.

    Attributes:
      block: '' (from model_id) | basic | bottleneck; needed with custom depths only.
      dims: stage widths (default 64, 128, 256, 512; bottlenecks expand them 4×).
      activation_sites: all | bottleneck_3x3 (ACON's placement; see models/resnet.py).
      norm_momentum / norm_epsilon: BatchNorm settings equal to PyTorch's 0.1 / 1e-5.
      stride_in_1x1: put a downsampling bottleneck's stride on its first 1×1 conv (the ACON
        authors' ResNet) instead of the 3×3 (torchvision, the default).
      conv_bias: give every conv a bias (the ACON authors' ResNet; torchvision has none).
      width_multiplier: widens each bottleneck's inner 1×1/3×3 convs (2 with model_id 50 =
        torchvision's wide_resnet50_2, WideResNet-50-2).
    """
    model_id: int = 50
    block: str = ''
    dims: List[int] = dataclasses.field(default_factory=list)
    depths: List[int] = dataclasses.field(default_factory=list)
    drop_path_rate: Optional[float] = None
    stem_width: int = 64
    activation_sites: str = 'all'
    norm_momentum: float = 0.9
    norm_epsilon: float = 1e-5
    stride_in_1x1: bool = False
    conv_bias: bool = False
    width_multiplier: int = 1
    activation: Activation = dataclasses.field(
        default_factory=lambda: default_activation('relu'))


@dataclasses.dataclass
class PosMLP(hyperparams.Config):
    """PosMLP: model_id tiny | small; windows, channel groups γ and MLP ratios per stage.

    Attributes:
      positional_encoding: gqpe (default, the paper's PosMLP) | lrpe.
      dropout_rate: dropout after each block's output projection.
      norm_momentum: stem BatchNorm momentum (PyTorch's 0.1 = Keras 0.9; eps is 1e-6).
    """
    model_id: str = 'tiny'
    dims: List[int] = dataclasses.field(default_factory=list)
    depths: List[int] = dataclasses.field(default_factory=list)
    drop_path_rate: Optional[float] = None
    window_sizes: List[int] = dataclasses.field(default_factory=lambda: [14, 14, 14, 7])
    groups: List[int] = dataclasses.field(default_factory=lambda: [8, 16, 32, 64])
    mlp_ratios: List[float] = dataclasses.field(default_factory=lambda: [4.0, 4.0, 4.0, 2.0])
    positional_encoding: str = 'gqpe'
    dropout_rate: float = 0.0
    norm_momentum: float = 0.9
    activation: Activation = dataclasses.field(default_factory=_gelu)


@dataclasses.dataclass
class ActViT(hyperparams.Config):
    """ViT with a class token: model_id b16 | b32 (torchvision) | ti16 (timm); see models/vit.py.

    Attributes:
      patch_size / hidden_size / depth / num_heads / mlp_dim: 0 = the model_id's value.
      weight_init: '' (the model_id's reference) | torchvision | timm.
      dropout_rate / attention_dropout_rate: dropout after the attention/MLP halves and on the
        attention weights (0 in both references).
    """
    model_id: str = 'b16'
    patch_size: int = 0
    hidden_size: int = 0
    depth: int = 0
    num_heads: int = 0
    mlp_dim: int = 0
    weight_init: str = ''
    dropout_rate: float = 0.0
    attention_dropout_rate: float = 0.0
    drop_path_rate: Optional[float] = None
    activation: Activation = dataclasses.field(default_factory=_gelu)


@dataclasses.dataclass
class TinyViT(hyperparams.Config):
    """TinyViT as GoLU trained it: model_id 21m (tiny_vit_21m.yaml); see models/tiny_vit.py.

    Attributes:
      num_heads / window_sizes: per stage (the first, convolutional stage ignores both).
      mbconv_expand_ratio: MBConv hidden width / input width (stage 1).
      local_conv_size: the depthwise conv between attention and MLP.
      dropout_rate: dropout inside the MLPs (the reference's DROP_RATE, 0).
    """
    model_id: str = '21m'
    dims: List[int] = dataclasses.field(default_factory=list)
    depths: List[int] = dataclasses.field(default_factory=list)
    drop_path_rate: Optional[float] = None
    num_heads: List[int] = dataclasses.field(default_factory=lambda: [3, 6, 12, 18])
    window_sizes: List[int] = dataclasses.field(default_factory=lambda: [7, 7, 14, 7])
    mlp_ratio: float = 4.0
    mbconv_expand_ratio: float = 4.0
    local_conv_size: int = 3
    dropout_rate: float = 0.0
    activation: Activation = dataclasses.field(default_factory=_gelu)


@dataclasses.dataclass
class CifarResNet(hyperparams.Config):
    """The GoLU authors' CIFAR ResNet (6n+2): model_id 20 | 32 | 44 | 56 | 110.

    Attributes:
      dims / depths: explicit stage widths (16, 32, 64) and blocks per stage (n each).
      drop_path_rate: stochastic depth on the residual branches (None/0: the authors' none).
      norm_momentum / norm_epsilon: PyTorch's BatchNorm defaults (0.1 / 1e-5) in Keras terms.
    """
    model_id: int = 20
    dims: List[int] = dataclasses.field(default_factory=list)
    depths: List[int] = dataclasses.field(default_factory=list)
    drop_path_rate: Optional[float] = None
    norm_momentum: float = 0.9
    norm_epsilon: float = 1e-5
    activation: Activation = dataclasses.field(
        default_factory=lambda: default_activation('relu'))


@dataclasses.dataclass
class CifarWideResNet(hyperparams.Config):
    """The GoLU authors' pre-activation WideResNet (6n+4, widen k): model_id '28-2'.

    Attributes:
      head_norm_momentum: the head BN's Keras momentum; 0.1 reproduces the authors'
        `BatchNorm2d(momentum=0.9)` (PyTorch weighs the NEW batch by its momentum).
    """
    model_id: str = '28-2'
    dims: List[int] = dataclasses.field(default_factory=list)
    depths: List[int] = dataclasses.field(default_factory=list)
    drop_path_rate: Optional[float] = None
    norm_momentum: float = 0.9
    head_norm_momentum: float = 0.1
    norm_epsilon: float = 1e-5
    activation: Activation = dataclasses.field(
        default_factory=lambda: default_activation('relu'))


@dataclasses.dataclass
class DenseNet(hyperparams.Config):
    """DenseNet-BC: model_id 121 (torchvision) | 40 (the GoLU authors' CIFAR DenseNet-40).

    Attributes:
      layout: '' (from model_id) | imagenet (torchvision: 7×7 stem + max-pool, features
        appended, functional head ReLU) | cifar (the authors': 3×3 stem, new features first,
        swapped head activation); see models/densenet.py.
      growth_rate / depths / stem_width: explicit sizes (0 / empty: the model_id's).
    """
    model_id: int = 121
    layout: str = ''
    growth_rate: int = 0
    depths: List[int] = dataclasses.field(default_factory=list)
    stem_width: int = 0
    norm_momentum: float = 0.9
    norm_epsilon: float = 1e-5
    activation: Activation = dataclasses.field(
        default_factory=lambda: default_activation('relu'))


@dataclasses.dataclass
class ActEfficientNet(hyperparams.Config):
    """timm's EfficientNet: model_id b0 (`act_` because Model Garden has `efficientnet`).

    Attributes:
      widths / depths: per-stage output widths and repeats replacing the model_id's (tests).
      stem_width / head_width: 0 = the model_id's (32 / 1280).
      drop_path_rate: None = 0.2 (GoLU's `--drop-connect 0.2`), timm's rate·i/n per block.
      activation: every SiLU of timm's network (Swish = SiLU is the reference); the
        squeeze-excitation gate stays a sigmoid.
    """
    model_id: str = 'b0'
    widths: List[int] = dataclasses.field(default_factory=list)
    depths: List[int] = dataclasses.field(default_factory=list)
    stem_width: int = 0
    head_width: int = 0
    drop_path_rate: Optional[float] = None
    norm_momentum: float = 0.9
    norm_epsilon: float = 1e-5
    activation: Activation = dataclasses.field(
        default_factory=lambda: default_activation('swish'))


@dataclasses.dataclass
class ShuffleNetV2(hyperparams.Config):
    """ShuffleNetV2 as the ACON authors built it: model_id 0.5x | 1.0x | 1.5x | 2.0x.

    Attributes:
      dims / depths: the three stage widths / block counts (default: the model_id's, [4, 8, 4]).
      stem_width: the stem conv width (24 for every model_id).
      last_width: the last 1x1 conv width; 0 = the model_id's (1024; 2048 for 2.0x).
      dropout_rate: before the classifier; None = the authors' (0.2 for 2.0x, else 0).
      meta_acon_r: Meta-ACON's generator ratio; 0 = the authors' (8 for 0.5x, else 16).
      activation: replaces every ReLU of the network (default ReLU).
    """
    model_id: str = '1.0x'
    dims: List[int] = dataclasses.field(default_factory=list)
    depths: List[int] = dataclasses.field(default_factory=list)
    stem_width: int = 24
    last_width: int = 0
    dropout_rate: Optional[float] = None
    meta_acon_r: int = 0
    norm_momentum: float = 0.9
    norm_epsilon: float = 1e-5
    activation: Activation = dataclasses.field(
        default_factory=lambda: default_activation('relu'))


@dataclasses.dataclass
class TFNet(hyperparams.Config):
    """TFNet: model_id 0.5 | 1.0 | 1.5 | 2.0 (the stem width is 16 x size).

    Attributes:
      stem_width: 0 = 16 x the model_id's size; depths: blocks per stage (default [2, 3, 8, 3]).
      dropout_rate: before the classifier; None = the authors' (0.2 above size 0.5, else 0).
      activation: must be acon_frelu (its settings apply to every site).
    """
    model_id: str = '1.0'
    stem_width: int = 0
    depths: List[int] = dataclasses.field(default_factory=list)
    last_width: int = 1024
    dropout_rate: Optional[float] = None
    norm_momentum: float = 0.9
    norm_epsilon: float = 1e-5
    activation: Activation = dataclasses.field(
        default_factory=lambda: default_activation('acon_frelu'))


@dataclasses.dataclass
class Backbone(mg_backbones.Backbone):
    """Model Garden's backbone one-of plus this project's families (see the module docstring)."""
    """Model Garden's backbone one-of plus convnext, hornet, swin, act_resnet, posmlp,
    shufflenet_v2 and tfnet."""
    convnext: ConvNeXt = dataclasses.field(default_factory=ConvNeXt)
    hornet: HorNet = dataclasses.field(default_factory=HorNet)
    swin: Swin = dataclasses.field(default_factory=Swin)
    act_resnet: ActResNet = dataclasses.field(default_factory=ActResNet)
    posmlp: PosMLP = dataclasses.field(default_factory=PosMLP)
    act_vit: ActViT = dataclasses.field(default_factory=ActViT)
    tiny_vit: TinyViT = dataclasses.field(default_factory=TinyViT)
    cifar_resnet: CifarResNet = dataclasses.field(default_factory=CifarResNet)
    cifar_wide_resnet: CifarWideResNet = dataclasses.field(default_factory=CifarWideResNet)
    densenet: DenseNet = dataclasses.field(default_factory=DenseNet)
    act_efficientnet: ActEfficientNet = dataclasses.field(default_factory=ActEfficientNet)
    shufflenet_v2: ShuffleNetV2 = dataclasses.field(default_factory=ShuffleNetV2)
    tfnet: TFNet = dataclasses.field(default_factory=TFNet)
