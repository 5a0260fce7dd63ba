"""deploy/ is what a user can apply: no Docker engine or cluster runs here, so these read the
files as Docker, compose, Kubernetes and nginx would, and hold them to the code and the README.

- Every PRM_* the compose file and the manifests set is a setting, the required ones are set,
  and the settings they make load.
- The image's and the manifests' commands are the README's, and the CLI accepts them.
- The probes, the grace period and the selectors fit together.
- `nginx -t` accepts deploy/nginx.conf (its compose host names, which resolve only inside
  compose, read as 127.0.0.1).
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from prm.cli import _parser
from prm.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTINGS = {f"PRM_{f.name.upper()}" for f in msgspec.structs.fields(Settings)}
REQUIRED = {"PRM_JWT_PRIVATE_KEY_FILE", "PRM_SECRET_KEY", "PRM_DATABASE_URL"}  # no usable default in a deployment
SERVE = [".venv/bin/prm", "serve", "--host", "0.0.0.0", "--port", "8000"]  # noqa: S104 - a container listens on all
MIGRATE = [".venv/bin/prm", "db", "upgrade"]


def _readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose.yaml").read_text()))


def _manifests() -> list[dict[str, Any]]:
    return [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]


def _kind(kind: str, name: str | None = None) -> dict[str, Any]:
    found = [m for m in _manifests() if m["kind"] == kind and (name is None or m["metadata"]["name"] == name)]
    assert len(found) == 1, f"one {kind} {name or ''} in deploy/k8s, found {len(found)}"
    return found[0]


def _interpolated(value: Any) -> str:
    """Compose's ${VAR:?message} and ${VAR:-default}, with what an operator would export."""
    return re.sub(r"\$\{(\w+):[?-][^}]*\}", lambda m: "an-operator-value-" + "x" * 40, str(value))


def _dockerfile() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _cli_accepts(command: list[str]) -> None:
    assert command[0] == ".venv/bin/prm", command
    _parser().parse_args(command[1:])  # exits (fails the test) on an unknown command or option


# --- compose -------------------------------------------------------------------------------


def test_compose_runs_postgres_a_migration_two_instances_nginx_and_a_mail_catcher() -> None:
    services = _compose()["services"]
    assert {"postgres", "migrate", "prm-1", "prm-2", "nginx", "mailpit"} <= services.keys()
    assert services["migrate"]["command"] == MIGRATE
    for name in ("prm-1", "prm-2"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "command" not in services[name]  # the image's own: prm serve
    assert "./nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    assert services["mailpit"]["ports"] == ["8025:8025"]  # its web UI shows the demo's email
    upstreams = re.findall(r"server (prm-\d):8000", (DEPLOY / "nginx.conf").read_text())
    assert sorted(upstreams) == ["prm-1", "prm-2"]


def test_compose_sets_only_real_settings_and_every_required_one() -> None:
    services = _compose()["services"]
    for name in ("keys", "migrate", "prm-1", "prm-2"):
        environment = {k: _interpolated(v) for k, v in services[name]["environment"].items()}
        prm = {k: v for k, v in environment.items() if k.startswith("PRM_")}
        assert prm.keys() <= SETTINGS, f"{name}: unknown {prm.keys() - SETTINGS}"
        assert prm.keys() >= REQUIRED, f"{name}: missing {REQUIRED - prm.keys()}"
        settings = load_settings(prm)
        assert not settings.is_sqlite
        assert settings.smtp_host == "mailpit"
    assert _interpolated(services["prm-1"]["environment"]["PRM_SECRET_KEY"]) != ""


# --- Kubernetes ----------------------------------------------------------------------------


def test_manifests_hold_every_part_an_operator_needs() -> None:
    kinds = {m["kind"] for m in _manifests() if m["kind"] != "Kustomization"}
    assert kinds == {
        "Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "Job", "HorizontalPodAutoscaler"
    }  # fmt: skip
    listed = _kind("Kustomization")["resources"]
    assert sorted(listed) == sorted(p.name for p in (DEPLOY / "k8s").glob("*.yaml") if p.name != "kustomization.yaml")


def _k8s_environment() -> dict[str, str]:
    return {**_kind("ConfigMap", "prm")["data"], **_kind("Secret", "prm")["stringData"]}


def test_manifests_set_only_real_settings_and_every_required_one() -> None:
    environment = _k8s_environment()
    assert environment.keys() <= SETTINGS, f"unknown {environment.keys() - SETTINGS}"
    assert environment.keys() >= REQUIRED, f"missing {REQUIRED - environment.keys()}"
    settings = load_settings(environment)
    key_dir = str(Path(settings.jwt_private_key_file).parent)
    deployment = _kind("Deployment")["spec"]["template"]["spec"]
    for pod in (deployment, _kind("Job")["spec"]["template"]["spec"]):
        container = pod["containers"][0]
        sources = {s.get("configMapRef", s.get("secretRef"))["name"] for s in container["envFrom"]}
        assert sources == {"prm"}
        mount = next(m for m in container["volumeMounts"] if m["mountPath"] == key_dir)
        volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
        key_secret = _kind("Secret", volume["secret"]["secretName"])
        assert Path(settings.jwt_private_key_file).name in key_secret["stringData"]


def test_the_deployment_probes_resources_and_grace_fit_the_shutdown() -> None:
    deployment = _kind("Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    settings = load_settings(_k8s_environment())
    bound = settings.shutdown_drain_seconds + settings.shutdown_timeout_seconds
    assert pod["terminationGracePeriodSeconds"] > bound
    # The drain outlasts one readiness period, so the endpoints drop the pod before it stops.
    assert settings.shutdown_drain_seconds > container["readinessProbe"]["periodSeconds"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (
        deployment["spec"]["selector"]["matchLabels"],
        _kind("Service")["spec"]["selector"],
        _kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"],
    ):
        assert selector.items() <= labels.items()
    assert _kind("Service")["spec"]["ports"][0]["targetPort"] == container["ports"][0]["name"]
    assert _kind("HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert (
        _kind("HorizontalPodAutoscaler")["spec"]["minReplicas"] > _kind("PodDisruptionBudget")["spec"]["minAvailable"]
    )


# --- the image and the README --------------------------------------------------------------


def test_the_image_is_multi_stage_slim_non_root_with_a_healthcheck() -> None:
    instructions = _dockerfile()
    bases = [args.split()[0] for op, args in instructions if op == "FROM"]
    assert bases == ["python:3.11-slim", "python:3.11-slim"]
    users = [args for op, args in instructions if op == "USER"]
    assert users == ["prm"]
    healthcheck = next(args for op, args in instructions if op == "HEALTHCHECK")
    assert "/health" in healthcheck


def test_the_image_installs_and_starts_with_the_readme_commands() -> None:
    instructions = _dockerfile()
    readme = _readme()
    assert ("RUN", "make install") in instructions
    assert "make install" in readme
    cmd = next(msgspec.json.decode(args) for op, args in instructions if op == "CMD")
    assert cmd == SERVE
    assert shlex.join(cmd) in readme
    assert shlex.join(MIGRATE) in readme
    assert "db upgrade" not in " ".join(args for _, args in instructions)  # migrations run apart from the image
    commands = [
        cmd,
        _compose()["services"]["migrate"]["command"],
        _compose()["services"]["keys"]["command"],
        _kind("Job")["spec"]["template"]["spec"]["containers"][0]["command"],
        _kind("Deployment")["spec"]["template"]["spec"]["containers"][0]["command"],
    ]
    for command in commands:
        _cli_accepts(command)
        assert shlex.join(command[:3]) in readme


def test_the_readme_says_how_to_use_each_part() -> None:
    section = _readme().split("## Operating and deploying", 1)[1].split("\n## ", 1)[0]
    for part in ("deploy/Dockerfile", "deploy/compose.yaml", "deploy/nginx.conf", "deploy/k8s"):
        assert part in section


# --- nginx ---------------------------------------------------------------------------------


def resolvable_nginx_conf(upstreams: list[str], listen: str, folder: Path) -> Path:
    """deploy/nginx.conf with the compose host names as addresses that resolve here; the rest as it is."""
    text = (DEPLOY / "nginx.conf").read_text()
    compose_hosts = re.findall(r"server (prm-\d+:8000)", text)
    assert len(compose_hosts) == len(upstreams)
    for host, address in zip(compose_hosts, upstreams, strict=True):
        text = text.replace(f"server {host}", f"server {address}")
    text = text.replace("listen 80;", f"listen {listen};")
    path = folder / "nginx.conf"
    path.write_text(text)
    return path


def nginx() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    assert found, "nginx is not installed: apt-get install nginx (.ci/run does)"
    return found


def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    conf = resolvable_nginx_conf(["127.0.0.1:8001", "127.0.0.1:8002"], "127.0.0.1:8080", tmp_path)
    checked = subprocess.run(  # noqa: S603 - nginx, with our config
        [nginx(), "-t", "-q", "-c", str(conf), "-p", str(tmp_path), "-e", "stderr", "-g", f"pid {tmp_path}/nginx.pid;"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize("broken", ["proxy_pass http://nowhere-defined;", "no_such_directive on;"])
def test_nginx_check_can_fail(tmp_path: Path, broken: str) -> None:
    """The check above is real: nginx -t refuses a config with a mistake in it."""
    conf = resolvable_nginx_conf(["127.0.0.1:8001", "127.0.0.1:8002"], "127.0.0.1:8080", tmp_path)
    conf.write_text(conf.read_text().replace("proxy_pass http://prm;", broken))
    checked = subprocess.run(  # noqa: S603 - nginx, with our config
        [nginx(), "-t", "-q", "-c", str(conf), "-p", str(tmp_path), "-e", "stderr", "-g", f"pid {tmp_path}/nginx.pid;"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode != 0
