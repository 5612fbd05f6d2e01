"""Swin: every activation (forward/backward), XLA train step, shapes, one shifted block vs numpy."""
import numpy as np
import pytest
import tensorflow as tf

import backbone_testlib as bt
import layers
from models import swin
from backbone_testlib import gelu_np, layer_norm_np, randomize


@pytest.mark.parametrize('activation', layers.names())
def test_forward_backward_every_activation(activation):
    bt.check_forward_backward('swin', activation)


def test_jit_train_step():
    bt.check_jit_train_step('swin')


def test_output_shapes():
    bt.check_output_shapes('swin', [8, 16, 32, 64])


def swin_block_np(block, x, heads, window, shift):
    """Token-by-token shifted-window attention + MLP (loops, no window reshapes)."""
    h, w, c = x.shape
    hd = c // heads
    y = layer_norm_np(x, block.norm1.gamma.numpy(), block.norm1.beta.numpy(), 1e-5)
    rolled = np.roll(y, shift=(-shift, -shift), axis=(0, 1))

    def band(i, n):  # region of a row/column index in the shifted map
        return 0 if i < n - window else (1 if i < n - shift else 2)

    qkv = rolled @ block.attn.qkv.kernel.numpy() + block.attn.qkv.bias.numpy()
    q = qkv[..., :c].reshape(h, w, heads, hd) * hd ** -0.5
    k = qkv[..., c:2 * c].reshape(h, w, heads, hd)
    v = qkv[..., 2 * c:].reshape(h, w, heads, hd)
    table = block.attn.table.numpy()
    attn_out = np.zeros([h, w, heads, hd])
    for r in range(h):
        for col in range(w):
            keys = [(rr, cc) for rr in range(h) for cc in range(w)
                    if rr // window == r // window and cc // window == col // window]
            for hh in range(heads):
                scores = []
                for rr, cc in keys:
                    s = q[r, col, hh] @ k[rr, cc, hh]
                    s += table[(r - rr + window - 1) * (2 * window - 1) + (col - cc + window - 1), hh]
                    if shift and (band(r, h), band(col, w)) != (band(rr, h), band(cc, w)):
                        s += -100.0
                    scores.append(s)
                p = np.exp(np.array(scores) - max(scores))
                p /= p.sum()
                attn_out[r, col, hh] = sum(pi * v[rr, cc, hh] for pi, (rr, cc) in zip(p, keys))
    out = attn_out.reshape(h, w, c) @ block.attn.proj.kernel.numpy() + block.attn.proj.bias.numpy()
    out = np.roll(out, shift=(shift, shift), axis=(0, 1))
    x1 = x + out
    z = layer_norm_np(x1, block.norm2.gamma.numpy(), block.norm2.beta.numpy(), 1e-5)
    z = gelu_np(z @ block.fc1.kernel.numpy() + block.fc1.bias.numpy())
    return x1 + z @ block.fc2.kernel.numpy() + block.fc2.bias.numpy()


@pytest.mark.parametrize('shift', [0, 1])
def test_block_with_shift_and_mask_matches_numpy(shift):
    dim, heads, window = 4, 2, 2
    block = swin.SwinBlock(dim, (4, 6), heads, window, shift, layers.get('gelu'))
    x = np.random.default_rng(0).normal(size=[1, 4, 6, dim]).astype(np.float32)
    block(tf.constant(x))
    randomize(block, 3, scale=0.7)
    got = block(tf.constant(x), training=False).numpy()[0]
    want = swin_block_np(block, x[0].astype(np.float64), heads, window, shift)
    np.testing.assert_allclose(got, want, rtol=3e-4, atol=3e-4)


def test_masks_and_index_are_constants_not_variables():
    block = swin.SwinBlock(4, (4, 4), 2, 2, 1, layers.get('gelu'))
    block(tf.zeros([1, 4, 4, 4]))
    names = sorted(v.name.split('/')[-1] for v in block.weights)
    assert all('mask' not in n and 'index' not in n for n in names)
    assert block.mask.shape == (4, 4, 4)
    # Window (1, 1) of a 4×4 map shifted by 1 holds tokens of four different regions.
    assert (block.mask[3] == -100.0).sum() == 12
    assert (block.mask[0] == 0.0).all()


def test_last_stage_window_equals_map_so_no_shift():
    block = swin.SwinBlock(8, (7, 7), 1, 7, 3, layers.get('gelu'))
    assert block.shift == 0 and block.mask is None and block.window == 7


def test_indivisible_map_names_the_fix():
    with pytest.raises(ValueError, match='window_size'):
        swin.SwinBlock(4, (6, 6), 1, 4, 2, layers.get('gelu'))
