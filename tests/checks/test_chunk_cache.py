"""bench/chunk_cache.c: what bench/cold_start.py preloads to measure an older 3.13 as the patched runtime.

It must do what CPython's own chunk cache (gh-142183) does, keep a freed data-stack chunk for the next call
instead of unmapping it, and nothing more: any other mapping is unmapped when its owner unmaps it.
"""

import subprocess
import sys
from pathlib import Path

import pytest

from bench.cold_start import CHURN_LIMIT, chunk_cache, data_stack_churn

pytestmark = pytest.mark.checks


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    built = chunk_cache(tmp_path_factory.mktemp("chunk-cache"))
    if built is None:
        pytest.skip("no C compiler: bench/cold_start.py measures the interpreter as it is")
    return built


def test_calls_across_a_chunk_boundary_fault_no_pages_with_the_cache(library: Path, tmp_path: Path) -> None:
    report = tmp_path / "reused"
    without = data_stack_churn({})
    with_cache = data_stack_churn({"LD_PRELOAD": str(library), "CHUNK_CACHE_REPORT": str(report)})

    assert with_cache <= CHURN_LIMIT
    if without > CHURN_LIMIT:  # this interpreter has no cache of its own: the library's did the work
        assert int(report.read_text()) > CHURN_LIMIT  # chunks handed out again, not mapped afresh
        assert with_cache < without / 10


def test_a_file_mapping_of_a_chunks_size_is_still_unmapped(library: Path, tmp_path: Path) -> None:
    data = tmp_path / "sixteen-kib.bin"
    data.write_bytes(b"x" * 16384)
    child = (
        "import mmap, sys\n"
        "with open(sys.argv[1], 'r+b') as f:\n"
        "    m = mmap.mmap(f.fileno(), 16384, flags=mmap.MAP_PRIVATE)\n"
        "    assert m[:1] == b'x'\n"
        "    m.close()\n"
        "maps = open('/proc/self/maps').read()\n"
        "print(sys.argv[1] in maps)\n"
    )
    result = subprocess.run(
        [sys.executable, "-I", "-c", child, str(data)],
        env={"LD_PRELOAD": str(library)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert result.stdout.strip() == "False"
