"""data.check: bad shards fail fast with an error naming the split, the file and the fix.

Corruptions are made at byte offsets computed here from the TFRecord framing (8-byte length,
4-byte CRC, data, 4-byte CRC), independently of data.check, and the tf.data reader Model
Garden trains with is used to confirm that each damaged fixture really breaks training.
"""
import json
import os
import shutil
import struct

import numpy as np
import pytest
import tensorflow as tf

from data import check
from data import convert
from data import example
from data import records

RNG = np.random.default_rng(0)
JPEG = records.encode_jpeg(RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8))
TRAIN_SIZES = (5, 5, 6)
VAL_SIZES = (4, 4)


# ------------------------------------------------------------------------------ helpers
def _record(i: int) -> bytes:
    return records.make_example(JPEG, i % 3, f'class{i % 3}', 8, 8, f'img_{i}.JPEG')


def _write_split(folder, split, sizes):
    paths = []
    for index, size in enumerate(sizes):
        path = os.path.join(folder, records.shard_name(split, index, len(sizes)))
        records.write_shard(path, [_record(i) for i in range(size)])
        paths.append(path)
    return paths


def _frames(path):
    """(record start, data length) of every record, read from the framing by hand."""
    raw = open(path, 'rb').read()
    frames, offset = [], 0
    while offset < len(raw):
        (length,) = struct.unpack('<Q', raw[offset:offset + 8])
        frames.append((offset, length))
        offset += 16 + length
    assert offset == len(raw)
    return frames


def _flip_byte(path, record):
    """Flips one byte in the middle of a record's data (its CRC no longer matches)."""
    start, length = _frames(path)[record]
    raw = bytearray(open(path, 'rb').read())
    raw[start + 12 + length // 2] ^= 0xFF
    open(path, 'wb').write(bytes(raw))


def _cut(path, size):
    raw = open(path, 'rb').read()
    open(path, 'wb').write(raw[:size])


def _training_fails(paths):
    """True when the reader Model Garden trains with stops with DataLossError."""
    try:
        for _ in tf.data.TFRecordDataset(paths):
            pass
    except tf.errors.DataLossError:
        return True
    return False


def _error(split, files, full=True, **kwargs) -> str:
    with pytest.raises(check.DataError) as err:
        check.check_split(split, files, full, **kwargs)
    message = str(err.value)
    assert '\n' not in message and 'Fix: ' in message
    assert message.startswith(f'{split} data (task.{split}_data): ')
    return message


def _params(train, validation, **task):
    from official.core import exp_factory
    from official_ext import registry_imports  # noqa: F401  (registers the experiments)
    params = exp_factory.get_exp_config('convnext_imagenet')
    params.override({'task': {'train_data': {'input_path': train},
                              'validation_data': {'input_path': validation}, **task}},
                    is_strict=False)
    return params


@pytest.fixture
def dataset(tmp_path):
    """A good set: train shards of 5, 5 and 6 records, validation shards of 4 and 4."""
    folder = str(tmp_path / 'data')
    return (folder, _write_split(folder, 'train', TRAIN_SIZES),
            _write_split(folder, 'validation', VAL_SIZES))


def _dataset_params(folder):
    return _params(os.path.join(folder, 'train-*'), os.path.join(folder, 'validation-*'))


# ------------------------------------------------------------------------------ good data
def test_good_set_passes_and_full_scan_counts_every_record(dataset):
    folder, train, val = dataset
    assert not _training_fails(train + val)
    assert check.check_split('train', train, full=True) == {'files': 3, 'records': 16}
    assert check.check_split('validation', val, full=True) == {'files': 2, 'records': 8}
    assert check.check_split('train', train, full=False) == {'files': 3, 'records': 3}
    for mode in ('train', 'eval', 'train_and_eval', 'continuous_eval'):
        check.check_inputs(_dataset_params(folder), mode, full=True)


def test_expand_splits_commas_and_lists_sorts_and_dedups(tmp_path):
    for name in ('b-1', 'a-1', 'a-0', 'c-0'):
        (tmp_path / name).write_bytes(b'')
    a, b = str(tmp_path / 'a-*'), str(tmp_path / 'b-*')
    want = [str(tmp_path / n) for n in ('a-0', 'a-1', 'b-1')]
    assert check.expand(f'{b}, {a}') == want
    assert check.expand([b, f'{a},{a}']) == want
    assert check.expand('') == [] and check.expand(str(tmp_path / 'z-*')) == []


# ------------------------------------------------------------------------------ bad files
@pytest.mark.parametrize('record', [0, 2, 3])
def test_flipped_byte_is_a_corrupt_record_named_with_its_file(dataset, record):
    _, _, val = dataset
    _flip_byte(val[1], record)
    assert _training_fails(val)
    message = _error('validation', val)
    assert val[1] in message and val[0] not in message
    assert f'corrupt record: record {record} ' in message and 'imagenet_to_gcs.py' in message


@pytest.mark.parametrize('where', ['inside data', 'inside header', 'tiny file'])
def test_truncated_shard_is_reported(dataset, where):
    _, train, _ = dataset
    start, length = _frames(train[2])[-1]
    _cut(train[2], {'inside data': start + 12 + length // 2, 'inside header': start + 5,
                    'tiny file': 7}[where])
    message = _error('train', train)
    assert train[2] in message
    if where == 'tiny file':
        assert 'is not a TFRecord file or is damaged at its start (7 bytes' in message
    else:
        assert 'is truncated' in message and 'imagenet_to_gcs.py' in message


def test_cut_inside_a_header_passes_tf_readers_but_not_the_size_check(dataset):
    """Why check_split compares sizes: TensorFlow's readers stop silently at such a cut."""
    _, train, _ = dataset
    start, _ = _frames(train[0])[-1]
    _cut(train[0], start + 5)
    assert not _training_fails(train)
    assert sum(1 for _ in tf.data.TFRecordDataset(train[0])) == TRAIN_SIZES[0] - 1
    assert f'the 5 bytes after record {TRAIN_SIZES[0] - 2} are not a whole record' in _error(
        'train', train)


@pytest.mark.parametrize('content,kind', [
    (JPEG, 'a JPEG image'),
    (b'image/class/label\tsynset\n' * 20, 'text'),
    (b'n01440764\n', 'text'),  # Shorter than a record header: TF reads it as zero records.
])
def test_foreign_file_is_not_a_tfrecord_file(dataset, content, kind):
    _, _, val = dataset
    foreign = val[0] + '.renamed'
    open(foreign, 'wb').write(content)
    files = sorted(val + [foreign])
    message = _error('validation', files, full=False)
    assert foreign in message and 'is not a TFRecord file (' in message
    assert f'it starts like {kind})' in message
    assert 'narrow task.validation_data.input_path' in message


def test_empty_file_and_directory(dataset):
    _, train, _ = dataset
    empty = train[0] + '-empty'
    open(empty, 'wb').close()
    assert 'is empty (0 bytes' in _error('train', [empty], full=False)
    folder = train[0] + '-dir'
    os.mkdir(folder)
    assert f'{folder} is a directory' in _error('train', [folder], full=False)


@pytest.mark.parametrize('payload,wanted', [
    (b'\xff' * 20, 'is not a tf.Example (record 1 does not parse'),
    (example.serialize_example([('image/encoded', JPEG)]),
     "record 1 lacks 'image/class/label'; it has: image/encoded"),
    (example.serialize_example([('image/encoded', JPEG), ('image/class/label', b'3')]),
     "record 1: 'image/class/label' is not one int64 label"),
    (example.serialize_example([('image/encoded', 5), ('image/class/label', 3)]),
     "record 1: 'image/encoded' is not one encoded image"),
])
def test_record_that_is_not_the_expected_tf_example(tmp_path, payload, wanted):
    path = str(tmp_path / 'validation-00000-of-00001')
    records.write_shard(path, [_record(0), payload, _record(2)])
    message = _error('validation', [path])
    assert path in message and wanted in message
    # The first record is fine, so the cheap check passes.
    assert check.check_split('validation', [path], full=False) == {'files': 1, 'records': 1}


def test_custom_feature_keys(tmp_path):
    path = str(tmp_path / 'train-0')
    records.write_shard(path, [example.serialize_example([('img', JPEG), ('lbl', 1)])] * 2)
    assert check.check_split('train', [path], True, image_key='img', label_key='lbl') == {
        'files': 1, 'records': 2}
    message = _error('train', [path])
    assert "lacks 'image/encoded'; it has: img, lbl" in message
    assert 'task.train_data.image_field_key' in message


def test_gzip_shards_need_file_type_tfrecord_compressed(tmp_path):
    path = str(tmp_path / 'train-0')
    with tf.io.TFRecordWriter(path, options='GZIP') as writer:
        for i in range(3):
            writer.write(_record(i))
    assert check.check_split('train', [path], True, compression='GZIP') == {
        'files': 1, 'records': 3}
    assert 'set task.train_data.file_type: tfrecord_compressed' in _error('train', [path])


def test_first_bad_file_in_sorted_order_is_reported_whatever_finishes_first(tmp_path):
    """a: good; b: 20 MB, its last record corrupt (slow to find); c: good; d: a JPEG (instant)."""
    folder = str(tmp_path)
    names = [os.path.join(folder, n) for n in ('a', 'b', 'c', 'd')]
    big = example.serialize_example([('image/encoded', RNG.bytes(50_000)),
                                     ('image/class/label', 1)])
    records.write_shard(names[0], [_record(0)])
    records.write_shard(names[1], [big] * 400)
    records.write_shard(names[2], [_record(0)])
    _flip_byte(names[1], 399)
    open(names[3], 'wb').write(JPEG)
    for _ in range(3):
        message = _error('train', list(reversed(names)), num_threads=4)
        assert f'{names[1]} has a corrupt record: record 399 ' in message


# ------------------------------------------------------------------------------ check_inputs
def test_cheap_train_check_reads_only_the_first_record(dataset):
    folder, train, _ = dataset
    _flip_byte(train[1], TRAIN_SIZES[1] - 1)
    with open(train[2], 'ab') as f:
        f.write(b'garbage that is not a record at all')
    assert _training_fails([train[1]]) and _training_fails([train[2]])
    assert check.check_split('train', train, full=False) == {'files': 3, 'records': 3}
    check.check_inputs(_dataset_params(folder), 'train')
    with pytest.raises(check.DataError, match='train-00001-of-00003 has a corrupt record'):
        check.check_inputs(_dataset_params(folder), 'train', full=True)


@pytest.mark.parametrize('record', [0, 1, VAL_SIZES[1] - 1])
def test_check_inputs_reads_every_validation_record(dataset, record):
    folder, _, val = dataset
    _flip_byte(val[1], record)
    for mode in ('eval', 'train_and_eval', 'continuous_eval'):
        with pytest.raises(check.DataError) as err:
            check.check_inputs(_dataset_params(folder), mode)
        assert str(err.value).startswith(f'validation data (task.validation_data): {val[1]} ')
    check.check_inputs(_dataset_params(folder), 'train')  # Validation is not read in train.


def test_check_inputs_skips_tfds_splits_and_empty_globs(dataset, tmp_path):
    folder, _, val = dataset
    _flip_byte(val[0], 0)
    params = _dataset_params(folder)
    params.override({'task': {'validation_data': {'tfds_name': 'imagenet2012'}}})
    check.check_inputs(params, 'train_and_eval')
    nothing = str(tmp_path / 'none' / 'train-*')
    check.check_inputs(_params(nothing, nothing), 'train_and_eval')  # The caller's job.


def test_check_inputs_uses_the_configs_keys(tmp_path):
    path = str(tmp_path / 'validation-0')
    records.write_shard(path, [example.serialize_example([('img', JPEG), ('lbl', 1)])])
    with pytest.raises(check.DataError, match="lacks 'image/encoded'"):
        check.check_inputs(_params('', path), 'eval')
    params = _params('', path, validation_data={'input_path': path, 'image_field_key': 'img',
                                                'label_field_key': 'lbl'})
    check.check_inputs(params, 'eval')


# ------------------------------------------------------------------------------ locate_corrupt
def test_locate_corrupt_names_the_file_training_died_on(dataset):
    folder, train, val = dataset
    assert check.locate_corrupt(_dataset_params(folder), 'train_and_eval') is None
    _flip_byte(train[2], 3)
    assert _training_fails(train)
    found = check.locate_corrupt(_dataset_params(folder), 'train_and_eval')
    assert found.startswith(f'train data (task.train_data): {train[2]} has a corrupt record')
    assert check.locate_corrupt(_dataset_params(folder), 'eval') is None  # Train not used.
    _flip_byte(val[0], 1)
    found = check.locate_corrupt(_dataset_params(folder), 'train_and_eval')
    assert found.startswith(f'validation data (task.validation_data): {val[0]} ')


# ------------------------------------------------------------------------------ converter output
@pytest.fixture(scope='module')
def converted(tmp_path_factory):
    """imagenet_to_gcs.py's output for 3 classes with 1-based labels (needs 4 outputs)."""
    raw = tmp_path_factory.mktemp('raw')
    for split, per_class in (('train', 3), ('val', 1)):
        for c in ('n01', 'n02', 'n03'):
            os.makedirs(raw / split / c)
            for i in range(per_class):
                pixels = RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)
                (raw / split / c / f'{c}_{i}.JPEG').write_bytes(records.encode_jpeg(pixels))
    out = str(tmp_path_factory.mktemp('converted'))
    summary = convert.convert(str(raw), out, train_shards=2, validation_shards=1,
                              label_offset=1, num_workers=0, progress=False)
    return out, summary


def test_converted_set_passes_with_the_summarys_counts(converted):
    out, summary = converted
    for split in ('train', 'validation'):
        files = check.expand(os.path.join(out, f'{split}-*'))
        counts = check.check_split(split, files, full=True)
        assert counts == {'files': summary['splits'][split]['num_shards'],
                          'records': summary['splits'][split]['written']}


def test_shard_cut_at_a_record_boundary_is_caught_by_its_manifest(converted, tmp_path):
    out, _ = converted
    copy = str(tmp_path / 'copy')
    shutil.copytree(out, copy)
    shard = os.path.join(copy, 'train-00001-of-00002')
    frames = _frames(shard)
    _cut(shard, frames[-1][0])  # Whole records only: no reader can tell.
    assert not _training_fails([shard])
    message = _error('train', [shard])
    assert (f'holds {len(frames) - 1} records but conversion_state/train-00001-of-00002.json '
            f'says {len(frames)} were written') in message
    shutil.rmtree(os.path.join(copy, 'conversion_state'))
    assert check.check_split('train', [shard], True)['records'] == len(frames) - 1


@pytest.mark.parametrize('num_classes,outcome', [(3, 'error'), (4, 'none'), (6, 'warning')])
def test_num_classes_against_summary_json(converted, num_classes, outcome):
    out, summary = converted
    assert (summary['num_classes'], summary['label_offset']) == (3, 1)
    params = _params(os.path.join(out, 'train-*'), os.path.join(out, 'validation-*'),
                     model={'num_classes': num_classes})
    path = os.path.join(out, 'summary.json')
    if outcome == 'error':
        with pytest.raises(check.DataError) as err:
            check.check_num_classes(params)
        message = str(err.value)
        assert '\n' not in message and path in message and 'labels 1..3' in message
        assert 'task.model.num_classes is 3' in message
        assert message.endswith('Fix: set task.model.num_classes: 4.')
    elif outcome == 'none':
        assert check.check_num_classes(params) == []
    else:
        (warning,) = check.check_num_classes(params)
        assert 'task.model.num_classes is 6' in warning and path in warning
        assert '2 output(s) never see a label' in warning
        assert 'task.model.num_classes: 4' in warning


def test_num_classes_zero_based_summary_and_no_summary(dataset):
    folder, _, _ = dataset
    params = _dataset_params(folder)
    params.override({'task': {'model': {'num_classes': 10}}})
    assert check.check_num_classes(params) == []  # No summary.json beside the shards.
    with open(os.path.join(folder, 'summary.json'), 'w') as f:
        json.dump({'num_classes': 11, 'label_offset': 0}, f)
    with pytest.raises(check.DataError, match='set task.model.num_classes: 11'):
        check.check_num_classes(params)
    with open(os.path.join(folder, 'summary.json'), 'w') as f:
        json.dump({'num_classes': 10, 'label_offset': 0}, f)
    assert check.check_num_classes(params) == []
