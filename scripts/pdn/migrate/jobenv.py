"""The environment contract between a copy Job and its worker pods (names only, no imports).

Kept apart from :mod:`pdn.migrate.jobspec` so that the worker (:mod:`pdn.migrate.jobcopy`), which
runs from the small migrate image, imports nothing of the operator side (naming, Kubernetes).
"""

from __future__ import annotations

LEDGER_DIR = "/var/lib/pdn-copy"  # the pod's emptyDir for its shard's SQLite ledger

ENV_LEDGER_BUCKET = "PDN_COPY_LEDGER_BUCKET"
ENV_ROOT = "PDN_COPY_ROOT"
ENV_PLAN = "PDN_COPY_PLAN"
ENV_APP = "PDN_COPY_APP"
ENV_BUCKET = "PDN_COPY_BUCKET"
ENV_PREFIX = "PDN_COPY_PREFIX"
ENV_SOURCE = "PDN_COPY_SOURCE"
ENV_SOURCE_ENDPOINT = "PDN_COPY_SOURCE_ENDPOINT"
ENV_TARGET_ENDPOINT = "PDN_COPY_TARGET_ENDPOINT"
ENV_TARGET_REGION = "PDN_COPY_TARGET_REGION"
ENV_WORKERS = "PDN_COPY_WORKERS"
ENV_STATE_DIR = "PDN_COPY_STATE_DIR"
ENV_INDEX = "JOB_COMPLETION_INDEX"  # set by Kubernetes in every pod of an Indexed Job

#: Secret keys = environment names the worker reads (``pdn.migrate.s3.credentials_from``'s names).
SECRET_KEYS = (
    "PDN_SOURCE_S3_ACCESS_KEY",
    "PDN_SOURCE_S3_SECRET_KEY",
    "PDN_SOURCE_S3_SESSION_TOKEN",
    "PDN_S3_ACCESS_KEY",
    "PDN_S3_SECRET_KEY",
    "PDN_S3_SESSION_TOKEN",
)
