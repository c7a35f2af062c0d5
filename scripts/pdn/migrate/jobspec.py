"""The Kubernetes objects of a copy Job, built as data: Namespace, Secret, Indexed Job.

One pod per shard index (``completionMode: Indexed``); Kubernetes hands each pod its index in
``JOB_COMPLETION_INDEX``. ``restartPolicy: Never`` with ``backoffLimitPerIndex``: a killed or
failed pod is replaced by a new pod for the same index, counted per index (one shard failing for
good does not stop the others, and every kill shows as a failed pod in the Job's status instead of
a container restart count). The new pod gets a fresh emptyDir, which costs nothing: the shard's
ledger lives in the store and the pod starts from its snapshot there.

Pods meet Pod Security ``restricted`` (uid 10001, RuntimeDefault seccomp, no privilege
escalation, every capability dropped, read-only root filesystem, emptyDir only) and get no
service account token. Keys come from a Secret as environment variables, never as arguments.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pdn import naming
from pdn.errors import InputError
from pdn.migrate.jobenv import (
    ENV_APP,
    ENV_BUCKET,
    ENV_LEDGER_BUCKET,
    ENV_PLAN,
    ENV_PREFIX,
    ENV_ROOT,
    ENV_SOURCE,
    ENV_SOURCE_ENDPOINT,
    ENV_STATE_DIR,
    ENV_TARGET_ENDPOINT,
    ENV_TARGET_REGION,
    ENV_WORKERS,
    LEDGER_DIR,
    SECRET_KEYS,
)
from pdn.migrate.pods import LAB_IMAGE, container_security_context, pod_security_context

DEFAULT_IMAGE = LAB_IMAGE
DEFAULT_NAMESPACE = "pdn-migrate"
BACKOFF_PER_INDEX = 4  # retries of one shard: a node restart and a kill or two, not a shard that fails every time
PLAN_ANNOTATION = "pdn.go.id/copy-plan"
FIELD_MANAGER = "pdn-migrate-copy"
WORKER_COMMANDS = {"copy": "worker", "verify": "verify"}
NEEDED = ("PDN_S3_ACCESS_KEY", "PDN_S3_SECRET_KEY")  # a verify Job's Secret holds only the target's keys
_DNS_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@-]{0,254}")


@dataclass(frozen=True)
class JobSettings:
    """Everything a copy Job is built from (validated by :func:`check`)."""

    app_id: str
    site: str
    namespace: str
    image: str
    plan_id: str
    root: str
    ledger_bucket: str
    bucket: str
    prefix: str
    source: str
    source_endpoint: str  # as pods reach it
    target_endpoint: str  # as pods reach it
    target_region: str
    shards: int
    parallelism: int
    workers: int
    largest_object: int
    mode: str = "copy"  # or "verify": the worker's subcommand

    @property
    def job_name(self) -> str:
        return naming.copy_job_name(self.app_id) if self.mode == "copy" else naming.verify_job_name(self.app_id)

    @property
    def secret_name(self) -> str:
        return f"{self.job_name}-keys"


def check(settings: JobSettings) -> None:
    """Refuse values that cannot become the objects' names and fields."""
    if not naming.is_identifier(settings.app_id):
        raise InputError(f"APP {settings.app_id!r}: {naming.IDENTIFIER_RULE}")
    if not _DNS_LABEL.fullmatch(settings.namespace):
        raise InputError(f"--namespace {settings.namespace!r}: a lower-case RFC 1123 label of at most 63 characters")
    if not _IMAGE.fullmatch(settings.image):
        raise InputError(f"--image {settings.image!r} is not an image reference")
    if not 1 <= settings.shards <= 100_000:
        raise InputError(f"{settings.shards} shards: an Indexed Job runs 1 to 100,000")
    if settings.mode not in ("copy", "verify"):
        raise InputError(f"mode {settings.mode!r}: copy or verify")
    if not 1 <= settings.parallelism <= 10_000:
        raise InputError("--parallelism must be 1 to 10,000")


def labels(settings: JobSettings) -> dict[str, str]:
    """Labels as render gives an app's objects, plus the component."""
    return {
        "app.kubernetes.io/name": settings.job_name,
        "app.kubernetes.io/component": f"data-{settings.mode}",
        "app.kubernetes.io/part-of": naming.label_value(naming.slug(settings.app_id)),
        "app.kubernetes.io/managed-by": "pdn-migrate",
        "pdn.go.id/site": naming.label_value(settings.site),
        "pdn.go.id/legacy-app": naming.label_value(settings.app_id),
    }


def namespace(name: str) -> dict[str, Any]:
    enforce = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("enforce", "warn", "audit")}
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**enforce, "app.kubernetes.io/managed-by": "pdn-migrate"}},
    }


def _store_peer(url: str) -> dict[str, Any]:
    """Egress to one store: its address when the URL names one (the lab's bridge), else any
    address on its port (a DNS name: NetworkPolicy cannot name it)."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    rule: dict[str, Any] = {"ports": [{"port": port, "protocol": "TCP"}]}
    try:
        address = ipaddress.ip_address(parts.hostname or "")
    except ValueError:
        return rule
    rule["to"] = [{"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}}]
    return rule


def network_policy(settings: JobSettings) -> dict[str, Any]:
    """The Job's pods take no connections and reach only cluster DNS and the two stores."""
    dns = {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
            }
        ],
        "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
    }
    stores = [_store_peer(url) for url in dict.fromkeys((settings.source_endpoint, settings.target_endpoint))]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": settings.job_name, "namespace": settings.namespace, "labels": labels(settings)},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": settings.job_name}},
            "policyTypes": ["Ingress", "Egress"],
            "egress": [dns, *stores],
        },
    }


def secret(settings: JobSettings, values: Mapping[str, str]) -> dict[str, Any]:
    """The keys of source and target (only names from :data:`SECRET_KEYS`; empty values left out)."""
    unknown = set(values) - set(SECRET_KEYS)
    if unknown:
        raise ValueError(f"unexpected secret keys {sorted(unknown)}")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": settings.secret_name, "namespace": settings.namespace, "labels": labels(settings)},
        "data": {name: base64.b64encode(value.encode()).decode() for name, value in values.items() if value},
    }


def _quantity_mi(size: int) -> str:
    return f"{max(1, -(-size // 2**20))}Mi"


def worker_env(settings: JobSettings) -> dict[str, str]:
    """The worker's plain environment (the index and the keys come from Kubernetes and the Secret)."""
    return {
        ENV_APP: settings.app_id,
        ENV_LEDGER_BUCKET: settings.ledger_bucket,
        ENV_ROOT: settings.root,
        ENV_PLAN: settings.plan_id,
        ENV_BUCKET: settings.bucket,
        ENV_PREFIX: settings.prefix,
        ENV_SOURCE: settings.source,
        ENV_SOURCE_ENDPOINT: settings.source_endpoint,
        ENV_TARGET_ENDPOINT: settings.target_endpoint,
        ENV_TARGET_REGION: settings.target_region,
        ENV_WORKERS: str(settings.workers),
        ENV_STATE_DIR: LEDGER_DIR,
    }


def job(settings: JobSettings) -> dict[str, Any]:
    """The Indexed Job: ``completions`` = shards, ``parallelism`` pods at a time."""
    check(settings)
    env: list[dict[str, Any]] = [{"name": name, "value": value} for name, value in worker_env(settings).items()]
    env += [{"name": "HOME", "value": "/tmp"}, {"name": "TMPDIR", "value": "/tmp"}]
    env += [
        {
            "name": name,
            "valueFrom": {"secretKeyRef": {"name": settings.secret_name, "key": name, "optional": name not in NEEDED}},
        }
        for name in SECRET_KEYS
    ]
    # /tmp spools one large object of an s3:// source per object in flight
    spool = _quantity_mi(max(256 * 2**20, settings.largest_object * min(settings.workers, 4) + 64 * 2**20))
    pod_labels = labels(settings)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": settings.job_name,
            "namespace": settings.namespace,
            "labels": pod_labels,
            "annotations": {PLAN_ANNOTATION: settings.plan_id},
        },
        "spec": {
            "completionMode": "Indexed",
            "completions": settings.shards,
            "parallelism": settings.parallelism,
            "backoffLimitPerIndex": BACKOFF_PER_INDEX,
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {PLAN_ANNOTATION: settings.plan_id}},
                "spec": {
                    "restartPolicy": "Never",
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "containers": [
                        {
                            "name": "copy",
                            "image": settings.image,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["python3", "-m", "pdn.migrate.jobcopy", WORKER_COMMANDS[settings.mode]],
                            "env": env,
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "192Mi"},
                                "limits": {"cpu": "1", "memory": "768Mi"},
                            },
                            "securityContext": container_security_context(),
                            "volumeMounts": [
                                {"name": "tmp", "mountPath": "/tmp"},
                                {"name": "ledger", "mountPath": LEDGER_DIR},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "tmp", "emptyDir": {"sizeLimit": spool}},
                        {"name": "ledger", "emptyDir": {"sizeLimit": "256Mi"}},
                    ],
                },
            },
        },
    }
