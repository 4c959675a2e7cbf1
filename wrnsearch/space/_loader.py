"""Loading a space file: safe YAML, ``--set`` overrides, and one located line per problem.

:func:`load_space` reads a file, applies overrides, validates everything once and raises
:class:`~wrnsearch.errors.SpaceError` with one line per problem, each naming the file, line,
column and dotted key (with a did-you-mean for misspelt keys). Inside the library a
:class:`~wrnsearch.space._schema.Space` is always valid.
"""

from __future__ import annotations

import copy
import difflib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from wrnsearch.errors import SpaceError, one_line
from wrnsearch.space._budget import impossibilities
from wrnsearch.space._schema import Space

log = logging.getLogger(__name__)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of silently keeping the last."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} appears twice (first on line {seen[key].start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return super().construct_mapping(node, deep=deep)


def _find_mark(node: yaml.Node | None, path: Sequence[Any]) -> yaml.Mark | None:
    """The mark of the deepest node along ``path``: the key for mappings, the item for lists."""
    mark = node.start_mark if node is not None else None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if key_node.value == str(part):
                    mark, node = key_node.start_mark, value_node
                    break
            else:
                return mark
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            mark = node.start_mark
        else:
            return mark
    return mark


def _fields_at(model: type[BaseModel], loc: Sequence[Any]) -> list[str]:
    """Field names of the section at ``loc`` (for did-you-mean hints)."""
    for part in loc:
        field = model.model_fields.get(str(part))
        ann = getattr(field, "annotation", None) if field else None
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
        else:
            return []
    return list(model.model_fields)


class _Problems:
    """Collects problems and formats each as ``file:line:col: dotted.key: message``."""

    def __init__(self, source: str, root: yaml.Node | None, overrides: dict[tuple[str, ...], str]) -> None:
        self.source, self.root, self.overrides = source, root, overrides
        self.lines: list[str] = []

    def add(self, path: Sequence[Any], message: str) -> None:
        dotted = ".".join(str(p) for p in path)
        for opath, text in self.overrides.items():
            if tuple(str(p) for p in path[: len(opath)]) == opath:
                self.lines.append(f"{self.source}: --set {text}: {dotted}: {message}")
                return
        mark = _find_mark(self.root, path)
        where = f"{self.source}:{mark.line + 1}:{mark.column + 1}" if mark else self.source
        self.lines.append(f"{where}: {dotted}: {message}" if dotted else f"{where}: {message}")

    def raise_if_any(self) -> None:
        if self.lines:
            raise SpaceError(self.lines)


def parse_override(text: str) -> tuple[tuple[str, ...], Any]:
    """``train.epochs=10`` -> (("train", "epochs"), 10); the value is read as YAML."""
    if "=" not in text:
        raise SpaceError(f"--set {text}: expected KEY=VALUE, e.g. --set train.epochs=10")
    key, raw = text.split("=", 1)
    path = tuple(p.strip() for p in key.split("."))
    if not all(path):
        raise SpaceError(f"--set {text}: {key!r} is not a dotted key such as budget.max_params")
    try:
        value = yaml.load(raw, Loader=_UniqueKeyLoader) if raw.strip() else None
    except yaml.YAMLError as e:
        raise SpaceError(f"--set {text}: the value is not valid YAML ({one_line(e, None)})") from None
    return path, value


def _apply_override(data: dict[str, Any], path: tuple[str, ...], value: Any, text: str) -> None:
    node: Any = data
    for i, part in enumerate(path[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise SpaceError(f"--set {text}: {'.'.join(path[: i + 1])} is not a section")
        node = nxt
    node[path[-1]] = value


# Keys earlier versions wrote into run directories' space.yaml that no longer do anything: they
# are dropped with a warning, so that `wrnsearch resume` of such a run still works.
RETIRED_KEYS = {("train", "workers"): "the trainer uses no DataLoader workers"}


def drop_retired_keys(data: dict[str, Any], source: str | None = None) -> dict[str, Any]:
    """Remove :data:`RETIRED_KEYS` from a space's data in place (warning when ``source`` is given)."""
    for (section, key), why in RETIRED_KEYS.items():
        block = data.get(section)
        if isinstance(block, dict) and key in block:
            del block[key]
            if source is not None:
                log.warning("%s: %s.%s is retired and ignored (%s)", source, section, key, why)
    return data


def load_space(path: str | Path, overrides: Sequence[str] = (), *, search: bool = True) -> Space:
    """Read, override and validate a space file.

    ``search=False`` checks it for training one architecture only (``wrnsearch train``), which
    may hold out no validation images.

    Raises:
        SpaceError: with one line per problem, each naming file, line, column and key.
    """
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise SpaceError(f"{source}: no such file; the shipped spaces are in spaces/") from None
    except OSError as e:
        raise SpaceError(f"{source}: cannot read: {e.strerror}") from None
    return parse_space(raw, source=source, overrides=overrides, search=search)


def parse_space(raw: bytes | str, *, source: str = "<space>", overrides: Sequence[str] = (),
                search: bool = True) -> Space:
    """Validate a space given as text; see :func:`load_space`."""
    text = _decode(raw, source)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        problem = e.problem or e.context or "invalid YAML"
        if "could not determine a constructor" in problem or "tag" in problem and "python" in problem:
            tag = problem.split("tag", 1)[-1].strip(" '") if "tag" in problem else ""
            problem = f"tag {tag!r} is not allowed: space files are plain data (no Python objects)"
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise SpaceError(f"{where}: YAML error: {problem}") from None
    except yaml.YAMLError as e:
        raise SpaceError(f"{source}: YAML error: {one_line(e, None)}") from None
    except RecursionError:
        raise SpaceError(f"{source}: YAML nested too deeply") from None
    if data is None:
        raise SpaceError(f"{source}: the file is empty; a space needs at least name and space "
                         "(see spaces/quickstart.yaml)")
    if not isinstance(data, dict):
        raise SpaceError(f"{source}:1:1: the top level must be a mapping of sections (name, dataset, space, ...), "
                         f"not a {type(data).__name__}")
    return space_from_data(data, source=source, overrides=overrides, search=search, root=root)


def space_from_data(data: dict[str, Any], *, source: str = "<space>", overrides: Sequence[str] = (),
                    search: bool = True, root: yaml.Node | None = None) -> Space:
    """Validate a space given as plain data (the sections of a space file), with ``--set`` overrides.

    What the CLI builds for ``wrnsearch train NAME`` goes through here, so that a name such as
    ``WRN-22-2-B(3,1,3)`` stays one string. ``root`` is the parsed YAML node the data came from,
    for file positions in the errors; without it, errors name the key only.

    Raises:
        SpaceError: with one line per problem.
    """
    data = copy.deepcopy(data)
    override_text: dict[tuple[str, ...], str] = {}
    for item in overrides:
        opath, value = parse_override(item)
        _apply_override(data, opath, value, item)
        override_text[opath] = item

    problems = _Problems(source, root, override_text)
    drop_retired_keys(data, source)
    try:
        space = Space.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith(_PYDANTIC_TAGS))]
            problems.add(loc, _explain(err, loc))
        problems.raise_if_any()
        raise  # pragma: no cover
    space = space.located(source)
    for path, message in impossibilities(space):
        problems.add(path, message)
    if search and space.dataset.val_size == 0 and space.phase == "search":
        problems.add(["dataset", "val_size"], "0 holds out no validation images, but a search optimizes validation "
                     "error: hold out some (e.g. 5000); 0 is for `wrnsearch train` on the whole training set")
    problems.raise_if_any()
    return space


def training_space(name: str, *, space_file: str | Path | None = None, overrides: Sequence[str] = ()) -> Space:
    """The space ``wrnsearch train NAME`` trains with: ``space_file``'s dataset and recipe, or the
    paper's recipe on CIFAR-10, with ``overrides``. It may hold out no validation images.

    Raises:
        SpaceError: with one line per problem.
    """
    if space_file is not None:
        return load_space(space_file, overrides, search=False)
    return space_from_data({"name": "train", "space": {"architecture": [name]}}, source="wrnsearch train",
                           overrides=overrides, search=False)


# pydantic's names for union members and validators in an error's location: not keys of the file
_PYDANTIC_TAGS = ("function-", "literal[", "int", "float", "str", "list[", "bool", "tuple[")


def _decode(raw: bytes | str, source: str) -> str:
    if isinstance(raw, bytes):
        if b"\x00" in raw:
            raise SpaceError(f"{source}: binary data, not a YAML text file")
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise SpaceError(f"{source}: not UTF-8 text (bad byte at offset {e.start})") from None
    if len(raw) > 1_000_000:
        raise SpaceError(f"{source}: {len(raw):,} characters is too large for a space file")
    return raw


def _explain(err: dict[str, Any], loc: Sequence[Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        allowed = _fields_at(Space, loc[:-1])
        hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
        text = f"unknown key {key!r}"
        if hint:
            return text + f" (did you mean {hint[0]!r}?)"
        return text + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return "required key is missing"
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    value = err.get("input")
    if kind in ("literal_error", "enum"):
        return f"{value!r} is not allowed: {msg[0].lower() + msg[1:]}"
    if not isinstance(value, (dict, list)) and kind not in ("value_error",):
        return f"{msg} (got {value!r})"
    return msg


def as_space(space: str | Path | Mapping[str, Any] | Space, overrides: Sequence[str] = (), *,
             source: str = "<space>") -> Space:
    """A validated space from a file path, the sections of a space file as a mapping (errors name
    ``source`` and the key), or a :class:`Space` (with ``overrides`` applied, re-validated)."""
    if isinstance(space, Space):
        if not overrides:
            return space
        return space_from_data(space.to_yaml_dict(), source=space.source, overrides=overrides)
    if isinstance(space, Mapping):
        return space_from_data(dict(space), source=source, overrides=overrides)
    return load_space(space, overrides)
