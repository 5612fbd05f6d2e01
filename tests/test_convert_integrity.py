"""imagenet_to_gcs.py never loses or mixes data, and fails with one clear line.

Covers: refusing an output folder that holds another conversion (nothing on disk changes),
--overwrite (removes only the converter's files), empty class folders, classes missing from
validation, I/O errors (disk full, read-only, not a folder, unreadable input) and Ctrl-C.
"""
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

from data import convert
from tests import test_convert_trees as h

CLASSES = {'n0001': 4, 'n0002': 4, 'n0003': 4}
SHARDS = dict(train_shards=4, validation_shards=2)
CLI_FLAGS = ('--train_shards=4', '--validation_shards=2', '--progress=false', '--num_workers=1')
FIX = 'Use another output folder, or pass --overwrite'


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
    """A raw tree and its conversion with SHARDS, made once: (raw, out) folders."""
    root = tmp_path_factory.mktemp('reference')
    raw, out = str(root / 'raw'), str(root / 'out')
    h.class_tree(raw, CLASSES, val_per_class=2)
    convert.convert(raw, out, num_workers=0, progress=False, **SHARDS)
    return raw, out


def _cli(raw: str, out: str, *extra: str, prelude: str = '') -> subprocess.CompletedProcess:
    return h.run_cli(f'--raw_data_dir={raw}', f'--local_scratch_dir={out}', *CLI_FLAGS, *extra,
                     prelude=prelude)


def _one_line(result: subprocess.CompletedProcess, *phrases: str) -> str:
    """The single stderr line of ``result``, checked to contain every phrase."""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for phrase in phrases:
        assert phrase in lines[0], (phrase, lines[0])
    return lines[0]


def _copy_of(folder: str, tmp_path) -> str:
    copy = str(tmp_path / os.path.basename(folder))
    shutil.copytree(folder, copy)
    return copy


def _eight_shards(reference, out: str) -> None:
    convert.convert(reference[0], out, train_shards=8, validation_shards=2, num_workers=0,
                    progress=False)


def _unknown_origin(reference, out: str) -> None:
    os.makedirs(out)
    shutil.copy(os.path.join(reference[1], 'train-00000-of-00004'),
                os.path.join(out, 'train-00000-of-00008'))


@pytest.mark.parametrize('prepare,extra,differs', [
    (lambda ref, out: shutil.copytree(ref[1], out), ['--label_offset=1'],
     '(--label_offset: 0 (old) vs 1 (new))'),
    (_eight_shards, [], '(--train_shards: 8 (old) vs 4 (new))'),
    (_unknown_origin, [], 'it holds train-00000-of-00008 but no readable '
                          'conversion_state/identity.json'),
], ids=['label_offset', 'shard_count', 'unknown_origin'])
def test_cli_refuses_another_conversion_and_changes_nothing(reference, tmp_path, prepare,
                                                            extra, differs):
    out = str(tmp_path / 'out')
    prepare(reference, out)
    h.write(os.path.join(out, 'notes.txt'), b'my notes')
    before = h.checksums(out, reference[0])

    result = _cli(reference[0], out, *extra)
    assert result.returncode == 2, result.stderr
    _one_line(result, f'error: {out} already holds the output of a different conversion',
              differs, 'nothing was changed', FIX)
    assert h.checksums(out, reference[0]) == before


def _other_raw_dir(reference, tmp_path):
    shutil.copytree(reference[1], str(tmp_path / 'out'))
    return _copy_of(reference[0], tmp_path), f'--raw_data_dir: {reference[0]} (old) vs '


def _added_class(reference, tmp_path):
    raw = _copy_of(reference[0], tmp_path)
    convert.convert(raw, str(tmp_path / 'out'), num_workers=0, progress=False, **SHARDS)
    h.class_tree(raw, {'n0004': 1}, val_per_class=1)
    return raw, 'classes: 3 (old) vs 4 (new), added [n0004], removed [none]'


def _unplanned_shard(reference, tmp_path):
    out = str(tmp_path / 'out')
    shutil.copytree(reference[1], out)
    shutil.copy(os.path.join(out, 'train-00000-of-00004'),
                os.path.join(out, 'train-00000-of-00008'))
    return reference[0], ('shards this conversion does not write: train-00000-of-00008 (it '
                          'writes train-*-of-00004 and validation-*-of-00002)')


@pytest.mark.parametrize('prepare', [_other_raw_dir, _added_class, _unplanned_shard],
                         ids=['raw_data_dir', 'classes', 'unplanned_shard'])
def test_convert_refuses_other_inputs_before_writing(reference, tmp_path, prepare):
    raw, differs = prepare(reference, tmp_path)
    out = str(tmp_path / 'out')
    before = h.checksums(out, raw)
    with pytest.raises(convert.OutputConflict) as error:
        convert.convert(raw, out, num_workers=0, progress=False, **SHARDS)
    assert differs in str(error.value) and FIX in str(error.value)
    assert h.checksums(out, raw) == before


def test_overwrite_replaces_only_the_converters_files(reference, tmp_path):
    out = str(tmp_path / 'out')
    _eight_shards(reference, out)
    leftover = os.path.join(out, '.train-00003-of-00008.incomplete')  # From a killed run.
    h.write(leftover, b'partial')
    mine = {name: f'user file {name}'.encode() for name in
            ('notes.txt', 'train-notes.txt', 'labels.txt.bak')}
    for name, data in mine.items():
        h.write(os.path.join(out, name), data)

    result = _cli(reference[0], out, '--overwrite')
    assert result.returncode == 0, result.stderr
    assert '--overwrite: removed 15 entries of the previous conversion' in result.stdout
    assert not os.path.exists(leftover)
    shards = {n: b for n, b in h.shard_bytes(out).items() if n not in mine}
    assert shards == h.shard_bytes(reference[1])  # No 8-shard file is left.
    assert sorted(os.listdir(out)) == sorted(os.listdir(reference[1]) + list(mine))
    for name, data in mine.items():
        with open(os.path.join(out, name), 'rb') as f:
            assert f.read() == data
    identity = json.load(open(os.path.join(out, convert.IDENTITY_FILE)))
    assert identity['train_shards'] == 4 and identity['raw_data_dir'] == reference[0]


@pytest.mark.parametrize('files', [{}, {'README.txt': b'no images here'}],
                         ids=['empty', 'only_non_images'])
def test_empty_class_folder_is_an_error_before_tensorflow_loads(reference, tmp_path, files):
    raw = _copy_of(reference[0], tmp_path)
    empty = os.path.join(raw, 'train', 'n0000')  # Sorts first: it would shift every label.
    os.makedirs(empty)
    for name, data in files.items():
        h.write(os.path.join(empty, name), data)
    before = h.checksums(raw)

    result = _cli(raw, str(tmp_path / 'out'), prelude=(
        'import atexit\natexit.register(lambda: print("tensorflow imported:", '
        '"tensorflow" in sys.modules))'))
    assert result.returncode == 2, result.stderr
    _one_line(result, 'error: empty class folder(s) with no images', empty,
              'remove the folder or add images to it')
    assert 'tensorflow imported: False' in result.stdout
    assert not os.path.exists(tmp_path / 'out')
    assert h.checksums(raw) == before


def test_classes_missing_from_validation_are_listed_and_warned(reference, tmp_path):
    raw = _copy_of(reference[0], tmp_path)
    shutil.rmtree(os.path.join(raw, 'val', 'n0002'))
    out = str(tmp_path / 'out')

    result = _cli(raw, out)
    assert result.returncode == 0, result.stderr
    _one_line(result, 'warning: 1 class(es) have training images but none in the validation '
                      'split', 'n0002', 'classes_missing_from_validation')
    summary = json.load(open(os.path.join(out, 'summary.json')))
    assert summary['classes_missing_from_validation'] == ['n0002']
    reference_summary = json.load(open(os.path.join(reference[1], 'summary.json')))
    assert reference_summary['classes_missing_from_validation'] == []


def _final_files_are_complete(out: str, reference_out: str) -> int:
    """Asserts that no temporary and no partial shard is left; returns the shards present."""
    assert [n for n in os.listdir(out) if n.startswith('.')] == []
    want = h.shard_bytes(reference_out)
    got = h.shard_bytes(out)
    assert {name: want[name] for name in got} == got
    return len(got)


def test_disk_full_is_one_line_and_the_rerun_resumes(reference, tmp_path):
    if not os.path.exists('/dev/full'):
        pytest.skip('needs /dev/full to make writes fail with ENOSPC')
    out = str(tmp_path / 'out')
    temp = os.path.join(out, '.train-00000-of-00004.incomplete')
    os.makedirs(out)
    os.symlink('/dev/full', temp)  # The first shard's writes hit a full device.

    result = _cli(reference[0], out)
    assert result.returncode == 1, result.stderr
    _one_line(result, f'error: cannot write output {temp}: No space left on device',
              'free space on that disk or choose another output folder',
              'complete shards are kept')
    assert not os.path.lexists(temp)
    assert _final_files_are_complete(out, reference[1]) < 6

    convert.convert(reference[0], out, num_workers=0, progress=False, **SHARDS)
    assert h.shard_bytes(out) == h.shard_bytes(reference[1])


READ_ONLY_OUTPUT = '''
import tensorflow as tf
def read_only(path):
    raise tf.errors.PermissionDeniedError(None, None, f"{path}; Read-only file system")
tf.io.gfile.makedirs = read_only
'''
UNREADABLE_CLASS = '''
import os
listdir = os.listdir
def denied(path="."):
    if str(path).endswith(os.path.join("train", "n0002")):
        raise PermissionError(13, "Permission denied", path)
    return listdir(path)
os.listdir = denied
'''


@pytest.mark.parametrize('case', ['read_only_output', 'output_under_a_file',
                                  'unreadable_input'])
def test_io_errors_are_one_line_naming_path_and_fix(reference, tmp_path, case):
    raw, out = reference[0], str(tmp_path / 'out')
    prelude = ''
    if case == 'read_only_output':
        prelude = READ_ONLY_OUTPUT
        want = (f'cannot write output {out}/conversion_state: Read-only file system',
                'make the output folder writable or choose another one')
    elif case == 'output_under_a_file':
        h.write(str(tmp_path / 'a_file'), b'')
        out = str(tmp_path / 'a_file' / 'out')
        want = (f'cannot write output {tmp_path / "a_file"}: Not a directory',
                'a part of that path is a file, not a folder')
    else:
        prelude = UNREADABLE_CLASS
        want = (f'cannot read input {raw}/train/n0002: Permission denied',
                f'make it readable (e.g. chmod -R a+rX {raw}), then rerun')
    before = h.checksums(str(tmp_path), raw)

    result = _cli(raw, out, prelude=prelude)
    assert result.returncode == 1, result.stderr
    _one_line(result, 'error: ', *want)
    assert h.checksums(str(tmp_path), raw) == before


SLOW_WRITES = '''
import time
from data import records
write_shard = records.write_shard
def slow_write_shard(path, examples):
    time.sleep(1.0)  # Leaves time to press Ctrl-C while the conversion runs.
    write_shard(path, examples)
records.write_shard = slow_write_shard
'''


def _children(pid: int):
    """Process ids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir('/proc'):
        try:
            with open(f'/proc/{entry}/stat') as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _gone(pid: int) -> bool:
    try:
        with open(f'/proc/{pid}/stat') as f:
            return f.read().rsplit(')', 1)[1].split()[0] == 'Z'
    except OSError:
        return True


def test_ctrl_c_stops_workers_keeps_complete_shards_and_resumes(reference, tmp_path, capsys):
    out = str(tmp_path / 'out')
    command = h.cli_command(f'--raw_data_dir={reference[0]}', f'--local_scratch_dir={out}',
                            *CLI_FLAGS, '--num_workers=2', prelude=SLOW_WRITES)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=h.CLI_ENV, start_new_session=True)
    try:
        deadline = time.time() + 120
        while not os.path.exists(os.path.join(out, 'train-00000-of-00004')):
            assert proc.poll() is None and time.time() < deadline, proc.communicate()
            time.sleep(0.05)
        workers = _children(proc.pid)
        assert len(workers) >= 2  # The checking pool (and its resource tracker) runs.
        os.killpg(proc.pid, signal.SIGINT)  # What Ctrl-C in a terminal does.
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    _one_line(subprocess.CompletedProcess(command, 130, '', stderr),
              'interrupted', 'rerun the same command to resume', 'complete shards are kept')
    deadline = time.time() + 30
    while not all(_gone(pid) for pid in workers) and time.time() < deadline:
        time.sleep(0.1)
    assert all(_gone(pid) for pid in workers)
    kept = _final_files_are_complete(out, reference[1])
    assert 1 <= kept < 6

    capsys.readouterr()
    convert.convert(reference[0], out, num_workers=0, progress=False, **SHARDS)
    assert f'{kept} of 6 shards already complete' in capsys.readouterr().out
    assert h.shard_bytes(out) == h.shard_bytes(reference[1])
