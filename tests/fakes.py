"""Stand-ins shared by the video tests (imported, not collected)."""

import numpy as np

from blurvid.color import merge_y, rgb_to_ycbcr


def texture(h, w, seed=0):
    """Display-encoded float32 (h, w, 3) smooth noise in [0, 1] (no period for a motion
    estimate to lock onto)."""
    import cv2

    noise = np.random.default_rng(seed).random((h // 4, w // 4, 3)).astype(np.float32)
    return cv2.resize(noise, (w, h), interpolation=cv2.INTER_CUBIC).clip(0, 1)


class TruthExtractor:
    """Duck-types the Extractor methods the video pipeline calls: its 'model' returns the true
    frames of each input (``truths[t]``, (7, H, W, 3) RGB), flipped or not as ``flips``
    says."""

    def __init__(self, truths, flips):
        self.truths, self.flips, self.calls = truths, flips, 0

    def to_ycbcr(self, rgb):
        return rgb_to_ycbcr(rgb)

    def luma_frames(self, ycbcr):
        frames = self.truths[self.calls]
        frames = frames[::-1] if self.flips[self.calls] else frames
        self.calls += 1
        return np.stack([rgb_to_ycbcr(f)[..., 0] for f in frames]).astype(np.float32)

    def merge_frame(self, luma, ycbcr, finish=None, out=None):
        rgb = merge_y(luma, ycbcr)
        out[...] = finish(slice(None), rgb) if finish else rgb
        return out
