"""Export a trained generator to ONNX (training side: needs torch and onnx).

The exported graph is the inference contract of :mod:`blurvid.runtime`:

* input  ``blurry_y``: float32 ``N x 1 x H x W``, luma (Y, BT.601 full range) of the blurry
  photo in [0, 1]; ``N``, ``H`` and ``W`` are dynamic, any ``H, W >= 1``;
* output ``frames``:   float32 ``N x 7 x H x W``, luma of the 7 sharp frames in temporal order,
  not clipped.

The graph is written with the TorchScript ("legacy") exporter, ``dynamo=False``, at the pinned
:data:`OPSET`: it traces the size arithmetic of the ``fast`` generator (replicate-pad to a
multiple of 16, crop back) as graph ops, so H and W stay dynamic, and it emits opset 17
directly, whereas the torch.export-based exporter builds opset 18 and cannot convert ``Pad``
down to 17. :func:`verify_export` checks ONNX Runtime against PyTorch at sizes other than the
trace size.

Metadata (ONNX ``metadata_props``, all strings, JSON for nested values) describes the model:
``blurvid_format``, ``arch``, ``arch_kwargs``, ``frames``, ``color_standard``, ``input``,
``training``, ``blurvid_version``, ``created`` and ``opset``.

The way back: :func:`read_onnx_weights` reads an exported generator's weights into a PyTorch
state dict (``arch`` and ``arch_kwargs`` say which generator to build), so a fine-tune starts
from a shipped ONNX model and a retrain adds one file to the repository, not two
(:func:`read_weights` takes a checkpoint or an ONNX model; ``model.init`` of the training
config uses it).
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import torch

from blurvid._version import __version__
from blurvid.color import STANDARD
from blurvid.consistency import NUM_FRAMES
from blurvid.errors import InputError, ModelError, OutputError, first_line
from blurvid.io import check_outputs_free, write_bytes_atomic
from blurvid.lab.train.models import ARCHES, build_generator
from blurvid.runtime import BUNDLED_MODELS, resolve_model, write_checksum

OPSET = 17
FORMAT = "1"
INPUT_NAME = "blurry_y"
OUTPUT_NAME = "frames"
TRACE_SHAPE = (1, 1, 37, 53)  # not a multiple of 16: the fast generator's pad path is traced
INPUT_CONTRACT = (
    f"{INPUT_NAME}: float32 N x 1 x H x W, luma Y ({STANDARD}) of the blurry photo in [0, 1], "
    f"any N, H, W >= 1; {OUTPUT_NAME}: float32 N x {NUM_FRAMES} x H x W, luma of the "
    f"{NUM_FRAMES} sharp frames in temporal order (forward or reversed), not clipped"
)
# Training settings worth shipping with a model (no local paths): flat keys of blurvid 0.1.0
# checkpoints, and the sections of the typed config (blurvid.lab.train.config) without paths.
_CONFIG_KEYS = ("arch", "steps", "content_only_steps", "batch", "crop", "lr", "lr_min", "warmup",
                "seed", "val_crop", "val_samples")
_CONFIG_SECTIONS = ("model", "loss", "optim")
_DATA_KEYS = ("crop", "batch", "val_samples", "val_crop", "blur_range")


def _prop_value(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def _load_error(exc: BaseException) -> str:
    """The informative line of a torch.load error (weights_only errors start with advice)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    if "WeightsUnpickler error:" in text:
        rest = text.split("WeightsUnpickler error:", 1)[1].strip()
        line = rest.splitlines()[0].split(". Please use", 1)[0] if rest else ""
        return f"{type(exc).__name__}: {line.strip()[:200]}"
    detail = first_line(Exception(text)) if text.strip() else ""
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _to_onnx_proto(model: torch.nn.Module, opset: int) -> onnx.ModelProto:
    """Trace ``model`` (CPU, eval) to an in-memory ONNX model with dynamic N, H, W."""
    dims = {0: "N", 2: "H", 3: "W"}
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter is deprecated in favor of dynamo; see the module docstring.
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        with torch.no_grad():
            torch.onnx.export(
                model,
                (torch.rand(*TRACE_SHAPE),),
                buffer,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: dims, OUTPUT_NAME: dims},
                opset_version=opset,
                do_constant_folding=True,
                dynamo=False,
            )
    return onnx.load_from_string(buffer.getvalue())


def export_model(model: torch.nn.Module, path: str | Path, metadata: dict | None = None,
                 opset: int = OPSET) -> str:
    """Export a generator to the ONNX file ``path`` (atomically) and return its sha256 (hex).

    ``metadata``: extra ``metadata_props`` (e.g. ``training``, ``arch_kwargs``, ``created``);
    non-string values are stored as JSON. The contract keys (``blurvid_format``, ``arch``,
    ``frames``, ``color_standard``, ``input``, ``opset``) cannot be overridden. The graph is
    checked with ``onnx.checker`` before anything is written. Overwrites ``path``: callers
    check for an existing file (see :func:`export_checkpoint`).
    """
    path = Path(path)
    arch = getattr(model, "arch", None)
    num_frames = int(getattr(model, "num_frames", NUM_FRAMES))
    if num_frames != NUM_FRAMES:
        raise ModelError(f"blurvid generators output {NUM_FRAMES} frames; this one outputs "
                         f"{num_frames}")
    probe = copy.deepcopy(model).cpu().float().eval()
    proto = _to_onnx_proto(probe, opset)

    # The channel dim of the output is a traced Slice; state it.
    out_dims = proto.graph.output[0].type.tensor_type.shape.dim
    out_dims[1].Clear()
    out_dims[1].dim_value = num_frames

    props = {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "blurvid_version": __version__,
        "training": {},
    }
    props.update(metadata or {})
    props.update({
        "blurvid_format": FORMAT,
        "arch": arch or "unknown",
        "frames": str(num_frames),
        "color_standard": STANDARD,
        "input": INPUT_CONTRACT,
        "opset": str(opset),
    })
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, {k: _prop_value(v) for k, v in props.items()})
    proto.doc_string = f"blurvid generator ({arch}): one blurry luma image in, {num_frames} " \
                       "sharp luma frames out"
    try:
        onnx.checker.check_model(proto, full_check=True)
    except Exception as exc:  # onnx raises ValidationError / InferenceError
        raise ModelError(f"the exported ONNX graph does not pass onnx.checker: "
                         f"{first_line(exc)}") from exc
    data = proto.SerializeToString()
    try:
        write_bytes_atomic(path, data)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return hashlib.sha256(data).hexdigest()


def _parity_if_possible(model, onnx_path) -> float | None:
    """:func:`verify_export` when ONNX Runtime is installed (optional in the lab: exporting
    needs only onnx), else None."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return None
    return verify_export(model, onnx_path)


def verify_export(model: torch.nn.Module, path: str | Path,
                  shapes=((1, 1, 37, 53), (2, 1, 5, 3), (1, 1, 64, 48)), seed: int = 0) -> float:
    """Max abs difference between ONNX Runtime (CPU) on ``path`` and PyTorch on ``model``.

    Runs on random inputs of each shape in ``shapes`` (chosen to differ from the trace size).
    Needs onnxruntime.
    """
    import onnxruntime as ort  # optional: only verifying needs ONNX Runtime

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    probe = copy.deepcopy(model).cpu().float().eval()
    rng = np.random.default_rng(seed)
    worst = 0.0
    for shape in shapes:
        y = rng.random(shape, dtype=np.float32)
        with torch.no_grad():
            expected = probe(torch.from_numpy(y)).numpy()
        got = session.run([OUTPUT_NAME], {INPUT_NAME: y})[0]
        if got.shape != expected.shape:
            raise ModelError(f"{path}: ONNX output shape {got.shape} != PyTorch {expected.shape} "
                             f"for input {shape}")
        worst = max(worst, float(np.abs(got - expected).max()))
    return worst


def read_checkpoint(path: str | Path) -> dict:
    """The dict saved in a checkpoint, loaded on the CPU with ``weights_only=True``.

    Raises :class:`ModelError` if the file is missing, unreadable or holds anything but a dict
    of tensors and plain values (pickled code is refused).
    """
    path = Path(path)
    if not path.exists():
        raise ModelError(f"checkpoint {path} does not exist")
    if not path.is_file():
        raise ModelError(f"checkpoint {path} is not a file")
    try:
        # Checkpoints of blurvid 0.1.0 stored torch.__version__ as a TorchVersion (a str
        # subclass) that weights_only does not allow by default; newer ones store a str.
        with torch.serialization.safe_globals([torch.torch_version.TorchVersion]):
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError, RuntimeError (bad zip), EOFError, ...
        raise ModelError(f"{path} is not a readable PyTorch checkpoint "
                         f"({_load_error(exc)})") from None
    if not isinstance(state, dict):
        raise ModelError(f"{path} is not a blurvid checkpoint: expected a dict, got "
                         f"{type(state).__name__}")
    return state


def _generator(path: Path, arch, arch_kwargs, weights: dict | None = None) -> torch.nn.Module:
    """The ``arch`` generator built with ``arch_kwargs``, with ``weights`` (a state dict) loaded
    if given, in eval mode on the CPU; :class:`ModelError` (naming ``path``) if they do not fit."""
    if arch not in ARCHES:
        raise ModelError(f"{path}: unknown architecture {arch!r} (known: {', '.join(ARCHES)})")
    if not isinstance(arch_kwargs, dict):
        raise ModelError(f"{path}: 'arch_kwargs' must be a dict, got {type(arch_kwargs).__name__}")
    arch_kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in arch_kwargs.items()}
    try:
        model = build_generator(arch, **arch_kwargs)
        if weights is not None:
            model.load_state_dict(weights)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ModelError(f"{path}: the weights do not fit a {arch!r} generator with "
                         f"{arch_kwargs}: {first_line(exc)}") from None
    return model.eval()


def load_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """Load a training checkpoint (as written by :mod:`blurvid.lab.train.trainer`).

    Returns ``(model, state)``: the generator in eval mode on the CPU and the checkpoint dict.
    Loads with ``weights_only=True`` (no arbitrary code from pickles). Raises
    :class:`ModelError` if the file is missing, unreadable or not a blurvid checkpoint.
    """
    path = Path(path)
    state = read_checkpoint(path)
    if "arch" not in state or "model" not in state:
        raise ModelError(f"{path} is not a blurvid checkpoint: expected a dict with 'arch' and "
                         "'model' (as written by blurvid.lab.train.trainer)")
    model = _generator(path, state["arch"], state.get("arch_kwargs") or {}, state["model"])
    return model, state


def _onnx_constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    """Every constant tensor of ``graph`` by name: the initializers, ``Constant`` nodes, and the
    outputs of ``Identity`` nodes over them. (The TorchScript exporter keeps one copy of
    weights that are equal, zero biases for one, and names the others through ``Identity``.)"""
    tensors = {init.name: onnx.numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:  # topologically sorted: an Identity's input is already known
        if node.op_type == "Identity" and node.input[0] in tensors:
            tensors[node.output[0]] = tensors[node.input[0]]
        elif node.op_type == "Constant":
            value = next((a for a in node.attribute if a.name == "value"), None)
            if value is not None:
                tensors[node.output[0]] = onnx.numpy_helper.to_array(value.t)
    return tensors


def _onnx_state_dict(path: Path, proto: onnx.ModelProto,
                     expected: dict[str, torch.Tensor]) -> tuple[dict, list[str]]:
    """The state dict of the generator whose fresh state is ``expected``, read from ``proto``;
    and the names that were found by order and shape rather than by name.

    :func:`export_model` keeps the parameter names (``stem.weight``, ...), so every weight is
    normally found by its name. If an exporter renamed some (``onnx::Conv_12``), the weights not
    found by name are paired, in order, with the float initializers not used by name whose
    shapes are among theirs: the counts and every shape must agree.
    """
    constants = _onnx_constants(proto.graph)
    state, by_order = {}, []
    for key, ref in expected.items():
        array = constants.get(key)
        if array is None:
            by_order.append(key)
        elif array.shape != tuple(ref.shape) or array.dtype != np.float32:
            shape = "x".join(map(str, array.shape)) or "scalar"
            raise ModelError(f"{path}: the weights do not fit the generator its metadata "
                             f"describes: {key} is {array.dtype} {shape} in the graph, "
                             f"float32 {'x'.join(map(str, ref.shape))} in the generator")
        else:
            state[key] = torch.from_numpy(array.copy())
    if by_order:
        shapes = {tuple(expected[k].shape) for k in by_order}
        rest = [onnx.numpy_helper.to_array(init) for init in proto.graph.initializer
                if init.name not in state and tuple(init.dims) in shapes
                and init.data_type == onnx.TensorProto.FLOAT]
        if len(rest) != len(by_order) or any(
                array.shape != tuple(expected[k].shape) for k, array in zip(by_order, rest)):
            raise ModelError(f"{path}: cannot read its weights back: {len(by_order)} weight(s) "
                             f"of the generator (e.g. {by_order[0]}) are not in the graph by "
                             f"name, and {len(rest)} unnamed weight(s) of those shapes are "
                             "(a quantized model, or not one written by blurvid export?)")
        state.update({k: torch.from_numpy(array.copy()) for k, array in zip(by_order, rest)})
    return {key: state[key] for key in expected}, by_order


def read_onnx_weights(path: str | Path) -> dict:
    """The weights of an ONNX generator written by :func:`export_model`, read back into
    PyTorch: ``{"arch", "arch_kwargs", "model"}`` (``model``: the state dict, float32 and equal
    to the exported one), the keys :func:`read_checkpoint` gives for a checkpoint, plus
    ``metadata`` (the model's ``metadata_props``).

    The generator is built from the ``arch`` and ``arch_kwargs`` metadata. Weights whose names
    were lost are paired by order and shape (see :func:`_onnx_state_dict`); then, where
    onnxruntime is installed, ONNX Runtime and the rebuilt generator must agree
    (:func:`verify_export`, max abs difference <= 1e-4). Raises :class:`ModelError` if the
    file is missing, unreadable, not a blurvid generator, or its weights do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"model {path} does not exist" if not path.exists()
                         else f"model {path} is not a file")
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # DecodeError, OSError, ...
        raise ModelError(f"{path} is not a readable ONNX model ({first_line(exc)})") from None
    metadata = {p.key: p.value for p in proto.metadata_props}
    if "arch" not in metadata:
        raise ModelError(f"{path} is not a blurvid generator: its metadata has no 'arch' (as "
                         "written by blurvid export)")
    try:
        arch_kwargs = json.loads(metadata.get("arch_kwargs") or "{}")
    except json.JSONDecodeError:
        raise ModelError(f"{path}: its 'arch_kwargs' metadata is not JSON: "
                         f"{metadata['arch_kwargs'][:80]!r}") from None
    # A fresh generator gives the names and shapes; its random init must not move the
    # caller's random state (the trainer seeds it once for all its initial weights).
    with torch.random.fork_rng(devices=[]):
        fresh = _generator(path, metadata["arch"], arch_kwargs)
    state, by_order = _onnx_state_dict(path, proto, fresh.state_dict())
    if by_order:
        worst = _parity_if_possible(_generator(path, metadata["arch"], arch_kwargs, state), path)
        if worst is not None and not worst <= 1e-4:
            raise ModelError(f"{path}: its weights, read back by order and shape, do not "
                             f"reproduce it (max abs diff {worst:.2e} > 1e-4)")
    return {"arch": metadata["arch"], "arch_kwargs": arch_kwargs, "model": state,
            "metadata": metadata}


def is_onnx_model(path: str | Path) -> bool:
    """Whether ``path`` names an ONNX model (a ``.onnx`` file or a bundled model's name, see
    :data:`blurvid.runtime.BUNDLED_MODELS`) rather than a training checkpoint."""
    return str(path) in BUNDLED_MODELS or Path(path).suffix.lower() == ".onnx"


def read_weights(path: str | Path) -> dict:
    """A generator's weights and what it is, from a training checkpoint (:func:`read_checkpoint`)
    or an ONNX model (a ``.onnx`` file or a bundled model's name: :func:`read_onnx_weights`).
    The dict has ``arch``, ``arch_kwargs`` and ``model`` (the state dict)."""
    if is_onnx_model(path):
        return read_onnx_weights(resolve_model(str(path)))
    return read_checkpoint(Path(path).expanduser())


def load_generator(path: str | Path) -> tuple[torch.nn.Module, dict]:
    """``(model, state)`` like :func:`load_checkpoint`, from a checkpoint or an ONNX model
    (see :func:`read_weights`)."""
    if not is_onnx_model(path):
        return load_checkpoint(Path(path).expanduser())
    state = read_weights(path)
    return _generator(Path(str(path)), state["arch"], state["arch_kwargs"], state["model"]), state


def training_summary(state: dict) -> dict:
    """What a model's ``training`` metadata says about its checkpoint (no local paths)."""
    config = state.get("config") or {}
    summary = {
        "steps": state.get("step"),
        "seconds": round(float(state.get("train_seconds") or 0.0), 1),
        "torch": state.get("torch"),
        "config": {k: config[k] for k in _CONFIG_KEYS if k in config},
    }
    summary["config"].update({k: config[k] for k in _CONFIG_SECTIONS if k in config})
    if isinstance(config.get("data"), dict):
        data = config["data"]
        summary["config"]["data"] = {k: data[k] for k in _DATA_KEYS if k in data}
        if data.get("source") == "synthetic" or data.get("source") is None:
            summary["config"]["data"]["source"] = "synthetic"
        else:
            summary["config"]["data"]["source"] = "dataset folder"
    if state.get("metrics"):
        summary["val"] = state["metrics"]
    return summary


def export_checkpoint(ckpt_path: str | Path, out_path: str | Path, force: bool = False,
                      verify: bool = True) -> dict:
    """Export a training checkpoint to an ONNX generator; return a summary dict.

    Refuses to overwrite an existing ``out_path`` unless ``force``
    (:class:`OutputExistsError`). Writes ``<out_path>.sha256`` beside it (``sha256sum``
    format), which :mod:`blurvid.runtime` verifies when it loads the model. With ``verify`` and onnxruntime installed, compares ONNX
    Runtime with PyTorch (:func:`verify_export`) and writes nothing if they disagree.
    Summary keys: ``path``, ``arch``, ``arch_kwargs``, ``params``, ``step``, ``opset``,
    ``bytes``, ``sha256`` and ``parity_max_abs_diff`` (None if not verified).
    """
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".onnx":
        raise InputError(f"the output {out_path} must end in .onnx")
    check_outputs_free([out_path], force)
    model, state = load_checkpoint(ckpt_path)
    try:
        out_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the folder {out_path.parent}: "
                          f"{exc.strerror or exc}") from exc
    metadata = {
        "arch_kwargs": state.get("arch_kwargs") or {},
        "training": training_summary(state),
        "params": sum(p.numel() for p in model.parameters()),
    }
    # Export next to the target, verify, then rename: a failed export never replaces a file.
    staging = out_path.with_name(f".{out_path.stem}.staging.onnx")
    try:
        digest = export_model(model, staging, metadata)
        parity = _parity_if_possible(model, staging) if verify else None
        if parity is not None and not parity <= 1e-3:
            raise ModelError(f"the exported model disagrees with PyTorch (max abs diff "
                             f"{parity:.2e} > 1e-3); {out_path} was not written")
        os.replace(staging, out_path)
        # The checksum travels with the model; blurvid.runtime checks it at load.
        write_checksum(out_path, digest)
    except OSError as exc:
        raise OutputError(f"cannot write {out_path}: {exc.strerror or exc}") from exc
    finally:
        staging.unlink(missing_ok=True)
    return {
        "path": str(out_path),
        "arch": model.arch,
        "arch_kwargs": state.get("arch_kwargs") or {},
        "params": metadata["params"],
        "step": state.get("step"),
        "opset": OPSET,
        "bytes": out_path.stat().st_size,
        "sha256": digest,
        "parity_max_abs_diff": parity,
    }
