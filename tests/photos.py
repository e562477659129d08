"""Synthetic test photos shared by several test modules (imported, not collected)."""

import numpy as np


def wave_photo(seed: int = 0, side: int = 300) -> np.ndarray:
    """Linear-light float32 ``(side, side, 3)``: waves of 9-20 px periods around mid-grey,
    smooth enough for bilinear warps to be shifts, short enough for a 12 px blur to wash
    them out."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:side, :side].astype(np.float32)
    image = np.full((side, side, 3), 0.5, np.float32)
    for _ in range(6):
        period, angle, phase = rng.uniform(9, 20), rng.uniform(0, np.pi), rng.uniform(0, 6.3)
        wave = np.sin(2 * np.pi * (x * np.cos(angle) + y * np.sin(angle)) / period + phase)
        image += 0.07 * wave[..., None] * rng.uniform(0.5, 1.0, 3).astype(np.float32)
    return image
