"""Tests of blurvid.lab.export: ONNX Runtime vs PyTorch parity, metadata, checkpoints, and the
weights of an ONNX model read back into PyTorch."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from blurvid.color import STANDARD  # noqa: E402
from blurvid.errors import InputError, ModelError, OutputExistsError  # noqa: E402
from blurvid.runtime import GeneratorSession, bundled_model_path  # noqa: E402
from blurvid.lab.export import (OPSET, export_checkpoint, export_model,  # noqa: E402
                                load_checkpoint, load_generator, read_onnx_weights,
                                read_weights, verify_export)
from blurvid.lab.train.models import build_generator  # noqa: E402
from blurvid.lab.train.trainer import atomic_torch_save  # noqa: E402

SHAPES = [(1, 1, 37, 53), (1, 1, 5, 3), (2, 1, 37, 53), (2, 1, 1, 1), (1, 1, 16, 32)]


@pytest.fixture(autouse=True)
def _one_thread(torch_one_thread):
    """Every test here runs with one PyTorch thread."""


def _randomize(model, seed=0):
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


KWARGS = {"fast": {"width": 8, "blocks": (1, 1, 2)}, "paper": {"num_blocks": 2}}


def _models():
    torch.manual_seed(0)
    return {
        "fast": _randomize(build_generator("fast", **KWARGS["fast"])),
        "paper": _randomize(build_generator("paper", **KWARGS["paper"]), seed=1),
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
        export_model(model, paths[arch], {"training": {"steps": 3}, "arch_kwargs": KWARGS[arch]})
    return paths


@pytest.mark.parametrize("arch", ["fast", "paper"])
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


# ---------------------------------------------------------------- ONNX weights back to PyTorch
def _assert_same_state(got: dict, model: torch.nn.Module) -> None:
    want = model.state_dict()
    assert list(got) == list(want)
    for key, value in want.items():
        assert got[key].dtype == value.dtype and torch.equal(got[key], value), key


@pytest.mark.parametrize("arch", ["fast", "paper"])
def test_onnx_weights_round_trip(exported, arch):
    """export_model, then read_onnx_weights: the same state dict, bit for bit, and the same
    outputs (PyTorch exactly, ONNX Runtime within the export's tolerance)."""
    state = read_onnx_weights(exported[arch])
    assert state["arch"] == arch
    _assert_same_state(state["model"], MODELS[arch])
    model, _ = load_generator(exported[arch])
    assert not model.training
    y = torch.rand(2, 1, 37, 29)
    with torch.no_grad():
        assert torch.equal(model(y), MODELS[arch](y))
    assert verify_export(model, exported[arch]) <= 1e-4


def test_onnx_weights_round_trip_with_equal_weights(tmp_path):
    """A fresh paper generator has all-zero biases: the exporter keeps one copy of equal
    weights and names the others through Identity nodes; they are read back all the same."""
    torch.manual_seed(3)
    model = build_generator("paper", num_blocks=2).eval()
    path = tmp_path / "fresh.onnx"
    export_model(model, path, {"arch_kwargs": {"num_blocks": 2}})
    proto = onnx.load(str(path))
    assert len(proto.graph.initializer) < len(model.state_dict())  # some were merged
    _assert_same_state(read_onnx_weights(path)["model"], model)


def _rename_initializers(proto, names: dict) -> None:
    for init in proto.graph.initializer:
        init.name = names.get(init.name, init.name)
    for node in proto.graph.node:
        for i, name in enumerate(node.input):
            node.input[i] = names.get(name, name)


def test_onnx_weights_whose_names_were_lost_are_paired_by_order_and_shape(exported, tmp_path):
    proto = onnx.load(str(exported["fast"]))
    lost = [init.name for init in proto.graph.initializer][::3]  # every third, weights and biases
    _rename_initializers(proto, {name: f"onnx::Conv_{i}" for i, name in enumerate(lost)})
    renamed = tmp_path / "renamed.onnx"
    onnx.save(proto, str(renamed))
    assert not {i.name for i in proto.graph.initializer} & set(lost)
    _assert_same_state(read_onnx_weights(renamed)["model"], MODELS["fast"])
    # A graph whose unnamed weights do not fit the generator is refused, not guessed.
    assert proto.graph.initializer[0].name == "onnx::Conv_0"
    del proto.graph.initializer[0]  # one unnamed weight short
    broken = tmp_path / "broken.onnx"
    onnx.save(proto, str(broken))
    with pytest.raises(ModelError, match="cannot read its weights back"):
        read_onnx_weights(broken)


def test_read_onnx_weights_errors(exported, tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        read_onnx_weights(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00\x01 not a model" * 10)
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        read_onnx_weights(garbage)
    proto = onnx.load(str(exported["fast"]))
    del proto.metadata_props[:]
    anonymous = tmp_path / "anonymous.onnx"
    onnx.save(proto, str(anonymous))
    with pytest.raises(ModelError, match="no 'arch'"):
        read_onnx_weights(anonymous)
    onnx.helper.set_model_props(proto, {"arch": "fast", "arch_kwargs": '{"width": 16}'})
    wider = tmp_path / "wider.onnx"
    onnx.save(proto, str(wider))
    with pytest.raises(ModelError, match="do not fit.*stem.weight is float32 8x16x3x3 in the "
                                         "graph, float32 16x16x3x3"):
        read_onnx_weights(wider)


def test_read_weights_takes_a_checkpoint_or_an_onnx_model(exported, tmp_path):
    ckpt = tmp_path / "best.pt"
    _save_checkpoint(ckpt, "fast", {"width": 8, "blocks": (1, 1, 2)}, MODELS["fast"])
    from_ckpt, from_onnx = read_weights(ckpt), read_weights(exported["fast"])
    assert from_ckpt["step"] == 42 and "metadata" in from_onnx
    for state in (from_ckpt, from_onnx):
        _assert_same_state(state["model"], MODELS["fast"])
    model, state = load_generator(ckpt)
    assert state["step"] == 42 and not model.training


def test_the_bundled_model_read_back_matches_onnx_runtime():
    """The shipped weights, read from blurvid/models/blurvid-fast.onnx into the fast
    architecture, compute what ONNX Runtime computes from the file."""
    try:
        path = bundled_model_path("fast")
    except ModelError:
        pytest.skip("the bundled model is not installed")
    state = read_weights("fast")  # the bundled name
    assert state["arch"] == "fast"
    assert read_weights(path)["model"].keys() == state["model"].keys()
    model, _ = load_generator(Path(path))
    y = np.random.default_rng(0).random((1, 1, 64, 64), dtype=np.float32)
    with torch.no_grad():
        ours = model(torch.from_numpy(y)).numpy()
    theirs = _session(path).run(["frames"], {"blurry_y": y})[0]
    assert ours.shape == theirs.shape == (1, 7, 64, 64)
    assert np.abs(ours - theirs).max() < 1e-4
