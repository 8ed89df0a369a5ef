"""The C allocator's calls (trimtab/allocator.py) reach glibc here, and cost no command
its start-up."""

from __future__ import annotations

import subprocess
import sys


def test_the_calls_reach_glibc_and_ctypes_loads_only_when_asked() -> None:
    run = subprocess.run([sys.executable, "-c",
                          "import sys; from trimtab import allocator; "
                          "print('ctypes' in sys.modules); "
                          "allocator.steady(); allocator.give_back(); "
                          "print(allocator._glibc() is not None)"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True"]  # Debian's C library is glibc
