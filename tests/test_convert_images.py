"""data.images: content checks agree with TensorFlow's decoder; re-encoding keeps pixels."""
import io

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from data import images
from tests import test_convert_trees as h


def _jpeg(**kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(h.image_array(7, (48, 64))).save(buf, 'JPEG', quality=90, **kw)
    return buf.getvalue()


def _tf_decodes(data: bytes) -> bool:
    try:
        tf.io.decode_image(data, channels=3, expand_animations=False)
        return True
    except (tf.errors.InvalidArgumentError, ValueError):
        return False


BASE = _jpeg()
VARIANTS = {
    'baseline': BASE,
    'progressive': _jpeg(progressive=True),
    'restart markers': _jpeg(restart_marker_blocks=1),
    'optimized': _jpeg(optimize=True),
    'bytes after EOI': BASE + b'\x00' * 64 + b'\xff\xda trailer',
    'cut in the header': BASE[:100],
    'cut mid-scan': BASE[:len(BASE) // 2],
    'cut just before EOI': BASE[:-2],
    'progressive cut': _jpeg(progressive=True)[:len(_jpeg(progressive=True)) * 2 // 3],
    'cut then zero-padded': BASE[:len(BASE) // 2] + b'\x00' * 4096,
    'empty': b'',
    'text': b'not an image at all',
}


@pytest.mark.parametrize('name', sorted(VARIANTS))
def test_verdict_matches_tensorflow_decoder(name):
    """TensorFlow's decoder is what training uses: keep exactly what it can decode."""
    data = VARIANTS[name]
    checked = images.check_bytes(data)
    assert checked.ok == _tf_decodes(data), checked.note
    if checked.ok:
        assert checked.encoded is data  # Valid RGB JPEGs are kept byte for byte.
        assert (checked.height, checked.width) == (48, 64)
    else:
        assert checked.note  # Says why.


def test_structure_walk_reasons():
    assert images.jpeg_structure_error(BASE) is None
    assert 'no end-of-image' in images.jpeg_structure_error(BASE[:-2])
    assert 'truncated' in images.jpeg_structure_error(BASE[:30])


def _decoded(checked):
    return tf.io.decode_jpeg(checked.encoded).numpy()


@pytest.mark.parametrize('fmt,mode', [('PNG', 'RGB'), ('JPEG', 'CMYK'), ('JPEG', 'L'),
                                      ('PNG', 'P'), ('GIF', 'P'), ('BMP', 'RGB')])
def test_other_formats_and_modes_become_rgb_jpegs(fmt, mode):
    source = h.image_array(3, (40, 56))
    image = Image.fromarray(source)
    # Palette without dithering: dither noise would measure JPEG loss, not correctness.
    image = (image.quantize(64, dither=Image.Dither.NONE) if mode == 'P'
             else image.convert(mode))
    buf = io.BytesIO()
    image.save(buf, fmt)
    checked = images.check_bytes(buf.getvalue())
    assert checked.reencoded and checked.note == f'{fmt} {mode}'
    decoded = _decoded(checked)
    assert decoded.shape == (40, 56, 3) and (checked.height, checked.width) == (40, 56)
    # Reference pixels: the source after the mode change, converted to RGB by Pillow.
    want = np.asarray(image.convert('RGB')).astype(int)
    assert np.abs(decoded.astype(int) - want).mean() < 6  # JPEG loss; a wrong mode: > 40
    if mode == 'L':
        assert np.abs(decoded[..., 0].astype(int) - decoded[..., 2]).max() <= 2


def test_transparent_pixels_become_white():
    rgba = np.zeros((16, 16, 4), np.uint8)  # Fully transparent black...
    rgba[:8, :, :] = (255, 0, 0, 255)      # ...under an opaque red top half.
    buf = io.BytesIO()
    Image.fromarray(rgba, 'RGBA').save(buf, 'PNG')
    decoded = _decoded(images.check_bytes(buf.getvalue())).astype(int)
    assert np.abs(decoded[12, 8] - [255, 255, 255]).max() <= 3
    assert np.abs(decoded[2, 8] - [255, 0, 0]).max() <= 3


def test_unreadable_file(tmp_path):
    checked = images.check_file(str(tmp_path / 'missing.JPEG'))
    assert not checked.ok and 'unreadable file' in checked.note


def test_randomly_corrupted_jpegs_never_pass_when_tensorflow_rejects_them():
    """Random byte damage in headers and scans: nothing TF cannot decode gets through."""
    rng = np.random.default_rng(0)
    sources = [_jpeg(), _jpeg(progressive=True), _jpeg(restart_marker_blocks=2)]
    false_accepts, false_rejects, tf_rejects = [], 0, 0
    for trial in range(150):
        data = bytearray(sources[trial % 3])
        sos = data.find(b'\xff\xda')
        lo, hi = (2, sos) if trial % 2 else (sos + 12, len(data) - 2)
        for pos in rng.integers(lo, hi, rng.choice([1, 4, 16])):
            data[pos] = rng.integers(256)
        data = bytes(data)
        ok, tf_ok = images.check_bytes(data).ok, _tf_decodes(data)
        tf_rejects += not tf_ok
        false_rejects += tf_ok and not ok
        if ok and not tf_ok:
            false_accepts.append(trial)
    assert tf_rejects > 20  # The damage really produces undecodable files.
    assert false_accepts == []
    assert false_rejects <= 5
