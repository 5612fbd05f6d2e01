"""Reading a PyTorch state dict into numpy arrays.

`.safetensors` files are read with the `safetensors` package's numpy API, so importing weights
never needs torch. `.pth`/`.pt`/`.bin` files are pickles that only torch can read; they are
accepted when torch happens to be installed, and otherwise the error says how to convert them.
"""
from __future__ import annotations

import os
from typing import Dict

import numpy as np

# Training checkpoints wrap the state dict; the EMA weights are what the papers evaluate.
_WRAPPERS = ('state_dict_ema', 'model_ema', 'state_dict', 'model')
_TORCH_SUFFIXES = ('.pth', '.pt', '.bin', '.ckpt')


class WeightsFileError(ValueError):
    """The weights file cannot be read; the message names the file and the fix."""


def read(path: str) -> Dict[str, np.ndarray]:
    """Returns {key: float32/int array} from a state dict file, wrapper and 'module.' removed.

    Raises:
      WeightsFileError: missing file, unknown suffix, torch needed but absent, or unreadable.
    """
    if not os.path.isfile(path):
        raise WeightsFileError(f'--weights={path}: no such file.')
    if path.endswith('.safetensors'):
        tensors = _read_safetensors(path)
    elif path.endswith(_TORCH_SUFFIXES):
        tensors = _read_torch(path)
    else:
        raise WeightsFileError(f'--weights={path}: unknown format; give a .safetensors file '
                               f'(or {"/".join(_TORCH_SUFFIXES)} with torch installed).')
    return {_strip(k): v for k, v in tensors.items()}


def _strip(key: str) -> str:
    """DistributedDataParallel saves 'module.<key>'."""
    return key[len('module.'):] if key.startswith('module.') else key


def _read_safetensors(path: str) -> Dict[str, np.ndarray]:
    try:
        from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
    except ImportError as e:
        raise WeightsFileError('reading .safetensors needs the `safetensors` package: '
                               'pip install -r requirements.txt') from e
    try:
        return dict(load_file(path))
    except Exception as e:  # pylint: disable=broad-except  (safetensors raises its own types)
        raise WeightsFileError(f'--weights={path}: not a readable safetensors file ({e}). '
                               'bfloat16 files cannot be read without torch: save the state '
                               'dict as float32.') from e


def _read_torch(path: str) -> Dict[str, np.ndarray]:
    try:
        import torch  # pylint: disable=g-import-not-at-top
    except ImportError as e:
        raise WeightsFileError(
            f'--weights={path}: a PyTorch pickle needs torch, which is not installed. Convert '
            'it where torch is: python -c "import torch, safetensors.torch as st; '
            "sd = torch.load('IN.pth', map_location='cpu'); "
            "st.save_file({k: v.float().contiguous() for k, v in sd.items()}, 'OUT.safetensors')\"") from e
    obj = torch.load(path, map_location='cpu', weights_only=True)
    for key in _WRAPPERS:
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise WeightsFileError(f'--weights={path}: expected a state dict, found {type(obj)}.')
    out = {}
    for k, v in obj.items():
        if hasattr(v, 'numpy'):
            v = v.detach().cpu()
            out[k] = (v.float() if v.is_floating_point() else v).numpy()
    return out
