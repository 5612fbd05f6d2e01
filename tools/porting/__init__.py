"""Porting PyTorch state dicts (timm, torchvision, the authors' code) onto this project's models.

- `state_dict`: reads `.safetensors` (numpy, no torch) or `.pth`/`.bin` (only with torch).
- `transforms`: the layout changes between PyTorch and Keras tensors.
- `rules`: per backbone family, which PyTorch key fills which Keras variable.
- `mapping`: matches a state dict against a built model and lists every problem.
"""
