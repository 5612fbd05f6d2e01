"""Checks the TFRecord shards an experiment reads, so bad data fails fast and by name.

Why this module exists: a corrupt, truncated or foreign file in an input glob only surfaces in
Model Garden when the input pipeline reaches it, as ``DataLossError: corrupted record at
7762``. That message names no file, and for the validation split it arrives after the first
training interval (hours into an ImageNet run). The checks here run before the model is built
and name the split, the shard, what is wrong and how to fix it:

* ``check_inputs(params, mode)``: the first record of every training shard (cheap: one small
  read per file) and every record of every validation shard (the set is small, and a bad
  validation shard would otherwise kill the run at its first evaluation).
* ``check_num_classes(params)``: the model's head against the labels that ``imagenet_to_gcs.py``'s
  ``summary.json`` says the records hold.
* ``locate_corrupt(params, mode)``: after a run died with ``DataLossError``, which file it was.

Reader choice (measured with TensorFlow 2.20): ``tf.compat.v1.io.tf_record_iterator`` and
``tf.data.TFRecordDataset`` both raise ``DataLossError`` on a bad CRC (in the data, the length
or either checksum) and on a file that ends inside a record's data or footer. Both silently
stop, without error, when the file ends inside a record's 12-byte header, or when a file of
fewer than 12 bytes is read (e.g. a short text file reads as zero records). So a full scan
here also compares the bytes the records account for (16 framing bytes each plus the data)
with the file's size, and the record count with the converter's per-shard manifest
(``conversion_state/<shard>.json``) when it sits beside the shard. The iterator is used
because its errors are plain ("corrupted record at 1206", "... Is this even a TFRecord
file?") and it reads ~1.4 GB/s from the page cache on one core, faster than an eager
``TFRecordDataset`` loop (~0.9 GB/s) whose per-element overhead dominates.
"""
from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import json
import os
import re
import threading
import time
from typing import Any, Iterator, List, Optional, Sequence, Tuple, Union

from absl import logging
from google.protobuf import message as protobuf_message
import tensorflow as tf

DEFAULT_IMAGE_KEY = 'image/encoded'
DEFAULT_LABEL_KEY = 'image/class/label'
SUMMARY_FILE = 'summary.json'  # Written by imagenet_to_gcs.py (data.convert.SUMMARY_FILE).
STATE_DIR = 'conversion_state'  # The converter's per-shard manifests (data.convert.STATE_DIR).
FRAMING_BYTES = 16  # Per TFRecord: 8-byte length, 4-byte length CRC, 4-byte data CRC.
HEADER_BYTES = 12  # The part before the data: length and its CRC.
_GLOB_CHARS = re.compile(r'[*?\[]')
_OFFSET = re.compile(r'record at (\d+)')

# How to fix each kind of problem; formatted with the split's config field and name.
_FIXES = {
    'reconvert': ('re-convert it with imagenet_to_gcs.py (delete this shard and rerun the same '
                  'command: finished shards are skipped), or drop it from '
                  '{field}.input_path'),
    'foreign': ('delete or move it, or narrow {field}.input_path to the TFRecord shards '
                '(e.g. <dir>/{split}-*)'),
    'keys': ('set {field}.image_field_key / {field}.label_field_key to the keys the records '
             'use, or point {field}.input_path at shards written by imagenet_to_gcs.py'),
    'example': ('point {field}.input_path at shards of tf.Example records (as '
                'imagenet_to_gcs.py writes them), or re-convert it with imagenet_to_gcs.py'),
    'gzip': ('set {field}.file_type: tfrecord_compressed, or re-convert it with '
             'imagenet_to_gcs.py'),
    'plain': ('set {field}.file_type: tfrecord (the file is not GZIP-compressed), or '
              're-convert it with imagenet_to_gcs.py'),
    'access': ('check that it exists and is readable by this machine, or fix '
               '{field}.input_path'),
}


class DataError(ValueError):
    """A problem with the input data the user must fix; a one-line message naming the file.

    Subclasses ValueError so callers that already report ValueErrors as user errors (run.py's
    ConfigError is one) can treat it the same way.
    """


@dataclasses.dataclass(frozen=True)
class _RecordSpec:
    """What every record must hold to be read by Model Garden's classification decoder."""
    image_key: str = DEFAULT_IMAGE_KEY
    label_key: str = DEFAULT_LABEL_KEY
    multilabel: bool = False
    compression: str = ''


class _Bad(Exception):
    """One file's problem, before the split and path are added (raised in worker threads)."""

    def __init__(self, what: str, fix: str):
        super().__init__(what)
        self.what = what
        self.fix = fix


class _Cancelled(Exception):
    """A worker stopped because an earlier file already failed."""


# ------------------------------------------------------------------------------ file lists
def patterns(input_path: Union[str, Sequence[str], None]) -> List[str]:
    """The globs of a data config's input_path: a comma-separated str or a list of them."""
    items = [input_path] if isinstance(input_path, str) else list(input_path or [])
    return [p.strip() for item in items for p in item.split(',') if p.strip()]


def expand(input_path: Union[str, Sequence[str], None]) -> List[str]:
    """The files an input_path matches, sorted and without duplicates, local or gs://.

    Sorted so that the first bad file reported is the same on every run and every machine.
    """
    return sorted({f for pattern in patterns(input_path) for f in tf.io.gfile.glob(pattern)})


def _field(split: str) -> str:
    """The config section a split comes from, e.g. 'task.validation_data'."""
    return f'task.{split}_data'


def _message(split: str, path: str, what: str, fix: str) -> str:
    """The one-line DataError text: split, config field, file, problem and fix (a _FIXES key)."""
    text = (f'{split} data ({_field(split)}): {path} {what}. Fix: '
            + _FIXES[fix].format(field=_field(split), split=split) + '.')
    return ' '.join(text.split())  # One line whatever TensorFlow's messages held.


# ------------------------------------------------------------------------------ diagnosis
def _head(path: str, size: int = 16) -> bytes:
    """The first bytes of a file (to say what a non-TFRecord file is); b'' if unreadable."""
    try:
        with tf.io.gfile.GFile(path, 'rb') as f:
            return f.read(size)
    except tf.errors.OpError:
        return b''


def _looks_like(head: bytes) -> str:
    """A short name for the kind of file that starts with `head`."""
    signatures = [(b'\xff\xd8\xff', 'a JPEG image'), (b'\x89PNG', 'a PNG image'),
                  (b'GIF8', 'a GIF image'), (b'\x1f\x8b', 'GZIP-compressed data'),
                  (b'PK\x03\x04', 'a zip archive'), (b'{', 'text (JSON?)')]
    for magic, name in signatures:
        if head.startswith(magic):
            return name
    if head and all(32 <= b < 127 or b in b'\t\r\n' for b in head):
        return 'text'
    return 'unrecognised binary data'


def _not_tfrecord(path: str, why: str) -> _Bad:
    """The problem for a file with no valid record at byte 0, named by what it looks like."""
    kind = _looks_like(_head(path))
    if kind == 'GZIP-compressed data':
        return _Bad('is GZIP-compressed, but the config reads plain TFRecord files', 'gzip')
    if kind == 'unrecognised binary data':
        return _Bad(f'is not a TFRecord file or is damaged at its start ({why})', 'reconvert')
    return _Bad(f'is not a TFRecord file ({why}; it starts like {kind})', 'foreign')


def _data_loss(path: str, error: tf.errors.DataLossError, index: int,
               spec: _RecordSpec) -> _Bad:
    """Turns a reader's DataLossError at record `index` into a named problem."""
    text = ' '.join(str(error.message or error).split())
    match = _OFFSET.search(text)
    at = f' (byte {match.group(1)})' if match else ''
    if 'truncated record' in text:
        return _Bad(f'is truncated: it ends inside record {index}{at}', 'reconvert')
    if 'corrupted record' in text and index == 0 and match and match.group(1) == '0':
        return _not_tfrecord(path, 'no valid record header at byte 0')
    if 'corrupted record' in text:
        return _Bad(f'has a corrupt record: record {index}{at} fails its CRC check',
                    'reconvert')
    if spec.compression and index == 0:
        return _Bad(f'is not a {spec.compression}-compressed TFRecord file ({text[:120]})',
                    'plain')
    return _Bad(f'cannot be read as a TFRecord file at record {index} ({text[:160]})',
                'reconvert')


def _unreadable(path: str, error: tf.errors.OpError) -> _Bad:
    """A file that cannot be opened or read at all (vanished, a directory, no permission)."""
    text = ' '.join(str(error.message or error).split())
    if tf.io.gfile.isdir(path):
        return _Bad('is a directory, not a TFRecord file', 'foreign')
    return _Bad(f'cannot be read ({type(error).__name__}: {text[:160]})', 'access')


def _check_record(record: bytes, index: int, spec: _RecordSpec) -> None:
    """Raises _Bad unless the record is a tf.Example the classification decoder can parse.

    Model Garden's decoder reads the image as a scalar string and the label as a scalar int64
    (a list of int64 for multi-label data), with defaults for missing keys: a record without
    a label would be read as label -1 rather than fail, so presence and kind are checked here.
    """
    try:
        example = tf.train.Example.FromString(record)
    except protobuf_message.DecodeError:
        raise _Bad(f'holds a record that is not a tf.Example (record {index} does not parse '
                   'as one)', 'example') from None
    features = example.features.feature
    found = ', '.join(sorted(features)[:12]) or 'no features'
    label_wanted = 'int64 labels' if spec.multilabel else 'one int64 label'
    for key, kind, wanted, any_length in (
            (spec.image_key, 'bytes_list', 'one encoded image', False),
            (spec.label_key, 'int64_list', label_wanted, spec.multilabel)):
        if key not in features:
            raise _Bad(f'holds a record that is not a tf.Example with the expected image and '
                       f'label keys (record {index} lacks {key!r}; it has: {found})', 'keys')
        feature = features[key]
        right_kind = feature.WhichOneof('kind') == kind
        if not right_kind or not (any_length or len(getattr(feature, kind).value) == 1):
            raise _Bad(f'holds a record that is not a tf.Example with the expected image and '
                       f'label keys (record {index}: {key!r} is not {wanted})', 'keys')


# ------------------------------------------------------------------------------ one file
@contextlib.contextmanager
def _quiet_deprecation() -> Iterator[None]:
    """Hides tf_record_iterator's deprecation notice (it would read like a problem)."""
    try:
        from tensorflow.python.util import deprecation  # pylint: disable=g-direct-tensorflow-import
        context = deprecation.silence()
    except (ImportError, AttributeError):
        context = contextlib.nullcontext()
    with context:
        yield


def _records(path: str, spec: _RecordSpec) -> Iterator[bytes]:
    """The file's records in order, CRC-checked; raises tf.errors.DataLossError."""
    options = tf.io.TFRecordOptions(compression_type=spec.compression or None)
    return tf.compat.v1.io.tf_record_iterator(path, options=options)


def manifest_count(path: str) -> Optional[int]:
    """Records the converter says it wrote to this shard, if its manifest sits beside it."""
    manifest = os.path.join(os.path.dirname(path), STATE_DIR, os.path.basename(path) + '.json')
    try:
        with tf.io.gfile.GFile(manifest) as f:
            written = json.load(f).get('written')
    except (tf.errors.OpError, ValueError, AttributeError):
        return None
    return written if isinstance(written, int) else None


def _check_size(path: str, count: int, consumed: int, full: bool) -> None:
    """Catches what the reader lets through: an empty or tiny file, a cut inside a header.

    Costs one metadata request, so the cheap check only makes it when no record was read.
    """
    if count and not full:
        return
    size = tf.io.gfile.stat(path).length
    if size == 0:
        raise _Bad('is empty (0 bytes, no records)', 'reconvert')
    if count == 0:
        raise _not_tfrecord(path, f'{size} bytes, shorter than one record header'
                            if size < HEADER_BYTES else 'no complete record')
    if consumed != size:
        raise _Bad(f'is truncated: the {size - consumed} bytes after record {count - 1} are '
                   'not a whole record', 'reconvert')


def _scan_file(path: str, full: bool, spec: _RecordSpec, stop: threading.Event) -> int:
    """Reads the first record (full=False) or every record of one file; returns the count.

    Raises:
        _Bad: the file's problem.
        _Cancelled: `stop` was set (an earlier file failed) before the scan finished.
    """
    count = consumed = 0
    try:
        for record in _records(path, spec):
            if stop.is_set():
                raise _Cancelled()
            _check_record(record, count, spec)
            count += 1
            consumed += len(record) + FRAMING_BYTES
            if not full:
                break
        if not spec.compression:
            _check_size(path, count, consumed, full)
        elif count == 0:
            raise _Bad('holds no records', 'reconvert')
    except tf.errors.DataLossError as e:
        raise _data_loss(path, e, count, spec) from None
    except tf.errors.OpError as e:
        raise _unreadable(path, e) from None
    expected = manifest_count(path) if full else None
    if expected is not None and expected != count:
        raise _Bad(f'holds {count} records but {STATE_DIR}/{os.path.basename(path)}.json says '
                   f'{expected} were written (truncated or replaced)', 'reconvert')
    return count


# ------------------------------------------------------------------------------ public API
def check_split(split: str, files: List[str], full: bool,
                image_key: str = DEFAULT_IMAGE_KEY, label_key: str = DEFAULT_LABEL_KEY,
                num_threads: int = 8, *, compression: str = '',
                multilabel: bool = False) -> dict:
    """Checks one split's files in parallel; raises DataError for the first bad one.

    Files are read by a thread pool because the work is I/O (one request per file on gs://
    for the cheap check, whole shards for the full one). Results are taken in sorted file
    order, so the file reported is the first bad one in that order whatever finishes first;
    once one fails, queued files are dropped and running scans stop at their next record.

    Args:
        split: 'train' or 'validation' (names the config field in messages).
        files: the paths to check, e.g. from `expand`.
        full: False reads only the first record of each file (framing, CRC and tf.Example
            keys); True reads every record and also checks sizes and manifest counts.
        image_key: the feature holding the encoded image (the config's image_field_key).
        label_key: the feature holding the label (the config's label_field_key).
        num_threads: files read at once.
        compression: '' for plain TFRecords, 'GZIP' for file_type: tfrecord_compressed.
        multilabel: labels are int64 lists rather than one int64 (is_multilabel).

    Returns:
        {'files': files checked, 'records': records read and checked} (for a full scan the
        number of records in the split).

    Raises:
        DataError: naming the split, the file, the problem and the fix.
    """
    files = sorted(files)
    spec = _RecordSpec(image_key, label_key, multilabel, (compression or '').upper())
    stop = threading.Event()
    records = 0
    workers = max(1, min(num_threads, len(files)))
    with _quiet_deprecation(), concurrent.futures.ThreadPoolExecutor(
            workers, thread_name_prefix='data_check') as pool:
        try:
            futures = [pool.submit(_scan_file, path, full, spec, stop) for path in files]
            for path, future in zip(files, futures):
                try:
                    records += future.result()
                except _Bad as bad:
                    raise DataError(_message(split, path, bad.what, bad.fix)) from None
        finally:
            stop.set()  # Running scans stop at their next record; queued ones never start.
            pool.shutdown(wait=True, cancel_futures=True)
    return {'files': len(files), 'records': records}


def _used_splits(params, mode: str) -> List[Tuple[str, Any]]:
    """(split, data config) for the splits `mode` reads from files (not TFDS)."""
    used = [('train', params.task.train_data, 'train' in mode),
            ('validation', params.task.validation_data, 'eval' in mode)]
    return [(split, data) for split, data, on in used if on and not data.tfds_name]


def _compression(data) -> Optional[str]:
    """The reader's compression for a data config's file_type; None if not a TFRecord type."""
    return {'tfrecord': '', 'tfrecord_compressed': 'GZIP'}.get(
        getattr(data, 'file_type', 'tfrecord') or 'tfrecord')


def _check_config_split(split: str, data, full: bool) -> Optional[dict]:
    """Runs check_split for one data config and logs it; None when there is nothing to read."""
    compression = _compression(data)
    if compression is None:
        logging.warning('Not checking the %s data: file_type %r is not a TFRecord type.',
                        split, data.file_type)
        return None
    files = expand(data.input_path)
    if not files:  # Reported by the caller (run.check_input_paths) or a demo set to create.
        logging.info('Not checking the %s data: %r matches no file yet.', split,
                     data.input_path)
        return None
    start = time.time()
    counts = check_split(split, files, full,
                         image_key=getattr(data, 'image_field_key', DEFAULT_IMAGE_KEY),
                         label_key=getattr(data, 'label_field_key', DEFAULT_LABEL_KEY),
                         compression=compression,
                         multilabel=bool(getattr(data, 'is_multilabel', False)))
    what = 'every record' if full else 'the first record'
    logging.info('Checked %s of %d %s file(s) (%d records) in %.1f s.', what,
                 counts['files'], split, counts['records'], time.time() - start)
    return counts


def check_inputs(params, mode: str, full: bool = False) -> None:
    """Checks the data `mode` will read before any model is built.

    Training shards get the cheap check (first record of each) unless `full`: a full scan of
    ImageNet's 140 GB would delay every start by minutes. Validation shards are always read
    in full: the set is small, and a bad record there would otherwise end the run at its first
    evaluation instead of now. Splits read from TFDS are skipped.

    Args:
        params: a Model Garden ExperimentConfig (uses task.train_data / validation_data).
        mode: 'train', 'eval', 'train_and_eval' or 'continuous_eval'.
        full: also read every training record.

    Raises:
        DataError: for the first bad file (the training split is checked first).
    """
    for split, data in _used_splits(params, mode):
        _check_config_split(split, data, full or split == 'validation')


def _read_summary(path: str) -> Optional[dict]:
    """summary.json's contents, or None where absent or not the converter's summary."""
    try:
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as f:
            summary = json.load(f)
    except (tf.errors.OpError, ValueError) as e:
        logging.warning('Ignoring %s: %s', path, e)
        return None
    keys_ok = isinstance(summary, dict) and all(
        isinstance(summary.get(k), int) for k in ('num_classes', 'label_offset'))
    return summary if keys_ok else None


def _summaries(params) -> List[Tuple[str, str, dict]]:
    """(split, summary path, summary) for each distinct folder the input globs point into."""
    found, seen = [], set()
    for split, data in (('train', params.task.train_data),
                        ('validation', params.task.validation_data)):
        if data.tfds_name:
            continue
        for pattern in patterns(data.input_path):
            folder = os.path.dirname(pattern)
            path = os.path.join(folder, SUMMARY_FILE)
            if _GLOB_CHARS.search(folder) or path in seen:
                continue
            seen.add(path)
            summary = _read_summary(path)
            if summary is not None:
                found.append((split, path, summary))
    return found


def check_num_classes(params) -> List[str]:
    """Compares task.model.num_classes with the labels imagenet_to_gcs.py wrote.

    Labels run from label_offset to label_offset + num_classes - 1 (1-based ImageNet records
    need 1001 outputs). Too few outputs is an error: the one-hot of an out-of-range label is
    all zeros, so those images would train towards nothing. Too many is only wasteful, so it
    is returned as a warning for the caller to log.

    Args:
        params: a Model Garden ExperimentConfig.

    Returns:
        Warning strings (empty when the head matches or no summary.json is found).

    Raises:
        DataError: the head has fewer outputs than the largest label needs.
    """
    model_classes = params.task.model.num_classes
    warnings = []
    for split, path, summary in _summaries(params):
        first, count = summary['label_offset'], summary['num_classes']
        needed = first + count
        labels = f'{count} classes with labels {first}..{needed - 1}'
        if model_classes < needed:
            raise DataError(
                f'{split} data ({_field(split)}): {path} lists {labels}, but '
                f'task.model.num_classes is {model_classes} (labels 0..{model_classes - 1}); '
                f'{needed} outputs are needed. Fix: set task.model.num_classes: {needed}.')
        if model_classes > needed:
            warnings.append(
                f'task.model.num_classes is {model_classes} but {path} lists {labels}: '
                f'{model_classes - needed} output(s) never see a label (set '
                f'task.model.num_classes: {needed} to match).')
    return warnings


def locate_corrupt(params, mode: str) -> Optional[str]:
    """Finds the file behind a DataLossError (whose message names only a byte offset).

    Reads every record of the splits `mode` uses, validation first: it is the smaller set,
    so when it holds the bad file the answer comes soonest.

    Args:
        params: a Model Garden ExperimentConfig.
        mode: the mode the failed run used.

    Returns:
        The DataError message for the first bad file, or None when every file reads cleanly.
    """
    for split, data in reversed(_used_splits(params, mode)):
        try:
            _check_config_split(split, data, full=True)
        except DataError as e:
            return str(e)
    return None
