"""Backbones with pluggable activations; importing this package registers every builder.

Families: `convnext`, `hornet`, `swin`, `act_resnet` (torchvision-layout ResNet), `posmlp`,
`shufflenet_v2` and `tfnet` (the ACON authors' lightweight networks),
each registered with Model Garden's `factory.register_backbone_builder`.
"""
from models import common  # noqa: F401
from models import convnext  # noqa: F401
from models import hornet  # noqa: F401
from models import posmlp  # noqa: F401
from models import resnet  # noqa: F401
from models import shufflenet  # noqa: F401
from models import swin  # noqa: F401
from models import tfnet  # noqa: F401
