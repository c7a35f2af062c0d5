"""Generated lab secrets (MinIO root credentials, Pulumi passphrase): files under the lab dir, mode 0600."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def write_private(path: Path, text: str) -> None:
    """Create ``path`` with mode 0600 from the start (never world-readable, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def ensure_credentials(path: Path) -> tuple[str, str]:
    """Access key and secret key stored in ``path`` (two lines), generated on first use."""
    if not path.is_file():
        access = "pdn" + secrets.token_hex(8)
        secret = secrets.token_urlsafe(30)
        write_private(path, f"{access}\n{secret}\n")
    return read_credentials(path)


def read_credentials(path: Path) -> tuple[str, str]:
    lines = path.read_text(encoding="utf-8").split()
    if len(lines) != 2:
        raise ValueError(f"{path} must hold two lines: access key and secret key")
    return lines[0], lines[1]


def ensure_passphrase(path: Path) -> Path:
    """A random Pulumi config passphrase in ``path`` (created once; secrets depend on it)."""
    if not path.is_file():
        write_private(path, secrets.token_urlsafe(32) + "\n")
    return path
