"""Certificates for one lab cluster, made with the ``cryptography`` library (ECDSA P-256).

One CA per site signs the API server's serving certificate and the client certificates of the
admin, the controller-manager, the scheduler and kwok. A second CA, for etcd alone, signs etcd's
serving and peer certificate and one client certificate, the API server's: etcd trusts only
that CA, so no other lab identity (not even the admin's) can read etcd and bypass RBAC. Files
are created only when missing, so a restarted site keeps its identity and kubeconfigs stay valid.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pdn.lab.credentials import write_private

VALIDITY = datetime.timedelta(days=3650)


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate: file stem, user name (CN) and groups (O)."""

    stem: str
    user: str
    groups: tuple[str, ...] = ()


CLIENTS = (
    ClientIdentity("admin", "pdn-admin", ("system:masters",)),
    ClientIdentity("controller-manager", "system:kube-controller-manager"),
    ClientIdentity("scheduler", "system:kube-scheduler"),
    # kwok writes node and pod status for every fake node; the lab gives it cluster-admin rights.
    ClientIdentity("kwok", "kwok", ("system:masters",)),
    # The API server's identity towards kubelets (logs, exec); bound to system:kubelet-api-admin
    # when the site has real nodes (pdn.lab.kube_addons).
    ClientIdentity("apiserver-kubelet-client", "kube-apiserver-kubelet-client"),
)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private(path, pem.decode("ascii"))


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _name(common: str, groups: tuple[str, ...] = ()) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
    return x509.Name([*attributes, x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _builder(subject: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def ensure_ca(folder: Path, site_id: str, stem: str = "ca") -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    if cert_path.is_file() and key_path.is_file():
        return x509.load_pem_x509_certificate(cert_path.read_bytes()), _load_key(key_path)
    key = _key()
    name = _name(f"pdn-lab-{site_id}-{stem}")
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def _issue(
    folder: Path,
    stem: str,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    subject: x509.Name,
    usage: x509.ObjectIdentifier | list[x509.ObjectIdentifier],
    sans: list[x509.GeneralName] | None = None,
) -> None:
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    if cert_path.is_file() and key_path.is_file() and _has_sans(cert_path, sans or []):
        return
    ca_cert, ca_key = ca
    key = _key()
    builder = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, True, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage(usage if isinstance(usage, list) else [usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _has_sans(cert_path: Path, wanted: list[x509.GeneralName]) -> bool:
    """Whether the certificate names everything in ``wanted`` (a new address means a new one)."""
    if not wanted:
        return True
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    return set(wanted) <= set(names)


def first_service_ip(service_cidr: str) -> str:
    """The ``kubernetes`` service's cluster IP: the first host of the service range."""
    return str(next(ipaddress.ip_network(service_cidr).hosts()))


ETCD_CA = "etcd-ca"
ETCD_SERVER = "etcd-server"  # serving and peer certificate of the site's etcd
ETCD_CLIENT = "apiserver-etcd-client"  # the only client etcd accepts


def ensure_etcd_pki(folder: Path, site_id: str) -> None:
    """etcd's own CA, its serving/peer certificate (127.0.0.1) and the API server's client one."""
    ca = ensure_ca(folder, site_id, ETCD_CA)
    sans: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    usages = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]  # peers are both
    _issue(folder, ETCD_SERVER, ca, _name(f"pdn-lab-{site_id}-etcd"), usages, sans)
    _issue(folder, ETCD_CLIENT, ca, _name("kube-apiserver-etcd-client"), ExtendedKeyUsageOID.CLIENT_AUTH)


def ensure_pki(folder: Path, site_id: str, service_cidr: str, extra_ips: tuple[str, ...] = ()) -> None:
    """Create every missing key and certificate of the site's cluster in ``folder``.

    ``extra_ips`` are further addresses the API server is reached at (its bridge on the site
    network); a serving certificate that lacks one is issued again.
    """
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)
    ensure_etcd_pki(folder, site_id)
    ca = ensure_ca(folder, site_id)
    dns = [
        "localhost",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
    ]
    ips = ["127.0.0.1", first_service_ip(service_cidr), *extra_ips]
    sans: list[x509.GeneralName] = [x509.DNSName(name) for name in dns]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    _issue(folder, "apiserver", ca, _name("kube-apiserver"), ExtendedKeyUsageOID.SERVER_AUTH, sans)
    for client in CLIENTS:
        _issue(folder, client.stem, ca, _name(client.user, client.groups), ExtendedKeyUsageOID.CLIENT_AUTH)
    service_account = folder / "sa.key"
    if not service_account.is_file():
        key = _key()
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (folder / "sa.pub").write_bytes(public)
        _write_key(service_account, key)


def ensure_client_cert(folder: Path, stem: str, ca_folder: Path, site_id: str, user: str) -> None:
    """A client certificate for ``user`` signed by the site's cluster CA (in ``ca_folder``)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    _issue(folder, stem, ensure_ca(ca_folder, site_id), _name(user), ExtendedKeyUsageOID.CLIENT_AUTH)


def ensure_serving_cert(folder: Path, stem: str, ca_stem: str, site_id: str, common: str, ips: list[str]) -> None:
    """A serving certificate for ``ips`` from the CA ``ca_stem`` of ``folder`` (made when missing);
    one that lacks an address is issued again."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    ca = ensure_ca(folder, site_id, ca_stem)
    sans: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips]
    _issue(folder, stem, ca, _name(common), ExtendedKeyUsageOID.SERVER_AUTH, sans)
