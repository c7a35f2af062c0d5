"""The one way to read a YAML, JSON or text input file: bounded, and every refusal names file and line.

Limits (documented in docs/threat-model.md):

- only regular files are read (a FIFO, device or directory is refused without blocking: the
  file is opened with ``O_NONBLOCK`` and checked with ``fstat`` before any read);
- at most :data:`CONFIG_LIMIT` bytes for configuration (site model, catalogs, blackouts,
  glossaries, tenants files) and :data:`DATA_LIMIT` for inventories;
- UTF-8 only, a leading byte-order mark is dropped; a bad byte is reported with its line;
- YAML: one document, only the safe tags, no duplicate keys, nesting at most
  :data:`MAX_DEPTH` deep; aliases (``*name``, and merge keys ``<<: *name``) are allowed but
  may not be recursive, and the document may hold at most :data:`CONFIG_NODES` values
  (:data:`DATA_NODES` for inventories) once they are expanded: the 7 KB "billion laughs"
  file that made ``plan`` grow past 12 GB is refused after reading it once;
- JSON: no duplicate keys, nesting at most :data:`MAX_DEPTH` deep.

YAML is composed by libyaml when PyYAML has it (its own parser stops at 1,000 levels, so the
recursive composer never runs away); the node tree is then walked once, iteratively, for
duplicate keys, depth and expanded size, before anything is constructed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any

import yaml

from pdn.errors import InputError

CONFIG_LIMIT = 8 * 1024 * 1024
DATA_LIMIT = 256 * 1024 * 1024
MAX_DEPTH = 64
# Values a YAML document may hold once aliases are expanded: configuration, and inventories
# (the 24,400-app national inventory as YAML is about 854,000).
CONFIG_NODES = 200_000
DATA_NODES = 5_000_000

_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')


class LoadError(InputError):
    """An input file was refused; ``file`` and ``line`` (0 when unknown) say where."""

    def __init__(self, file: str, line: int, message: str) -> None:
        self.file, self.line, self.reason = file, line, message
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {message}")


def shown(path: Path | str) -> str:
    """``path`` as printable text: undecodable bytes of a file name appear as ``\\xNN``."""
    text = os.fspath(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def read_bytes(path: Path, limit: int = CONFIG_LIMIT) -> bytes:
    """The content of the regular file ``path``, refused when larger than ``limit`` bytes."""
    name = shown(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LoadError(name, 0, "does not exist") from None
    except OSError as error:
        raise LoadError(name, 0, f"cannot open: {error.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LoadError(name, 0, f"is not a regular file (it is a {_kind(info.st_mode)})")
        if info.st_size > limit:
            raise LoadError(name, 0, f"is {info.st_size:,} bytes; the limit is {limit:,}")
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    except OSError as error:
        raise LoadError(name, 0, f"cannot read: {error.strerror}") from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limit:  # grew while being read
        raise LoadError(name, 0, f"is over the limit of {limit:,} bytes")
    return data


def _kind(mode: int) -> str:
    for test, kind in (
        (stat.S_ISDIR, "directory"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    ):
        if test(mode):
            return kind
    return "special file"


def decode(data: bytes, name: str) -> str:
    """UTF-8 text of ``data`` without a leading byte-order mark; a bad byte names its line."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise LoadError(name, line, f"not UTF-8: {error.reason} at byte {error.start}") from None


def read_text(path: Path, limit: int = CONFIG_LIMIT) -> str:
    return decode(read_bytes(path, limit), shown(path))


# --- YAML ---------------------------------------------------------------------------------------


def compose_yaml(
    text: str, name: str, max_depth: int = MAX_DEPTH, max_nodes: int = CONFIG_NODES
) -> tuple[Any, yaml.Node | None]:
    """(data, node tree) of one YAML document; the tree keeps the line of every key and value."""
    loader = _LOADER(text)
    try:
        try:
            node = loader.get_single_node()
        except RecursionError:  # the pure-Python composer, without libyaml
            raise LoadError(name, 0, f"nesting is deeper than {max_depth} levels") from None
        if node is None:
            return None, None
        _check_tree(node, name, max_depth, max_nodes)
        return loader.construct_document(node), node
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 0
        kind = "YAML error" if isinstance(error, yaml.constructor.ConstructorError) else "YAML syntax error"
        raise LoadError(name, line, f"{kind}: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise LoadError(name, 0, f"YAML error: {error}") from None
    finally:
        loader.dispose()


def _key_identity(node: yaml.Node) -> tuple[str, str] | None:
    if not isinstance(node, yaml.ScalarNode) or node.tag == _MERGE_TAG:
        return None
    value = node.value
    if node.tag == "tag:yaml.org,2002:bool":
        value = str(value.lower() in ("yes", "true", "on", "y"))
    elif node.tag == "tag:yaml.org,2002:null":
        value = ""
    return node.tag, value


def _duplicate_keys(node: yaml.MappingNode, name: str) -> None:
    keys: dict[object, int] = {}
    for key, _value in node.value:
        identity: object = key.value if key.tag == _STR_TAG else _key_identity(key)
        if identity is None:
            continue
        if identity in keys:
            line = key.start_mark.line + 1
            raise LoadError(name, line, f"duplicate key {key.value!r} (first on line {keys[identity]})")
        keys[identity] = key.start_mark.line + 1


def _check_tree(root: yaml.Node, name: str, max_depth: int, max_nodes: int) -> None:
    """Refuse duplicate keys, documents deeper than ``max_depth`` or holding more than
    ``max_nodes`` values; with aliases, count what they expand to (:func:`_check_expanded`).

    One iterative pre-order walk (no recursion limit); an alias is the same node object reached
    twice, so a document without any is walked once and is done.
    """
    seen: set[int] = set()
    shared = False
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        key = id(node)
        if key in seen:
            shared = True
            continue
        seen.add(key)
        if depth > max_depth:
            raise LoadError(name, node.start_mark.line + 1, f"nesting is deeper than {max_depth} levels")
        if isinstance(node, yaml.MappingNode):
            _duplicate_keys(node, name)
            for pair in node.value:
                stack.append((pair[0], depth + 1))
                stack.append((pair[1], depth + 1))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)
    if len(seen) > max_nodes:
        raise LoadError(name, root.start_mark.line + 1, f"holds more than {max_nodes:,} values")
    if shared:
        _check_expanded(root, name, max_depth, max_nodes)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_expanded(root: yaml.Node, name: str, max_depth: int, max_nodes: int) -> None:
    """Size and depth once every alias is expanded, and no alias inside what it refers to.

    The tree is a DAG: one iterative post-order walk computes each node's expanded size and
    height once, linear in the file even for a "billion laughs" document.
    """
    size: dict[int, int] = {}
    height: dict[int, int] = {}
    visiting: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        line = node.start_mark.line + 1
        if finished:
            children = _children(node)
            size[key] = 1 + sum(size[id(child)] for child in children)
            height[key] = 1 + max((height[id(child)] for child in children), default=0)
            visiting.discard(key)
            if height[key] > max_depth:
                raise LoadError(name, line, f"nesting is deeper than {max_depth} levels (through aliases)")
            if size[key] > max_nodes:
                raise LoadError(name, line, f"expands to more than {max_nodes:,} values (through aliases)")
            continue
        if key in size:
            continue
        if key in visiting:
            raise LoadError(name, line, "a YAML alias refers to a value that contains it (recursive)")
        visiting.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in size)


def yaml_text(text: str, name: str, max_nodes: int = CONFIG_NODES) -> Any:
    return compose_yaml(text, name, max_nodes=max_nodes)[0]


def load_yaml(path: Path, limit: int = CONFIG_LIMIT, max_nodes: int = CONFIG_NODES) -> Any:
    """The data of the YAML file ``path`` (``None`` for an empty file)."""
    return yaml_text(read_text(path, limit), shown(path), max_nodes)


def load_yaml_all(path: Path, limit: int = CONFIG_LIMIT, max_nodes: int = CONFIG_NODES) -> list[Any]:
    """Every non-empty document of a multi-document YAML file (upstream manifests), each
    checked as :func:`compose_yaml` checks one; ``max_nodes`` bounds all documents together."""
    name = shown(path)
    loader = _LOADER(read_text(path, limit))
    documents: list[Any] = []
    try:
        left = max_nodes
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            _check_tree(node, name, MAX_DEPTH, left)
            left -= len(_walk(node))
            document = loader.construct_document(node)
            if document is not None:  # an empty document (a trailing ``---``) holds nothing
                documents.append(document)
        return documents
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else 0
        raise LoadError(name, line, f"YAML syntax error: {error.problem or error.context}") from None
    except yaml.YAMLError as error:
        raise LoadError(name, 0, f"YAML error: {error}") from None
    finally:
        loader.dispose()


def _walk(root: yaml.Node) -> list[yaml.Node]:
    """Every distinct node under ``root`` (aliases once)."""
    seen: dict[int, yaml.Node] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen[id(node)] = node
        stack.extend(_children(node))
    return list(seen.values())


# --- JSON ---------------------------------------------------------------------------------------


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _Duplicate(key)
            seen.add(key)
    return result


def _json_depth(text: str, name: str, max_depth: int) -> None:
    depth = 0
    for match in _JSON_TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > max_depth:
                line = text.count("\n", 0, match.start()) + 1
                raise LoadError(name, line, f"nesting is deeper than {max_depth} levels")
        elif token in "]}":
            depth -= 1


def _duplicate_line(text: str) -> int:
    """Line of the object holding the first duplicate key (found again with the pure-Python scanner,
    which, unlike the C one, tells where each object starts)."""
    found = [0]

    def parse_object(s_and_end: tuple[str, int], *args: Any) -> Any:
        source, end = s_and_end

        def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
            try:
                return _no_duplicates(pairs)
            except _Duplicate:
                found[0] = source.count("\n", 0, end) + 1
                raise

        strict, scan_once, object_hook, _pairs_hook, memo = args
        return json.decoder.JSONObject(s_and_end, strict, scan_once, object_hook, hook, memo)  # type: ignore[attr-defined]

    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates)
    decoder.parse_object = parse_object  # type: ignore[attr-defined]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[attr-defined]
    with contextlib.suppress(_Duplicate):
        decoder.decode(text)
    return found[0]


def json_text(text: str, name: str, max_depth: int = MAX_DEPTH) -> Any:
    """The data of one JSON document ``text`` (``name`` is used in messages)."""
    _json_depth(text, name, max_depth)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as duplicate:
        raise LoadError(name, _duplicate_line(text), f"duplicate key {duplicate.args[0]!r} in an object") from None
    except json.JSONDecodeError as error:
        raise LoadError(name, error.lineno, f"JSON error: {error.msg}") from None
    except RecursionError:
        raise LoadError(name, 0, f"nesting is deeper than {max_depth} levels") from None


def load_json(path: Path, limit: int = CONFIG_LIMIT) -> Any:
    return json_text(read_text(path, limit), shown(path))
