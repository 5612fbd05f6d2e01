"""Converted records are read by Model Garden's stock decoder and train a stock experiment."""
import os

import numpy as np
import pytest
import tensorflow as tf

from data import convert
from tests import test_convert_trees as h


@pytest.mark.slow
def test_stock_decoder_and_resnet_experiment_train_on_converted_records(tmp_path):
    from official.core import exp_factory, task_factory, train_lib
    from official.vision import registry_imports  # noqa: F401  (registers the experiments)
    from official.vision.dataloaders import classification_input

    raw, out = str(tmp_path / 'raw'), str(tmp_path / 'out')
    expected = h.class_tree(raw, {'n0001': 4, 'n0002': 4}, val_per_class=2)
    convert.convert(raw, out, train_shards=2, validation_shards=1, num_workers=1,
                    progress=False)

    decoder = classification_input.Decoder()
    labels = {}
    for path in tf.io.gfile.glob(os.path.join(out, 'train-*')):
        for raw_record in tf.data.TFRecordDataset(path):
            decoded = decoder.decode(raw_record)
            image = tf.io.decode_jpeg(decoded['image/encoded'], channels=3)
            assert image.shape == (24, 32, 3)
            parsed = tf.io.parse_single_example(
                raw_record, {'image/filename': tf.io.FixedLenFeature((), tf.string)})
            labels[parsed['image/filename'].numpy().decode()] = int(
                decoded['image/class/label'])
    assert labels == {n: int(c == 'n0002') for n, (s, c) in expected.items()
                      if s == 'train'}

    params = exp_factory.get_exp_config('resnet_imagenet')
    params.override({
        'runtime': {'distribution_strategy': 'one_device', 'num_gpus': 0,
                    'mixed_precision_dtype': 'float32'},
        'task': {
            'model': {'num_classes': 2, 'input_size': [32, 32, 3],
                      'backbone': {'resnet': {'model_id': 18}}},
            'train_data': {'input_path': os.path.join(out, 'train-*'),
                           'global_batch_size': 4, 'dtype': 'float32',
                           'shuffle_buffer_size': 8},
            'validation_data': {'input_path': os.path.join(out, 'validation-*'),
                                'global_batch_size': 2, 'dtype': 'float32',
                                'drop_remainder': False},
        },
        'trainer': {'train_steps': 2, 'validation_steps': 1, 'steps_per_loop': 1,
                    'summary_interval': 1, 'checkpoint_interval': 2,
                    'validation_interval': 2},
    }, is_strict=False)
    strategy = tf.distribute.OneDeviceStrategy('/cpu:0')
    with strategy.scope():
        task = task_factory.get_task(params.task, logging_dir=str(tmp_path / 'model'))
    _, logs = train_lib.run_experiment(distribution_strategy=strategy, task=task,
                                       mode='train_and_eval', params=params,
                                       model_dir=str(tmp_path / 'model'),
                                       run_post_eval=True)
    assert np.isfinite(float(logs['validation_loss']))
    assert 0.0 <= float(logs['accuracy']) <= 1.0
    assert tf.train.latest_checkpoint(str(tmp_path / 'model')).endswith('ckpt-2')
