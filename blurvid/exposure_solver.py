"""One exposure of a video solved exactly, told the camera's motion inside it.

The blurry frame is, in linear light, the mean over the exposure of the sharp frame at its
middle seen through the camera's map at each instant (:class:`blurvid.camera_motion.Trajectory`);
its 7 frames are the means over each seventh. Within a tile of :data:`TILE` px the camera's
map is a translation to a small fraction of a pixel (rotation and zoom between frames are a few
tenths of a degree and of a percent), so each tile is solved by the FFT solver of
:mod:`blurvid.deconvolution` told that tile's path (the 7 group centres of the trajectory at
the tile's centre), with the photo around it as data, and the tiles are blended with ramps
(:func:`blurvid.deconvolution.deconvolve_tiled`); ``sparse`` makes its prior sparse
(:class:`blurvid.deconvolution.SparsePrior`). The frames come in the trajectory's time
order: a video says which way time ran.

The tile's size: told the true camera motion (the benchmark's handheld clips, rotation
included), tiles of 256 px gain more than 128 px tiles (a window's edges ring into it less,
and the margins cost less per pixel: about half the time) and more than 384 px (where the
rotation across a tile begins to count); measured in docs/experiments.md, 2026-12-06.

Where the scene moves on its own the camera's map is wrong; :func:`confidence` turns the
flow's residual to the camera's model into a weight in [0, 1], and :func:`blend` takes the
network's frames (put in the solver's order) where it is low.

Contract: luma float32 ``(H, W)`` gamma-encoded in [0, 1]; frames float32 ``(7, H, W)``.
numpy and OpenCV only.
"""

from __future__ import annotations

import cv2
import numpy as np

from blurvid import deconvolution as dc
from blurvid.camera_motion import Trajectory
from blurvid.consistency import NUM_FRAMES
from blurvid.ensemble import align_order

TILE = 256  # px: one translation per tile
OVERLAP = 32
WEIGHT = 0.02  # smoothness weight for a trajectory measured to a few tenths of a px
ITERS = 12  # conjugate-gradient steps after the closed form
TRUSTED = 0.999  # a confidence this high everywhere takes the solver's frames alone


def tile_paths(trajectory: Trajectory, shape: tuple[int, int], tile: int = TILE,
               overlap: int = OVERLAP) -> np.ndarray:
    """(R, C, 7, 2): the trajectory's group centres at the centre of every window of
    :func:`blurvid.deconvolution.tile_grid` ``(shape, tile, overlap)``."""
    h, w = shape
    rows, cols = dc.tile_grid(shape, tile, overlap)
    cy = np.array([(a + b - 1) / 2 - (h - 1) / 2 for a, b in rows])
    cx = np.array([(a + b - 1) / 2 - (w - 1) / 2 for a, b in cols])
    gx, gy = np.meshgrid(cx, cy)
    return trajectory.displacements(gx, gy)


def solve_exposure(y: np.ndarray, paths: np.ndarray, weight: float = WEIGHT,
                   tile: int = TILE, overlap: int = OVERLAP, iters: int = ITERS,
                   threads: int = 1, sparse: dc.SparsePrior | None = None) -> np.ndarray:
    """The 7 frames (float32 (7, H, W), gamma luma) of the blurry luma ``y`` told the tiles'
    paths ``paths`` (R, C, 7, 2) (:func:`tile_paths`), in the paths' time order."""
    h, w = y.shape
    if max(h, w) <= tile:  # one window: deconvolve_tiled solves it whole
        tile = max(h, w)
        overlap = min(overlap, tile // 4)
    # the paths come in one time order (a video's), never flipped per window
    return dc.deconvolve_tiled(y, paths, tile, overlap, weight=weight, iters=iters,
                               threads=threads, orient=False, sparse=sparse)


def confidence(residual: np.ndarray, shape: tuple[int, int], scale: float = 1.5,
               grow: float = 0.04) -> np.ndarray:
    """float32 (H, W) in [0, 1]: how far the camera's model explains each pixel, from a map
    of how badly it misses there. ``residual`` (h, w, any grid over the frame): e.g. the
    prediction's error or a flow's distance to the camera's fit (NaN: trusted); ``scale``:
    the residual at which the weight is exp(-1); the low-weight regions are grown by ``grow``
    of the grid's long side (a moving object smears over its blur), softened and resized to
    ``shape``."""
    r = np.nan_to_num(np.asarray(residual, np.float32), nan=0.0)
    weight = np.exp(-(r / scale) ** 2)
    h, w = shape
    k = max(3, int(round(grow * max(weight.shape))) | 1)
    weight = cv2.erode(weight, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    weight = cv2.GaussianBlur(weight, (0, 0), k / 2)
    return np.clip(cv2.resize(weight, (w, h), interpolation=cv2.INTER_LINEAR), 0.0, 1.0)


def blend(solved: np.ndarray, network: np.ndarray, weight: np.ndarray,
          align: bool = True) -> np.ndarray:
    """``weight * solved + (1 - weight) * network`` per pixel, the network's frames first put
    in the solver's time order (:func:`blurvid.ensemble.align_order`; ``align`` False: they
    come in order already). float32 (7, H, W)."""
    if align:
        network = align_order(network, solved)
    if float(weight.min()) >= TRUSTED:
        return solved
    return network + weight[None] * (solved - network)
