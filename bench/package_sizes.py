"""Deployment package sizes: every function's code and the common layer, as `sam build` makes them.

    python bench/package_sizes.py [--build-dir DIR]

Runs `.venv/bin/sam build` (no Docker: the layer is built by layers/common/Makefile) into a temporary
folder, or measures a build already made with --build-dir, and prints each artefact's size unzipped (the
sum of its files, what Lambda's 250 MB limit counts, functions and layers together) and zipped (deflate,
as `sam deploy` uploads it), its file count and how many of its modules carry compiled bytecode, and the
layer's largest top-level packages.
"""

import argparse
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAM = ROOT / ".venv" / "bin" / "sam"
LAYER = "CommonLayer"
KIB = 1024


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--build-dir", type=Path, help="measure this sam build output instead of building")
    return parser.parse_args()


def build(into: Path) -> float:
    env = {
        **os.environ,
        "PATH": f"{SAM.parent}{os.pathsep}{os.environ.get('PATH', '')}",  # sam looks for python3.13 there
        "SAM_CLI_TELEMETRY": "0",
    }
    command = [str(SAM), "build", "--build-dir", str(into / "build"), "--cache-dir", str(into / "cache")]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"sam build failed:\n{result.stdout}\n{result.stderr}")
    return time.monotonic() - started


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def zipped_size(folder: Path) -> int:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files(folder):
            archive.write(path, path.relative_to(folder))
    return buffer.tell()


def compiled(folder: Path) -> tuple[int, int]:
    """(modules with a .pyc in __pycache__, modules)."""
    sources = [p for p in files(folder) if p.suffix == ".py"]
    with_pyc = sum(1 for p in sources if list((p.parent / "__pycache__").glob(f"{p.stem}.*.pyc")))
    return with_pyc, len(sources)


def measure(folder: Path) -> tuple[int, int, int, tuple[int, int]]:
    found = files(folder)
    return sum(p.stat().st_size for p in found), zipped_size(folder), len(found), compiled(folder)


def largest_packages(layer: Path, top: int = 12) -> list[tuple[str, int]]:
    sizes: Counter[str] = Counter()
    for path in files(layer):
        sizes[path.relative_to(layer).parts[0]] += path.stat().st_size
    return sizes.most_common(top)


def main() -> int:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="tolov-package-sizes-") as temporary:
        if args.build_dir:
            built, took = args.build_dir, None
        else:
            took = build(Path(temporary))
            built = Path(temporary) / "build"
        artefacts = sorted(p for p in built.iterdir() if p.is_dir())
        rows = [(p.name, *measure(p / "python" if p.name == LAYER else p)) for p in artefacts]
        layer = built / LAYER / "python"
        packages = largest_packages(layer) if layer.is_dir() else []
    how = f"sam build in {took:.0f} s" if took is not None else f"the build in {built}"
    print(f"Deployment packages: {how}; {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print()
    print(f"{'artefact':<30} {'unzipped KiB':>12} {'zipped KiB':>11} {'files':>6} {'.pyc / .py':>11}")
    print("-" * 74)
    for name, unzipped, zipped, count, (with_pyc, modules) in rows:
        sizes = f"{unzipped / KIB:12,.1f} {zipped / KIB:11,.1f}"
        print(f"{name:<30} {sizes} {count:6d} {with_pyc:>5}/{modules:<5}")
    if packages:
        print()
        print(f"{LAYER}/python, largest top-level entries (unzipped KiB):")
        for name, size in packages:
            print(f"  {name:<40} {size / KIB:9,.1f}")
    print()
    print("unzipped: the sum of the files' sizes (Lambda: 250 MB for a function with its layers);")
    print("zipped: deflate, as sam deploy uploads it. botocore and boto3: the runtime's, not in the layer.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
