"""Lab building blocks without a running cluster: ports, certificates, fake nodes, secrets, processes."""

from __future__ import annotations

import os
import signal
import socket
import stat
import sys
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pdn.errors import InputError, PdnError
from pdn.lab import endpoints, layout
from pdn.lab.credentials import ensure_credentials, ensure_passphrase
from pdn.lab.fake_nodes import REGION, ZONE, site_nodes
from pdn.lab.pki import ensure_pki
from pdn.lab.processes import ProcessSpec, running_pid, start, stop
from pdn.sites import load_sites

MODEL = load_sites()


def test_ports_are_unique_and_follow_site_order() -> None:
    ports = [layout.port(site, name) for site in layout.site_ids() for name in layout.PORT_OFFSETS]
    assert len(ports) == len(set(ports))
    assert layout.site_ids() == ["cikarang", "batam", "ikn", "labuan-bajo"]
    assert layout.port("cikarang", "kube-apiserver") < layout.port("batam", "kube-apiserver")
    assert max(ports) < 32768  # below Linux's ephemeral range


def test_port_base_can_move(monkeypatch: pytest.MonkeyPatch) -> None:
    before = layout.port("ikn", "minio")
    monkeypatch.setenv("PDN_LAB_PORT_BASE", "40000")
    assert layout.port("ikn", "minio") == before - layout.DEFAULT_PORT_BASE + 40000
    monkeypatch.setenv("PDN_LAB_PORT_BASE", "many")
    with pytest.raises(InputError):
        layout.port_base()


def test_unknown_site_is_an_input_error() -> None:
    with pytest.raises(InputError, match="known sites"):
        endpoints.kubeconfig_path("jakarta")


def test_pki_chain_and_identities(tmp_path: Path) -> None:
    ensure_pki(tmp_path, "ikn", "10.96.0.0/12")
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((tmp_path / "apiserver.crt").read_bytes())
    server.verify_directly_issued_by(ca)
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "10.96.0.1"}
    assert "kubernetes.default.svc" in sans.get_values_for_type(x509.DNSName)
    admin = x509.load_pem_x509_certificate((tmp_path / "admin.crt").read_bytes())
    admin.verify_directly_issued_by(ca)
    assert [a.value for a in admin.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)] == ["system:masters"]
    scheduler = x509.load_pem_x509_certificate((tmp_path / "scheduler.crt").read_bytes())
    assert scheduler.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:kube-scheduler"
    assert isinstance(server.public_key(), ec.EllipticCurvePublicKey)
    assert stat.S_IMODE((tmp_path / "ca.key").stat().st_mode) == 0o600


def test_pki_is_kept_on_rerun(tmp_path: Path) -> None:
    ensure_pki(tmp_path, "ikn", "10.96.0.0/12")
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    ensure_pki(tmp_path, "ikn", "10.96.0.0/12")
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


@pytest.mark.parametrize("site", MODEL.sites, ids=MODEL.ids)
def test_fake_nodes_follow_the_site_model(site) -> None:  # type: ignore[no-untyped-def]
    nodes = site_nodes(site)
    expected = site.kubernetes.control_plane.replicas + sum(pool.replicas for pool in site.kubernetes.worker_pools)
    assert len(nodes) == expected
    assert len({node["metadata"]["name"] for node in nodes}) == expected
    zones = {domain.zone for domain in site.failure_domains}
    for node in nodes:
        labels = node["metadata"]["labels"]
        assert labels[REGION] == site.id and labels[ZONE] in zones
        assert node["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    control = [node for node in nodes if "node-role.kubernetes.io/control-plane" in node["metadata"]["labels"]]
    assert len({node["metadata"]["labels"][ZONE] for node in control}) == min(len(zones), len(control))
    for pool in site.kubernetes.worker_pools:
        members = [node for node in nodes if node["metadata"]["labels"]["pdn.go.id/pool"] == pool.name]
        assert len(members) == pool.replicas
        for node in members:
            assert node["metadata"]["labels"][ZONE] == site.failure_domain(pool.failure_domain).zone
            assert pool.labels.items() <= node["metadata"]["labels"].items()
            assert node["status"]["capacity"]["memory"] == f"{pool.memory_gib}Gi"


def test_credentials_are_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "minio" / "credentials"
    first = ensure_credentials(path)
    assert ensure_credentials(path) == first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first[1]) >= 30


def test_pulumi_env_uses_the_lab_backend(isolated: Path) -> None:
    env = endpoints.pulumi_env()
    assert env["PULUMI_BACKEND_URL"] == f"file://{isolated / 'lab' / 'pulumi'}"
    passphrase = Path(env["PULUMI_CONFIG_PASSPHRASE_FILE"])
    assert passphrase.is_relative_to(isolated / "lab")
    assert stat.S_IMODE(passphrase.stat().st_mode) == 0o600
    assert ensure_passphrase(passphrase).read_text() == passphrase.read_text()
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_s3_credentials_missing_says_how_to_fix(isolated: Path) -> None:
    with pytest.raises(PdnError) as caught:
        endpoints.s3_credentials("batam")
    assert caught.value.hint == "pdn lab up --site batam"


def _sleeper(tmp_path: Path, ports: list[int] | None = None) -> ProcessSpec:
    return ProcessSpec("ikn", "sleeper", ["/bin/sleep", "60"], ports or [], tmp_path / "run", tmp_path / "logs")


def test_process_lifecycle_and_kill_9(tmp_path: Path) -> None:
    spec = _sleeper(tmp_path)
    pid = start(spec)
    assert running_pid(spec) == pid
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while running_pid(spec) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert running_pid(spec) is None
    assert spec.pid_file.exists()  # stale pid file: `status` reports the crash
    pid = start(spec)
    assert stop(spec) is True
    assert running_pid(spec) is None and not spec.pid_file.exists()
    assert stop(spec) is False


def test_recycled_pid_is_not_ours(tmp_path: Path) -> None:
    spec = _sleeper(tmp_path)
    spec.run_dir.mkdir(parents=True)
    spec.pid_file.write_text(f'{{"pid": {os.getpid()}, "binary": "/bin/sleep"}}')
    assert running_pid(spec) is None


def test_port_clash_is_one_clear_error(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(PdnError, match=f"127.0.0.1:{port}.*in use") as caught:
            start(_sleeper(tmp_path, [port]))
    assert caught.value.hint and "PDN_LAB_PORT_BASE" in caught.value.hint
