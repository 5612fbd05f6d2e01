"""Backbones with pluggable activations; importing this package registers every builder.

Families: `convnext`, `hornet`, `swin`, `act_resnet` (torchvision-layout ResNet, Wide ResNets by
`width_multiplier`), `posmlp`, and GoLU's networks `act_vit` (torchvision/timm ViT), `tiny_vit`,
`cifar_resnet`, `cifar_wide_resnet`, `densenet` (DenseNet-121 and the CIFAR DenseNet-40) and
`act_efficientnet` (timm's EfficientNet-B0), each registered with Model Garden's
`factory.register_backbone_builder`; and the ACON authors' lightweight networks `shufflenet_v2`
and `tfnet`.
"""
from models import cifar_resnet  # noqa: F401
from models import common  # noqa: F401
from models import convnext  # noqa: F401
from models import densenet  # noqa: F401
from models import efficientnet  # noqa: F401
from models import hornet  # noqa: F401
from models import posmlp  # noqa: F401
from models import resnet  # noqa: F401
from models import shufflenet  # noqa: F401
from models import swin  # noqa: F401
from models import tiny_vit  # noqa: F401
from models import vit  # noqa: F401
from models import tfnet  # noqa: F401
