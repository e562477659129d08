"""Tests of blurvid.lab.export: ONNX Runtime vs PyTorch parity, metadata, checkpoints."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from blurvid.color import STANDARD  # noqa: E402
from blurvid.errors import InputError, ModelError, OutputExistsError  # noqa: E402
from blurvid.runtime import GeneratorSession  # noqa: E402
from blurvid.lab.export import (OPSET, export_checkpoint, export_model,  # noqa: E402
                                  load_checkpoint, verify_export)
from blurvid.lab.train.models import build_generator  # noqa: E402
from blurvid.lab.train.trainer import atomic_torch_save  # noqa: E402

SHAPES = [(1, 1, 37, 53), (1, 1, 5, 3), (2, 1, 37, 53), (2, 1, 1, 1), (1, 1, 16, 32)]


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here runs with one PyTorch thread."""


def _randomise(model, seed=0):
    """Non-trivial weights everywhere (the fast head starts at zero, paper's std is tiny).

    Scaled by fan-in so outputs stay of the order of a trained model's (about [0, 1]), which
    makes an absolute tolerance meaningful.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            fan_in = p[0].numel() if p.dim() > 1 else 1
            scale = 1.0 / fan_in**0.5 if p.dim() > 1 else 0.02
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return model.eval()


def _models():
    torch.manual_seed(0)
    return {
        "fast": _randomise(build_generator("fast", width=8, blocks=(1, 1, 2))),
        "paper": _randomise(build_generator("paper", num_blocks=2), seed=1),
        "fast-fine": _randomise(build_generator("fast", width=8, blocks=(1, 1, 2),
                                                fine_width=4), seed=2),
    }


MODELS = _models()


def _session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    paths = {}
    for arch, model in MODELS.items():
        paths[arch] = folder / f"{arch}.onnx"
        export_model(model, paths[arch], {"training": {"steps": 3}})
    return paths


@pytest.mark.parametrize("arch", ["fast", "paper", "fast-fine"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_parity_with_pytorch(exported, arch, shape):
    y = np.random.default_rng(7).random(shape, dtype=np.float32)
    with torch.no_grad():
        expected = MODELS[arch](torch.from_numpy(y)).numpy()
    got = _session(exported[arch]).run(["frames"], {"blurry_y": y})[0]
    assert got.shape == (shape[0], 7, shape[2], shape[3]) == expected.shape
    assert 0.01 < np.abs(expected).max() < 20  # realistic magnitudes for an absolute bound
    assert np.abs(got - expected).max() <= 1e-4
    # The comparison is meaningful: the output is not just the input repeated.
    assert np.abs(got - y).max() > 1e-3


def test_verify_export(exported):
    assert verify_export(MODELS["fast"], exported["fast"]) <= 1e-4


@pytest.mark.parametrize("arch", ["fast", "paper"])
def test_graph_signature_and_metadata(exported, arch):
    proto = onnx.load(str(exported[arch]))
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert [i.name for i in proto.graph.input] == ["blurry_y"]
    assert dims(proto.graph.input[0]) == ["N", 1, "H", "W"]
    assert [o.name for o in proto.graph.output] == ["frames"]
    assert dims(proto.graph.output[0]) == ["N", 7, "H", "W"]

    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["blurvid_format"] == "1"
    assert meta["arch"] == arch
    assert meta["frames"] == "7"
    assert meta["color_standard"] == STANDARD
    assert "N x 1 x H x W" in meta["input"]
    assert json.loads(meta["training"]) == {"steps": 3}
    for key in ("blurvid_version", "created", "opset"):
        assert meta[key]
    # The inference side accepts it.
    session = GeneratorSession(exported[arch], device="cpu", threads=1)
    assert session.metadata["arch"] == arch
    assert session.run(np.zeros((3, 4), np.float32)).shape == (7, 3, 4)


def test_export_model_returns_sha256(tmp_path):
    path = tmp_path / "m.onnx"
    digest = export_model(MODELS["fast"], path, {})
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_contract_metadata_cannot_be_overridden(tmp_path):
    path = tmp_path / "m.onnx"
    export_model(MODELS["fast"], path, {"frames": "9", "arch": "other", "created": "then"})
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert (meta["frames"], meta["arch"], meta["created"]) == ("7", "fast", "then")


def _save_checkpoint(path, arch, arch_kwargs, model, metrics=None):
    """The dict blurvid.lab.train.trainer writes, saved the way it saves it."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    atomic_torch_save({
        "arch": arch,
        "arch_kwargs": dict(arch_kwargs),
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "step": 42,
        "train_seconds": 12.5,
        "best_psnr": float("-inf"),
        "config": {"images": "/secret/photos", "arch": arch, "steps": 100, "batch": 8},
        "metrics": metrics or {},
        "torch": torch.__version__,
    }, path)


def test_checkpoint_round_trip(tmp_path):
    kwargs = {"width": 8, "blocks": (1, 1, 2)}
    ckpt = tmp_path / "best.pt"
    _save_checkpoint(ckpt, "fast", kwargs, MODELS["fast"], {"psnr_mean": 25.0})
    model, state = load_checkpoint(ckpt)
    assert state["step"] == 42 and not model.training
    x = torch.rand(1, 1, 19, 23)
    with torch.no_grad():
        assert torch.equal(model(x), MODELS["fast"](x))

    out = tmp_path / "out" / "model.onnx"
    summary = export_checkpoint(ckpt, out)
    assert out.is_file()
    assert summary["arch"] == "fast" and summary["opset"] == OPSET and summary["step"] == 42
    assert summary["params"] == sum(p.numel() for p in MODELS["fast"].parameters())
    assert summary["parity_max_abs_diff"] <= 1e-4
    assert len(summary["sha256"]) == 64
    meta = GeneratorSession(out, device="cpu", threads=1).metadata
    training = json.loads(meta["training"])
    assert training["steps"] == 42 and training["val"] == {"psnr_mean": 25.0}
    assert "/secret/photos" not in json.dumps(meta)  # no local paths in a shipped model
    assert json.loads(meta["arch_kwargs"]) == {"width": 8, "blocks": [1, 1, 2]}

    # Refuses to overwrite without force, and leaves the file alone.
    before = out.read_bytes()
    with pytest.raises(OutputExistsError, match="already exists"):
        export_checkpoint(ckpt, out)
    assert out.read_bytes() == before
    again = export_checkpoint(ckpt, out, force=True)
    assert again["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.onnx", "model.onnx.sha256"]
    assert (out.parent / "model.onnx.sha256").read_text() == f"{again['sha256']}  model.onnx\n"
    assert GeneratorSession(out, device="cpu", threads=1).checksum_verified


def test_export_checkpoint_needs_onnx_suffix(tmp_path):
    ckpt = tmp_path / "best.pt"
    _save_checkpoint(ckpt, "paper", {"num_blocks": 2}, MODELS["paper"])
    with pytest.raises(InputError, match=r"\.onnx"):
        export_checkpoint(ckpt, tmp_path / "model.bin")


def test_load_checkpoint_errors(tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(ModelError, match="not a file"):
        load_checkpoint(tmp_path)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"\x00\x01 this is not a checkpoint" * 10)
    with pytest.raises(ModelError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(garbage)
    text = tmp_path / "text.pt"
    text.write_text("hello\n")
    with pytest.raises(ModelError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(text)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ModelError, match="not a blurvid checkpoint"):
        load_checkpoint(other)
    wrong = tmp_path / "wrong.pt"
    _save_checkpoint(wrong, "fast", {"width": 16}, MODELS["fast"])  # weights are width 8
    with pytest.raises(ModelError, match="do not fit"):
        load_checkpoint(wrong)
    unknown = tmp_path / "unknown.pt"
    _save_checkpoint(unknown, "huge", {}, MODELS["fast"])
    with pytest.raises(ModelError, match="unknown architecture"):
        load_checkpoint(unknown)


def test_load_checkpoint_refuses_pickled_code(tmp_path):
    """weights_only=True: a checkpoint that pickles arbitrary objects is refused."""
    evil = tmp_path / "evil.pt"
    torch.save({"arch": "fast", "model": {}, "x": _Unsafe()}, evil)
    with pytest.raises(ModelError, match="not a readable PyTorch checkpoint"):
        load_checkpoint(evil)


class _Unsafe:
    pass
