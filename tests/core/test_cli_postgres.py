"""The README's "Running against PostgreSQL", run as written with the real `prm` and PostgreSQL.

Each test makes its own throwaway database on the server at 127.0.0.1:5432 (the one in
PRM_TEST_DATABASE_URL when set) and drops it afterwards. The commands run in a temporary folder
with `.venv` linked to this virtualenv, so `var/` is the test's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import _pg_admin

# PostgreSQL only: once, in the PostgreSQL pass of `make test`.
pytestmark = pytest.mark.postgres_pass
ROOT = Path(__file__).resolve().parents[2]
SERVER_URL = make_url(os.environ.get("PRM_TEST_DATABASE_URL") or "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
VENV = Path(sys.executable).parent.parent
START_TIMEOUT_SECONDS = 120
DEMO_PASSWORD = "demo-password-1"


def _database_url(name: str) -> str:
    return SERVER_URL.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def throwaway_name() -> Iterator[str]:
    """A database name nobody uses; whatever a test created under it is dropped afterwards."""
    name = f"prm_cli_{uuid.uuid4().hex[:12]}"
    yield name
    asyncio.run(_pg_admin(_database_url("postgres"), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / ".venv").symlink_to(VENV, target_is_directory=True)
    return tmp_path


def _environment(**extra: str) -> dict[str, str]:
    """This process's environment without any PRM_* setting (only what the test gives)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PRM_")} | extra


def _prm(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script
        [str(VENV / "bin" / "prm"), *args],
        cwd=cwd,
        env=_environment(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _readme_postgres_steps() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Running against PostgreSQL", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the section has no bash block"
    lines = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    return [line for line in lines if line]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PortTaken(Exception):
    """Another process bound the probed port before `prm serve` did."""


def _wait_until_healthy(process: subprocess.Popen[str], url: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            if "address already in use" in output.lower():
                raise PortTaken(output)
            pytest.fail(f"the README's commands stopped with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)  # waiting for another process to start listening, not for time to pass
    pytest.fail(f"prm serve did not answer within {START_TIMEOUT_SECONDS}s")


def _stop(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group may be gone already
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _readme_script(throwaway_name: str, port: int) -> str:
    """The README's steps after `make install`; only the database name and the port change:
    another `prm` or a developer's `prm` database may be there already."""
    steps = _readme_postgres_steps()
    assert steps[0] == "make install"  # done already: the tests run in that virtualenv
    script = "\n".join(steps[1:])
    script = script.replace("5432/prm", f"5432/{throwaway_name}")
    script = re.sub(r"(createdb .*) prm$", rf"\1 {throwaway_name}", script, flags=re.MULTILINE)
    script = script.replace("serve --workers 2", f"serve --workers 2 --port {port}")
    assert throwaway_name in script
    assert f"--port {port}" in script
    return script


def _serve_as_the_readme_says(workdir: Path, throwaway_name: str) -> tuple[subprocess.Popen[str], int]:
    """The README's commands, serving; on a port another process took between the probe and the
    bind, again from the start (database dropped) on another port."""
    for _attempt in range(5):
        port = _free_port()
        process = subprocess.Popen(  # noqa: S603 - the README's own commands
            ["/bin/bash", "-euo", "pipefail", "-c", _readme_script(throwaway_name, port)],
            cwd=workdir,
            env=_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            _wait_until_healthy(process, f"http://127.0.0.1:{port}")
        except PortTaken:
            _stop(process)
            asyncio.run(
                _pg_admin(_database_url("postgres"), f'DROP DATABASE IF EXISTS "{throwaway_name}" WITH (FORCE)')
            )
            shutil.rmtree(workdir / "var", ignore_errors=True)  # `prm init` starts afresh too
            continue
        except BaseException:
            _stop(process)
            raise
        return process, port
    pytest.fail("every probed port was taken before prm serve bound it")


def test_the_readme_postgres_steps_work_as_written(workdir: Path, throwaway_name: str) -> None:
    process, port = _serve_as_the_readme_says(workdir, throwaway_name)
    try:
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data={"grant_type": "password", "username": "admin@northwind.example", "password": DEMO_PASSWORD},
            timeout=30,
        )
        assert token.status_code == 200, token.text
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        programs = httpx.get(f"http://127.0.0.1:{port}/api/v1/deal-programs", headers=headers, timeout=30)
        assert [p["name"] for p in programs.json()["items"]] == ["Northwind Deal Registration"]
    finally:
        _stop(process)
    # The key and secret came from var/prm.env; the database from the environment, which won.
    env_file = (workdir / "var" / "prm.env").read_text()
    assert "PRM_SECRET_KEY=" in env_file
    assert "sqlite" in env_file
    assert not (workdir / "var" / "prm.db").exists()


def test_an_env_file_is_read_and_the_environment_wins(workdir: Path, throwaway_name: str) -> None:
    assert _prm(["init", "--dir", "keys"], workdir).returncode == 0
    settings = workdir / "elsewhere.env"
    settings.write_text(
        (workdir / "keys" / "prm.env").read_text().replace("keys/prm.db", "from-file.db"), encoding="utf-8"
    )
    upgraded = _prm(["--env-file", str(settings), "db", "upgrade"], workdir)
    assert upgraded.returncode == 0, upgraded.stderr
    assert (workdir / "from-file.db").is_file()
    asyncio.run(_pg_admin(_database_url("postgres"), f'CREATE DATABASE "{throwaway_name}"'))
    env = {"PRM_DATABASE_URL": _database_url(throwaway_name)}
    upgraded = _prm(["--env-file", str(settings), "db", "upgrade"], workdir, **env)
    assert upgraded.returncode == 0, upgraded.stderr
    missing = _prm(["--env-file", "nowhere.env", "db", "upgrade"], workdir)
    assert missing.returncode == 2
    assert missing.stderr.splitlines() == ["prm: configuration error: --env-file: there is no file 'nowhere.env'"]


@pytest.mark.parametrize("command", [["db", "upgrade"], ["demo"], ["serve", "--port", "1"]])
def test_a_database_that_does_not_exist_is_one_line(workdir: Path, throwaway_name: str, command: list[str]) -> None:
    assert _prm(["init", "--dir", "var"], workdir).returncode == 0
    result = _prm(command, workdir, PRM_DATABASE_URL=_database_url(throwaway_name))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"prm: database error: PRM_DATABASE_URL: database '{throwaway_name}' does not exist on "
        f"{SERVER_URL.host}:{SERVER_URL.port or 5432} (create it: createdb -h {SERVER_URL.host} "
        f"-p {SERVER_URL.port or 5432} -U {SERVER_URL.username} {throwaway_name})"
    ]


def test_a_server_that_cannot_be_reached_is_one_line(workdir: Path) -> None:
    assert _prm(["init", "--dir", "var"], workdir).returncode == 0
    port = _free_port()  # nothing listens there
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prm"
    result = _prm(["db", "upgrade"], workdir, PRM_DATABASE_URL=url)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"prm: database error: PRM_DATABASE_URL: cannot reach PostgreSQL at 127.0.0.1:{port} (connection refused)"
    ]


def test_a_database_without_the_schema_is_one_line(workdir: Path, throwaway_name: str) -> None:
    assert _prm(["init", "--dir", "var"], workdir).returncode == 0
    asyncio.run(_pg_admin(_database_url("postgres"), f'CREATE DATABASE "{throwaway_name}"'))
    result = _prm(["demo"], workdir, PRM_DATABASE_URL=_database_url(throwaway_name))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"prm: database error: PRM_DATABASE_URL: the database '{throwaway_name}' on "
        f"{SERVER_URL.host}:{SERVER_URL.port or 5432} has no prm schema (run `prm db upgrade`)"
    ]
