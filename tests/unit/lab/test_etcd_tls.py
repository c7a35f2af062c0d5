"""The lab's etcd: mutual TLS with a CA of its own, the API server its only client, loopback only,
and the site's state readable by its owner only (without running anything)."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID

from pdn.lab import layout
from pdn.lab.components import components, prepare_site
from pdn.lab.pki import ensure_pki
from pdn.sites import load_sites


def _cert(folder: Path, stem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate((folder / f"{stem}.crt").read_bytes())


def _issued_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def test_etcd_has_its_own_ca_and_only_the_api_server_holds_a_client_certificate(tmp_path: Path) -> None:
    ensure_pki(tmp_path, "ikn", "10.96.0.0/12")
    etcd_ca, site_ca = _cert(tmp_path, "etcd-ca"), _cert(tmp_path, "ca")
    assert etcd_ca.subject != site_ca.subject
    server, client = _cert(tmp_path, "etcd-server"), _cert(tmp_path, "apiserver-etcd-client")
    assert _issued_by(server, etcd_ca) and _issued_by(client, etcd_ca)
    usage = client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} == {"127.0.0.1"}
    issued = [path.stem for path in tmp_path.glob("*.crt") if path.stem != "etcd-ca"]
    by_etcd_ca = {stem for stem in issued if _issued_by(_cert(tmp_path, stem), etcd_ca)}
    assert by_etcd_ca == {"etcd-server", "apiserver-etcd-client"}  # not the admin, not kwok, not the scheduler
    assert stat.S_IMODE((tmp_path / "etcd-ca.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700


def test_etcd_listens_on_loopback_with_mutual_tls_and_the_api_server_uses_it(isolated: Path) -> None:
    site = load_sites().site("batam")
    prepare_site(site)
    parts = components(site, strict=False)
    etcd = dict(arg.removeprefix("--").split("=", 1) for arg in parts["etcd"].spec.argv[1:] if "=" in arg)
    pki = layout.pki_dir("batam")
    port, peer = layout.port("batam", "etcd"), layout.port("batam", "etcd-peer")
    assert etcd["listen-client-urls"] == f"https://127.0.0.1:{port}"
    assert etcd["listen-peer-urls"] == f"https://127.0.0.1:{peer}"
    assert etcd["client-cert-auth"] == "true" and etcd["peer-client-cert-auth"] == "true"
    assert etcd["trusted-ca-file"] == etcd["peer-trusted-ca-file"] == str(pki / "etcd-ca.crt")
    assert "metrics" not in " ".join(etcd)  # no second, unauthenticated listener
    api = dict(arg.removeprefix("--").split("=", 1) for arg in parts["kube-apiserver"].spec.argv[1:] if "=" in arg)
    assert api["etcd-servers"] == f"https://127.0.0.1:{port}"
    assert api["etcd-certfile"] == str(pki / "apiserver-etcd-client.crt")
    assert api["etcd-cafile"] == str(pki / "etcd-ca.crt")
    for folder in (layout.site_dir("batam"), layout.etcd_data_dir("batam"), layout.minio_data_dir("batam"), pki):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
