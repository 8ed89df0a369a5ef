"""The exact-path benchmark in its smoke mode, so it cannot rot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quick_exact_run_times_each_analysis_and_its_steps() -> None:
    out = subprocess.run([sys.executable, "-m", "bench.lsp_exact", "--quick", "--timeline", "1"],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("analysis 1: wall ")
    assert any("desired_and_notes" in line for line in lines)  # a step
    assert any(line.split()[-1] == "connect" for line in lines[1:-2])  # a connection
    assert [line.split(":")[0] for line in lines[-2:]] == ["wall", "cpu"]
