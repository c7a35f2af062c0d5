"""Every name derived from untrusted text, one function per kind of name.

Inventories come from thousands of agencies: an agency name may be in any script, hold
punctuation, newlines or 10,000 characters, and two spellings may differ only in case. Each
function here turns *any* string into a valid name of its kind, deterministically:

- ASCII transliteration first (``anyascii``: "Кабинет" -> "kabinet", "北京" -> "beijing"), then
  lower case, every run of other characters becomes one ``-``;
- when that leaves nothing, does not start as the kind requires, or is too long, a readable head
  is kept and a hash of the *original* text is appended, so different inputs stay different and
  the result is never empty.

Nothing else in the project derives a namespace, bucket, folder or label value (the
``tenant-<slug>`` rule used to live in four places, one of which cut at 56 characters).
"""

from __future__ import annotations

import hashlib
import re

from anyascii import anyascii

# An inventory identifier (app_id, dc_id, legacy_dc, depends_on): what may be used unchanged as a
# file name, a Kubernetes label value and, lower-cased, a bucket or object name.
IDENTIFIER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
IDENTIFIER_RULE = "1-63 characters: letters, digits, '.', '_' or '-', starting and ending with a letter or digit"

TENANT_PREFIX = "tenant-"
BUCKET_PREFIX = "mig-"
DNS_LABEL = 63  # RFC 1123 label: namespaces, label values
RESOURCE_NAME = 40  # object names; leaves room for the "-config" / "-data" suffixes render adds
HASH_CHARS = 10  # 40 bits of SHA-256: a collision between two agencies' names is not a concern
_NOT_SLUG = re.compile(r"[^a-z0-9]+")


def is_identifier(value: str) -> bool:
    return IDENTIFIER.fullmatch(value) is not None


def identifier_problem(value: str) -> str | None:
    """Why ``value`` is not an identifier (``None`` when it is one)."""
    if is_identifier(value):
        return None
    shown = value if len(value) <= 80 else value[:77] + "..."
    return f"{shown!r} is not a valid identifier ({IDENTIFIER_RULE})"


def slug(text: str) -> str:
    """Lower-case ASCII, dash-separated form of ``text`` (may be empty; not length-bounded)."""
    return _NOT_SLUG.sub("-", (text if text.isascii() else anyascii(text)).lower()).strip("-")


def digest(text: str) -> str:
    """Short stable hash of ``text`` (any string, even with lone surrogates from file names)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:HASH_CHARS]


def _bounded(text: str, limit: int, letter_first: bool = False) -> str:
    """``slug(text)`` when it is non-empty, fits ``limit`` and starts as required; else a head
    of it plus the hash of ``text``."""
    base = slug(text)
    if base and len(base) <= limit and (base[0].isalpha() or not letter_first):
        return base
    tag = digest(text)
    head = base[: limit - HASH_CHARS - 1].strip("-")
    if letter_first and not head[:1].isalpha():
        head = ("x-" + head)[: limit - HASH_CHARS - 1].strip("-")
    return f"{head}-{tag}" if head else ("x" + tag if letter_first else tag)


def tenant_slug(owner: str) -> str:
    """The tenant's name in labels (``pdn.go.id/tenant``) and in its namespace: at most 56 characters."""
    return _bounded(owner, DNS_LABEL - len(TENANT_PREFIX))


def tenant_namespace(owner: str) -> str:
    """``tenant-<slug>``: the namespace of an agency or super app, a valid RFC 1123 label."""
    return TENANT_PREFIX + tenant_slug(owner)


def bucket_name(app_id: str) -> str:
    """The S3 bucket of an app's migrated data: ``mig-<slug>``, 5-63 characters of [a-z0-9-]."""
    return BUCKET_PREFIX + _bounded(app_id, DNS_LABEL - len(BUCKET_PREFIX))


def backup_bucket(source_site: str) -> str:
    """The bucket on a partner's object store that receives ``source_site``'s backups."""
    return f"pdn-backup-{_bounded(source_site, DNS_LABEL - len('pdn-backup-'))}"


def cluster_api_namespace(site_id: str) -> str:
    """Namespace of a site's Cluster API objects in its management cluster."""
    return f"pdn-cluster-{site_id}"


def resource_name(text: str) -> str:
    """A Kubernetes object name (RFC 1035 label: starts with a letter), at most 40 characters."""
    return _bounded(text, RESOURCE_NAME, letter_first=True)


COPY_LEDGER_BUCKET = "pdn-copy-ledger"


def copy_job_name(app_id: str) -> str:
    """The Indexed Job that copies an app's data on its site's cluster: ``copy-<slug>``, an RFC
    1035 label of at most 40 characters (pod host names add ``-<index>``, which must fit 63)."""
    return resource_name(f"copy-{app_id}")


def verify_job_name(app_id: str) -> str:
    """The Indexed Job that re-reads an app's copied data on its site's cluster: ``verify-<slug>``."""
    return resource_name(f"verify-{app_id}")


def copy_ledger_bucket() -> str:
    """The bucket on a site's object store that holds the copy Jobs' shard plans and ledgers:
    never the app's own bucket, whose listing the app and its smoke check read."""
    return COPY_LEDGER_BUCKET


def label_value(text: str) -> str:
    """A Kubernetes label value: ``text`` itself when it is an identifier, else its bounded slug."""
    return text if is_identifier(text) else _bounded(text, DNS_LABEL)


CKAN_NAME = 100  # CKAN dataset and organization names: 2-100 characters of [a-z0-9_-]


def ckan_name(text: str) -> str:
    """A CKAN dataset or organization ``name`` (its URL part): lower-case [a-z0-9-], 2-100 characters."""
    name = _bounded(text, CKAN_NAME)
    return name if len(name) >= 2 else f"{name}-{digest(text)}"


def app_folder(app_id: str) -> str:
    """The file or folder name of an app's outputs (``manifests/<folder>/``, ``copy/<folder>.sqlite``).

    An identifier is used as it is; anything else (never accepted by the inventory, but a
    command line can carry it) becomes its bounded slug with a hash: never ``.``, ``..``, a
    ``/`` or an empty name.
    """
    return app_id if is_identifier(app_id) else "x-" + _bounded(app_id, DNS_LABEL - 2)


def folder_key(app_id: str) -> str:
    """Two apps whose keys are equal would share a folder on a case-insensitive file system."""
    return app_folder(app_id).casefold()
