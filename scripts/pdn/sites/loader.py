"""Load ``sites.yaml`` into :class:`SiteModel`, reporting every problem with file, line and field.

PyYAML's composed node tree keeps the line of every key and value; pydantic reports the path of
every invalid field. Joining the two gives messages such as
``stacks/sites.yaml:42: sites[1].kubernetes.version: String should match pattern ...``.
The file is read and parsed by :mod:`pdn.safeload` (bounded; no aliases, no duplicate keys).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import ValidationError

from pdn import paths, safeload
from pdn.errors import InputError
from pdn.sites.model import SiteModel


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a site file."""

    file: Path
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else str(self.file)
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class SiteFileError(InputError):
    """The site file cannot be used; ``problems`` lists every reason."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        count = len(self.problems)
        super().__init__(
            f"{self.problems[0].file} is invalid ({count} problem{'s' if count != 1 else ''}):\n{lines}",
            hint="fix the fields named above; docs/sites.md describes every field",
        )


def format_loc(loc: Iterable[int | str]) -> str:
    """``('sites', 1, 'kubernetes')`` -> ``sites[1].kubernetes``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _line_of(root: yaml.Node | None, loc: Sequence[int | str]) -> int | None:
    """1-based line of the deepest node along ``loc`` that exists in the YAML tree."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            # the last match: construction puts merged (``<<: *anchor``) keys before the
            # mapping's own, and the own key is the one that counts
            for key, value in node.value:
                if key.value == part:
                    child = value
                    line = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line


def _referential_problems(model: SiteModel, path: Path, tree: yaml.Node | None) -> list[Problem]:
    """Cross-field checks pydantic cannot express on one field: ids, partners, domains."""
    problems: list[Problem] = []

    def add(loc: tuple[int | str, ...], message: str) -> None:
        problems.append(Problem(path, _line_of(tree, loc), format_loc(loc), message))

    ids = model.ids
    for index, site in enumerate(model.sites):
        if site.id in ids[:index]:
            add(("sites", index, "id"), f"duplicate site id {site.id!r}")
    for index, site in enumerate(model.sites):
        domains = [domain.id for domain in site.failure_domains]
        for d_index, domain in enumerate(domains):
            if domain in domains[:d_index]:
                add(("sites", index, "failure_domains", d_index, "id"), f"duplicate failure domain {domain!r}")
        for p_index, pool in enumerate(site.kubernetes.worker_pools):
            if pool.failure_domain not in domains:
                add(
                    ("sites", index, "kubernetes", "worker_pools", p_index, "failure_domain"),
                    f"unknown failure domain {pool.failure_domain!r} (site {site.id} has {', '.join(domains)})",
                )
        for p_index, partner in enumerate(site.backup.partners):
            if partner.site not in ids:
                add(
                    ("sites", index, "backup", "partners", p_index, "site"),
                    f"unknown backup partner {partner.site!r} (known sites: {', '.join(ids)})",
                )
        for f_index, link in enumerate(site.fibre):
            if link.to == site.id:
                add(("sites", index, "fibre", f_index, "to"), "a fibre link cannot end at its own site")
    for index, pair in enumerate(model.policy.mutual_pairs):
        for member in pair:
            if member not in ids:
                add(("policy", "mutual_pairs", index), f"unknown site {member!r} in mutual pair")
    return problems


def parse_sites(text: str, path: Path) -> SiteModel:
    """Parse and validate site-model text; ``path`` is only used in messages."""
    try:
        data, tree = safeload.compose_yaml(text, safeload.shown(path))
    except safeload.LoadError as error:
        raise SiteFileError([Problem(path, error.line or None, "", error.reason)]) from None
    if not isinstance(data, dict):
        raise SiteFileError([Problem(path, 1, "", "the file must hold a mapping with 'sites' and 'policy'")])
    try:
        model = SiteModel.model_validate(data)
    except ValidationError as error:
        problems = [
            Problem(path, _line_of(tree, item["loc"]), format_loc(item["loc"]), item["msg"]) for item in error.errors()
        ]
        raise SiteFileError(problems) from None
    problems = _referential_problems(model, path, tree)
    if problems:
        raise SiteFileError(problems)
    return model


def load_sites(path: Path | None = None) -> SiteModel:
    """Load the site model from ``path`` (default: ``stacks/sites.yaml`` or ``$PDN_SITES``)."""
    target = path or paths.sites_file()
    return _load_cached(target.resolve())


@lru_cache(maxsize=8)
def _load_cached(path: Path) -> SiteModel:
    if not path.exists():
        raise InputError(f"site model not found: {safeload.shown(path)}", hint="set PDN_SITES or pass --file")
    try:
        text = safeload.read_text(path)
    except safeload.LoadError as error:
        raise SiteFileError([Problem(path, error.line or None, "", error.reason)]) from None
    return parse_sites(text, path)
