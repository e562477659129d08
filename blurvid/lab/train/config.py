"""Typed training configuration: dataclasses, YAML recipes (``train/*.yaml``), overrides.

A recipe is a YAML file with the sections below (any key may be left out: the defaults here
apply). ``--set section.key=value`` on the command line overrides one value (parsed as YAML,
so ``--set loss.alpha=0.001`` is a float and ``--set model.kwargs={width: 32}`` a mapping).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from blurvid.errors import InputError


@dataclass
class DataConfig:
    source: str = "synthetic"  # "synthetic" (rendered from `images`) or a dataset folder
    images: str | None = None  # training photos (synthetic)
    val_images: str | None = None  # held-out photos for the validation set
    crop: int = 128
    batch: int = 8
    val_samples: int = 48
    val_crop: int = 192
    blur_range: tuple[float, float] = (2.0, 40.0)  # synthesizer: blur length in pixels
    synth: str = "basic"  # "basic" (camera motion) or "realistic" (+ perspective, parallax
    # layers, moving objects, JPEG: blurvid.lab.data.synth.SynthConfig.realistic)
    objects: str | None = None  # folder of cut-outs with alpha (realistic synth's objects)
    synth_overrides: dict = field(default_factory=dict)  # SynthConfig fields for training only
    val_synth_overrides: dict = field(default_factory=dict)  # ... for the validation set only
    # (e.g. {p_sharp: 0.2}); the validation set keeps the mode's documented settings
    workers: int = 0  # spawned processes rendering synthetic batches (0: in the training process)
    reuse: int = 1  # steps per rendered batch (1..8): copy k > 0 is turned by a different
    # rotation/mirror (blurvid.ensemble.TRANSFORMS); for a GPU, where rendering is the bottleneck


@dataclass
class ModelConfig:
    arch: str = "fast"
    kwargs: dict = field(default_factory=dict)
    init: str | None = None  # start from these generator weights (a fine-tune; the
    # optimizer, schedule and step start fresh): a training checkpoint (.pt), an ONNX model
    # written by `blurvid export` (.onnx: its weights are read back), or a bundled model's name


@dataclass
class LossConfig:
    alpha: float = 0.0  # adversarial weight (paper: 0.001); 0 turns the GAN off
    beta: float = 0.0  # contiguous blurry loss weight (paper: 0.1); 0 turns CBL off
    cbl_spatial_weight: float = 0.1
    cbl_bandwidth: float = 0.5
    cbl_max_features: int = 1024
    disc_width: float = 1.0  # discriminator channel multiplier (1.0 = Table 2)


@dataclass
class OptimConfig:
    lr: float = 4e-4
    lr_min: float = 1e-6
    schedule: str = "cosine"  # "cosine" (with warm-up) or "plateau" (the paper: /10 on plateau)
    warmup: int = 200
    plateau_patience: int = 3  # validations without improvement before the drop
    plateau_factor: float = 0.1
    grad_clip: float = 1.0
    disc_lr: float = 1e-4


@dataclass
class TrainConfig:
    out: str = "runs/fast"
    steps: int = 10000  # total generator steps
    content_only_steps: int = 0  # stage 1 (content loss only); stage 2 adds GAN and CBL
    val_every: int = 1000
    seed: int = 0
    threads: int = 2
    device: str = "cpu"
    amp: str = "off"  # mixed precision: "off", "bf16" (CUDA or CPU) or "fp16" (CUDA, scaled)
    channels_last: bool = True  # NHWC memory layout on CUDA (faster convolutions)
    max_minutes: float = 0.0  # 0: no limit; else a time budget (summed over resumes): stop
    # (validated and saved) when it is spent, and the cosine schedule ends by then
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)


def _build(cls, values: dict, where: str):
    if not isinstance(values, dict):
        raise InputError(f"{where}: expected a mapping, got {type(values).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise InputError(f"{where}: unknown key(s) {', '.join(unknown)}; known: "
                         f"{', '.join(fields)}")
    kwargs = {}
    for name, value in values.items():
        sub = {DataConfig: DataConfig, ModelConfig: ModelConfig, LossConfig: LossConfig,
               OptimConfig: OptimConfig}.get(_section_type(cls, name))
        if sub is not None:
            kwargs[name] = _build(sub, value or {}, f"{where}.{name}")
        else:
            kwargs[name] = _coerce(value, fields[name].type, f"{where}.{name}")
    return cls(**kwargs)


def _coerce(value, annotation: str, where: str):
    """YAML values to the field's type (YAML 1.1 reads ``1e-3`` as a string, for one)."""
    try:
        if annotation == "float" and not isinstance(value, bool):
            return float(value)
        if annotation == "int" and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
    except (TypeError, ValueError):
        raise InputError(f"{where}: expected a number ({annotation}), got {value!r}") from None
    if annotation == "dict" and not isinstance(value, dict):
        raise InputError(f"{where}: expected a mapping, got {value!r}")
    if isinstance(value, list):
        return tuple(value)
    return value


def _section_type(cls, name: str):
    if cls is TrainConfig:
        return {"data": DataConfig, "model": ModelConfig, "loss": LossConfig,
                "optim": OptimConfig}.get(name)
    return None


def to_dict(cfg: TrainConfig) -> dict:
    return dataclasses.asdict(cfg)


def parse_override(text: str) -> tuple[list[str], object]:
    if "=" not in text:
        raise InputError(f"--set expects section.key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        raise InputError(f"--set {key}: cannot parse value {raw!r}") from None
    return key.strip().split("."), value


def load_config(path: str | Path | None = None, overrides: list[str] = (),
                **top_level) -> TrainConfig:
    """A :class:`TrainConfig` from a YAML recipe (or the defaults), ``--set`` overrides and
    keyword overrides of top-level or ``section__key`` values that are not None."""
    values: dict = {}
    if path is not None:
        path = Path(path)
        try:
            values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise InputError(f"config {path} does not exist") from None
        except (OSError, yaml.YAMLError) as exc:
            raise InputError(f"cannot read config {path}: "
                             f"{str(exc).splitlines()[0] if str(exc) else exc}") from None
    for text in overrides:
        keys, value = parse_override(text)
        node = values
        for k in keys[:-1]:
            node = node.setdefault(k, {})
            if not isinstance(node, dict):
                raise InputError(f"--set {text}: {k} is not a section")
        node[keys[-1]] = value
    for key, value in top_level.items():
        if value is None:
            continue
        if "__" in key:
            section, name = key.split("__", 1)
            values.setdefault(section, {})[name] = value
        else:
            values[key] = value
    return _build(TrainConfig, values, str(path) if path else "config")
