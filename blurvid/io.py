"""Reading photos and writing frames: the only module that touches image files.

Contract:

* :func:`read_image` turns any supported file into a :class:`LoadedImage` whose ``rgb`` is
  float32 ``(H, W, 3)`` in [0, 1], upright (EXIF orientation applied), alpha dropped, grey
  replicated to three channels. Every problem with the file (missing, a folder, empty, not an
  image, corrupt or truncated, unreadable) is an :class:`~blurvid.errors.InputError` whose
  message is one sentence naming the file; no raw exception escapes for a bad file.
* :func:`write_image` writes atomically (temp file in the same folder, fsync, ``os.replace``):
  a reader never sees a half-written frame, and a failed write leaves nothing behind. Failures
  are :class:`~blurvid.errors.OutputError`.
* Output names come from :func:`frame_paths` / :func:`sheet_path`, which sanitise the stem so
  a frame can never land outside the output folder.

Decoding is OpenCV's (``cv2.imdecode`` on the file's bytes, so non-ASCII paths work); Pillow
reads the EXIF orientation and fully decodes JPEG/PNG/WebP/BMP/GIF once more to refuse
truncated files that a decoder could otherwise return half grey.
"""

from __future__ import annotations

import io
import os
import re
import secrets
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, UnidentifiedImageError

from blurvid.errors import InputError, OutputError, OutputExistsError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp")
FRAME_FORMATS = ("png", "jpg")

# Pillow formats it decodes completely and reliably: a failure to load one of these means the
# file is corrupt or truncated, and the file is refused without asking OpenCV.
_STRICT_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF"})
# OpenCV's TIFF decoder applies the orientation tag itself (even with IMREAD_UNCHANGED);
# for every other format the EXIF orientation is applied here.
_DECODER_APPLIES_ORIENTATION = frozenset({"TIFF"})
_ORIENTATION_TAG = 0x0112
_GREY_MODES = frozenset({"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F"})
# Writable suffixes -> (OpenCV extension, 16-bit capable).
_WRITE_FORMATS = {
    ".png": (".png", True),
    ".tif": (".tiff", True),
    ".tiff": (".tiff", True),
    ".jpg": (".jpg", False),
    ".jpeg": (".jpg", False),
    ".webp": (".webp", False),
    ".bmp": (".bmp", False),
}
_JPEG_MAX_SIDE = 65535
MAX_PIXELS = 100_000_000  # larger inputs are refused up front (memory), see docs/robustness.md


@dataclass(frozen=True)
class LoadedImage:
    """A decoded input photo.

    ``rgb``: float32 ``(H, W, 3)`` in [0, 1], upright; ``bit_depth``: 8 or 16, the depth the
    frames should be written at; ``notes``: one-line remarks for the user (alpha dropped,
    greyscale, orientation applied, ...); ``grey``: a greyscale file (its frames are written
    greyscale too).
    """

    path: Path
    rgb: np.ndarray
    bit_depth: int
    notes: tuple[str, ...] = ()
    grey: bool = False


# --------------------------------------------------------------------------------- reading


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


# ISO base media brands of still images (HEIF, AVIF): an "ftyp" box is not always a video.
_IMAGE_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif",
                           b"avis"})


def video_container(head: bytes) -> str | None:
    """The container a file starting with ``head`` (its first 512 bytes or more) is, when it
    is a video: ``MP4/MOV``, ``Matroska/WebM``, ``AVI``, ``MPEG``, ``MPEG-TS``, ``FLV``;
    None for anything else."""
    if (head[4:8] == b"ftyp" and head[8:12] not in _IMAGE_BRANDS) or \
            head[4:8] in (b"moov", b"mdat", b"wide"):
        return "MP4/MOV"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "Matroska/WebM"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "AVI"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "MPEG"
    if len(head) > 376 and head[0] == head[188] == head[376] == 0x47 and head[:3] != b"GIF":
        return "MPEG-TS"
    if head[:3] == b"FLV":
        return "FLV"
    return None


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, or an InputError for a missing / non-regular / empty / unreadable one,
    or a video (told from its first bytes, before the whole file is read)."""
    if not path.exists():
        if path.is_symlink():
            raise InputError(f"{path} is a broken symbolic link")
        raise InputError(f"{path} does not exist")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not an image file")
    if not path.is_file():
        raise InputError(f"{path} is not a regular file")
    try:
        with open(path, "rb") as f:
            head = f.read(512)
            video = video_container(head)
            if video is not None:
                raise InputError(f"{path} is a video ({video}), not a photo; "
                                 "`blurvid video` turns a video into sharp slow motion")
            data = head + f.read()
    except PermissionError:
        raise InputError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {_os_reason(exc)}") from None
    if not data:
        raise InputError(f"{path} is empty (0 bytes)")
    return data


def _pillow_check(path: Path, data: bytes) -> tuple[str | None, str | None, int, int]:
    """(Pillow format, Pillow mode; both None if Pillow does not know the file; EXIF
    orientation; the number of frames or pages: an animated GIF, a multi-page TIFF).

    Fully decodes the strict formats and raises InputError when that fails (truncated/corrupt).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # DecompressionBombWarning, "Corrupt EXIF data", ...
        try:
            im = Image.open(io.BytesIO(data))
        except Image.DecompressionBombError as exc:
            # Pillow's message names the header's size: "Image size (N pixels) exceeds ..."
            found = re.search(r"\((\d+) pixels\)", str(exc))
            size = (f"{int(found.group(1)) / 1e6:,.0f} megapixels" if found
                    else f"over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels")
            raise InputError(f"{path} is too large: {size}; blurvid reads photos of up to "
                             f"{MAX_PIXELS // 1_000_000} megapixels") from None
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
            return None, None, 1, 1
        with im:
            fmt, mode = im.format, im.mode
            try:
                pages = int(getattr(im, "n_frames", 1))
            except Exception:  # a broken animation: its first frame is what we read
                pages = 1
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise InputError(f"{path} is {w}x{h} ({w * h / 1e6:.0f} megapixels); blurvid "
                                 f"reads photos of up to {MAX_PIXELS // 1_000_000} megapixels")
            orientation = 1
            try:
                value = im.getexif().get(_ORIENTATION_TAG, 1)
                if isinstance(value, int) and 1 <= value <= 8:
                    orientation = value
            except Exception:  # a corrupt EXIF block only costs us the orientation
                orientation = 1
            if fmt in _STRICT_FORMATS:
                try:
                    im.load()
                except Exception as exc:
                    reason = "truncated" if "truncated" in str(exc).lower() else "corrupt"
                    raise InputError(f"{path} is a {reason} {fmt} file and cannot be decoded "
                                     "completely") from None
    return fmt, mode, orientation, pages


def _apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Apply EXIF orientation 1..8 the way ``PIL.ImageOps.exif_transpose`` does."""
    if orientation == 2:
        return image[:, ::-1]
    if orientation == 3:
        return image[::-1, ::-1]
    if orientation == 4:
        return image[::-1]
    if orientation == 5:
        return image.swapaxes(0, 1)
    if orientation == 6:
        return np.rot90(image, k=-1)
    if orientation == 7:
        return image.swapaxes(0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.rot90(image, k=1)
    return image


def read_image(path: str | os.PathLike) -> LoadedImage:
    """Decode one photo into float32 RGB ``(H, W, 3)`` in [0, 1] (see :class:`LoadedImage`).

    8- and 16-bit files, grey, grey+alpha, RGB and RGBA are accepted; the EXIF orientation is
    applied. Raises :class:`InputError` (one sentence naming the file) for anything unusable.
    """
    path = Path(path)
    data = _read_bytes(path)
    fmt, mode, orientation, pages = _pillow_check(path, data)
    try:
        raw = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        raw = None
    if raw is None or raw.size == 0 or raw.ndim not in (2, 3):
        if fmt is None:
            raise InputError(f"{path} is not an image file or is corrupt")
        raise InputError(f"{path} is a {fmt} file that cannot be decoded (corrupt or unsupported)")

    notes: list[str] = []
    if pages > 1:
        notes.append(f"{fmt or 'image'} file of {pages} frames: the first one is used")
    if raw.dtype == np.uint8:
        bit_depth, scale = 8, 255.0
    elif raw.dtype == np.uint16:
        bit_depth, scale = 16, 65535.0
    elif raw.dtype in (np.float32, np.float64):
        bit_depth, scale = 16, 1.0
        if not np.isfinite(raw).all():
            raise InputError(f"{path} contains NaN or infinite sample values")
        notes.append("floating-point image: values clipped to [0, 1], frames written as 16-bit")
    else:
        raise InputError(f"{path} has an unsupported sample type ({raw.dtype}); "
                         "use an 8- or 16-bit image")

    if raw.ndim == 2:
        raw = raw[..., None]
    channels = raw.shape[2]
    if channels in (2, 4):
        notes.append("alpha channel dropped")
        raw = raw[..., : channels - 1]
        channels -= 1
    grey = channels == 1 or mode in _GREY_MODES  # OpenCV decodes grey+alpha PNG as BGRA
    if grey:
        notes.append("greyscale image: frames are greyscale")
    if channels == 1:
        raw = np.repeat(raw, 3, axis=2)
    elif channels == 3:
        raw = raw[..., ::-1]  # BGR -> RGB
    else:
        raise InputError(f"{path} has {raw.shape[2]} channels; only grey, RGB and RGBA "
                         "images are supported")

    if orientation != 1 and fmt not in _DECODER_APPLIES_ORIENTATION:
        raw = _apply_orientation(raw, orientation)
        notes.append(f"EXIF orientation {orientation} applied")

    rgb = raw.astype(np.float32)
    if scale != 1.0:
        rgb /= np.float32(scale)
    else:
        np.clip(rgb, 0.0, 1.0, out=rgb)
    return LoadedImage(path=path, rgb=np.ascontiguousarray(rgb), bit_depth=bit_depth,
                       notes=tuple(notes), grey=grey)


# ------------------------------------------------------------------------------- inputs


def collect_inputs(paths: Iterable[str | os.PathLike]) -> tuple[list[Path], list[str]]:
    """Expand command-line arguments into image files.

    A file is taken as is (even with an unknown suffix: :func:`read_image` judges it); a folder
    contributes its image files by suffix (:data:`IMAGE_SUFFIXES`, case-insensitive),
    non-recursively, sorted by name. Returns the files, de-duplicated (same resolved file) in
    first-seen order, and notes about what was skipped inside folders. Raises
    :class:`InputError` for a path that does not exist or a folder with no images.
    """
    files: list[Path] = []
    notes: list[str] = []
    seen: set[str] = set()

    def add(p: Path) -> None:
        key = os.path.normcase(os.path.realpath(p))
        if key not in seen:
            seen.add(key)
            files.append(p)

    for arg in paths:
        p = Path(arg)
        if not p.exists():
            if p.is_symlink():
                raise InputError(f"{p} is a broken symbolic link")
            raise InputError(f"{p} does not exist")
        if not p.is_dir():
            add(p)
            continue
        try:
            entries = sorted(p.iterdir(), key=lambda e: e.name)
        except PermissionError:
            raise InputError(f"cannot list folder {p}: permission denied") from None
        except OSError as exc:
            raise InputError(f"cannot list folder {p}: {_os_reason(exc)}") from None
        found = 0
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files (.DS_Store, our own .tmp files) are skipped silently
            if entry.is_dir():
                notes.append(f"skipped folder {entry} (folders are not searched recursively)")
            elif entry.suffix.lower() in IMAGE_SUFFIXES and entry.is_file():
                found += 1
                add(entry)
            else:
                notes.append(f"skipped {entry}: not an image file by its name")
        if not found:
            raise InputError(f"folder {p} contains no images ({', '.join(IMAGE_SUFFIXES)})")
    return files, notes


# ------------------------------------------------------------------------------- outputs


def _safe_stem(stem: str) -> str:
    """The last path component of ``stem``, never empty, '.', '..' or containing separators."""
    name = str(stem).replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    name = "".join("_" if ord(c) < 32 or c == "\x7f" else c for c in name)
    if name.strip() in ("", ".", ".."):
        return "image"
    return name


def _frame_format(fmt) -> str:
    value = str(getattr(fmt, "value", fmt)).lower().lstrip(".")
    value = "jpg" if value == "jpeg" else value
    if value not in FRAME_FORMATS:
        raise InputError(f"unknown frame format {fmt!r}; use png or jpg")
    return value


def frame_paths(outdir: str | os.PathLike, stem: str, fmt: str = "png",
                count: int = 7) -> list[Path]:
    """``outdir/<stem>_01.<fmt>`` ... ``_07`` (``count`` frames, temporal order).

    The stem is sanitised (directory parts stripped; empty, '.' and '..' become 'image') so
    the paths always lie directly in ``outdir``. ``fmt``: 'png' or 'jpg' (InputError else).
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    outdir, ext, name = Path(outdir), _frame_format(fmt), _safe_stem(stem)
    width = max(2, len(str(count)))
    return [outdir / f"{name}_{i:0{width}d}.{ext}" for i in range(1, count + 1)]


def sheet_path(outdir: str | os.PathLike, stem: str, fmt: str = "png") -> Path:
    """``outdir/<stem>_sheet.<fmt>``, with the same sanitising as :func:`frame_paths`."""
    return named_output(outdir, stem, f"sheet.{_frame_format(fmt)}")


def named_output(outdir: str | os.PathLike, stem: str, tail: str) -> Path:
    """``outdir/<stem>_<tail>`` with the stem sanitised like :func:`frame_paths`."""
    return Path(outdir) / f"{_safe_stem(stem)}_{tail}"


def check_outputs_free(paths: Iterable[str | os.PathLike], force: bool) -> None:
    """Refuse to clobber: OutputExistsError for the first existing path unless ``force``.

    A path that is an existing folder is refused even with ``force`` (OutputError).
    """
    for p in map(Path, paths):
        if p.is_dir():
            raise OutputError(f"{p} is a folder; cannot write an image over it")
        if not force and (p.exists() or p.is_symlink()):
            raise OutputExistsError(f"{p} already exists; use --force to overwrite it")


def check_not_inputs(paths: Iterable[str | os.PathLike],
                     inputs: Iterable[str | os.PathLike]) -> None:
    """Refuse to write over an input, even with --force: OutputError for the first output
    path that is one of ``inputs`` (the same file: the same path, a hard link to it, or a
    symbolic link to it)."""
    sources = {}
    for source in map(Path, inputs):
        try:
            st = source.stat()
        except OSError:
            continue
        sources.setdefault((st.st_dev, st.st_ino), source)
    for p in map(Path, paths):
        try:
            st = p.stat()
        except OSError:
            continue
        source = sources.get((st.st_dev, st.st_ino))
        if source is not None:
            same = "" if p == source else f" (the same file as the input {source})"
            raise OutputError(f"{p} is an input{same}; blurvid never writes over its input, "
                              "even with --force: choose another output")


@dataclass(frozen=True)
class FramePlan:
    """Where one input's frames (and optional contact sheet) go."""

    source: Path
    frames: list[Path]
    sheet: Path | None


def plan_frame_outputs(inputs: Iterable[str | os.PathLike], output: str | os.PathLike,
                       fmt: str = "png", sheet: bool = False,
                       force: bool = False) -> list[FramePlan]:
    """Plan every output of a batch before any work: ``output/<stem>_01..07.<fmt>`` (and
    ``<stem>_sheet.<fmt>``) per input. Refuses an ``output`` that is a file, two inputs that
    would write the same files (same stem), an output that is one of the inputs (even with
    ``force``) and, unless ``force``, any existing output."""
    inputs = list(map(Path, inputs))
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise InputError(f"output {output} exists and is not a folder")
    plans: list[FramePlan] = []
    owners: dict[Path, Path] = {}
    for source in inputs:
        frames = frame_paths(output, source.stem, fmt)
        target_sheet = sheet_path(output, source.stem, fmt) if sheet else None
        if frames[0] in owners:
            raise InputError(f"{source} and {owners[frames[0]]} would both write {frames[0]}; "
                             "rename one or process them separately")
        owners[frames[0]] = source
        targets = [*frames, *([target_sheet] if target_sheet else [])]
        check_not_inputs(targets, inputs)
        check_outputs_free(targets, force)
        plans.append(FramePlan(source, frames, target_sheet))
    if plans:
        check_writable(output)
    return plans


def check_writable(folder: str | os.PathLike, output: str | os.PathLike | None = None) -> None:
    """Fail before any work if files cannot be written into ``folder`` (:class:`OutputError`
    naming ``output``, the path the user gave: a file in ``folder`` or ``folder`` itself, its
    default; and the file system's reason: read-only file system, permission denied, ...),
    leaving nothing behind: a hidden temporary file is made and removed in ``folder``, or, for
    a folder still to be made, in its nearest existing ancestor."""
    folder = Path(folder)
    output = folder if output is None else Path(output)
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise OutputError(f"cannot write {output}: {probe} is not a folder")
    reason = _cannot_create_in(probe)
    if reason is None:
        return
    if probe != folder:
        raise OutputError(f"cannot write {output}: cannot create a folder in {probe}: {reason}")
    if output != folder:
        raise OutputError(f"cannot write {output}: cannot create files in {folder}: {reason}")
    raise OutputError(f"cannot write {folder}: {reason}")


def _cannot_create_in(folder: Path) -> str | None:
    """Why a file cannot be created in the existing ``folder`` (``strerror``), or None when
    one can (a hidden file is made and removed to find out)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        candidate = folder / f".blurvid-write-check.{secrets.token_hex(4)}"
        try:
            fd = os.open(candidate, flags, 0o600)
        except FileExistsError:
            continue
        except OSError as exc:
            return _os_reason(exc)
        os.close(fd)
        try:
            os.unlink(candidate)
        except OSError:
            pass
        return None
    return None  # a hundred names taken: the folder takes files


class NewFolders:
    """The folders among ``folders`` (and their ancestors) that do not exist yet, taken when
    made; :meth:`remove` removes again those the run made that are still empty, so that a
    failed or interrupted run leaves no empty folder behind. A folder that existed before, or
    that holds anything (a user's file), is never removed."""

    def __init__(self, folders: Iterable[str | os.PathLike]) -> None:
        missing: set[Path] = set()
        for folder in folders:
            probe = Path(folder)
            while not (probe.exists() or probe.is_symlink()) and probe.parent != probe:
                missing.add(probe)
                probe = probe.parent
        self.missing = sorted(missing, key=lambda p: len(p.parts), reverse=True)

    def remove(self) -> None:
        """Remove those that exist now and are empty, deepest first."""
        for made in self.missing:
            try:
                made.rmdir()  # only ever removes an empty folder
            except OSError:
                pass  # never made, removed already, or not empty


@contextmanager
def new_folders_removed_on_failure(*folders: str | os.PathLike) -> Iterator[None]:
    """The block's :class:`NewFolders` removed again if it raises (an error, Ctrl-C)."""
    new = NewFolders(folders)
    try:
        yield
    except BaseException:
        new.remove()
        raise


def fitted_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """``(width, height)`` scaled down so the long side is at most ``max_side`` (None or 0:
    unchanged)."""
    if not max_side or max(height, width) <= max_side:
        return width, height
    scale = max_side / max(height, width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def fit_max_side(rgb: np.ndarray, max_side: int | None) -> tuple[np.ndarray, str | None]:
    """``rgb`` (H, W, C) scaled down (area interpolation) to :func:`fitted_size`; returns the
    image and a note saying what was done (None if nothing)."""
    h, w = rgb.shape[:2]
    size = fitted_size(h, w, max_side)
    if size == (w, h):
        return rgb, None
    return (cv2.resize(rgb, size, interpolation=cv2.INTER_AREA),
            f"scaled from {w}x{h} to {size[0]}x{size[1]}")


def to_uint(rgb: np.ndarray, bit_depth: int = 8) -> np.ndarray:
    """Float values in [0, 1] (clipped; NaN -> 0) -> uint8 or uint16, rounded to nearest."""
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    arr = np.asarray(rgb)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"expected a float array with values in [0, 1], got {arr.dtype}")
    top = 255.0 if bit_depth == 8 else 65535.0
    scaled = np.nan_to_num(arr, nan=0.0, posinf=1.0, neginf=0.0).clip(0.0, 1.0) * top
    return np.rint(scaled).astype(np.uint8 if bit_depth == 8 else np.uint16)


def _encode(path: Path, rgb: np.ndarray, bit_depth: int, jpeg_quality: int) -> bytes:
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise OutputError(f"cannot write {path}: unsupported image format "
                          f"'{path.suffix}'; use .png or .jpg")
    ext, deep = _WRITE_FORMATS[suffix]
    arr = np.asarray(rgb)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)) or min(arr.shape[:2]) < 1:
        raise ValueError(f"expected an (H, W, 3) or (H, W) image, got shape {arr.shape}")
    depth = bit_depth if deep else 8
    if arr.dtype == np.uint8:
        pixels = arr  # already 8-bit: written as is
    elif arr.dtype == np.uint16:
        pixels = arr if depth == 16 else np.rint(arr / 257.0).astype(np.uint8)
    else:
        pixels = to_uint(arr, depth)
    if pixels.ndim == 3:
        pixels = np.ascontiguousarray(pixels[..., ::-1])  # RGB -> BGR
    params: list[int] = []
    if ext == ".jpg":
        if max(pixels.shape[:2]) > _JPEG_MAX_SIDE:
            raise OutputError(f"cannot write {path}: JPEG images are limited to "
                              f"{_JPEG_MAX_SIDE} pixels per side (this one is "
                              f"{pixels.shape[1]}x{pixels.shape[0]}); use png")
        params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)]
    elif ext == ".webp":
        params = [cv2.IMWRITE_WEBP_QUALITY, int(jpeg_quality)]
    try:
        ok, buf = cv2.imencode(ext, pixels, params)
    except cv2.error:
        ok, buf = False, None
    if not ok or buf is None:
        raise OutputError(f"cannot write {path}: the image could not be encoded as {ext[1:]}")
    return buf.tobytes()


def _fsync_dir(folder: Path) -> None:
    """Best effort: make the rename durable (not possible on every OS / file system)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_image(path: str | os.PathLike, rgb: np.ndarray, bit_depth: int = 8,
                jpeg_quality: int = 95) -> None:
    """Write float RGB ``(H, W, 3)`` or grey ``(H, W)`` in [0, 1] (clipped) atomically.

    The format follows the suffix (.png, .jpg/.jpeg, .tif/.tiff, .webp, .bmp); ``bit_depth``
    16 is honoured by PNG and TIFF only, the others are written with 8 bits. The parent folder
    is created if missing. The bytes go to a hidden ``.<name>.<random>.tmp`` file in the same
    folder, are fsynced and then renamed over ``path``; on any failure the temp file is removed
    and :class:`OutputError` is raised. An existing ``path`` is replaced (callers check first
    with :func:`check_outputs_free`).
    """
    write_images([path], [rgb], bit_depth, jpeg_quality)


def write_images(paths, images, bit_depth: int = 8, jpeg_quality: int = 95,
                 workers: int = 1) -> None:
    """Write several images as one unit: all of them, or none.

    Each image is encoded as it comes (``images`` may be an iterator, so at most ``workers +
    1`` decoded images are held at a time) and written to a hidden temporary file beside its
    target (fsynced); only when every file is on disk are they renamed into place. An encoding
    error, a full disk, a permission error or Ctrl-C before that removes the temporary files
    and leaves the targets untouched (and removes a folder it made, now empty), so an
    interrupted group never leaves some frames of a photo behind. ``workers`` > 1 encodes and
    writes that many images at once on threads (the encoders release the GIL) while the next
    image is made. Failures are :class:`OutputError` (bad arrays: ``ValueError``).
    """
    paths = [Path(p) for p in paths]
    if bit_depth not in (8, 16):
        raise ValueError(f"bit_depth must be 8 or 16, got {bit_depth}")
    if not 0 <= int(jpeg_quality) <= 100:
        raise ValueError(f"jpeg_quality must be in 0..100, got {jpeg_quality}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")

    made: list[Path] = []  # every temporary file, named before it is made

    def store(path: Path, image) -> Path:
        return _write_temp(path, _encode(path, image, bit_depth, jpeg_quality), made)

    new = NewFolders({p.parent for p in paths})
    temps: list[Path] = []
    committed: list[Path] = []
    pending: deque[Future] = deque()  # in path order
    pool = ThreadPoolExecutor(workers, thread_name_prefix="blurvid-write") if workers > 1 else None
    try:
        count = 0
        for image in images:
            if count == len(paths):
                raise ValueError(f"more images than the {len(paths)} paths")
            if pool is None:
                temps.append(store(paths[count], image))
            else:
                pending.append(pool.submit(store, paths[count], image))
                if len(pending) >= workers:  # bounds the images held
                    temps.append(pending.popleft().result())
            count += 1
            del image
        while pending:
            temps.append(pending.popleft().result())
        if len(temps) != len(paths):
            raise ValueError(f"{len(paths)} paths for {len(temps)} images")
        for tmp, path in zip(temps, paths):
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise OutputError(f"cannot write {path}: {_os_reason(exc)}") from None
            committed.append(path)
    except BaseException:
        for future in pending:  # let the writes in flight end, then remove what they wrote
            try:
                future.result()
            except BaseException:
                pass
        for leftover in made + committed:  # renamed temporary files are gone already
            try:
                leftover.unlink()
            except OSError:
                pass
        new.remove()
        raise
    finally:
        if pool is not None:
            pool.shutdown(wait=True)
    for parent in {p.parent for p in paths}:
        _fsync_dir(parent)


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a hidden temporary file beside it (fsynced,
    permissions from the umask), then a rename. :class:`OutputError` on failure, and nothing
    left behind."""
    path = Path(path)
    made: list[Path] = []
    try:
        os.replace(_write_temp(path, data, made), path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_os_reason(exc)}") from None
    finally:
        for tmp in made:  # gone when renamed; there after an error or Ctrl-C
            tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files (by suffix, :data:`IMAGE_SUFFIXES`) directly in ``folder``, hidden files
    skipped, sorted by name."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
                  and p.is_file())


def photos_in(folder: str | os.PathLike | None, option: str) -> list[Path]:
    """:func:`list_images` of ``folder`` (``~`` expanded), or an :class:`InputError` naming
    the command-line ``option`` when it is missing, not a folder, or has no images."""
    if folder is None:
        raise InputError(f"{option} is required")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InputError(f"{option} {folder}: not a folder")
    photos = list_images(path)
    if not photos:
        raise InputError(f"{option} {folder}: no photos ({', '.join(IMAGE_SUFFIXES)})")
    return photos


def _make_parent(path: Path) -> Path:
    """Create ``path``'s folder if missing (OutputError if it cannot be); return it."""
    parent = path.parent
    if parent.exists() and not parent.is_dir():
        raise OutputError(f"cannot write {path}: {parent} is not a folder")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: cannot create folder {parent}: "
                          f"{_os_reason(exc)}") from None
    return parent


@contextmanager
def atomic_output(path: str | os.PathLike) -> Iterator[Path]:
    """For writers that need a file name (encoders, ffmpeg): yields a hidden temporary path
    beside ``path`` with the same suffix; when the block ends without an error it is renamed
    to ``path`` (atomically), otherwise removed. The folder is created if missing (and removed
    again, if the block fails, when it is empty: :class:`NewFolders`); :class:`OutputError`
    when the rename fails."""
    path = Path(path)
    new = NewFolders([path.parent])
    try:
        parent = _make_parent(path)
        tmp = parent / f".{path.stem[:80]}.{secrets.token_hex(4)}.tmp{path.suffix}"
        try:
            yield tmp
            os.replace(tmp, path)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {_os_reason(exc)}") from None
        finally:
            tmp.unlink(missing_ok=True)
    except BaseException:
        new.remove()
        raise
    _fsync_dir(parent)


def _write_temp(path: Path, data: bytes, made: list[Path] | None = None) -> Path:
    """``data`` in a new hidden ``.<name>.<random>.tmp`` file beside ``path`` (fsynced).
    ``made``: the file's name is added to it before the file is created, so that a caller
    interrupted at any point (Ctrl-C between the creation and the return) knows every file
    to remove."""
    parent = _make_parent(path)

    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    tmp: Path | None = None
    try:
        for _ in range(100):
            candidate = parent / f".{path.name[:100]}.{secrets.token_hex(4)}.tmp"
            if made is not None:
                made.append(candidate)
            try:
                fd = os.open(candidate, flags, 0o666)  # 0o666 & ~umask, like a plain open()
            except FileExistsError:
                if made is not None:
                    made.remove(candidate)  # another's file
                continue
            tmp = candidate
            break
        else:
            raise FileExistsError("no free temporary file name")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        done, tmp = tmp, None
        return done
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {_os_reason(exc)}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def contact_sheet(images: list[np.ndarray], gap: int = 4) -> np.ndarray:
    """Images side by side, left to right, separated by ``gap`` white columns.

    ``images``: same height, float (white = 1.0) or one integer dtype (white = its maximum),
    each ``(H, W, 3)`` or grey ``(H, W)`` (replicated to 3 channels). Returns ``(H, sum(W) +
    gap * (n - 1), 3)`` in the images' common dtype.
    """
    if not images:
        raise ValueError("contact_sheet needs at least one image")
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    arrays = [np.asarray(im) for im in images]
    arrays = [np.repeat(a[..., None], 3, axis=2) if a.ndim == 2 else a for a in arrays]
    for a in arrays:
        if a.ndim != 3 or a.shape[2] != 3:
            raise ValueError(f"expected (H, W, 3) or (H, W) images, got shape {a.shape}")
    heights = {a.shape[0] for a in arrays}
    if len(heights) != 1:
        raise ValueError(f"images must have the same height, got {sorted(heights)}")
    dtypes = {a.dtype for a in arrays}
    if all(np.issubdtype(d, np.floating) for d in dtypes):
        dtype, white = np.result_type(*dtypes), 1.0
    elif len(dtypes) == 1 and np.issubdtype(next(iter(dtypes)), np.integer):
        dtype = next(iter(dtypes))
        white = np.iinfo(dtype).max
    else:
        raise TypeError(f"images must all be float or all share one integer dtype, "
                        f"got {sorted(str(d) for d in dtypes)}")
    height = arrays[0].shape[0]
    width = sum(a.shape[1] for a in arrays) + gap * (len(arrays) - 1)
    sheet = np.full((height, width, 3), white, dtype=dtype)
    x = 0
    for a in arrays:
        sheet[:, x : x + a.shape[1]] = a
        x += a.shape[1] + gap
    return sheet
