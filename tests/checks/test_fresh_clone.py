"""What a fresh clone needs: no tracked link to a path that only the committer's machine has."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / ".ci" / "check-links"
pytestmark = pytest.mark.checks


def _repo(tmp_path: Path, links: dict[str, str]) -> Path:
    repo = tmp_path / "repo"
    (repo / "a" / "b").mkdir(parents=True)
    (repo / "a" / "b" / "file").write_text("x")
    for name, target in links.items():
        (repo / name).symlink_to(target)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "links"], check=True)
    return repo


def _check(repo: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(CHECK), str(repo)], capture_output=True, text=True, timeout=60)


def test_this_repository_tracks_no_link_outside_itself() -> None:
    result = _check(ROOT)
    assert result.returncode == 0, result.stderr


def test_venv_is_ignored_as_a_link_too(tmp_path: Path) -> None:
    """`.venv/` matches only a folder; a .venv link (to a shared venv) must be ignored as well."""
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "-C", str(repo), "init", "-q"], check=True)
    (repo / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    (repo / ".venv").symlink_to(tmp_path / "elsewhere")
    ignored = subprocess.run(["git", "-C", str(repo), "check-ignore", "-q", ".venv"], timeout=60)
    assert ignored.returncode == 0


@pytest.mark.parametrize(
    ("name", "target", "why"),
    [
        (".venv", "/tmp/probe", "an absolute path"),
        ("a/b/up", "../../../outside", "outside the repository"),
        ("a/sneaky", "b/../../../y", "outside the repository"),
    ],
)
def test_a_link_a_fresh_clone_cannot_have_fails_ci(tmp_path: Path, name: str, target: str, why: str) -> None:
    repo = _repo(tmp_path, {name: target})
    result = _check(repo)
    assert result.returncode == 1
    assert f"{name} -> {target}: {why}" in result.stderr


def test_links_inside_the_repository_pass(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"a/b/same": "file", "a/up": "b/file", "top": "a/b/../b/file"})
    result = _check(repo)
    assert result.returncode == 0, result.stderr
