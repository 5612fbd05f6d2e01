"""swin: forward/backward with every registered activation, XLA train step, output shapes."""
import pytest

import layers

