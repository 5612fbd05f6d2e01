"""Converting a folder-per-class image dataset to classification TFRecord shards.

What tensorflow/tpu's converter lacked and this module adds: worker processes, content checks
instead of a hard-coded list of bad file names, resumability, and a summary of what was written.

* Parallelism: a ``spawn`` process pool runs ``data.worker.check`` (read, check, re-encode if
  needed) — the expensive part. The parent consumes the verdicts in input order, re-reads kept
  JPEGs (see ``data.worker`` for why), serializes the tf.Examples with the TensorFlow-free
  ``data.example`` and hands finished shards to one writer thread, so writing, uploads to
  gs:// included, overlaps the checking. ``spawn`` (not ``fork``) because the parent has
  TensorFlow's threads running; the workers never import TensorFlow.
* Determinism: files are listed sorted; the training list is shuffled with a fixed seed (as
  tensorflow/tpu did, so a shard mixes classes) and cut into contiguous shards by position, and
  results are consumed in input order, so the same inputs and flags give byte-identical shards
  whatever the number of workers.
* Resume: each shard is written under a temporary name and renamed; afterwards a small
  manifest (``conversion_state/<shard>.json``: counts, skipped files, and a hash of the shard's
  planned inputs) is written. A shard counts as complete when both exist and the hash matches,
  so a rerun skips it without reading its images — and redoes it if its inputs changed (a
  fixed or deleted bad file); a rerun with other flags is a different conversion (see below).
* One conversion per folder: the conversion's identity (raw folder, layout, classes, shard
  counts, label offset, format version) is recorded in ``conversion_state/identity.json``
  before anything else is written. A folder holding the output of a different conversion —
  or shards nobody recorded — is refused before anything is written or removed, because
  writing into it would overwrite those shards or leave extra ones that a ``train-*`` glob
  reads as duplicate data; ``overwrite=True`` first removes the converter's own files (and no
  others).
* Nothing dropped silently: unusable files go to ``skipped_files.txt`` and the summary, which
  also lists re-encoded and ignored (non-image) files, the per-class counts and the classes
  with no validation image.
* One kind of I/O error: tf.io.gfile's errors become ``OSError`` with the errno and path they
  stand for, so the caller handles local and gs:// failures alike. On any error or Ctrl-C the
  workers are terminated, and the shard being written is either completed or removed.
"""
from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import dataclasses
import errno
import hashlib
import json
import multiprocessing
import os
import random
import re
import signal
import time
from typing import Dict, Iterator, List, Optional, Sequence, Set, Tuple

import tensorflow as tf

from data import example
from data import images as images_lib
from data import layout as layout_lib
from data import records
from data import worker

SHUFFLE_SEED = 12345  # tensorflow/tpu's seed; any fixed value keeps runs identical.
STATE_DIR = 'conversion_state'
LABELS_FILE = 'labels.txt'
SUMMARY_FILE = 'summary.json'
SKIPPED_FILE = 'skipped_files.txt'
FORMAT_VERSION = 1  # Bump when the bytes written for the same input change.
IDENTITY_FILE = os.path.join(STATE_DIR, 'identity.json')
OUTPUT_FILES = (LABELS_FILE, SUMMARY_FILE, SKIPPED_FILE)
SHARD_NAME = re.compile(r'(train|validation)-\d{5,}-of-\d{5,}')  # records.shard_name's.
_FLAG_KEYS = ('raw_data_dir', 'train_shards', 'validation_shards', 'label_offset')


class OutputConflict(ValueError):
    """The output folder holds files of a different conversion; nothing was changed."""


@dataclasses.dataclass
class ShardPlan:
    """One output shard: its path and the (relative path, class, label) it is made from."""
    split: str
    path: str
    items: List[Tuple[str, str, int]]

    @property
    def name(self) -> str:
        return os.path.basename(self.path)

    def fingerprint(self) -> str:
        """Hash of everything that determines the shard's bytes (inputs, labels, format)."""
        payload = json.dumps([FORMAT_VERSION, images_lib.REENCODE_QUALITY, self.items])
        return hashlib.sha256(payload.encode('utf-8')).hexdigest()


def plan_shards(layout: layout_lib.Layout, output_dir: str, num_shards: Dict[str, int],
                label_offset: int) -> List[ShardPlan]:
    """Assigns every image to a shard; see the module docstring for the order used."""
    labels = {c: i + label_offset for i, c in enumerate(layout.classes)}
    plans = []
    for split, files in layout.splits.items():
        items = [(path, synset, labels[synset]) for path, synset in files]
        if split == 'train':
            random.Random(SHUFFLE_SEED).shuffle(items)
        shards = num_shards[split]
        if shards < 1 or shards > len(items):
            raise ValueError(
                f'--{split}_shards={shards} must be between 1 and the {len(items)} {split} '
                f'images found; pass e.g. --{split}_shards={max(1, min(len(items), 8))}.')
        bounds = records.shard_bounds(len(items), shards)
        for i in range(shards):
            path = os.path.join(output_dir, records.shard_name(split, i, shards))
            plans.append(ShardPlan(split, path, items[bounds[i]:bounds[i + 1]]))
    return plans


def conversion_identity(raw_data_dir: str, layout: layout_lib.Layout,
                        num_shards: Dict[str, int], label_offset: int) -> dict:
    """What decides which shards a conversion writes and what their labels mean.

    Recorded in the output folder so that a rerun can tell a resume (same identity) from a
    different conversion. The file lists are left out on purpose: fixing or deleting a bad
    image and rerunning is a resume, and the per-shard fingerprints redo just the shards whose
    inputs changed.
    """
    return {
        'raw_data_dir': os.path.abspath(raw_data_dir),
        'layout': layout.kind,
        'classes': list(layout.classes),
        'train_shards': num_shards['train'],
        'validation_shards': num_shards['validation'],
        'label_offset': label_offset,
        'format_version': FORMAT_VERSION,
    }


def _is_output_name(name: str) -> bool:
    """A file name the converter writes and a reader would take as this folder's data."""
    return bool(SHARD_NAME.fullmatch(name)) or name in OUTPUT_FILES


def _is_own_name(name: str) -> bool:
    """An entry the converter made: its outputs, their temporaries, and its state folder."""
    final = records.final_name(name)
    return _is_output_name(final if final is not None else name) or name == STATE_DIR


def _sample(names: Sequence[str], limit: int = 3) -> str:
    """A short, one-line rendering of a possibly long list of names."""
    if not names:
        return 'none'
    more = f' and {len(names) - limit} more' if len(names) > limit else ''
    return ', '.join(names[:limit]) + more


def _describe_change(key: str, old, new) -> str:
    """One identity field as '<name>: <old> (old) vs <new> (new)'."""
    if key == 'classes':
        old = old or []
        return (f'classes: {len(old)} (old) vs {len(new)} (new), added '
                f'[{_sample(sorted(set(new) - set(old)))}], removed '
                f'[{_sample(sorted(set(old) - set(new)))}]')
    name = f'--{key}' if key in _FLAG_KEYS else key.replace('_', ' ')
    return f'{name}: {old} (old) vs {new} (new)'


def _conflicts(recorded: Optional[dict], identity: dict, names: List[str],
               planned: Set[str]) -> List[str]:
    """Why the files ``names`` of the output folder are not this conversion's to extend.

    Only shards and the summary files count: stray temporaries and manifests are never read
    as data and are rewritten or ignored, so a folder holding only those is no conflict.
    """
    found = sorted(n for n in names if _is_output_name(n))
    if not found:
        return []
    if recorded is None:
        return [f'it holds {_sample(found)} but no readable {IDENTITY_FILE} saying which '
                'conversion wrote them']
    changed = [_describe_change(k, recorded.get(k), v) for k, v in identity.items()
               if recorded.get(k) != v]
    if changed:
        return changed
    unplanned = [n for n in found if SHARD_NAME.fullmatch(n) and n not in planned]
    if unplanned:
        return [f'it holds shards this conversion does not write: {_sample(unplanned)} '
                f'(it writes train-*-of-{identity["train_shards"]:05d} and '
                f'validation-*-of-{identity["validation_shards"]:05d})']
    return []


def _read_identity(output_dir: str) -> Optional[dict]:
    """The identity recorded in ``output_dir``, or None when there is no readable one."""
    path = os.path.join(output_dir, IDENTITY_FILE)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path) as f:
            recorded = json.load(f)
    except ValueError:
        return None
    return recorded if isinstance(recorded, dict) else None


def _remove_own_files(output_dir: str, names: List[str]) -> int:
    """Removes the converter's entries among ``names``; returns how many there were.

    The state folder goes last: a removal cut short leaves the identity in place, so the next
    run is still refused or resumed for the right reason.
    """
    own = sorted((n for n in names if _is_own_name(n)), key=lambda n: (n == STATE_DIR, n))
    for name in own:
        path = os.path.join(output_dir, name)
        if name == STATE_DIR:
            tf.io.gfile.rmtree(path)
        else:
            tf.io.gfile.remove(path)
    return len(own)


def _claim_output(output_dir: str, identity: dict, plans: List[ShardPlan],
                  overwrite: bool) -> None:
    """Refuses (or with ``overwrite`` clears) another conversion's output; records ours.

    Runs before anything is written, so a refused run leaves the folder exactly as it was.

    Raises:
        OutputConflict: the folder holds another conversion's files and ``overwrite`` is off.
    """
    names = ([n.rstrip('/') for n in tf.io.gfile.listdir(output_dir)]
             if tf.io.gfile.isdir(output_dir) else [])
    recorded = _read_identity(output_dir) if names else None
    if overwrite:
        removed = _remove_own_files(output_dir, names)
        if removed:
            print(f'--overwrite: removed {removed} entries of the previous conversion from '
                  f'{output_dir}.', flush=True)
        recorded = None
    else:
        problems = _conflicts(recorded, identity, names, {plan.name for plan in plans})
        if problems:
            raise OutputConflict(
                f'{output_dir} already holds the output of a different conversion '
                f'({"; ".join(problems)}); nothing was changed. Use another output folder, '
                'or pass --overwrite to delete that output (train-*/validation-* shards, '
                f'{", ".join(OUTPUT_FILES)}, {STATE_DIR}/; other files stay) and convert '
                'again.')
    if recorded != identity:
        records.write_text(os.path.join(output_dir, IDENTITY_FILE),
                           json.dumps(identity, indent=1, sort_keys=True) + '\n')


_ERRNO_BY_TEXT = {os.strerror(code): code for code in errno.errorcode}
_ERRNO_BY_TF_CODE = {tf.errors.RESOURCE_EXHAUSTED: errno.ENOSPC,
                     tf.errors.PERMISSION_DENIED: errno.EACCES,
                     tf.errors.NOT_FOUND: errno.ENOENT}


def _as_os_error(error: tf.errors.OpError) -> OSError:
    """The OSError (errno, reason, path) that an error of tf.io.gfile stands for.

    tf.io.gfile reports a local failure as '<path>; <strerror>' and drops the errno; getting
    both back lets a caller name the path and the fix (disk full, read-only, not a folder)
    whether the output is local or on gs://.
    """
    message = error.message
    path, _, reason = message.rpartition('; ')
    if path and reason in _ERRNO_BY_TEXT:
        return OSError(_ERRNO_BY_TEXT[reason], reason, path)
    not_a_dir = re.fullmatch(r'(.+) is not a directory', message)
    if not_a_dir:
        return OSError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), not_a_dir.group(1))
    return OSError(_ERRNO_BY_TF_CODE.get(error.error_code, errno.EIO), message)


@contextlib.contextmanager
def _os_errors() -> Iterator[None]:
    """Re-raises tf.io.gfile's errors as ``_as_os_error`` describes."""
    try:
        yield
    except tf.errors.OpError as e:
        raise _as_os_error(e) from e


def _manifest_path(output_dir: str, shard_name: str) -> str:
    return os.path.join(output_dir, STATE_DIR, shard_name + '.json')


def _completed_manifests(output_dir: str, plans: List[ShardPlan]) -> Dict[str, dict]:
    """Manifests of the shards already complete for exactly their plan, by shard name.

    The folders are listed once rather than probed per shard: on gs:// each probe is a
    request, and ImageNet has 1,152 shards.
    """
    present = set(tf.io.gfile.listdir(output_dir))
    state_dir = os.path.join(output_dir, STATE_DIR)
    recorded = set(tf.io.gfile.listdir(state_dir)) if tf.io.gfile.isdir(state_dir) else set()
    done = {}
    for plan in plans:
        if plan.name not in present or plan.name + '.json' not in recorded:
            continue
        try:
            with tf.io.gfile.GFile(_manifest_path(output_dir, plan.name)) as f:
                manifest = json.load(f)
        except (ValueError, tf.errors.OpError):
            continue  # Unreadable: redo the shard.
        if manifest.get('fingerprint') == plan.fingerprint():
            done[plan.name] = manifest
    return done


def _write_shard(output_dir: str, plan: ShardPlan, examples: List[bytes],
                 manifest: dict) -> None:
    records.write_shard(plan.path, examples)
    # After the rename: a manifest without its shard never exists.
    records.write_text(_manifest_path(output_dir, plan.name),
                       json.dumps(manifest, indent=1, sort_keys=True))


def _verdicts(pool, raw_data_dir: str, plans: List[ShardPlan]) -> Iterator[worker.Verdict]:
    paths = (os.path.join(raw_data_dir, rel) for plan in plans for rel, _, _ in plan.items)
    if pool is None:
        return map(worker.check, paths)
    return pool.imap(worker.check, paths, chunksize=8)


def _build_shard(plan: ShardPlan, verdicts: Iterator[worker.Verdict], raw_data_dir: str,
                 bar) -> Tuple[List[bytes], dict]:
    """Consumes one verdict per planned image; returns the records and the shard manifest."""
    examples, counts, skipped, reencoded = [], collections.Counter(), [], []
    for rel, synset, label in plan.items:
        verdict = next(verdicts)
        bar.update(1)
        encoded = verdict.encoded
        if verdict.status == worker.KEPT:
            encoded = worker.kept_bytes(os.path.join(raw_data_dir, rel), verdict)
        if encoded is None:
            skipped.append({'file': rel, 'reason': verdict.note or
                            'file changed while being converted; rerun'})
            continue
        examples.append(example.make_example(encoded, label, synset, verdict.height,
                                             verdict.width, os.path.basename(rel)))
        counts[synset] += 1
        if verdict.status == worker.REENCODED:
            reencoded.append({'file': rel, 'was': verdict.note})
    manifest = {'fingerprint': plan.fingerprint(), 'split': plan.split,
                'written': len(examples), 'per_class': dict(counts), 'skipped': skipped,
                'reencoded': reencoded}
    return examples, manifest


def convert(raw_data_dir: str, output_dir: str, train_shards: int = 1024,
            validation_shards: int = 128, label_offset: int = 0,
            num_workers: Optional[int] = None, progress: bool = True,
            found: Optional[layout_lib.Layout] = None, overwrite: bool = False) -> dict:
    """Converts ``raw_data_dir`` to shards in ``output_dir``; returns the summary.

    Args:
        raw_data_dir: local folder in one of the layouts of ``data.layout``.
        output_dir: local folder or gs:// path for shards, labels.txt, summary.json,
            skipped_files.txt and conversion_state/.
        train_shards: number of train-%05d-of-%05d files.
        validation_shards: number of validation-%05d-of-%05d files.
        label_offset: label of the first class in sorted order (1 reproduces
            tensorflow/tpu's 1-based records).
        num_workers: checking processes; None uses every core, 0 checks in this process.
        progress: show a progress bar (images/s, ETA).
        found: the result of ``data.layout.detect_layout(raw_data_dir)`` when the caller
            already has it (listing ImageNet takes seconds; the CLI checks the layout before
            importing TensorFlow, so a misnamed folder is reported at once).
        overwrite: first remove the converter's files (shards, their temporaries,
            labels.txt, summary.json, skipped_files.txt, conversion_state/) from
            ``output_dir``, whatever conversion wrote them; other files are kept.

    Returns:
        The summary dict also written to summary.json; ``summary['skipped_files']`` lists
        the unusable files and ``summary['classes_missing_from_validation']`` the classes
        with training but no validation records (the caller decides what to make of them).

    Raises:
        data.layout.LayoutError: the input folders match no known layout.
        OutputConflict: ``output_dir`` holds another conversion's output (and not
            ``overwrite``); raised before anything is written or removed.
        ValueError: a shard count is out of range.
        OSError: reading an input or writing the output failed; ``filename`` names the path.
    """
    start = time.time()
    layout = found if found is not None else layout_lib.detect_layout(raw_data_dir)
    num_shards = {'train': train_shards, 'validation': validation_shards}
    plans = plan_shards(layout, output_dir, num_shards, label_offset)
    with _os_errors():
        _claim_output(output_dir,
                      conversion_identity(raw_data_dir, layout, num_shards, label_offset),
                      plans, overwrite)
        manifests = _completed_manifests(output_dir, plans)
        todo = [plan for plan in plans if plan.name not in manifests]
        print(f'{layout.kind} layout, {len(layout.classes)} classes; '
              + ', '.join(f'{s}: {len(f)} images' for s, f in layout.splits.items())
              + f'; {len(plans) - len(todo)} of {len(plans)} shards already complete.',
              flush=True)
        _convert_shards(todo, manifests, raw_data_dir, output_dir, num_workers, progress)
        summary = _summarize(layout, plans, manifests, raw_data_dir, output_dir,
                             label_offset)
        _write_outputs(output_dir, layout, summary, label_offset)
    num_todo = sum(len(p.items) for p in todo)
    elapsed = time.time() - start
    rate = num_todo / elapsed if elapsed > 0 else 0.0
    print(f'Converted {num_todo} images in {elapsed:.1f} s ({rate:.0f} images/s) to '
          f'{output_dir}: ' + ', '.join(
              f'{s}: {v["written"]} written, {v["skipped"]} skipped, '
              f'{v["reencoded"]} re-encoded' for s, v in summary['splits'].items())
          + f'; {len(summary["ignored_files"])} non-image files ignored.', flush=True)
    return summary


def _start_pool(num_workers: Optional[int], num_images: int):
    """The spawn pool of checking processes, or None to check in this process.

    The workers ignore SIGINT: Ctrl-C in a terminal reaches the whole process group, and
    the parent alone decides what happens (it terminates them) — otherwise every worker
    would print its own KeyboardInterrupt traceback.
    """
    workers = (os.cpu_count() or 1) if num_workers is None else num_workers
    if workers == 0 or num_images == 0:
        return None
    return multiprocessing.get_context('spawn').Pool(
        min(workers, num_images), initializer=signal.signal,
        initargs=(signal.SIGINT, signal.SIG_IGN))


def _convert_shards(todo: List[ShardPlan], manifests: Dict[str, dict], raw_data_dir: str,
                    output_dir: str, num_workers: Optional[int], progress: bool) -> None:
    """Checks the images of ``todo`` and writes its shards; adds their manifests.

    On any exception (a failed write, Ctrl-C) the workers are terminated first and queued
    writes are cancelled; the write under way is atomic, so it either completes as a whole
    shard that a rerun keeps or leaves nothing under its final name.
    """
    from tqdm import tqdm  # Local: only the converter needs it.

    num_todo = sum(len(p.items) for p in todo)
    pool = None
    writer = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    pending = collections.deque()
    try:
        pool = _start_pool(num_workers, num_todo)
        verdicts = _verdicts(pool, raw_data_dir, todo)
        with tqdm(total=num_todo, unit='img', disable=not progress, smoothing=0.1,
                  dynamic_ncols=True) as bar:
            for plan in todo:
                bar.set_description(plan.split)
                examples, manifests[plan.name] = _build_shard(plan, verdicts, raw_data_dir,
                                                              bar)
                pending.append(writer.submit(_write_shard, output_dir, plan, examples,
                                             manifests[plan.name]))
                # At most ~3 shards of encoded images in memory; a failed write (disk full)
                # stops the run at once instead of after checking every remaining image.
                while pending and (len(pending) > 2 or pending[0].done()):
                    pending.popleft().result()
        for future in pending:
            future.result()
    finally:
        if pool is not None:
            pool.terminate()
            pool.join()
        writer.shutdown(wait=True, cancel_futures=True)


def _summarize(layout, plans, manifests, raw_data_dir, output_dir, label_offset) -> dict:
    splits, skipped, reencoded = {}, [], []
    for split in layout.splits:
        split_plans = [p for p in plans if p.split == split]
        counts = collections.Counter()
        split_skipped = split_reencoded = 0
        for plan in split_plans:
            m = manifests[plan.name]
            counts.update(m['per_class'])
            skipped += [dict(s, split=split) for s in m['skipped']]
            reencoded += [dict(r, split=split) for r in m['reencoded']]
            split_skipped += len(m['skipped'])
            split_reencoded += len(m['reencoded'])
        splits[split] = {
            'num_shards': len(split_plans),
            'images_found': len(layout.splits[split]),
            'written': sum(counts.values()),
            'skipped': split_skipped,
            'reencoded': split_reencoded,
            'per_class': {c: counts.get(c, 0) for c in layout.classes},
        }
    return {
        'raw_data_dir': os.path.abspath(raw_data_dir),
        'output_dir': output_dir,
        'layout': layout.kind,
        'num_classes': len(layout.classes),
        'label_offset': label_offset,
        'labels': {c: i + label_offset for i, c in enumerate(layout.classes)},
        'splits': splits,
        'classes_missing_from_validation': _missing_from_validation(layout.classes, splits),
        'skipped_files': skipped,
        'reencoded_files': reencoded,
        'ignored_files': layout.ignored,
    }


def _missing_from_validation(classes: List[str], splits: Dict[str, dict]) -> List[str]:
    """Classes with training records but no validation record.

    Validation accuracy says nothing about them, and a missing val/<class> folder is easy to
    overlook among 1,000, so they are listed rather than left to be noticed.
    """
    train, validation = (splits[s]['per_class'] for s in ('train', 'validation'))
    return [c for c in classes if train[c] and not validation[c]]


def _write_outputs(output_dir: str, layout, summary: dict, label_offset: int) -> None:
    records.write_text(os.path.join(output_dir, LABELS_FILE), ''.join(
        f'{i + label_offset}\t{c}\n' for i, c in enumerate(layout.classes)))
    records.write_text(os.path.join(output_dir, SKIPPED_FILE), ''.join(
        f'{s["split"]}\t{s["file"]}\t{s["reason"]}\n' for s in summary['skipped_files']))
    records.write_text(os.path.join(output_dir, SUMMARY_FILE),
                       json.dumps(summary, indent=1, sort_keys=True) + '\n')
