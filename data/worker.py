"""The per-image work of a conversion, run in TensorFlow-free worker processes.

Kept apart from ``data.convert`` (which imports TensorFlow) because ``spawn`` workers import
the module that defines the function they run.

A worker sends back only its verdict for a JPEG it keeps byte for byte; the parent re-reads
the file (from the page cache: the worker just read it) instead of receiving it. Sending
~100 KB per image through the pool's pipe cost ~25% of the throughput on 2 cores (1,170 vs
1,530 images/s). The parent checks that the size is the one the worker saw, so a file that
changes in between is reported, never written unchecked.
"""
from __future__ import annotations

from typing import NamedTuple, Optional

from data import images

KEPT, REENCODED, SKIPPED = 'kept', 'reencoded', 'skipped'


class Verdict(NamedTuple):
    """What a worker found about one file.

    Attributes:
        status: KEPT (a valid RGB JPEG, stored as is), REENCODED or SKIPPED.
        encoded: the new JPEG bytes for REENCODED, else None.
        size: the file's size in bytes as the worker read it.
        height: image height (0 when skipped).
        width: image width (0 when skipped).
        note: what a re-encoded file was, or why a skipped one is unusable.
    """
    status: str
    encoded: Optional[bytes]
    size: int
    height: int
    width: int
    note: str


def check(path: str) -> Verdict:
    """Reads and checks one file (``data.images.check_bytes``)."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        return Verdict(SKIPPED, None, 0, 0, 0, f'unreadable file: {type(e).__name__}: {e}')
    checked = images.check_bytes(data)
    if not checked.ok:
        return Verdict(SKIPPED, None, len(data), 0, 0, checked.note)
    if checked.reencoded:
        return Verdict(REENCODED, checked.encoded, len(data), checked.height, checked.width,
                       checked.note)
    return Verdict(KEPT, None, len(data), checked.height, checked.width, '')


def kept_bytes(path: str, verdict: Verdict) -> Optional[bytes]:
    """The bytes of a KEPT file, or None when its size changed since it was checked."""
    with open(path, 'rb') as f:
        data = f.read()
    return data if len(data) == verdict.size else None
