"""The inference pipeline: a photo in, 7 sharp RGB frames out.

RGB -> YCbCr (BT.601 full range, :mod:`blurvid.color`); the generator turns Y into 7 luma
frames; the input's Cb/Cr are put back on every frame. One :class:`Extractor` holds one ONNX
Runtime session (built once) and is reused for every image.

Contract of :meth:`Extractor.extract`: ``image`` is a path or an ``(H, W, 3)`` / ``(H, W)``
array (float in [0, 1], or uint8 / uint16); the result is a float32 ``(7, H, W, 3)`` array in
[0, 1], the frames in temporal order (forward or reversed: a blurred photo does not say which).
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from blurvid import consistency
from blurvid.color import from_linear, merge_y, rgb_to_ycbcr, to_linear, ycbcr_to_rgb
from blurvid.consistency import NUM_FRAMES, PROJECTIONS, project, reblur  # noqa: F401 (API)
from blurvid.ensemble import check_ensemble_size, ensemble_run
from blurvid.errors import InputError
from blurvid.interpolation import ClipStream, interpolate_frames, stream_frames
from blurvid.io import contact_sheet, read_image, to_uint, write_images
from blurvid.metrics import psnr_of_mse
from blurvid.runtime import GeneratorSession
from blurvid.tiling import ALIGN, DEFAULT_OVERLAP, auto_tile, run_tiled, tile_spans

DEFAULT_PROJECTION = "exact"  # Extractor.projection unless told (see docs/model-card.md)
# A float image may stray this far outside [0, 1] (rounding); further out it is not in [0, 1]
# at all (e.g. 0-255 values in a float array) and is refused rather than clipped to white.
FLOAT_RANGE_SLACK = 1 / 255


def as_rgb_float(image: np.ndarray) -> np.ndarray:
    """uint8 / uint16 / float ``(H, W)``, ``(H, W, 1|3|4)`` -> float32 ``(H, W, 3)`` in [0, 1]."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"expected a numpy array or a path, got {type(image).__name__}")
    if image.ndim == 2:
        image = image[..., None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4) or min(image.shape[:2]) < 1:
        raise InputError(f"expected an image of shape (H, W), (H, W, 3) or (H, W, 4), got {image.shape}")
    if image.dtype == np.uint8:
        out = image.astype(np.float32) / 255.0
    elif image.dtype == np.uint16:
        out = image.astype(np.float32) / 65535.0
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise InputError("the image contains NaN or infinite values")
        low, high = float(image.min()), float(image.max())
        if low < -FLOAT_RANGE_SLACK or high > 1 + FLOAT_RANGE_SLACK:
            raise InputError(f"a float image must hold values in [0, 1], this one spans "
                             f"[{low:g}, {high:g}]" + (" (8-bit values? divide by 255)"
                                                       if high <= 255 else ""))
        out = np.clip(image, 0.0, 1.0).astype(np.float32, copy=False)
    else:
        raise InputError(f"unsupported image dtype {image.dtype}; use uint8, uint16 or float")
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    return np.ascontiguousarray(out[..., :3])


def reblur_psnr(frames: np.ndarray, image) -> float:
    """PSNR (dB, RGB) of the frames' average in linear light (:func:`reblur`) against the
    photo ``image``: any image :func:`extract` takes (a path, or an array: uint8, uint16 or
    float in [0, 1]); ``frames`` as :func:`extract` returns them. The one check that needs no
    ground truth: sharp frames that really hide in the photo must average back to it."""
    frames = np.asarray(frames)
    photo = _load_rgb(image)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.shape[1:3] != photo.shape[:2]:
        raise InputError(f"frames must be (F, H, W, 3) with the photo's size "
                         f"{photo.shape[0]}x{photo.shape[1]}, got {frames.shape}")
    return consistency.reblur_psnr(frames, photo)


def strip_to_u8(rows: slice, rgb: np.ndarray) -> np.ndarray:
    """:func:`blurvid.io.to_uint` (8 bits) in place on the temporary strip ``rgb`` (float32,
    from ``merge_y``; a ``finish`` for :meth:`Extractor.merge_frame`): the same values,
    without its four temporary copies."""
    np.nan_to_num(rgb, copy=False, nan=0.0, posinf=1.0, neginf=0.0)
    np.clip(rgb, 0.0, 1.0, out=rgb)
    np.multiply(rgb, 255.0, out=rgb)
    return np.rint(rgb, out=rgb)  # merge_frame writes it into the uint8 frame (a cast)


@dataclass
class Extractor:
    """Holds one generator session and turns images into frames.

    ``model``: path to a blurvid ONNX generator (default: the bundled model); ``device``:
    ``auto``, ``cpu`` or ``cuda``; ``threads``: ONNX Runtime intra-op threads (None: default);
    ``tile``: window side for tiled inference (:mod:`blurvid.tiling`): None = automatic (tiles
    of 1024 px above 4 megapixels; above 1.1 for the full-resolution ``paper`` model), 0 =
    never, N = always tiles of N px (N >= 64).
    ``projection``: make the frames average back to the photo (:mod:`blurvid.consistency`):
    ``exact`` (the default), ``lowpass`` or ``none``. ``ensemble``: combine the generator's answers on
    1 (the default), 2, 4 or 8 rotated/mirrored copies of the photo (:mod:`blurvid.ensemble`;
    that many times the generator's time, better frames).
    """

    model: str | Path | None = None
    device: str = "auto"
    threads: int | None = None
    tile: int | None = None
    projection: str = DEFAULT_PROJECTION
    ensemble: int = 1
    session: GeneratorSession | None = field(default=None, repr=False)  # None: built here
    _pool: ThreadPoolExecutor | None = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        if self.tile is not None and (isinstance(self.tile, bool) or not isinstance(self.tile, int)
                                      or (self.tile != 0 and self.tile < 64)):
            raise InputError(f"tile must be 0 (off) or a whole number >= 64, got {self.tile!r}")
        if self.projection not in PROJECTIONS:
            raise InputError(f"projection must be one of {', '.join(PROJECTIONS)}, got "
                             f"{self.projection!r}")
        check_ensemble_size(self.ensemble, InputError)
        if self.session is None:
            self.session = GeneratorSession(self.model, device=self.device, threads=self.threads)

    def _tiling(self, height: int, width: int) -> tuple[int, int]:
        """(window side, overlap) for a ``height x width`` photo; side 0: one whole run."""
        tile = self.tile
        if tile is None:
            tile = auto_tile(height, width, self.session.metadata.get("arch"))
        return tile, min(DEFAULT_OVERLAP, tile // 4)

    def window_count(self, height: int, width: int) -> int:
        """How many windows the generator runs on for a ``height x width`` photo (1 when it
        is not tiled): the number of ``progress`` calls of :meth:`luma_frames`."""
        tile, overlap = self._tiling(height, width)
        return 1 if not tile else (len(tile_spans(height, tile, overlap, ALIGN))
                                   * len(tile_spans(width, tile, overlap, ALIGN)))

    def generator_frames(self, y: np.ndarray, progress=None) -> np.ndarray:
        """The generator (and its ensemble) on the luma ``y`` (H, W): float32 ``(7, H, W)``,
        neither clipped nor projected, tiled as :attr:`tile` says. ``progress`` is called
        after each window."""
        h, w = y.shape
        tile, overlap = self._tiling(h, w)
        run = ensemble_run(self.session.run, self.ensemble)
        if tile:
            return run_tiled(run, y, tile, overlap, progress=progress)
        luma = run(y)
        if progress is not None:
            progress()
        return luma

    def luma_frames(self, ycbcr: np.ndarray, progress=None) -> np.ndarray:
        """The generator on the Y of ``ycbcr`` (H, W, 3): float32 ``(7, H, W)`` in [0, 1],
        tiled as :attr:`tile` says and projected as :attr:`projection` says. ``progress`` is
        called after each window."""
        y = np.ascontiguousarray(ycbcr[..., 0])
        luma = self.generator_frames(y, progress)
        self._finish_in_strips(luma, y)
        return luma

    def _post_workers(self) -> int:
        """Threads for the numpy/OpenCV work after the generator: ``threads`` (else every core)."""
        return max(1, self.threads or os.cpu_count() or 1)

    def _map_strips(self, work, height: int) -> None:
        """``work(rows)`` for every strip of :data:`_PARALLEL_STRIP_ROWS` rows, on
        :meth:`_post_workers` threads (numpy and OpenCV release the GIL on whole strips).
        ``work`` must only touch its own rows."""
        strips = list(_strips(height, _PARALLEL_STRIP_ROWS))
        workers = min(self._post_workers(), len(strips))
        if workers == 1:
            for rows in strips:
                work(rows)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._post_workers(),
                                            thread_name_prefix="blurvid-post")
        futures = [self._pool.submit(work, rows) for rows in strips]
        wait(futures)  # every strip finishes (no thread still writes) before an error is raised
        for future in futures:
            future.result()  # re-raises a worker's error here

    def _finish_in_strips(self, luma: np.ndarray, y: np.ndarray, projection: str | None = None,
                          margin: int = 16) -> None:
        """Clip the generator's frames to [0, 1] and :func:`blurvid.consistency.project` them
        (``projection``, default :attr:`projection`), in place, a strip of rows at a time
        (bounded temporary memory; ``none`` and ``exact`` work pixel by pixel, so their strips
        run in parallel); each ``lowpass`` strip sees ``margin`` rows of unprojected
        context."""
        h = luma.shape[1]
        projection = projection or self.projection
        if projection in ("none", "exact"):
            def finish_rows(rows: slice) -> None:
                if projection == "none":
                    np.clip(luma[:, rows], 0.0, 1.0, out=luma[:, rows])
                else:
                    luma[:, rows] = project(luma[:, rows], y[rows], "exact")

            self._map_strips(finish_rows, h)
            return
        above = None  # the unprojected rows just above the current strip
        for rows in _strips(h):
            top, bottom = max(0, rows.start - margin), min(h, rows.stop + margin)
            block = luma[:, top:bottom].copy()
            if above is not None:
                block[:, : rows.start - top] = above
            above = luma[:, max(rows.start, rows.stop - margin): rows.stop].copy()
            done = project(block, y[top:bottom], projection)
            luma[:, rows] = done[:, rows.start - top: min(h, rows.stop) - top]

    def extract(self, image) -> np.ndarray:
        """One image (path or array) -> ``(7, H, W, 3)`` float32 RGB frames in [0, 1]."""
        return self._extract_rgb(_load_rgb(image))

    def interpolate(self, image, levels: int = 2, method: str = "flow", progress=None):
        """One image (path or array) -> a :class:`blurvid.interpolation.Clip` of
        ``7 * 6^(levels - 1)`` frames with their timestamps (see :mod:`blurvid.interpolation`).
        ``progress``: called after each model run."""
        return interpolate_frames(self._extract_rgb, _load_rgb(image), levels, method, progress)

    def stream(self, image, levels: int = 2, method: str = "flow",
               progress=None) -> ClipStream:
        """Like :meth:`interpolate`, but the frames are made when asked for
        (:class:`blurvid.interpolation.ClipStream`): memory does not grow with ``levels``
        (except for ``recursive``)."""
        return stream_frames(self._extract_rgb, _load_rgb(image), levels, method, progress)

    def to_ycbcr(self, rgb: np.ndarray) -> np.ndarray:
        """float RGB ``(H, W, 3)`` -> float32 YCbCr, converted strip by strip in parallel."""
        ycbcr = np.empty(rgb.shape, np.float32)

        def convert_rows(rows: slice) -> None:
            ycbcr[rows] = rgb_to_ycbcr(rgb[rows])

        self._map_strips(convert_rows, rgb.shape[0])
        return ycbcr

    def merge_frame(self, luma: np.ndarray, ycbcr: np.ndarray, finish=None,
                    out: np.ndarray | None = None) -> np.ndarray:
        """One luma frame ``(H, W)`` on the photo's chroma -> RGB ``(H, W, 3)``, strip by strip
        in parallel: float32 in [0, 1], or what ``finish(rows, rgb_rows)`` makes of each strip
        (e.g. 8/16-bit pixels), written into ``out`` (default: a new float32 array). The one
        color path of array and file output."""
        def merge_rows(rows: slice) -> None:
            rgb = merge_y(luma[rows], ycbcr[rows])
            if finish is not None:
                rgb = finish(rows, rgb)
            out[rows] = rgb

        if out is None:
            out = np.empty(ycbcr.shape, np.float32)
        self._map_strips(merge_rows, ycbcr.shape[0])
        return out

    def _extract_rgb(self, rgb: np.ndarray) -> np.ndarray:
        ycbcr = self.to_ycbcr(rgb)
        luma = self.luma_frames(ycbcr)
        out = np.empty(luma.shape + (3,), np.float32)
        for frame, target in zip(luma, out):
            self.merge_frame(frame, ycbcr, out=target)
        return out


SHEET_MAX_HEIGHT = 1080  # contact sheets of larger photos are scaled down to this height
_STRIP_ROWS = 256  # rows converted at a time when writing frames (bounds temporary memory)
_PARALLEL_STRIP_ROWS = 64  # rows per task when the post-processing runs on several threads


def _strips(height: int, rows: int = _STRIP_ROWS):
    for r in range(0, height, rows):
        yield slice(r, r + rows)


def extract_to_files(extractor: Extractor, image, frame_paths, sheet_path=None,
                     progress=None) -> dict:
    """Extract one loaded photo (:class:`blurvid.io.LoadedImage`) straight to files.

    Memory-bounded for large photos: the photo is converted to YCbCr and its float RGB dropped
    (pass ``image`` without keeping a reference to it, e.g.
    ``extract_to_files(x, read_image(path), ...)``, and it is freed); the 7 luma frames are held
    once (float32, tiled inference above 4 megapixels); each RGB frame is made in strips as
    8/16-bit pixels (:meth:`Extractor.merge_frame`), written to a temporary file and dropped
    in turn; the reblur check is accumulated on the way. All files of the photo are written as
    one unit (:func:`blurvid.io.write_images`); the optional contact sheet (input + 7 frames
    side by side) is scaled down to at most :data:`SHEET_MAX_HEIGHT` pixels high.
    Returns ``seconds``, ``reblur_psnr``, ``width``, ``height``, ``bit_depth`` and ``notes``.
    """
    start = time.perf_counter()
    rgb, bit_depth, notes, grey = image.rgb, image.bit_depth, list(image.notes), image.grey
    del image
    h, w = rgb.shape[:2]
    ycbcr = extractor.to_ycbcr(rgb)
    scale = min(1.0, SHEET_MAX_HEIGHT / h)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))

    def small(pixels: np.ndarray) -> np.ndarray:
        return pixels if scale == 1.0 else cv2.resize(pixels, size, interpolation=cv2.INTER_AREA)

    thumbs = [small(to_uint(rgb, bit_depth))] if sheet_path is not None else []
    del rgb  # from here on, the input is its YCbCr
    luma = extractor.luma_frames(ycbcr, progress)
    linear_sum = np.zeros(ycbcr.shape, np.float32)

    def to_pixels(rows: slice, rgb_rows: np.ndarray) -> np.ndarray:
        linear_sum[rows] += to_linear(rgb_rows)  # each strip is one thread's own rows
        # grey in, grey out: a grey photo's chroma is neutral, so R = G = B = Y
        return to_uint(rgb_rows[..., :1] if grey else rgb_rows, bit_depth)

    pixel_type = np.uint8 if bit_depth == 8 else np.uint16
    pixel_shape = (h, w, 1) if grey else ycbcr.shape

    def frames():
        for k in range(luma.shape[0]):
            pixels = extractor.merge_frame(luma[k], ycbcr, to_pixels,
                                           out=np.empty(pixel_shape, pixel_type))
            if sheet_path is not None:
                thumbs.append(small(np.repeat(pixels, 3, axis=2) if grey else pixels))
            yield pixels
        if sheet_path is not None:
            yield contact_sheet(thumbs)

    targets = [*frame_paths, *([sheet_path] if sheet_path is not None else [])]
    write_images(targets, frames(), bit_depth=bit_depth, workers=extractor._post_workers())
    luma = None  # the frames are written: free them before the reblur check
    squared = 0.0
    for rows in _strips(h):  # reblur (consistency.reblur, from the sum) against the input
        reblurred = from_linear(linear_sum[rows] / NUM_FRAMES)
        source = np.clip(ycbcr_to_rgb(ycbcr[rows]), 0.0, 1.0)
        squared += float(np.sum((reblurred.astype(np.float64) - source) ** 2))
    return {"seconds": time.perf_counter() - start,
            "reblur_psnr": psnr_of_mse(squared / ycbcr.size),
            "width": w, "height": h, "bit_depth": bit_depth, "notes": notes}


def _load_rgb(image) -> np.ndarray:
    """The API's one input contract: a path (read as :func:`blurvid.io.read_image` does) or
    an array (:func:`as_rgb_float`) -> float32 RGB ``(H, W, 3)`` in [0, 1]."""
    if isinstance(image, (str, Path)):
        image = read_image(image).rgb
    return as_rgb_float(image)


_sessions: dict[tuple, GeneratorSession] = {}
_extractors: dict[tuple, Extractor] = {}


def get_extractor(model=None, device: str = "auto", threads: int | None = None,
                  projection: str = DEFAULT_PROJECTION, ensemble: int = 1) -> Extractor:
    """A cached :class:`Extractor`. The ONNX Runtime session is cached per (model, device,
    threads) only: changing a post-processing option (``projection``, ``ensemble``) reuses it."""
    session_key = (str(model) if model is not None else None, device, threads)
    key = (*session_key, projection, ensemble)
    if key not in _extractors:
        if session_key not in _sessions:
            _sessions[session_key] = GeneratorSession(model, device=device, threads=threads)
        _extractors[key] = Extractor(model, device=device, threads=threads,
                                     projection=projection, ensemble=ensemble,
                                     session=_sessions[session_key])
    return _extractors[key]


def extract(image, *, model=None, device: str = "auto", threads: int | None = None,
            projection: str = DEFAULT_PROJECTION, ensemble: int = 1) -> np.ndarray:
    """Turn one blurry photo into its 7 sharp frames.

    ``image``: a file path or an array ``(H, W[, 3|4])`` (uint8, uint16 or float in [0, 1]).
    Returns float32 ``(7, H, W, 3)`` RGB frames in [0, 1], in temporal order. ``projection``:
    ``none``, ``lowpass`` or ``exact`` (the frames then average back to the photo exactly; see
    :mod:`blurvid.consistency`); ``ensemble``: 1, 2, 4 or 8 rotated/mirrored copies
    combined (:mod:`blurvid.ensemble`: better frames, that many times the generator's time).
    """
    return get_extractor(model, device, threads, projection, ensemble).extract(image)


def interpolate(image, levels: int = 2, *, method: str = "flow", model=None,
                device: str = "auto", threads: int | None = None,
                projection: str = DEFAULT_PROJECTION, ensemble: int = 1):
    """More frames than 7: a :class:`blurvid.interpolation.Clip` (``frames`` float32
    ``(N, H, W, 3)``, ``times`` within the exposure [0, 1]) for ``levels`` (1: the 7 frames,
    2: 42 frames, L: 7 * 6^(L-1)); ``method``: ``flow`` (the default: it measures best),
    ``recursive`` (the paper's) or ``blend``. See :mod:`blurvid.interpolation` for the exact
    timeline and docs/interpolation.md for the measurements; ``ensemble`` as in
    :func:`extract`."""
    return get_extractor(model, device, threads, projection, ensemble).interpolate(
        image, levels, method)
