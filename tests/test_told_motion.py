"""experiments/told_motion.py: the told-motion network starts as the network it extends."""

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

from told_motion import LinearBatches, ToldMotionGenerator, displacement  # noqa: E402

from blurvid.lab.data.synth import SynthConfig  # noqa: E402
from blurvid.lab.train.models import FastGenerator  # noqa: E402


def test_starts_as_the_fast_generator_and_then_listens_to_the_motion():
    torch.manual_seed(0)
    base = FastGenerator(width=8, blocks=(1, 1, 1)).eval()
    told = ToldMotionGenerator(width=8, blocks=(1, 1, 1)).eval()
    result = told.load_state_dict(base.state_dict(), strict=False)
    assert not result.unexpected_keys
    assert sorted(result.missing_keys) == [f"motion.{i}.{p}" for i in range(3)
                                           for p in ("bias", "weight")]
    y = torch.rand(2, 1, 40, 36)  # not a multiple of 16: padded and cropped back
    motion = torch.tensor([[0.5, -0.2], [0.0, 0.9]])
    with torch.no_grad():
        assert torch.equal(told(y, motion), base(y))
        for layer in told.motion:
            torch.nn.init.normal_(layer.weight, std=0.1)
        out = told(y, motion)
    assert out.shape == (2, 7, 40, 36)
    assert not torch.allclose(out, base(y))


def test_batches_carry_the_displacement(tmp_path):
    y, x = np.mgrid[:120, :160]
    cv2.imwrite(str(tmp_path / "p.png"), np.stack([x % 256, y * 2 % 256, (x + y) % 256], -1)
                .astype(np.uint8))
    synth = SynthConfig(size=32, max_acceleration=0.0, max_shake_px=0.0, max_rotation_px=0.0,
                        max_zoom_px=0.0, p_sharp=0.0)
    blur, frames, motion = next(iter(LinearBatches(str(tmp_path), synth, batch=3, seed=1)))
    assert blur.shape == (3, 1, 32, 32) and frames.shape == (3, 7, 32, 32)
    assert motion.shape == (3, 2) and motion.dtype == torch.float32
    lengths = motion.norm(dim=1) * 40
    assert ((lengths > 1.9) & (lengths < 40.1)).all()  # straight paths: |end - start| = length
    assert np.allclose(displacement({"path": np.array([[0.0, 0.0], [40.0, -20.0]])}),
                       [1.0, -0.5])
