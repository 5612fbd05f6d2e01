"""Finding the images of a folder-per-class dataset and their classes.

Two layouts are recognised (the two ImageNet ships in):

* ``train/<class>/*`` with ``val/<class>/*`` (or ``validation/<class>/*``) — the layout of the
  project's original README;
* ``train/<class>/*`` with a flat ``validation/*`` plus ``synset_labels.txt`` (one class per
  line, for the validation files in sorted order) — the layout tensorflow/tpu's converter read.

tensorflow/tpu's converter silently wrote nothing when the folders were misnamed; here anything
else raises ``LayoutError`` saying what was expected and what was found. Class names are the
folder names (any dataset, not only ImageNet's WordNet ids); files are taken as images by
extension, matched case-insensitively, and every other file is reported back, never dropped
unannounced. Lists are sorted so the conversion does not depend on directory listing order.
A training class folder without images is an error (it would shift every later label); a class
without validation images is allowed, and the converter reports it.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Tuple

IMAGE_EXTENSIONS = ('.jpeg', '.jpg', '.jpe', '.jfif', '.png', '.bmp', '.gif', '.webp',
                    '.tif', '.tiff', '.ppm')
TRAIN_DIR = 'train'
VAL_DIRS = ('val', 'validation')
SYNSET_LABELS = 'synset_labels.txt'

EXPECTED = (f'expected <raw_data_dir>/{TRAIN_DIR}/<class>/<images> and either '
            f'<raw_data_dir>/val/<class>/<images> (or validation/<class>/<images>), or a flat '
            f'<raw_data_dir>/validation/<images> with <raw_data_dir>/{SYNSET_LABELS} '
            f'(one class per line for the sorted validation files)')


class LayoutError(ValueError):
    """The input folders do not form one of the recognised layouts."""


@dataclasses.dataclass
class Layout:
    """The images of a dataset, as paths relative to the raw data folder.

    Attributes:
        kind: 'class-folders' or 'flat-validation' (see the module docstring).
        classes: sorted class names; label i + offset belongs to classes[i].
        splits: split name ('train', 'validation') -> sorted (relative path, class) pairs.
        ignored: relative paths of files that are not images by extension, and of folders
            where files were expected.
    """
    kind: str
    classes: List[str]
    splits: Dict[str, List[Tuple[str, str]]]
    ignored: List[str]


def is_image_name(name: str) -> bool:
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def _listing(path: str, limit: int = 12) -> str:
    names = sorted(os.listdir(path))
    shown = ', '.join(n + ('/' if os.path.isdir(os.path.join(path, n)) else '')
                      for n in names[:limit])
    more = f', ... ({len(names)} entries)' if len(names) > limit else ''
    return f'{path} holds [{shown}{more}]' if names else f'{path} is empty'


def _files_in(root: str, rel: str, ignored: List[str]) -> List[str]:
    """Image files directly inside root/rel (relative paths); other entries go to ignored."""
    images = []
    for name in sorted(os.listdir(os.path.join(root, rel))):
        relpath = os.path.join(rel, name)
        if os.path.isfile(os.path.join(root, relpath)) and is_image_name(name):
            images.append(relpath)
        else:
            ignored.append(relpath)
    return images


def _class_folders(root: str, rel: str, ignored: List[str]) -> Dict[str, List[str]]:
    """class -> image relpaths for every sub-folder of root/rel; loose files go to ignored."""
    classes = {}
    for name in sorted(os.listdir(os.path.join(root, rel))):
        relpath = os.path.join(rel, name)
        if os.path.isdir(os.path.join(root, relpath)):
            classes[name] = _files_in(root, relpath, ignored)
        else:
            ignored.append(relpath)
    return classes


def _refuse_empty_classes(root: str, train: Dict[str, List[str]]) -> None:
    """Raises LayoutError naming the training class folders that hold no image.

    Every training folder becomes a label in sorted order, so an empty one (or one holding only
    non-image files) would take a label no record carries and shift the label of every later
    class: a model trained on such records disagrees with labels.txt of any other conversion.
    """
    empty = [os.path.join(root, TRAIN_DIR, c) for c in sorted(train) if not train[c]]
    if not empty:
        return
    shown = '; '.join(_listing(path, limit=4) for path in empty[:5])
    more = f' ({len(empty)} in all)' if len(empty) > 5 else ''
    raise LayoutError(
        f'empty class folder(s) with no images (extensions {", ".join(IMAGE_EXTENSIONS)}, '
        f'any case): {shown}{more}; each class folder becomes a label, so an empty one would '
        'shift the label of every later class — remove the folder or add images to it.')


def detect_layout(raw_data_dir: str) -> Layout:
    """Finds the layout of ``raw_data_dir`` and lists its images; see the module docstring.

    Raises:
        LayoutError: the folder is missing, matches neither layout, or has a training class
            folder without images; the message says what was expected and what was found.
        OSError: a folder could not be listed (e.g. permission denied); ``filename`` names it.
    """
    root = raw_data_dir
    if not os.path.isdir(root):
        raise LayoutError(f'--raw_data_dir={root} is not a folder; {EXPECTED}.')
    ignored: List[str] = []
    if not os.path.isdir(os.path.join(root, TRAIN_DIR)):
        raise LayoutError(f'No {TRAIN_DIR}/ folder: {EXPECTED}; found: {_listing(root)}.')
    train = _class_folders(root, TRAIN_DIR, ignored)
    if not train or not any(train.values()):
        raise LayoutError(
            f'{os.path.join(root, TRAIN_DIR)} has no class folders holding images '
            f'(extensions {", ".join(IMAGE_EXTENSIONS)}, any case): {EXPECTED}; found: '
            f'{_listing(os.path.join(root, TRAIN_DIR))}.')
    _refuse_empty_classes(root, train)
    classes = sorted(train)
    present = [d for d in VAL_DIRS if os.path.isdir(os.path.join(root, d))]
    if len(present) != 1:
        problem = ('both val/ and validation/ exist, so which one to use is ambiguous'
                   if present else 'no val/ or validation/ folder')
        raise LayoutError(f'{problem}: {EXPECTED}; found: {_listing(root)}.')
    val_dir = present[0]
    val_root = os.path.join(root, val_dir)
    has_subdirs = any(os.path.isdir(os.path.join(val_root, n)) for n in os.listdir(val_root))
    synset_file = os.path.join(root, SYNSET_LABELS)
    if has_subdirs:
        kind = 'class-folders'
        val_classes = _class_folders(root, val_dir, ignored)
        unknown = sorted(set(val_classes) - set(train))
        if unknown:
            raise LayoutError(
                f'{val_root} has class folders that are not in {TRAIN_DIR}/: {unknown[:10]} '
                f'({len(unknown)} in all); validation classes must be training classes '
                'so that labels agree — rename or remove them.')
        validation = [(p, c) for c in sorted(val_classes) for p in val_classes[c]]
    elif val_dir == 'validation' and os.path.isfile(synset_file):
        kind = 'flat-validation'
        files = _files_in(root, val_dir, ignored)
        with open(synset_file) as f:
            synsets = [line.strip() for line in f if line.strip()]
        if len(synsets) != len(files):
            raise LayoutError(
                f'{synset_file} has {len(synsets)} class lines but {val_root} holds '
                f'{len(files)} images; it needs one line per validation image, in sorted '
                'file-name order.')
        unknown = sorted(set(synsets) - set(train))
        if unknown:
            raise LayoutError(
                f'{synset_file} names classes that are not folders in {TRAIN_DIR}/: '
                f'{unknown[:10]} ({len(unknown)} in all).')
        validation = list(zip(files, synsets))
    else:
        raise LayoutError(
            f'{val_root} has no class folders' +
            ('' if val_dir == 'val' else f' and {synset_file} is missing') +
            f': {EXPECTED}; found: {_listing(val_root)}.')
    if not validation:
        raise LayoutError(f'{val_root} holds no images: {EXPECTED}; found: '
                          f'{_listing(val_root)}.')
    train_files = sorted((p, c) for c in classes for p in train[c])
    return Layout(kind=kind, classes=classes,
                  splits={'train': train_files, 'validation': sorted(validation)},
                  ignored=sorted(ignored))
