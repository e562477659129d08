"""Tests of blurvid.runtime (ONNX Runtime only, no torch) on tests/data/tiny-fast.onnx."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime")

import blurvid.runtime as rt  # noqa: E402
from blurvid.errors import (DependencyError, InputError, ModelError,  # noqa: E402
                            RuntimeUnavailableError)
from blurvid.runtime import GeneratorSession, import_onnxruntime, providers_for  # noqa: E402

TINY = Path(__file__).parent / "data" / "tiny-fast.onnx"
HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()
RNG = np.random.default_rng(5)


@pytest.fixture(scope="module")
def session():
    return GeneratorSession(TINY, device="cpu", threads=1)


def test_session_facts(session):
    assert session.model_path == TINY
    assert session.device == "cpu"
    assert session.providers == ["CPUExecutionProvider"]
    assert session.num_frames == 7
    assert session.metadata["blurvid_format"] == "1"
    assert session.metadata["arch"] == "fast"
    assert session.metadata["frames"] == "7"
    assert session.metadata["color_standard"] == "BT.601 full range (JPEG)"


@pytest.mark.parametrize("hw", [(37, 53), (5, 3), (1, 1), (16, 16), (17, 40)])
def test_run_single_image(session, hw):
    y = RNG.random(hw, dtype=np.float32)
    out = session.run(y)
    assert out.shape == (7, *hw) and out.dtype == np.float32
    assert np.isfinite(out).all()
    # The fixture's head is non-zero: the frames differ from the input, but not wildly.
    assert 1e-3 < np.abs(out - y).max() < 5


def test_run_batch_matches_single(session):
    ys = RNG.random((3, 1, 21, 34), dtype=np.float32)
    out = session.run(ys)
    assert out.shape == (3, 7, 21, 34) and out.dtype == np.float32
    for y, frames in zip(ys, out):
        np.testing.assert_allclose(session.run(y[0]), frames, atol=1e-5)
    assert not np.allclose(out[0], out[1])


def test_run_converts_float64_and_non_contiguous(session):
    y = RNG.random((20, 30))
    np.testing.assert_allclose(session.run(y.T), session.run(np.ascontiguousarray(y.T, np.float32)),
                               atol=1e-6)
    assert session.run(y).dtype == np.float32


def test_output_not_clipped(session):
    out = session.run(np.ones((32, 32), np.float32))
    assert out.max() > 1.0 or out.min() < 0.0


@pytest.mark.parametrize("shape", [(3, 4, 5), (1, 3, 8, 8), (8,), (0, 5), (2, 1, 0, 4)])
def test_run_rejects_bad_shapes(session, shape):
    with pytest.raises(InputError, match="expected luma"):
        session.run(np.zeros(shape, np.float32))


def test_run_rejects_non_float(session):
    with pytest.raises(InputError, match="float"):
        session.run(np.zeros((8, 8), np.uint8))
    with pytest.raises(InputError, match="numpy array"):
        session.run([[0.5]])


def test_describe(session):
    facts = session.describe()
    assert facts["model"] == str(TINY)
    assert facts["device"] == "cpu"
    assert facts["providers_active"] == ["CPUExecutionProvider"]
    assert "CPUExecutionProvider" in facts["providers_available"]
    assert facts["onnxruntime"] == ort.__version__
    assert facts["metadata"]["arch"] == "fast"
    assert len(facts["model_sha256"]) == 64


def test_providers_for():
    assert providers_for("cpu") == ["CPUExecutionProvider"]
    assert providers_for("auto")[-1] == "CPUExecutionProvider"
    for bad in ("gpu", "CUDA", "", "cuda:0"):
        with pytest.raises(InputError, match="unknown device"):
            providers_for(bad)
    with pytest.raises(InputError, match="unknown device"):
        GeneratorSession(TINY, device="tpu")


@pytest.mark.parametrize("threads", [-1, 1.5, "2", True])
def test_bad_threads(threads):
    with pytest.raises(InputError, match="threads"):
        GeneratorSession(TINY, device="cpu", threads=threads)


def test_threads_zero_is_default():
    assert GeneratorSession(TINY, device="cpu", threads=0).run(np.zeros((4, 4), np.float32)).shape \
        == (7, 4, 4)


@pytest.mark.skipif(HAS_CUDA, reason="ONNX Runtime has a CUDA provider here")
def test_cuda_unavailable_is_an_error():
    with pytest.raises(RuntimeUnavailableError, match="CUDA was requested"):
        providers_for("cuda")
    with pytest.raises(RuntimeUnavailableError, match="CUDA was requested"):
        GeneratorSession(TINY, device="cuda")
    auto = GeneratorSession(TINY, device="auto")
    assert auto.device == "cpu" and auto.providers == ["CPUExecutionProvider"]


@pytest.mark.skipif(HAS_CUDA, reason="ONNX Runtime has a CUDA provider here")
@pytest.mark.filterwarnings("ignore:Specified provider 'CUDAExecutionProvider':UserWarning")
def test_cuda_listed_but_not_active_is_an_error(monkeypatch):
    """ORT falls back to the CPU when CUDA fails to start; blurvid must not, for --device cuda."""
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert providers_for("cuda") == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(RuntimeUnavailableError, match="could not start its CUDA provider"):
        GeneratorSession(TINY, device="cuda")
    assert GeneratorSession(TINY, device="auto").device == "cpu"  # auto may fall back


def test_cuda_provider_that_fails_to_start(monkeypatch, tmp_path):
    """onnxruntime-gpu without its CUDA libraries: an error for cuda, the CPU for auto."""
    real = ort.InferenceSession

    def session(path, sess_options=None, providers=None):
        if "CUDAExecutionProvider" in providers:
            raise RuntimeError("libcudnn.so.9: cannot open shared object file\nmore details")
        return real(path, sess_options=sess_options, providers=providers)

    monkeypatch.setattr(ort, "InferenceSession", session)
    monkeypatch.setattr(ort, "get_available_providers",
                        lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    with pytest.raises(RuntimeUnavailableError, match="could not start its CUDA provider.*libcudnn"):
        GeneratorSession(TINY, device="cuda")
    assert GeneratorSession(TINY, device="auto").device == "cpu"
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"garbage")
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        GeneratorSession(bad, device="cuda")


@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA provider in ONNX Runtime here")
def test_cuda_session():
    session = GeneratorSession(TINY, device="cuda")
    assert session.device == "cuda" and session.providers[0] == "CUDAExecutionProvider"
    y = RNG.random((37, 53), dtype=np.float32)
    cpu = GeneratorSession(TINY, device="cpu").run(y)
    np.testing.assert_allclose(session.run(y), cpu, atol=1e-3)


def test_missing_and_wrong_files(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        GeneratorSession(tmp_path / "nope.onnx", device="cpu")
    folder = tmp_path / "dir.onnx"
    folder.mkdir()
    with pytest.raises(ModelError, match="not a file"):
        GeneratorSession(folder, device="cpu")
    text = tmp_path / "x.onnx"
    text.write_text("this is not a model\n")
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        GeneratorSession(text, device="cpu")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(TINY.read_bytes()[: TINY.stat().st_size // 2])
    with pytest.raises(ModelError, match="not a valid ONNX model"):
        GeneratorSession(corrupt, device="cpu")
    ckpt = tmp_path / "best.pt"
    ckpt.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(ModelError, match="blurvid export"):
        GeneratorSession(ckpt, device="cpu")
    other = tmp_path / "model.bin"
    other.write_bytes(TINY.read_bytes())
    with pytest.raises(ModelError, match=r"\.onnx"):
        GeneratorSession(other, device="cpu")


def test_error_messages_are_one_line(tmp_path):
    bad = tmp_path / "x.onnx"
    bad.write_bytes(b"\x08\x07garbage" * 100)
    with pytest.raises(ModelError) as info:
        GeneratorSession(bad, device="cpu")
    assert "\n" not in str(info.value) and str(bad) in str(info.value)


def _graph(path, in_shape, out_shape, n_inputs=1, elem=None):
    """A one-node ONNX model (a Conv from C_in to C_out channels) with the given signature."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    elem = elem if elem is not None else TensorProto.FLOAT
    c_in, c_out = in_shape[1], out_shape[1]
    kernel = (1,) * (len(in_shape) - 2)
    weight = numpy_helper.from_array(np.ones((c_out, c_in, *kernel), np.float32), "w")
    inputs = [helper.make_tensor_value_info(f"x{i}", elem, in_shape) for i in range(n_inputs)]
    node = helper.make_node("Conv", ["x0", "w"], ["y"])
    nodes = [node]
    if elem != TensorProto.FLOAT:
        nodes = [helper.make_node("Cast", ["x0"], ["xf"], to=TensorProto.FLOAT),
                 helper.make_node("Conv", ["xf", "w"], ["yf"]),
                 helper.make_node("Cast", ["yf"], ["y"], to=elem)]
    graph = helper.make_graph(nodes, "g", inputs,
                              [helper.make_tensor_value_info("y", elem, out_shape)], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("in_shape,out_shape,n_inputs", [
    (["N", 3, "H", "W"], ["N", 7, "H", "W"], 1),  # RGB in
    (["N", 1, "H", "W"], ["N", 5, "H", "W"], 1),  # 5 frames out
    ([1, 1, 8], [1, 7, 8], 1),  # rank 3
    (["N", 1, "H", "W"], ["N", 7, "H", "W"], 2),  # two inputs
])
def test_wrong_signature(tmp_path, in_shape, out_shape, n_inputs):
    path = _graph(tmp_path / "wrong.onnx", in_shape, out_shape, n_inputs)
    with pytest.raises(ModelError, match="is not a blurvid generator: expected input N x 1 x H x W"):
        GeneratorSession(path, device="cpu")


def test_wrong_dtype(tmp_path):
    TensorProto = pytest.importorskip("onnx").TensorProto

    path = _graph(tmp_path / "double.onnx", ["N", 1, "H", "W"], ["N", 7, "H", "W"],
                  elem=TensorProto.DOUBLE)
    with pytest.raises(ModelError, match="not a blurvid generator"):
        GeneratorSession(path, device="cpu")


def test_right_signature_from_helper(tmp_path):
    """The helper's graphs are valid: the same graph with the right signature is accepted."""
    path = _graph(tmp_path / "ok.onnx", ["N", 1, "H", "W"], ["N", 7, "H", "W"])
    session = GeneratorSession(path, device="cpu")
    np.testing.assert_allclose(session.run(np.full((3, 2), 0.25, np.float32)), 0.25)


def test_onnxruntime_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(DependencyError, match=r"pip install 'blurvid\[cpu\]'"):
        import_onnxruntime()
    with pytest.raises(DependencyError, match="ONNX Runtime is not installed"):
        GeneratorSession(TINY, device="cpu")
    with pytest.raises(DependencyError):
        providers_for("auto")
    assert providers_for("cpu") == ["CPUExecutionProvider"]  # needs no runtime to answer


def test_bundled_model_path():
    try:
        path = rt.bundled_model_path()
    except ModelError as exc:
        assert "bundled model blurvid-fast.onnx is missing" in str(exc)
    else:
        assert path.is_file() and path.name == "blurvid-fast.onnx"


def test_bundled_model_missing(monkeypatch, tmp_path):
    import importlib.resources

    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path)
    with pytest.raises(ModelError, match="bundled model"):
        rt.bundled_model_path()
    with pytest.raises(ModelError, match="bundled model"):
        GeneratorSession(None, device="cpu")


def test_runtime_does_not_import_torch():
    code = ("import sys, numpy as np; from blurvid.runtime import GeneratorSession; "
            f"GeneratorSession({str(TINY)!r}, device='cpu', threads=1).run(np.zeros((4, 4), "
            "np.float32)); bad = [m for m in ('torch', 'blurvid.lab.train') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_checksum_file_is_verified(tmp_path):
    import hashlib
    import shutil

    model = tmp_path / "m.onnx"
    shutil.copy(TINY, model)
    assert GeneratorSession(model, device="cpu").checksum_verified is False  # none to check
    digest = hashlib.sha256(model.read_bytes()).hexdigest()
    (tmp_path / "m.onnx.sha256").write_text(f"{digest}  m.onnx\n")
    assert GeneratorSession(model, device="cpu").checksum_verified is True
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt: its sha256"):
        GeneratorSession(model, device="cpu")


def test_bundled_models_by_name(tmp_path, monkeypatch):
    from blurvid.runtime import BUNDLED_MODELS, bundled_model_path, resolve_model

    assert resolve_model(None) == bundled_model_path() == resolve_model("fast")
    assert bundled_model_path().name == BUNDLED_MODELS["fast"]
    with pytest.raises(InputError, match="unknown bundled model 'nope'.*fast-int8"):
        bundled_model_path("nope")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fast").write_bytes(b"")  # a file of that name does not shadow the model
    (tmp_path / "paper").mkdir()  # nor a folder (e.g. an earlier run's output, -o paper/)
    assert resolve_model("fast") == bundled_model_path("fast")
    assert resolve_model("paper") == bundled_model_path("paper")
    assert resolve_model("./fast") == Path("fast")  # a path reaches the file
    assert resolve_model("~/m.onnx") == Path.home() / "m.onnx"
    with pytest.raises(InputError, match="no model file or bundled model named 'fastt'.*fast-int8"):
        resolve_model("fastt")


def test_every_bundled_model_loads_checksummed_and_names_its_architecture():
    from blurvid.runtime import BUNDLED_MODELS, bundled_model_path

    import cv2

    y = cv2.GaussianBlur(np.random.default_rng(0).random((24, 40), dtype=np.float32), (0, 0), 2)
    y = (y - y.min()) / (y.max() - y.min())  # smooth, like a photo's luma, in [0, 1]
    arches = {}
    for name in BUNDLED_MODELS:
        session = GeneratorSession(bundled_model_path(name), device="cpu", threads=1)
        assert session.checksum_verified is True, name
        frames = session.run(y)
        assert frames.shape == (7, 24, 40) and np.isfinite(frames).all(), name
        # each a trained model: the frames average back to about the input
        assert np.abs(frames.mean(0) - y).mean() < 0.05, name
        arches[name] = session.metadata.get("arch")
    assert arches == {"fast": "fast", "fast-int8": "fast", "paper": "paper"}
