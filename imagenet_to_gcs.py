r"""Converts ImageNet (or any folder-per-class image dataset) to classification TFRecords.

The command of the project's original README keeps working:

    python imagenet_to_gcs.py --raw_data_dir=path_to_image_net \
        --local_scratch_dir=path_to_save_processed_dataset --gcs_upload=False

and ``--gcs_output_path=gs://bucket/dir`` writes the shards straight to Cloud Storage through
tf.io.gfile. Output (flat, as Model Garden's stock ``imagenet-2012-tfrecord/train*`` paths
expect): ``train-%05d-of-%05d``, ``validation-%05d-of-%05d``, ``labels.txt`` (label<TAB>class),
``summary.json`` (per-split, per-class counts; skipped, re-encoded and ignored files),
``skipped_files.txt`` and ``conversion_state/`` (what lets a rerun skip complete shards).

Unlike tensorflow/tpu's script this one uses every core, checks each image by content, exits
non-zero when files had to be skipped (unless ``--allow_skips``), resumes a killed run, and
numbers labels from 0 by default (``--label_offset=1`` reproduces the 1-based records that
stock configs with ``num_classes: 1001`` expect). It never mixes two conversions in one folder:
an output folder holding shards of a different conversion is refused before anything is written
(``--overwrite`` removes the converter's own files first). I/O errors and Ctrl-C end the run
with one line saying what happened and what to do, never a traceback. The work is done in
``data.convert``.

Exit status: 0 done; 1 unusable files were skipped (without ``--allow_skips``) or an input or
output could not be read or written; 2 bad flags, input layout or output folder; 130 Ctrl-C.
"""
import errno
import os
import sys

from absl import app
from absl import flags

# Nothing heavy at module level: worker processes are spawned and re-import this file.
FLAGS = flags.FLAGS
flags.DEFINE_string('raw_data_dir', None, 'Local folder with train/ and val/ (class '
                    'folders) or train/ + validation/ + synset_labels.txt.')
flags.DEFINE_string('local_scratch_dir', None, 'Local output folder (used unless '
                    '--gcs_output_path is given).')
flags.DEFINE_boolean('gcs_upload', False, 'Accepted for compatibility with tensorflow/tpu\'s '
                     'script: output goes to Cloud Storage exactly when --gcs_output_path '
                     'is set.')
flags.DEFINE_string('gcs_output_path', None, 'gs://bucket/dir to write the shards to '
                    'directly (through tf.io.gfile); overrides --local_scratch_dir.')
flags.DEFINE_string('project', None, 'Accepted for compatibility; unused (tf.io.gfile uses '
                    'the environment\'s default credentials and project).')
flags.DEFINE_integer('train_shards', 1024, 'Number of training shards.', lower_bound=1)
flags.DEFINE_integer('validation_shards', 128, 'Number of validation shards.', lower_bound=1)
flags.DEFINE_integer('label_offset', 0, 'Label of the first class in sorted order; 1 '
                     'reproduces tensorflow/tpu\'s 1-based labels.')
flags.DEFINE_integer('num_workers', None, 'Worker processes checking images (default: all '
                     'cores; 0 = check in the main process).', lower_bound=0)
flags.DEFINE_boolean('allow_skips', False, 'Exit 0 even when unreadable or truncated files '
                     'were skipped (they are still listed in skipped_files.txt).')
flags.DEFINE_boolean('progress', True, 'Show a progress bar with images/s and ETA.')
flags.DEFINE_boolean('overwrite', False, 'Delete the train-*/validation-* shards, labels.txt, '
                     'summary.json, skipped_files.txt and conversion_state/ of a different '
                     'conversion found in the output folder (no other file) before converting; '
                     'without it such a folder is refused.')

INTERRUPTED = ('interrupted: the conversion was stopped; rerun the same command to resume it '
               '(complete shards are kept).')


def output_dir() -> str:
    """Where the shards go, with a clear error for flag combinations that say nothing."""
    if FLAGS.gcs_output_path:
        if not FLAGS.gcs_output_path.startswith('gs://'):
            raise app.UsageError(f'--gcs_output_path={FLAGS.gcs_output_path} must start with '
                                 'gs://; for a local folder use --local_scratch_dir.')
        return FLAGS.gcs_output_path.rstrip('/')
    if FLAGS.gcs_upload:
        raise app.UsageError('--gcs_upload=True needs --gcs_output_path=gs://bucket/dir '
                             '(or pass --gcs_upload=False and --local_scratch_dir).')
    if not FLAGS.local_scratch_dir:
        raise app.UsageError('Set --local_scratch_dir=<folder> (or '
                             '--gcs_output_path=gs://bucket/dir) for the output.')
    return FLAGS.local_scratch_dir


def _inside(path: str, folder: str) -> bool:
    """Whether ``path`` is ``folder`` or lies under it (tells an input from an output path)."""
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _io_error_line(error: OSError, raw_data_dir: str, out: str) -> str:
    """One line naming the path that could not be read or written, and what to do about it."""
    path = error.filename or out
    reason = error.strerror or str(error)
    reading = not _inside(path, out) and _inside(path, raw_data_dir)
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        fix = ('free space on that disk or choose another output folder, then rerun: complete '
               'shards are kept')
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = (f'make it readable (e.g. chmod -R a+rX {raw_data_dir}), then rerun' if reading
               else 'make the output folder writable or choose another one '
                    '(--local_scratch_dir or --gcs_output_path)')
    elif error.errno == errno.ENOTDIR:
        fix = 'a part of that path is a file, not a folder: choose another path'
    else:
        fix = 'fix that path, then rerun the same command: complete shards are kept'
    return f'cannot {"read input" if reading else "write output"} {path}: {reason}; {fix}.'


def _report(summary: dict, out: str) -> int:
    """Prints what the summary holds that needs the user's attention; returns the exit code."""
    missing = summary['classes_missing_from_validation']
    if missing:
        print(f'warning: {len(missing)} class(es) have training images but none in the '
              f'validation split, so validation does not measure them: '
              f'{", ".join(missing[:10])}{" ..." if len(missing) > 10 else ""} (all listed '
              f'in {out}/summary.json, classes_missing_from_validation).', file=sys.stderr)
    skipped = summary['skipped_files']
    if skipped:
        print(f'{len(skipped)} unusable file(s) were skipped (see {out}/skipped_files.txt):',
              file=sys.stderr)
        for s in skipped[:20]:
            print(f'  {s["split"]}: {s["file"]}: {s["reason"]}', file=sys.stderr)
        if not FLAGS.allow_skips:
            print('error: exiting with status 1; fix or delete these files and rerun '
                  '(complete shards are kept), or pass --allow_skips to accept the skips.',
                  file=sys.stderr)
            return 1
    return 0


def _convert(out: str) -> int:
    """Checks the layout (before TensorFlow loads), converts, reports; returns the exit code."""
    from data import layout  # TensorFlow-free: a layout error shows before TF loads.
    try:
        found = layout.detect_layout(FLAGS.raw_data_dir)
    except layout.LayoutError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    from data import convert  # Imports TensorFlow: keep it out of the spawned workers.
    try:
        summary = convert.convert(
            FLAGS.raw_data_dir, out, train_shards=FLAGS.train_shards,
            validation_shards=FLAGS.validation_shards, label_offset=FLAGS.label_offset,
            num_workers=FLAGS.num_workers, progress=FLAGS.progress, found=found,
            overwrite=FLAGS.overwrite)
    except ValueError as e:
        print(f'error: {e}', file=sys.stderr)
        return 2
    return _report(summary, out)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
    if not FLAGS.raw_data_dir:
        raise app.UsageError('Set --raw_data_dir=<folder with train/ and val/>.')
    out = output_dir()
    try:
        return _convert(out)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    except OSError as e:
        print(f'error: {_io_error_line(e, FLAGS.raw_data_dir, out)}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    app.run(main)
