"""The compose stack's services run by hand as processes: deploy/nginx.conf's nginx in front of
two real `prm serve` instances on one database, driven through nginx as a user would."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.connect.harness import Instance, eventually, free_port
from tests.deploy.test_deploy_files import nginx, resolvable_nginx_conf


@pytest.fixture
def instances(tmp_path: Path) -> Iterator[list[Instance]]:
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
    first = Instance("lb1", tmp_path / "one")
    second = Instance("lb2", tmp_path / "two")
    second.drop_database()  # the second serves the first one's database, with the same key and secret
    for name in ("PRM_DATABASE_URL", "PRM_JWT_PRIVATE_KEY_FILE", "PRM_SECRET_KEY"):
        second.env[name] = first.env[name]
    first.set_up()
    started: list[Instance] = []
    try:
        for instance in (first, second):
            instance.env["PRM_SHUTDOWN_DRAIN_SECONDS"] = "0"
            instance.start()
            started.append(instance)
        yield [first, second]
    finally:
        for instance in started:
            instance.stop()
        first.drop_database()


@pytest.fixture
def balancer(instances: list[Instance], tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = free_port()
    conf = resolvable_nginx_conf([f"127.0.0.1:{i.port}" for i in instances], f"127.0.0.1:{port}", tmp_path)
    access_log = tmp_path / "nginx-access.log"
    process = subprocess.Popen(  # noqa: S603 - nginx, with our config
        [nginx(), "-c", str(conf), "-p", str(tmp_path), "-e", "stderr",
         "-g", f"daemon off; pid {tmp_path}/nginx.pid;"],
        stdout=access_log.open("ab"),
        stderr=(tmp_path / "nginx-error.log").open("ab"),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        eventually(lambda: httpx.get(f"{url}/health").status_code == 200, within=30, what="nginx serving")
        yield url, access_log
    finally:
        process.terminate()
        process.wait(timeout=10)


def _served_by(access_log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in access_log.read_text().splitlines() if line.strip()]


def test_nginx_spreads_requests_over_two_instances_on_one_database(
    instances: list[Instance], balancer: tuple[str, Path]
) -> None:
    url, access_log = balancer
    first, second = instances
    with httpx.Client(base_url=url, timeout=30) as client:
        headers = first.headers  # a token issued by the first instance
        created = client.post(
            "/api/v1/partners",
            json={"name": "Balanced Partner", "tier": "gold", "country": "US"},
            headers={**headers, "x-request-id": "through-nginx-1"},
        )
        assert created.status_code == 201, created.text
        assert created.headers["x-request-id"] == "through-nginx-1"
        partner = created.json()["id"]
        reads = [client.get(f"/api/v1/partners/{partner}", headers=headers) for _ in range(6)]
        assert [r.status_code for r in reads] == [200] * 6  # whichever instance answers reads the same database
        assert (client.get("/metrics")).status_code == 404  # never through the balancer
        assert client.get("/ready").status_code == 200

    served = _served_by(access_log)
    upstreams = {entry["upstream"] for entry in served if "/api/v1/partners/" in entry["request"]}
    assert upstreams == {f"127.0.0.1:{first.port}", f"127.0.0.1:{second.port}"}
    tagged = [entry for entry in served if entry["request_id"] == "through-nginx-1"]
    assert [entry["status"] for entry in tagged] == [201]
    nginx_ids = {entry["request_id"] for entry in served if entry["request_id"] != "through-nginx-1"}
    assert len(nginx_ids) == len(served) - 1  # nginx gives each other request an id of its own

    second.stop()  # one instance gone: reads go on through the other
    with httpx.Client(base_url=url, timeout=30) as client:
        again = [client.get(f"/api/v1/partners/{partner}", headers=headers).status_code for _ in range(4)]
    assert again == [200] * 4
