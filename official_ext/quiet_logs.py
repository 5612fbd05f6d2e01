"""Logs a person reads: TensorFlow's start-up and per-step notices that say nothing to act on.

A CPU run of the demo printed 231 lines, most of them TensorFlow internals: C++ INFO notices
(oneDNN, the CUDA stub, `OUT_OF_RANGE` rendezvous at the end of every evaluation), an ERROR-level
`failed call to cuInit` on every machine without a GPU, TensorFlow's Python logger writing every
line twice (its own handler and absl's), and per-save notices of the checkpoint code. This module
removes exactly those; warnings and errors of any other kind still show.

`TF_CPP_MIN_LOG_LEVEL` must be set before TensorFlow is imported, so `start_tensorflow()` runs at
the top of the entry points; a value the user set is kept (`0` brings everything back).
"""
from __future__ import annotations

import contextlib
import glob
import logging as std_logging
import os
import sys
import tempfile
from typing import Iterator, Optional

# Python log messages that repeat at every save or start and carry no information for the user.
NOISE = (
    'Sharding callback duration',
    'Sync on async checkpoint saving',
    'Customized initialization is done through the passed `init_fn`',
    'Creates a new checkpoint manager',
    'AdamWeightDecay gradient_clip_norm',
    'tensor_shape_from_node_def_name',
    'is deprecated and will be removed in a future version',
    'Found untraced functions such as',
    'contains input name(s)',
)
# The C++ line TensorFlow writes when it probes CUDA on a machine that has no NVIDIA driver.
CUINIT = 'failed call to cuInit'
# Grappler's lines while the FLOPs are counted (absl C++ INFO, not covered by the level above).
GRAPPLER = ('All log messages before absl::InitializeLog()', 'Number of eligible GPUs',
            'Starting new session')


def start_tensorflow() -> None:
    """Imports TensorFlow with its C++ INFO lines hidden (unless the user set
    TF_CPP_MIN_LOG_LEVEL) and lists the physical devices without the cuInit error line.

    Call it first thing in an entry point: the level is read when TensorFlow is imported, and
    CUDA is probed once per process, at the first device listing or op (some imports create
    constants). Listing physical devices does not start the runtime, so multi-worker
    collectives can still be configured afterwards.
    """
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '1')
    with without_cuinit_error():
        import tensorflow as tf  # pylint: disable=g-import-not-at-top
        tf.config.list_physical_devices()


def has_nvidia_device() -> bool:
    """Whether this machine exposes an NVIDIA device node (a driver is installed)."""
    return bool(glob.glob('/dev/nvidia[0-9]*') or os.path.exists('/dev/nvidiactl'))


class _NoiseFilter(std_logging.Filter):
    def filter(self, record: std_logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # pylint: disable=broad-except
            return True
        return not any(n in message for n in NOISE)


_FILTERS_ON = []


def python_filters() -> None:
    """Drops NOISE from absl's handler and routes TensorFlow's logger through absl only."""
    from absl import logging  # pylint: disable=g-import-not-at-top
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    if _FILTERS_ON:
        return
    _FILTERS_ON.append(True)
    noise = _NoiseFilter()
    logging.get_absl_handler().addFilter(noise)
    tf_logger = tf.get_logger()
    for handler in list(tf_logger.handlers):
        tf_logger.removeHandler(handler)
    tf_logger.propagate = True
    tf_logger.addFilter(noise)
    std_logging.getLogger('absl').addFilter(noise)


@contextlib.contextmanager
def filtered_stderr(*patterns: str) -> Iterator[None]:
    """Runs the block with the lines containing any of `patterns` removed from stderr.

    For C++ lines (file descriptor 2) that no log level controls; everything else the block
    writes is passed on when it ends.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode='w+b') as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode('utf-8', 'replace').splitlines(True)
                    if not any(p in line for p in patterns)]
            sys.stderr.write(''.join(kept))
            sys.stderr.flush()


def without_cuinit_error():
    """TensorFlow's device discovery without the cuInit ERROR line on machines that have no
    NVIDIA device (where it only says that there is no GPU)."""
    if has_nvidia_device():
        return contextlib.nullcontext()
    return filtered_stderr(CUINIT)


_ORIGINAL_COUNT_FLOPS = None  # Model Garden's function, once quiet_model_garden_flops ran.


def count_flops(model) -> Optional[float]:
    """Model Garden's `try_count_flops` without grappler's INFO lines (absl C++ logging, which
    TF_CPP_MIN_LOG_LEVEL does not reach)."""
    from official.core import train_utils  # pylint: disable=g-import-not-at-top
    count = _ORIGINAL_COUNT_FLOPS or train_utils.try_count_flops
    with filtered_stderr(*GRAPPLER):
        return count(model)


def quiet_model_garden_flops() -> None:
    """Makes Model Garden's own FLOPs count (train_lib logs one after every run) quiet too."""
    global _ORIGINAL_COUNT_FLOPS
    from official.core import train_utils  # pylint: disable=g-import-not-at-top
    if _ORIGINAL_COUNT_FLOPS is None:
        _ORIGINAL_COUNT_FLOPS = train_utils.try_count_flops
        train_utils.try_count_flops = count_flops
