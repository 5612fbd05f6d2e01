"""imagenet_to_gcs.py / data.convert end to end: layouts, bad files, determinism, resume."""
import collections
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from data import convert
from data import layout
from data import records
from tests import test_convert_trees as h

GOOD = {'n0001': 4, 'n0002': 3, 'n0003': 5}


@pytest.fixture(scope='module')
def bad_tree(tmp_path_factory):
    """Good images (mixed extension case) plus every kind of problem file, with sources."""
    root = str(tmp_path_factory.mktemp('bad_tree'))
    expected = h.class_tree(root, GOOD, val_per_class=2)
    os.rename(os.path.join(root, 'train', 'n0001', 'n0001_0.JPEG'),
              os.path.join(root, 'train', 'n0001', 'n0001_0.jpg'))
    expected['n0001_0.jpg'] = expected.pop('n0001_0.JPEG')
    sources = {}
    for name, cls, fmt, mode, seed in [('png_named.JPEG', 'n0001', 'PNG', 'RGB', 100),
                                       ('cmyk.JPEG', 'n0002', 'JPEG', 'CMYK', 101),
                                       ('gray.jpeg', 'n0003', 'JPEG', 'L', 102)]:
        sources[name] = np.asarray(Image.fromarray(h.image_array(seed)).convert(mode)
                                   .convert('RGB')).astype(int)
        h.write(os.path.join(root, 'train', cls, name),
                h.encode(h.image_array(seed), fmt, mode))
        expected[name] = ('train', cls)
    whole = h.encode(h.image_array(103))
    h.write(os.path.join(root, 'train', 'n0001', 'truncated.JPEG'), whole[:len(whole) // 2])
    h.write(os.path.join(root, 'val', 'n0002', 'empty.JPEG'), b'')
    h.write(os.path.join(root, 'train', 'n0003', 'notes.txt'), b'not an image')
    return root, expected, sources


def _labels_by_file(out, offset=0):
    got = collections.defaultdict(list)
    for split in ('train', 'validation'):
        for row in h.read_records(out, split):
            got[row['image/filename'].decode()].append(
                (split, row['image/class/label'], row['image/class/synset'].decode()))
    return got


def test_cli_bad_files_are_listed_and_set_the_exit_code(bad_tree, tmp_path):
    root, expected, sources = bad_tree
    out = str(tmp_path / 'out')
    flags = [f'--raw_data_dir={root}', f'--local_scratch_dir={out}', '--gcs_upload=False',
             '--train_shards=3', '--validation_shards=2', '--progress=false']
    first = h.run_cli(*flags)
    assert first.returncode == 1, first.stderr
    assert 'truncated.JPEG' in first.stderr and 'empty.JPEG' in first.stderr
    assert '--allow_skips' in first.stderr

    # Every good image exactly once, labelled by its sorted class folder; no bad one.
    got = _labels_by_file(out)
    classes = sorted(GOOD)
    assert dict(got) == {n: [(s, classes.index(c), c)] for n, (s, c) in expected.items()}

    summary = json.load(open(os.path.join(out, 'summary.json')))
    assert {(s['split'], s['file']) for s in summary['skipped_files']} == {
        ('train', 'train/n0001/truncated.JPEG'), ('validation', 'val/n0002/empty.JPEG')}
    assert {r['file']: r['was'] for r in summary['reencoded_files']} == {
        'train/n0001/png_named.JPEG': 'PNG RGB', 'train/n0002/cmyk.JPEG': 'JPEG CMYK',
        'train/n0003/gray.jpeg': 'JPEG L'}
    assert summary['ignored_files'] == ['train/n0003/notes.txt']
    assert summary['splits']['train']['per_class'] == {'n0001': 5, 'n0002': 4, 'n0003': 6}
    assert summary['splits']['validation']['per_class'] == {'n0001': 2, 'n0002': 2,
                                                            'n0003': 2}
    assert open(os.path.join(out, 'labels.txt')).read() == '0\tn0001\n1\tn0002\n2\tn0003\n'
    skipped_lines = open(os.path.join(out, 'skipped_files.txt')).read().splitlines()
    assert len(skipped_lines) == 2

    # Kept JPEGs are the original bytes; re-encoded ones are RGB JPEGs of the same pixels.
    for row in h.read_records(out, 'train'):
        name = row['image/filename'].decode()
        if name in sources:
            pixels = tf.io.decode_jpeg(row['image/encoded']).numpy().astype(int)
            assert pixels.shape == (24, 32, 3) and row['image/channels'] == 3
            assert np.abs(pixels - sources[name]).mean() < 4
        else:
            cls = expected[name][1]
            with open(os.path.join(root, 'train', cls, name), 'rb') as f:
                assert row['image/encoded'] == f.read()

    before = h.shard_bytes(out)
    second = h.run_cli(*flags, '--allow_skips')
    assert second.returncode == 0, second.stderr
    assert '5 of 5 shards already complete' in second.stdout
    assert h.shard_bytes(out) == before


def test_misnamed_folders_give_a_clear_error(tmp_path):
    root = str(tmp_path / 'raw')
    h.class_tree(root, {'n0001': 2, 'n0002': 2}, val_per_class=1)
    os.rename(os.path.join(root, 'train'), os.path.join(root, 'training'))
    result = h.run_cli(f'--raw_data_dir={root}', f'--local_scratch_dir={tmp_path / "o"}')
    assert result.returncode == 2
    assert 'expected <raw_data_dir>/train/<class>/' in result.stderr
    assert 'training/' in result.stderr and 'val/' in result.stderr  # What was found.
    assert not os.path.exists(tmp_path / 'o' / 'summary.json')


@pytest.mark.parametrize('mutate,message', [
    (lambda r: os.rename(f'{r}/val', f'{r}/valid'), 'no val/ or validation/ folder'),
    (lambda r: os.makedirs(f'{r}/validation'), 'ambiguous'),
    (lambda r: os.rename(f'{r}/val/n0001', f'{r}/val/n9999'), 'not in train/'),
    (lambda r: [os.rename(f'{r}/train/n0001/{n}', f'{r}/train/{n}')
                for n in os.listdir(f'{r}/train/n0001')] and
     [os.rename(f'{r}/train/n0002', f'{r}/n0002'), os.rmdir(f'{r}/train/n0001')],
     'no class folders holding images'),
])
def test_layout_errors_say_what_was_expected_and_found(tmp_path, mutate, message):
    root = str(tmp_path)
    h.class_tree(root, {'n0001': 2, 'n0002': 2}, val_per_class=1)
    mutate(root)
    with pytest.raises(layout.LayoutError, match=message) as error:
        layout.detect_layout(root)
    assert 'found' in str(error.value) or 'rename' in str(error.value)


def test_flat_validation_layout_with_label_offset_1(tmp_path):
    root, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    expected = h.class_tree(root, GOOD, val_per_class=2, flat_validation=True, ext='.JPEG')
    summary = convert.convert(root, out, train_shards=2, validation_shards=2,
                              label_offset=1, num_workers=1, progress=False)
    assert summary['layout'] == 'flat-validation'
    classes = sorted(GOOD)
    got = _labels_by_file(out)
    assert dict(got) == {n: [(s, classes.index(c) + 1, c)] for n, (s, c) in expected.items()}
    assert open(os.path.join(out, 'labels.txt')).read() == '1\tn0001\n2\tn0002\n3\tn0003\n'

    # A synset_labels.txt that does not match the files is an error, not a silent shift.
    with open(os.path.join(root, 'synset_labels.txt'), 'a') as f:
        f.write('n0001\n')
    with pytest.raises(layout.LayoutError, match='one line per validation image'):
        layout.detect_layout(root)


def test_output_is_byte_identical_whatever_the_worker_count(tmp_path):
    root = str(tmp_path / 'raw')
    h.class_tree(root, GOOD, val_per_class=2)
    for workers in (1, 2):
        convert.convert(root, str(tmp_path / f'out{workers}'), train_shards=3,
                        validation_shards=2, num_workers=workers, progress=False)
    first, second = h.shard_bytes(str(tmp_path / 'out1')), h.shard_bytes(
        str(tmp_path / 'out2'))
    assert sorted(first) == ['train-00000-of-00003', 'train-00001-of-00003',
                             'train-00002-of-00003', 'validation-00000-of-00002',
                             'validation-00001-of-00002']
    assert first == second
    # Training shards mix classes (the list is shuffled before sharding).
    rows = h.read_records(str(tmp_path / 'out1'), 'train')
    assert [r['image/class/label'] for r in rows] != sorted(r['image/class/label']
                                                           for r in rows)


def test_killed_conversion_resumes_to_the_same_shards(tmp_path):
    root, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    h.class_tree(root, GOOD, val_per_class=2)
    kwargs = dict(train_shards=4, validation_shards=2, num_workers=2, progress=False)
    convert.convert(root, out, **kwargs)
    complete = h.shard_bytes(out)
    kept = os.path.join(out, 'train-00000-of-00004')
    kept_mtime = os.stat(kept).st_mtime_ns

    # The state a kill leaves: shards 0-1 done; shard 2 renamed but its manifest not yet
    # written, cut short here to prove it is redone; shard 3 half-written under its
    # temporary name; no validation shards, labels or summary yet.
    state = os.path.join(out, convert.STATE_DIR)
    with open(os.path.join(out, 'train-00002-of-00004'), 'r+b') as f:
        f.truncate(10)
    os.remove(os.path.join(state, 'train-00002-of-00004.json'))
    os.remove(os.path.join(out, 'train-00003-of-00004'))
    os.remove(os.path.join(state, 'train-00003-of-00004.json'))
    with open(records.temp_path(os.path.join(out, 'train-00003-of-00004')), 'wb') as f:
        f.write(b'partial')
    for name in ('validation-00000-of-00002', 'validation-00001-of-00002'):
        os.remove(os.path.join(out, name))
    for name in ('labels.txt', 'summary.json', 'skipped_files.txt'):
        os.remove(os.path.join(out, name))

    convert.convert(root, out, **kwargs)
    assert h.shard_bytes(out) == complete
    assert os.stat(kept).st_mtime_ns == kept_mtime  # Complete shards were not redone.
    assert sorted(n for n in os.listdir(out) if n.startswith('.')) == []  # No temp left.

    # Different flags make a different conversion: refused unless overwriting, which redoes
    # the shards (tests/test_convert_integrity.py covers the refusal).
    with pytest.raises(convert.OutputConflict, match='--label_offset: 0 .old. vs 1 .new.'):
        convert.convert(root, out, label_offset=1, **kwargs)
    assert h.shard_bytes(out) == complete
    convert.convert(root, out, label_offset=1, overwrite=True, **kwargs)
    assert min(r['image/class/label'] for r in h.read_records(out, 'train')) == 1


def test_too_many_shards_is_a_clear_error(tmp_path):
    root = str(tmp_path / 'raw')
    h.class_tree(root, {'n0001': 2}, val_per_class=1)
    with pytest.raises(ValueError, match='--train_shards=1024 must be between 1 and the 2'):
        convert.convert(root, str(tmp_path / 'out'), progress=False)


def test_non_local_output_goes_through_tf_io_gfile(tmp_path):
    """ram:// stands in for gs://: every output path must go through tf.io.gfile."""
    root, out = str(tmp_path / 'raw'), 'ram://test_convert/out'
    h.class_tree(root, {'n0001': 2, 'n0002': 2}, val_per_class=1)
    convert.convert(root, out, train_shards=2, validation_shards=1, num_workers=1,
                    progress=False)
    assert sorted(tf.io.gfile.listdir(out)) == [
        'conversion_state', 'labels.txt', 'skipped_files.txt', 'summary.json',
        'train-00000-of-00002', 'train-00001-of-00002', 'validation-00000-of-00001']
    assert len(h.read_records(out, 'train')) == 4
    again = convert.convert(root, out, train_shards=2, validation_shards=1, num_workers=1,
                            progress=False)
    assert again['splits']['train']['written'] == 4
