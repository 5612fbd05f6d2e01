"""Checks of state-dict buffers that encode a convention our models hard-code.

PosMLP stores its GQPE offset features (`rel_indices`) and Swin its relative position index in
the state dict. They are not loaded (our models compute them), but a file whose buffers differ
from ours was made with another convention, and its learned positions would mean something
else here; such a file is refused rather than imported into a silently different network.
"""
from __future__ import annotations

import math
import re
from typing import Callable, List, Optional, Tuple

import numpy as np

from models import posmlp
from models import swin


def _window(n: int) -> Optional[int]:
    w = math.isqrt(n)
    return w if w * w == n else None


def _gqpe_offsets(key: str, value: np.ndarray) -> Optional[str]:
    """rel_indices [N, N, 5 (or 3)]: features (Δx, Δy, …) per (output m, input n)."""
    w = _window(value.shape[0])
    if w is None or value.ndim != 3 or value.shape[-1] < 2:
        return f'{key}: expected [w², w², 5] offset features, found shape {list(value.shape)}'
    if not np.array_equal(value[..., :2], posmlp.relative_offsets(w)):
        return (f'{key}: the GQPE offsets differ from (Δcol, −Δrow) (models/posmlp.py '
                '`relative_offsets`), so the learned centres δ and shapes S would mean other '
                'positions here')
    return None


def _swin_index(key: str, value: np.ndarray) -> Optional[str]:
    w = _window(value.shape[0])
    if w is None or not np.array_equal(value, swin.relative_position_index(w)):
        return (f'{key}: the relative position index differs from models/swin.py '
                '`relative_position_index`; the bias table would be read in another order')
    return None


CHECKS: List[Tuple[str, Callable[[str, np.ndarray], Optional[str]]]] = [
    (r'.*gate_unit\.pos\.rel_indices', _gqpe_offsets),
    (r'.*attn\.relative_position_index', _swin_index),
]


def run(state: dict) -> List[str]:
    """The problems found in `state`'s convention buffers (empty when all agree)."""
    problems = []
    for key, value in state.items():
        for pattern, check in CHECKS:
            if re.fullmatch(pattern, key):
                problem = check(key, np.asarray(value))
                if problem:
                    problems.append(problem)
    return problems
