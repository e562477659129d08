"""Inference with ONNX Runtime: one generator session, built once and reused.

This module needs only numpy and onnxruntime (never torch). A blurvid generator is an ONNX
graph with one input ``N x 1 x H x W`` (float32 luma in [0, 1]) and one output
``N x 7 x H x W`` (float32 luma of the 7 frames, not clipped); see
:mod:`blurvid.lab.export`, which writes them.

Devices: ``cpu``; ``cuda`` (an error, never a silent fallback to the CPU, when ONNX Runtime
has no working CUDA provider); ``auto`` (CUDA when ONNX Runtime offers it, else the CPU).
"""

from __future__ import annotations

import hashlib
import importlib.resources
from pathlib import Path

import numpy as np

from blurvid.io import write_bytes_atomic
from blurvid.errors import (DependencyError, InputError, ModelError, RuntimeUnavailableError,
                            first_line)

BUNDLED_MODEL = "blurvid-fast.onnx"
# Models shipped in blurvid/models, by the name --model accepts (docs/model-card.md).
BUNDLED_MODELS = {"fast": BUNDLED_MODEL, "fast-int8": "blurvid-fast-int8.onnx",
                  "paper": "blurvid-paper.onnx"}  # the seed paper's network: docs/model-card-paper.md
DEVICES = ("auto", "cpu", "cuda")
from blurvid.consistency import NUM_FRAMES  # noqa: E402  (re-exported)
CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"


def import_onnxruntime():
    """The ``onnxruntime`` module, or :class:`DependencyError` saying how to install it."""
    try:
        import onnxruntime
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == "onnxruntime":
            raise DependencyError("ONNX Runtime is not installed: run pip install 'blurvid[cpu]' "
                                  "(or 'blurvid[gpu]' for CUDA)") from None
        raise DependencyError(f"ONNX Runtime could not be imported ({first_line(exc)}): "
                              "reinstall it with pip install --force-reinstall 'blurvid[cpu]' "
                              "(or 'blurvid[gpu]' for CUDA)") from None
    return onnxruntime


def bundled_model_path(name: str = "fast") -> Path:
    """Path of a model shipped inside the package (``blurvid/models/``): ``fast`` (the
    default) or another name of :data:`BUNDLED_MODELS`."""
    if name not in BUNDLED_MODELS:
        raise InputError(f"unknown bundled model {name!r}; choose one of "
                         f"{', '.join(BUNDLED_MODELS)} or pass a .onnx file")
    filename = BUNDLED_MODELS[name]
    resource = importlib.resources.files("blurvid.models") / filename
    if not resource.is_file():
        raise ModelError(f"the bundled model {filename} is missing from this installation "
                         f"of blurvid ({resource}); reinstall blurvid or pass a model file "
                         "with --model")
    return Path(str(resource))


def resolve_model(model: str | Path | None) -> Path:
    """``None`` -> the default bundled model; a bundled name (``fast``, ``fast-int8``,
    ``paper``) -> its file, always, even when a file or folder of that name is in the working
    directory (write ``./paper`` for such a file); anything else is a path to a ``.onnx``
    file."""
    if model is None:
        return bundled_model_path()
    text = str(model)
    if text in BUNDLED_MODELS:
        return bundled_model_path(text)
    path = Path(text).expanduser()
    if path.exists():
        return path
    if not path.suffix and len(path.parts) == 1:  # a name, not a path: say what names exist
        raise InputError(f"no model file or bundled model named {text!r}; bundled models: "
                         f"{', '.join(BUNDLED_MODELS)}")
    return path


def providers_for(device: str) -> list[str]:
    """ONNX Runtime execution providers for ``device`` (``auto``, ``cpu`` or ``cuda``).

    ``cuda`` raises :class:`RuntimeUnavailableError` if ONNX Runtime has no CUDA provider;
    the CPU provider listed after it only takes the nodes CUDA cannot run.
    """
    if device not in DEVICES:
        raise InputError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if device == "cpu":
        return [CPU]
    ort = import_onnxruntime()
    available = ort.get_available_providers()
    if CUDA in available:
        return [CUDA, CPU]
    if device == "cuda":
        raise RuntimeUnavailableError(
            "CUDA was requested but ONNX Runtime has no CUDA provider here (available: "
            f"{', '.join(available)}); install 'blurvid[gpu]' (onnxruntime-gpu, without "
            "onnxruntime) on a machine with an NVIDIA GPU, or use --device cpu")
    return [CPU]


def _describe_io(args) -> str:
    parts = []
    for a in args:
        dims = ", ".join(str(d) if d not in (None, "") else "?" for d in (a.shape or []))
        parts.append(f"{a.name}: {a.type} [{dims}]")
    return "; ".join(parts) or "nothing"


def _is_symbolic(dim) -> bool:
    return dim is None or isinstance(dim, str)


def open_session(path: Path, device: str = "auto", threads: int | None = None):
    """``(session, checksum_verified, device, providers)``: an ONNX Runtime session on the
    ``.onnx`` file ``path`` (checked against its ``.sha256`` file when it has one) on
    ``device`` (``auto``, ``cpu``, ``cuda``) with ``threads`` intra-op threads (None or 0: ONNX
    Runtime's default); ``device`` in the result is what really runs (``cpu`` or ``cuda``),
    ``providers`` the active providers. The one place where blurvid builds inference sessions:
    the generator's and the motion-guided models'."""
    ort = import_onnxruntime()
    requested = providers_for(device)  # checks the device name
    _check_model_file(path)
    verified = verify_checksum(path)

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or 0
    options.log_severity_level = 3  # errors only: no provider chatter on stderr
    # ORT's worker threads spin-wait after each run by default, taking the cores that the
    # post-processing (projection, color) then runs on: 720p extract 0.223 s -> 0.202 s,
    # the generator itself not slower (docs/performance.md).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")

    def create(providers: list[str]):
        try:
            return ort.InferenceSession(str(path), sess_options=options, providers=providers)
        except Exception as exc:  # ORT raises InvalidProtobuf, InvalidGraph, Fail, ...
            return exc

    session = create(requested)
    cuda_failure = ""
    if isinstance(session, Exception) and CUDA in requested:
        # Tell a CUDA provider that fails to start apart from a bad model file.
        cuda_failure = f": {first_line(session)}"
        session = create([CPU])
    if isinstance(session, Exception):
        raise ModelError(f"{path} is not a valid ONNX model: {first_line(session)}")
    active = list(session.get_providers())
    if device == "cuda" and CUDA not in active:
        raise RuntimeUnavailableError(
            "CUDA was requested but ONNX Runtime could not start its CUDA provider "
            f"(active: {', '.join(active)}){cuda_failure}; check the CUDA and cuDNN "
            "libraries that onnxruntime-gpu needs, or use --device cpu")
    return session, verified, ("cuda" if CUDA in active else "cpu"), active


class GeneratorSession:
    """One ONNX Runtime session on a blurvid generator, built once, reused for every image.

    ``model_path``: a ``.onnx`` file (default: :func:`bundled_model_path`); ``device``:
    ``auto``, ``cpu`` or ``cuda``; ``threads``: ONNX Runtime intra-op threads (None or 0: ONNX
    Runtime's default).

    Attributes: ``model_path`` (Path), ``device`` (``cpu`` or ``cuda``, what really runs),
    ``providers`` (the active providers), ``metadata`` (the model's metadata_props),
    ``num_frames``.
    """

    def __init__(self, model_path: str | Path | None = None, device: str = "auto",
                 threads: int | None = None) -> None:
        if device not in DEVICES:
            raise InputError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int)
                                    or threads < 0):
            raise InputError(f"threads must be a whole number >= 0, got {threads!r}")
        self._ort = import_onnxruntime()
        path = resolve_model(model_path)
        session, self.checksum_verified, self.device, self.providers = open_session(
            path, device, threads)
        self._session = session
        self.model_path = path
        self.threads = threads
        self.metadata = dict(session.get_modelmeta().custom_metadata_map)
        self.num_frames = self._check_signature()
        self._input_name = session.get_inputs()[0].name
        self._output_name = session.get_outputs()[0].name

    def _check_signature(self) -> int:
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        ok = (
            len(inputs) == 1 and len(outputs) == 1
            and inputs[0].type == "tensor(float)" and outputs[0].type == "tensor(float)"
            and len(inputs[0].shape or []) == 4 and len(outputs[0].shape or []) == 4
            and inputs[0].shape[1] == 1
            and (outputs[0].shape[1] == NUM_FRAMES or _is_symbolic(outputs[0].shape[1]))
        )
        if not ok:
            raise ModelError(
                f"{self.model_path} is not a blurvid generator: expected input N x 1 x H x W and "
                f"output N x {NUM_FRAMES} x H x W (float32), got input {_describe_io(inputs)} "
                f"and output {_describe_io(outputs)}")
        return NUM_FRAMES

    def run(self, y: np.ndarray) -> np.ndarray:
        """Luma ``(H, W)`` or ``(N, 1, H, W)`` in [0, 1] -> frames ``(7, H, W)`` or
        ``(N, 7, H, W)``, float32, not clipped."""
        if not isinstance(y, np.ndarray):
            raise InputError(f"expected a numpy array of luma, got {type(y).__name__}")
        single = y.ndim == 2
        x = y[None, None] if single else y
        if x.ndim != 4 or x.shape[1] != 1 or min(x.shape) < 1:
            raise InputError(f"expected luma of shape (H, W) or (N, 1, H, W), got {y.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise InputError(f"expected float luma in [0, 1], got dtype {y.dtype}")
        x = np.ascontiguousarray(x, dtype=np.float32)
        try:
            out = self._session.run([self._output_name], {self._input_name: x})[0]
        except Exception as exc:  # out of memory, provider failure, ...
            raise RuntimeUnavailableError(
                f"ONNX Runtime failed to run {self.model_path.name} on a {x.shape[2]}x"
                f"{x.shape[3]} image ({self.device}): {first_line(exc)}") from None
        expected = (x.shape[0], self.num_frames, x.shape[2], x.shape[3])
        if out.shape != expected:
            raise ModelError(f"{self.model_path} returned shape {out.shape} for input {x.shape}; "
                             f"a blurvid generator returns {expected}")
        out = out.astype(np.float32, copy=False)
        return out[0] if single else out

    def describe(self) -> dict:
        """Facts for ``blurvid info``: model file, providers, ONNX Runtime version, metadata."""
        return {
            "model": str(self.model_path),
            "model_bytes": self.model_path.stat().st_size,
            "model_sha256": file_sha256(self.model_path),
            "checksum_verified": self.checksum_verified,
            "device": self.device,
            "providers_active": list(self.providers),
            "providers_available": list(self._ort.get_available_providers()),
            "onnxruntime": self._ort.__version__,
            "num_frames": self.num_frames,
            "input": _describe_io(self._session.get_inputs()),
            "output": _describe_io(self._session.get_outputs()),
            "metadata": dict(self.metadata),
        }


def checksum_path(model_path: Path) -> Path:
    """The checksum file that travels with a model: ``<model>.sha256`` (``sha256sum`` format)."""
    return model_path.with_name(model_path.name + ".sha256")


def write_checksum(model_path: Path, digest: str) -> None:
    """Write ``<model>.sha256`` (``sha256sum`` format) beside a model, atomically: the file
    :func:`verify_checksum` checks when the model is loaded."""

    write_bytes_atomic(checksum_path(model_path),
                       f"{digest}  {model_path.name}\n".encode("ascii"))


def verify_checksum(model_path: Path) -> bool:
    """Check ``model_path`` against its ``.sha256`` file if there is one (written by
    ``blurvid export`` and shipped with the bundled model). Returns whether a checksum was
    checked; raises :class:`ModelError` when it does not match (a corrupt or truncated file)."""
    sums = checksum_path(model_path)
    if not sums.is_file():
        return False
    try:
        expected = sums.read_text(encoding="ascii").split()[0].lower()
    except (OSError, UnicodeDecodeError, IndexError):
        raise ModelError(f"cannot read the checksum file {sums}") from None
    actual = file_sha256(model_path)
    if actual != expected:
        raise ModelError(f"{model_path} is corrupt: its sha256 is {actual[:12]}..., {sums.name} "
                         f"says {expected[:12]}...; reinstall blurvid or re-export the model")
    return True


def _check_model_file(path: Path) -> None:
    if not path.exists():
        raise ModelError(f"model file {path} does not exist")
    if not path.is_file():
        raise ModelError(f"model {path} is not a file")
    suffix = path.suffix.lower()
    if suffix in (".pt", ".pth", ".ckpt"):
        raise ModelError(f"{path} is a PyTorch checkpoint, not an ONNX model; convert it with "
                         f"'blurvid export {path} -o model.onnx'")
    if suffix != ".onnx":
        raise ModelError(f"{path} is not an ONNX model (expected a .onnx file)")


def file_sha256(path: Path) -> str:
    """The sha256 (hex) of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
