"""The shape of the package: product and lab apart, no import circles, no torch on the
extract and interpolate paths, thin command modules."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "blurvid"
TINY = ROOT / "tests" / "data" / "tiny-fast.onnx"
# The CLI's user commands belong to the product; its lab commands load the lab when they run.
USER_CLI = {"blurvid.cli.common", "blurvid.cli.extract", "blurvid.cli.interpolate",
            "blurvid.cli.info", "blurvid.cli.video"}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_of(path: Path, name: str) -> set[str]:
    """Every blurvid module ``path`` imports, at module level or inside functions."""
    found = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    known = modules()
    return {m for m in found if m in known and m != name}


def is_lab(name: str) -> bool:
    return name == "blurvid.lab" or name.startswith("blurvid.lab.")


def is_product(name: str) -> bool:
    return not is_lab(name) and (not name.startswith("blurvid.cli") or name in USER_CLI)


def test_the_product_never_imports_the_lab():
    offenders = {name: sorted(filter(is_lab, imports_of(path, name)))
                 for name, path in modules().items() if is_product(name)}
    assert not {k: v for k, v in offenders.items() if v}


def test_no_import_circles():
    graph = {name: imports_of(path, name) for name, path in modules().items()}
    # a package's __init__ importing its own submodules is not a circle of concern
    graph = {n: {m for m in deps if not n.startswith(m + ".")} for n, deps in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node, stack):
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep, stack + [dep])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles


def test_command_modules_are_thin():
    for path in (PACKAGE / "cli").glob("*.py"):
        assert len(path.read_text().splitlines()) < 250, path.name


def test_the_frame_count_is_defined_once():
    defined = [p for p in PACKAGE.rglob("*.py") if "NUM_FRAMES = " in p.read_text()]
    assert [p.relative_to(ROOT).as_posix() for p in defined] == ["blurvid/consistency.py"]


def test_bench_layout_choices_are_the_readers():
    from blurvid.cli.bench import Layout
    from blurvid.lab.data.layouts import LAYOUTS

    assert [m.value for m in Layout] == ["auto", *LAYOUTS]


NO_TORCH = """
import sys
sys.modules['torch'] = None  # `import torch` now raises ImportError
from blurvid.cli import main
sys.argv = ['blurvid', *sys.argv[1:]]
try:
    main()
except SystemExit as exc:
    loaded = sorted(m for m in sys.modules if m.startswith('blurvid.lab'))
    print('LAB', loaded, file=sys.stderr)
    raise
"""


@pytest.mark.parametrize("command", [
    ["extract", "{photo}", "-o", "{out}/frames"],
    ["interpolate", "{photo}", "--levels", "2", "-o", "{out}/clip.gif", "--max-side", "48"],
    ["info", "--json"],
    ["video", "{video}", "-o", "{out}/slow.mp4", "--max-side", "64"],
])
def test_user_commands_run_without_torch_and_without_the_lab(tmp_path, command):
    import cv2
    import numpy as np

    photo = tmp_path / "photo.png"
    pixels = (np.random.default_rng(0).random((40, 56, 3)) * 255).astype("uint8")
    cv2.imwrite(str(photo), pixels)
    video = tmp_path / "clip.mp4"
    if command[0] == "video":
        import imageio_ffmpeg

        writer = imageio_ffmpeg.write_frames(str(video), (56, 40), fps=10,
                                             macro_block_size=1, ffmpeg_log_level="error")
        writer.send(None)
        for shift in range(3):
            writer.send(np.ascontiguousarray(np.roll(pixels[..., ::-1], 3 * shift, axis=1)))
        writer.close()
    args = [a.format(photo=photo, out=tmp_path, video=video) for a in command]
    if command[0] != "info":
        args += ["--model", str(TINY), "--device", "cpu", "--threads", "1"]
    out = subprocess.run([sys.executable, "-c", NO_TORCH, *args], capture_output=True,
                         text=True, timeout=300, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "LAB []" in out.stderr
