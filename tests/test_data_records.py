"""data.example / data.records: the tf.Example layout, atomic shards, array datasets."""
import os

import numpy as np
import pytest
import tensorflow as tf

from data import records

TPU_KEYS = {'image/encoded', 'image/class/label', 'image/class/synset', 'image/height',
            'image/width', 'image/channels', 'image/colorspace', 'image/format',
            'image/filename'}


def _reference_example(encoded, label, synset, height, width, filename):
    """The same record built through the protobuf API, as tensorflow/tpu's script did."""
    def b(v):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))

    def i(v):
        return tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
    return tf.train.Example(features=tf.train.Features(feature={
        'image/height': i(height), 'image/width': i(width), 'image/colorspace': b(b'RGB'),
        'image/channels': i(3), 'image/class/label': i(label),
        'image/class/synset': b(synset.encode()), 'image/format': b(b'JPEG'),
        'image/filename': b(filename.encode()), 'image/encoded': b(encoded)}))


@pytest.mark.parametrize('label,height,width,size', [
    (0, 375, 500, 100_000),   # Multi-byte varint lengths.
    (999, 1, 127, 0),         # Empty bytes, one-byte boundary values.
    (-1, 128, 2**40, 300),    # Negative label (10-byte varint), large ints.
])
def test_make_example_parses_as_the_protobuf_built_example(label, height, width, size):
    encoded = np.random.default_rng(size).integers(0, 256, size, np.uint8).tobytes()
    ours = records.make_example(encoded, label, 'n01440764', height, width, 'a_1.JPEG')
    parsed = tf.train.Example.FromString(ours)
    assert parsed == _reference_example(encoded, label, 'n01440764', height, width,
                                        'a_1.JPEG')
    assert set(parsed.features.feature) == TPU_KEYS


def test_write_shard_is_atomic_and_ordered(tmp_path):
    path = str(tmp_path / 'sub' / 'train-00000-of-00001')
    records.write_shard(path, [b'a', b'bb', b'ccc'])
    assert list(tf.data.TFRecordDataset(path).as_numpy_iterator()) == [b'a', b'bb', b'ccc']

    def failing():
        yield b'new'
        raise RuntimeError('killed')
    with pytest.raises(RuntimeError):
        records.write_shard(path, failing())
    # The complete old shard is untouched and no temporary file is left behind.
    assert list(tf.data.TFRecordDataset(path).as_numpy_iterator()) == [b'a', b'bb', b'ccc']
    assert os.listdir(tmp_path / 'sub') == ['train-00000-of-00001']
    assert os.path.basename(records.temp_path(path)).startswith('.')  # Out of train* globs.


def test_shard_bounds_cover_every_item_once():
    assert records.shard_bounds(10, 3) == [0, 3, 6, 10]
    assert records.shard_bounds(1281167, 1024)[-1] == 1281167
    sizes = np.diff(records.shard_bounds(1281167, 1024))
    assert sizes.min() >= 1251 and sizes.max() <= 1252  # 1281167 / 1024 = 1251.1
    with pytest.raises(ValueError, match='num_shards'):
        records.shard_bounds(10, 0)


def test_write_image_arrays_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    # Smooth images: JPEG at quality 95 keeps them within a few grey levels.
    small = rng.integers(0, 256, (10, 2, 2, 3)).astype(np.float32)
    images = np.stack([tf.image.resize(s[None], (16, 12), 'bilinear')[0] for s in small])
    images = np.clip(np.round(images), 0, 255).astype(np.uint8)
    labels = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3]
    paths = records.write_image_arrays(images, labels, str(tmp_path), 'train', 3)
    assert [os.path.basename(p) for p in paths] == [
        'train-00000-of-00003', 'train-00001-of-00003', 'train-00002-of-00003']
    counts, seen = [], []
    for path in paths:
        rows = list(tf.data.TFRecordDataset(path).as_numpy_iterator())
        counts.append(len(rows))
        for raw in rows:
            f = tf.train.Example.FromString(raw).features.feature
            image = tf.io.decode_jpeg(f['image/encoded'].bytes_list.value[0]).numpy()
            seen.append((f['image/class/label'].int64_list.value[0], image,
                         f['image/height'].int64_list.value[0],
                         f['image/width'].int64_list.value[0]))
    assert counts == [3, 3, 4]
    assert [s[0] for s in seen] == labels
    for i, (_, image, height, width) in enumerate(seen):
        assert (height, width) == (16, 12) == image.shape[:2]
        assert np.abs(image.astype(int) - images[i]).mean() < 3


def test_write_image_arrays_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r'\(N, H, W, 3\) uint8'):
        records.write_image_arrays(np.zeros((2, 4, 4), np.uint8), [0, 1], str(tmp_path),
                                   'train', 1)
    with pytest.raises(ValueError, match='one label per image'):
        records.write_image_arrays(np.zeros((2, 4, 4, 3), np.uint8), [0], str(tmp_path),
                                   'train', 1)
