"""Independent numpy/Python versions of timm's augmentation definitions (timm 0.9 + Pillow).

Written from timm's `auto_augment.py`, `random_erasing.py`, `transforms.py`, `mixup.py` and
Pillow's ImageOps/ImageEnhance/Image.blend definitions, without TensorFlow, so the TF pipeline
(official_ext/timm_*.py) is checked against a second implementation rather than against itself.
"""
import math
import random

import numpy as np

LEVEL_DENOM = 10.0


# ------------------------------------------------------------------ level -> argument (timm)
def posterize_increasing_bits(m):
    return 4 - int((m / LEVEL_DENOM) * 4)


def solarize_increasing_threshold(m):
    return 256 - int((m / LEVEL_DENOM) * 256)


def solarize_add_amount(m):
    return int((m / LEVEL_DENOM) * 110)


def enhance_increasing_factor(m, negate):
    v = (m / LEVEL_DENOM) * 0.9
    return max(0.1, 1.0 + (-v if negate else v))


def rotate_degrees(m, negate):
    v = (m / LEVEL_DENOM) * 30.0
    return -v if negate else v


# --------------------------------------------------------------------------- Pillow point ops
def autocontrast(img):
    out = np.empty_like(img)
    for c in range(3):
        ch = img[..., c].astype(np.int64)
        lo, hi = ch.min(), ch.max()
        if hi <= lo:
            lut = np.arange(256)
        else:
            scale = 255.0 / (hi - lo)
            offset = -lo * scale
            lut = np.array([min(255, max(0, int(i * scale + offset))) for i in range(256)])
        out[..., c] = lut[ch]
    return out


def equalize(img):
    out = np.empty_like(img)
    for c in range(3):
        h = np.bincount(img[..., c].ravel(), minlength=256)
        histo = [v for v in h if v]
        if len(histo) <= 1:
            lut = list(range(256))
        else:
            step = (sum(histo) - histo[-1]) // 255
            if not step:
                lut = list(range(256))
            else:
                n, lut = step // 2, []
                for i in range(256):
                    lut.append(min(255, n // step))
                    n += h[i]
        out[..., c] = np.array(lut)[img[..., c]]
    return out


def posterize(img, bits):
    if bits >= 8:
        return img.copy()
    mask = ~(2 ** (8 - bits) - 1) & 0xFF
    return (img & mask).astype(np.uint8)


def solarize(img, threshold):
    return np.where(img < threshold, img, 255 - img).astype(np.uint8)


def solarize_add(img, add, threshold=128):
    x = img.astype(np.int64)
    return np.where(x < threshold, np.minimum(255, x + add), x).astype(np.uint8)


# ------------------------------------------------------------------------- Pillow enhance ops
def luminance(img):
    x = img.astype(np.int64)
    return (x[..., 0] * 19595 + x[..., 1] * 38470 + x[..., 2] * 7471 + 0x8000) >> 16


def blend(degenerate, img, factor):
    d = degenerate.astype(np.float32)
    v = d + np.float32(factor) * (img.astype(np.float32) - d)
    return np.clip(np.floor(v), 0, 255).astype(np.uint8)


def color(img, f):
    return blend(np.repeat(luminance(img)[..., None], 3, -1), img, f)


def contrast(img, f):
    mean = int(luminance(img).mean() + 0.5)
    return blend(np.full(img.shape, mean), img, f)


def brightness(img, f):
    return blend(np.zeros(img.shape), img, f)


def sharpness(img, f):
    x = img.astype(np.float64)
    k = np.array([[1, 1, 1], [1, 5, 1], [1, 1, 1]], np.float64) / 13.0
    smooth = x.copy()
    h, w = img.shape[:2]
    acc = np.zeros((h - 2, w - 2, 3))
    for dy in range(3):
        for dx in range(3):
            acc += k[dy, dx] * x[dy:dy + h - 2, dx:dx + w - 2]
    smooth[1:-1, 1:-1] = np.clip(np.floor(acc + 0.5), 0, 255)
    return blend(smooth, img, f)


# ------------------------------------------------------------------------------- samplers
def random_resized_crop_params(height, width, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3),
                               rng=random):
    """timm RandomResizedCropAndInterpolation.get_params, line by line."""
    area = height * width
    for _ in range(10):
        target_area = rng.uniform(*scale) * area
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        aspect_ratio = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target_area * aspect_ratio)))
        h = int(round(math.sqrt(target_area / aspect_ratio)))
        if w <= width and h <= height:
            return rng.randint(0, height - h), rng.randint(0, width - w), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def erasing_mask(height, width, probability=0.25, min_area=0.02, max_area=1 / 3,
                 min_aspect=0.3, rng=random):
    """timm RandomErasing._erase (count 1): the erased [H, W] mask."""
    mask = np.zeros((height, width), bool)
    if rng.random() > probability:
        return mask
    log_ratio = (math.log(min_aspect), math.log(1 / min_aspect))
    area = height * width
    for _ in range(10):
        target_area = rng.uniform(min_area, max_area) * area
        aspect = math.exp(rng.uniform(*log_ratio))
        h = int(round(math.sqrt(target_area * aspect)))
        w = int(round(math.sqrt(target_area / aspect)))
        if w < width and h < height:
            top = rng.randint(0, height - h)
            left = rng.randint(0, width - w)
            mask[top:top + h, left:left + w] = True
            break
    return mask
