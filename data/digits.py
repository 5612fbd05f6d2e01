"""The demo dataset: scikit-learn's handwritten digits as RGB JPEG TFRecords.

A real image dataset that ships with an installed package (1,797 8x8 grey images of 10
digits), so the demo trains and validates with no download. Images are scaled from 0..16 to
0..255, upscaled to 32x32 (bicubic) and stacked to RGB, then written with data/records.py in
tensorflow/tpu's record format, so the stock classification decoder reads them like ImageNet.
The split is a fixed stratified 80/20 (1,437 train / 360 validation).

    python -m data.digits --out_dir /tmp/act_digits

`run.py` also calls `ensure()` for its input paths, so the demo configs create the set on
first use: only in a folder whose name contains 'digits' and that is absent, empty or marked as
the demo's own by the `.act_digits_demo` file written with the set, never in any other folder.
"""
from __future__ import annotations

import argparse
import glob
import os
from typing import Dict, List, Tuple

import numpy as np

SIZE = 32
NUM_CLASSES = 10
VALIDATION_FRACTION = 0.2
SPLIT_SEED = 0
# Folder-name marker that lets run.py recognise a demo path it may create on first use.
MARKER = 'digits'


def load_arrays(size: int = SIZE) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Returns {'train': (images, labels), 'validation': (...)} as uint8 RGB arrays."""
    from PIL import Image
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    grey = np.clip(np.round(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    big = np.stack([np.asarray(Image.fromarray(g, 'L').resize((size, size), Image.BICUBIC))
                    for g in grey])
    rgb = np.repeat(big[..., None], 3, axis=-1)
    x_tr, x_va, y_tr, y_va = train_test_split(
        rgb, digits.target.astype(np.int64), test_size=VALIDATION_FRACTION,
        random_state=SPLIT_SEED, stratify=digits.target)
    return {'train': (x_tr, y_tr), 'validation': (x_va, y_va)}


def write(out_dir: str, train_shards: int = 2, validation_shards: int = 1) -> List[str]:
    """Writes train-*-of-* and validation-*-of-* shards into out_dir; returns their paths."""
    from data import records

    arrays = load_arrays()
    paths = []
    for split, shards in (('train', train_shards), ('validation', validation_shards)):
        images, labels = arrays[split]
        paths += records.write_image_arrays(images, labels, out_dir, split, shards,
                                            synsets=[str(i) for i in range(NUM_CLASSES)])
    return paths


# Written beside the shards: the proof that a folder is the demo's own and may be (re)written.
MARKER_FILE = '.act_digits_demo'


def demo_folder_state(folder: str) -> str:
    """'absent', 'empty', 'demo' (holds the marker file) or 'foreign' (anything else)."""
    if not os.path.isdir(folder):
        return 'absent' if not os.path.exists(folder) else 'foreign'
    entries = os.listdir(folder)
    if not entries:
        return 'empty'
    return 'demo' if MARKER_FILE in entries else 'foreign'


def ensure(pattern: str) -> bool:
    """Creates the digits set for an input glob inside the demo's own folder, if it is missing.

    Acts only on a pattern whose folder name contains 'digits', that matches no file, and whose
    folder is absent, empty, or holds the marker file written with an earlier copy of the set.
    A folder holding anything else is never written to (the caller then reports the glob that
    matches nothing). Returns True when the set was written.
    """
    if not pattern or glob.glob(pattern) or not is_demo_pattern(pattern):
        return False
    folder = os.path.dirname(pattern)
    if demo_folder_state(folder) == 'foreign':
        return False
    write(folder)
    with open(os.path.join(folder, MARKER_FILE), 'w') as f:
        f.write('Written by data/digits.py: the demo set; run.py may rewrite this folder.\n')
    return True


def is_demo_pattern(pattern: str) -> bool:
    """True for an input glob inside a demo folder (its folder name contains 'digits')."""
    return MARKER in os.path.basename(os.path.normpath(os.path.dirname(pattern)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out_dir', required=True, help='folder for the TFRecord shards')
    args = parser.parse_args()
    for path in write(args.out_dir):
        print(path)


if __name__ == '__main__':
    main()
