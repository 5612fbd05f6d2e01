"""The training input as a pure function of (seed, position): a restarted run continues it exactly.

Model Garden's reader shuffles with unrecorded state and augments with stateful random ops, so a
run restarted from a checkpoint at step s reads the data set again from its first batch and
augments it differently: the resumed run is not the run it continues (the final accuracy moved
by 1.7–2.0 points in a kill -9 test). Here the stream is defined position by position:

- Each input pipeline (one per host: `input_context.input_pipeline_id`) reads the files
  `files[id::num_pipelines]` (all files, then every num_pipelines-th record, when there are fewer
  files than pipelines). Epoch e visits them in a permutation drawn from (seed, id, e),
  interleaves them deterministically and permutes each block of `shuffle_buffer_size` records
  with a permutation drawn from (seed, id, e, block) (a block shuffle: same memory as a shuffle
  buffer of that size, and a pure function of the position).
- Record i of epoch e is decoded and augmented under `determinism.keyed_randomness` with the key
  (seed, id, e, i); batch b is mixed (mixup/cutmix) with the key (seed, id, -1, b).
- A run that starts at optimizer step s has consumed s * records_per_step records on every
  pipeline; it starts at epoch s*r // N, skips s*r % N records (reading them, not decoding), and
  numbers batches from s. N, the records per epoch of this pipeline, comes from
  imagenet_to_gcs.py's `conversion_state/` manifests beside the shards, or from one counting
  pass over the files.

Cost of a resume: reading (not decoding) up to one epoch of this host's records, once, plus the
counting pass when the shards were not written by imagenet_to_gcs.py (about a minute per 100 GB
at 1.5 GB/s). Nothing is added to checkpoints and nothing to the steady state: the map is
stateless, so it runs in parallel and stays deterministic without op determinism.

Under TPUStrategy and multi_worker_mirrored every host builds its own pipeline from the same
seed and its pipeline id through `distribute_datasets_from_function`, so each host resumes its
own share independently; the host count must not change across a restart (a different count
reshards the files, and the run then continues on a differently-ordered but equally shuffled
stream).
"""
from __future__ import annotations

import concurrent.futures
from typing import Callable, List, Optional, Sequence

from absl import logging
import tensorflow as tf

from data import check
from official_ext import determinism

INFINITE_EPOCHS = 2 ** 40
BATCH_DOMAIN = -1  # Keeps batch keys apart from element keys (epochs are >= 0).


def _scan_count(path: str, compression: Optional[str]) -> int:
    dataset = tf.data.TFRecordDataset(path, compression_type=compression)
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy())


def record_counts(files: Sequence[str], compression: Optional[str] = None) -> List[int]:
    """Records per file: from the converter's manifests, else one parallel counting pass."""
    counts = [check.manifest_count(f) for f in files]
    missing = [i for i, c in enumerate(counts) if c is None]
    if missing:
        logging.info('Counting the records of %d file(s) to resume the input stream exactly '
                     '(imagenet_to_gcs.py shards carry their counts and skip this).',
                     len(missing))
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            for i, n in zip(missing, pool.map(lambda i: _scan_count(files[i], compression),
                                              missing)):
                counts[i] = n
    return counts


class TrainingStream:
    """Builds one pipeline's keyed record stream (see the module docstring).

    Args:
        files: every training file, sorted (the same list on every host).
        seed: the run's seed.
        pipeline_id / num_pipelines: this host's share.
        shuffle_buffer: records per shuffled block.
        cycle_length: files read at once.
        compression: None, or 'GZIP' for tfrecord_compressed.
    """

    def __init__(self, files: Sequence[str], seed: int, pipeline_id: int = 0,
                 num_pipelines: int = 1, shuffle_buffer: int = 10000, cycle_length: int = 16,
                 compression: Optional[str] = None):
        if not files:
            raise ValueError('the training input matches no file.')
        self.seed = int(seed)
        self.pipeline_id = int(pipeline_id)
        self.num_pipelines = int(num_pipelines)
        self.shard_records = len(files) < self.num_pipelines
        self.files = list(files) if self.shard_records else list(files)[pipeline_id::num_pipelines]
        self.shuffle_buffer = max(1, int(shuffle_buffer))
        self.cycle_length = max(1, min(int(cycle_length), len(self.files)))
        self.compression = compression

    def epoch_length(self) -> int:
        """Records this pipeline reads per epoch."""
        total = sum(record_counts(self.files, self.compression))
        if not self.shard_records:
            return total
        return (total - self.pipeline_id + self.num_pipelines - 1) // self.num_pipelines

    def _epoch(self, epoch: tf.Tensor) -> tf.data.Dataset:
        key = determinism.element_key(self.seed, self.pipeline_id, epoch)
        order = tf.argsort(tf.random.stateless_uniform([len(self.files)], key))
        files = tf.gather(tf.constant(self.files), order)
        records = tf.data.Dataset.from_tensor_slices(files).interleave(
            lambda f: tf.data.TFRecordDataset(f, compression_type=self.compression),
            cycle_length=self.cycle_length, block_length=1,
            num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        if self.shard_records:
            records = records.shard(self.num_pipelines, self.pipeline_id)
        # A keyed block shuffle: tf.data's shuffle buffer takes its seed as a Python value
        # (not one per epoch) and its state cannot be recreated at an arbitrary position.
        def permute(block_index, block):
            block_key = tf.random.experimental.stateless_fold_in(key, block_index)
            order = tf.argsort(tf.random.stateless_uniform(tf.shape(block)[:1], block_key))
            return tf.gather(block, order)

        records = records.batch(self.shuffle_buffer).enumerate().map(permute).unbatch()
        return records.enumerate().map(
            lambda i, record: (determinism.element_key(self.seed, self.pipeline_id, epoch, i),
                               record))

    def records(self, start_record: int = 0) -> tf.data.Dataset:
        """(key, serialized record) pairs from record `start_record` of this pipeline on."""
        first_epoch, skip = 0, 0
        if start_record:
            length = self.epoch_length()
            if length == 0:
                raise ValueError(f'the training files {self.files[:3]}... hold no record.')
            first_epoch, skip = divmod(int(start_record), length)
            logging.info('Resuming the input at epoch %d, record %d of %d (pipeline %d).',
                         first_epoch, skip, length, self.pipeline_id)
        epochs = tf.data.Dataset.range(first_epoch, INFINITE_EPOCHS)
        return epochs.flat_map(self._epoch).skip(skip)

    def batch_key(self, batch_index: tf.Tensor) -> tf.Tensor:
        return determinism.element_key(self.seed, self.pipeline_id, BATCH_DOMAIN, batch_index)


def build(stream: TrainingStream, start_step: int, records_per_step: int, batch_size: int,
          decode_fn: Callable, parse_fn: Callable,
          postprocess_fn: Optional[Callable] = None) -> tf.data.Dataset:
    """Decoded, augmented, batched training data from `start_step` on.

    Args:
        stream: this pipeline's record stream.
        start_step: the optimizer step the run starts (or resumes) at.
        records_per_step: records this pipeline feeds per optimizer step.
        batch_size: records per batch (one replica's share).
        decode_fn / parse_fn: Model Garden's decoder and parser functions.
        postprocess_fn: optional batch function (mixup/cutmix).

    Raises:
        RuntimeError: a function still holds stateful random ops (the resume would diverge).
    """
    def parse(key, record):
        with determinism.keyed_randomness(key):
            return parse_fn(decode_fn(record))

    data = stream.records(start_step * records_per_step)
    data = data.map(parse, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    data = data.batch(batch_size, drop_remainder=True)
    if postprocess_fn is not None:
        first_batch = start_step * (records_per_step // batch_size)

        def mix(index, batch):
            with determinism.keyed_randomness(stream.batch_key(index)):
                return postprocess_fn(*batch)

        data = data.enumerate(start=first_batch).map(mix, num_parallel_calls=tf.data.AUTOTUNE,
                                                     deterministic=True)
    options = tf.data.Options()
    options.deterministic = True
    data = data.with_options(options).prefetch(tf.data.AUTOTUNE)
    determinism.check_no_stateful(determinism.dataset_stateful_random_ops(data),
                                  'the training input pipeline')
    return data
