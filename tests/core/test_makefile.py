"""`make` with the wrong Python: one line before anything is done; a .venv it made is replaced.

The real Makefile runs with the real `make`, in a copy of the project's build files. "An old
Python" is this interpreter with a sitecustomize that makes it report 3.9, the only way to have one
on a machine that has 3.11 alone; it answers the Makefile's question the way a real 3.9 would.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OLD = "3.9"


def _fake_python(folder: Path, *, version: str | None) -> Path:
    """An executable `python3` that runs this interpreter, reporting `version` if given."""
    folder.mkdir(parents=True, exist_ok=True)
    site = folder / "site"
    site.mkdir(exist_ok=True)
    if version is not None:
        major, minor = (int(part) for part in version.split("."))
        (site / "sitecustomize.py").write_text(
            f"import sys\nsys.version_info = ({major}, {minor}, 18, 'final', 0)\n", encoding="utf-8"
        )
    python = folder / "python3"
    python.write_text(f'#!/bin/sh\nPYTHONPATH={site} exec {sys.executable} "$@"\n', encoding="utf-8")
    python.chmod(0o755)
    return python


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The files `make install` reads, in a folder of their own."""
    for name in ("Makefile", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    return tmp_path


def _make(project: Path, *args: str, python_folder: Path | None = None) -> subprocess.CompletedProcess[str]:
    path = os.environ["PATH"] if python_folder is None else f"{python_folder}{os.pathsep}{os.environ['PATH']}"
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHON", "MAKEFLAGS", "MAKELEVEL"}} | {"PATH": path}
    return subprocess.run(  # noqa: S603 - the real make on our Makefile
        ["make", "--no-print-directory", *args],  # noqa: S607
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _installed_venv(project: Path, *, version: str | None) -> None:
    """A .venv as `make install` leaves it, its python reporting `version` (None: this one's)."""
    _fake_python(project / ".venv" / "bin", version=version).rename(project / ".venv" / "bin" / "python")
    (project / ".venv" / ".installed").touch()


@pytest.mark.parametrize("goal", ["install", "run", "test"])
def test_an_old_python_is_refused_in_one_line_before_anything(project: Path, tmp_path: Path, goal: str) -> None:
    old = _fake_python(tmp_path / "old", version=OLD)
    asked = subprocess.run([old, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, check=True)  # noqa: S603
    assert asked.stdout.strip() == b"(3, 9)"

    result = _make(project, goal, python_folder=old.parent)

    assert result.returncode != 0
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 1, lines
    assert f"prm needs Python 3.11+, and python3 is {OLD}" in lines[0]
    assert not (project / ".venv").exists()


def test_a_missing_python_is_refused_in_one_line(project: Path) -> None:
    result = _make(project, "install", "PYTHON=python3.nowhere")
    assert result.returncode != 0
    [line] = (result.stdout + result.stderr).splitlines()
    assert re.fullmatch(
        r"Makefile:\d+: \*\*\* prm needs Python 3\.11\+, and python3\.nowhere is not there: "
        r"install one and run make PYTHON=python3\.X\.  Stop\.",
        line,
    ), line


def test_a_venv_made_by_an_old_python_is_made_again(project: Path) -> None:
    _installed_venv(project, version=OLD)
    planned = _make(project, "-n", "install")
    assert planned.returncode == 0, planned.stderr
    steps = planned.stdout.splitlines()
    assert steps[:3] == [
        f'echo "prm: .venv was made by Python {OLD}, not 3.11+: making it again"',
        "rm -rf .venv",
        "test -x .venv/bin/python || python3 -m venv .venv",
    ]
    assert "touch .venv/.installed" in steps


def test_a_venv_whose_python_no_longer_runs_is_made_again(project: Path) -> None:
    _installed_venv(project, version=None)
    (project / ".venv" / "bin" / "python").write_text("#!/nowhere/python3.10\n", encoding="utf-8")
    steps = _make(project, "-n", "install").stdout.splitlines()
    assert steps[:2] == [
        'echo "prm: .venv was made by a Python that no longer runs, not 3.11+: making it again"',
        "rm -rf .venv",
    ]


def test_a_good_venv_is_kept(project: Path) -> None:
    _installed_venv(project, version=None)
    planned = _make(project, "-n", "install")
    assert planned.returncode == 0, planned.stderr
    assert planned.stdout.splitlines() == ["make: Nothing to be done for 'install'."]
