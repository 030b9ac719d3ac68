"""After a SnapStart restore each container draws its own random numbers (tolov.wiring's restore hook)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A stand-in for the runtime's snapshot_restore_py: it keeps the hooks; the probe then plays a restore of
# a snapshot whose `random` state was fixed at init (seed 1) and prints the first number drawn after it.
FAKE_RUNTIME = (
    "hooks = []\n"
    "def register_after_restore(func, *args, **kwargs):\n"
    "    hooks.append((func, args, kwargs))\n"
    "    return func\n"
)
PROBE = (
    "import random, snapshot_restore_py, tolov.wiring\n"
    "random.seed(1)\n"
    "for func, args, kwargs in snapshot_restore_py.hooks: func(*args, **kwargs)\n"
    "print(len(snapshot_restore_py.hooks), random.random())\n"
)


def _restore(runtime: Path) -> tuple[str, str]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PYTHONPATH": f"{runtime}:{ROOT / 'layers' / 'common'}"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    hooks, number = result.stdout.split()
    return hooks, number


def test_two_restores_of_one_snapshot_draw_different_numbers(tmp_path: Path) -> None:
    (tmp_path / "snapshot_restore_py.py").write_text(FAKE_RUNTIME)
    first, second = _restore(tmp_path), _restore(tmp_path)
    assert first[0] == second[0] == "1"
    assert first[1] != second[1]


def test_without_the_runtime_hooks_wiring_imports_all_the_same() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import tolov.wiring"],
        env={"PYTHONPATH": str(ROOT / "layers" / "common")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
