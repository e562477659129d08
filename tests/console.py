"""The console script in a subprocess, as a terminal runs it (imported, not collected)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = "import sys; from blurvid.cli import main; sys.argv = ['blurvid', *sys.argv[1:]]; main()"
# A terminal's job takes Ctrl-C; a process started in the background by a non-interactive shell
# (a CI runner's `cmd &`) ignores SIGINT, its children inherit that, and Python then installs no
# KeyboardInterrupt handler: the interrupted runs restore it, as a terminal would have it.
INTERRUPTIBLE = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                 + SCRIPT)


def blurvid(*args, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    """``blurvid ARGS`` to the end: exit code, stdout and stderr (ffmpeg's too, if it spoke)."""
    return subprocess.run([sys.executable, "-c", SCRIPT, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def interrupted(*args, ready, cwd=None, timeout=120) -> subprocess.CompletedProcess:
    """``blurvid ARGS`` interrupted as Ctrl-C in a terminal does: SIGINT to its whole process
    group (blurvid and every child it did not move out of it), sent once ``ready()`` is true.
    AssertionError if the run ends first."""
    proc = subprocess.Popen([sys.executable, "-c", INTERRUPTIBLE, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            start_new_session=True)  # its own group, as a terminal's job
    try:
        deadline = time.monotonic() + timeout
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                if proc.poll() is None:
                    proc.kill()
                out, err = proc.communicate()
                raise AssertionError(f"the run ended before the interrupt: {err}")
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def temporary_files(folder: Path) -> list[Path]:
    """blurvid's hidden temporary files under ``folder``."""
    return [p for p in Path(folder).rglob(".*") if ".tmp" in p.name or "write-check" in p.name]
