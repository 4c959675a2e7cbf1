"""Every shell command in README.md, docs/*.md and launch/README.md, as a reader would paste it.

Each is split as bash would split it (shlex, with bash's operators): a WRN name with parentheses
left unquoted is a syntax error there, and fails here. The light ``wrnsearch`` commands (``space
...``, ``model ...`` without ``--measure``, ``--help``) run as written, from the repository root,
and must exit as the doc shows (2 where it shows ``wrnsearch: error``, else 0); the heavy ones
(a search, training, timing) are checked against the CLI: the command exists, every option it
names does, and it gives no more arguments than the command takes. A quickstart run's trial
numbers and architectures in an example are ones such a run has: its enqueued architectures,
which it trains first (trial 0, 1, ...). And docs/spaces.md's reference block is ``space show``
of a minimal space: every key, each with its true default.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from wrnsearch.cli import main

REPO = Path(__file__).resolve().parents[1]
while not (REPO / "pyproject.toml").exists():
    REPO = REPO.parent
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "launch" / "README.md"]
OPERATORS = {"|", "||", "&&", ";", "&"}
REDIRECTS = re.compile(r"^\d*(>|>>|<|>&)$")


@dataclass(frozen=True)
class DocCommand:
    where: str  # file:line
    line: str  # the command as written (continuations joined)
    output: str  # what the doc shows it printing (console blocks)


def doc_commands(path: Path) -> list[DocCommand]:
    """The commands of a markdown file's bash and console blocks."""
    commands: list[DocCommand] = []
    lines = path.read_text().splitlines()
    fence: str | None = None
    pending: tuple[int, str] | None = None
    for number, text in enumerate(lines, 1):
        if text.startswith("```"):
            fence = None if fence is not None else (text[3:].strip() or "text")
            continue
        if fence not in ("bash", "sh", "shell", "console"):
            continue
        if pending is not None:  # a continuation line
            start, joined = pending
            joined += " " + text.strip()
        elif fence == "console" and text.startswith("$ "):
            start, joined = number, text[2:]
        elif fence == "console":
            if commands:
                last = commands[-1]
                commands[-1] = DocCommand(last.where, last.line, last.output + text + "\n")
            continue
        elif text.strip() and not text.lstrip().startswith("#"):
            start, joined = number, text
        else:
            continue
        if joined.rstrip().endswith("\\"):
            pending = (start, joined.rstrip()[:-1])
            continue
        pending = None
        commands.append(DocCommand(f"{path.relative_to(REPO)}:{start}", joined.strip(), ""))
    return commands


ALL = [c for doc in DOCS for c in doc_commands(doc)]


def bash_words(line: str) -> list[list[str]]:
    """The simple commands of ``line`` as bash splits them, comments dropped, leading ``VAR=value``
    assignments and redirections removed. Raises ValueError where bash would not parse it."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens = list(lexer)  # ValueError on an unclosed quote
    simple: list[list[str]] = [[]]
    skip = False
    for token in tokens:
        if token in OPERATORS:
            simple.append([])
        elif token in ("(", ")", "()") or (set(token) <= set("()<>|&;") and not REDIRECTS.match(token)):
            raise ValueError(f"unquoted {token!r}: bash reads it as syntax (quote the name: 'WRN-22-2-B(3,1,3)')")
        elif REDIRECTS.match(token):
            if simple[-1] and simple[-1][-1].isdigit():  # 2>/dev/null: shlex splits the descriptor off
                simple[-1].pop()
            skip = True
        elif skip:
            skip = False
        elif not simple[-1] and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", token):
            continue  # an environment assignment before the command
        else:
            simple[-1].append(token)
    return [words for words in simple if words]


def resolve(words: list[str]) -> tuple[click.Command, list[str], list[str]]:
    """The click command ``wrnsearch a b ...`` names, its path, and the arguments left for it."""
    command: click.Command = main
    path, args = [], list(words[1:])
    while isinstance(command, click.Group) and args and not args[0].startswith("-"):
        sub = command.get_command(click.Context(command), args[0])
        assert sub is not None, f"no command {' '.join(['wrnsearch', *path, args[0]])}"
        command, path, args = sub, [*path, args.pop(0)], args
    return command, path, args


def check_arguments(command: click.Command, args: list[str]) -> None:
    """Every option named exists on ``command`` (or the group), and no more positional arguments
    are given than it takes."""
    options: dict[str, click.Option] = {}
    for param in [*command.params, *main.params]:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                options[name] = param
    takes = sum(p.nargs if p.nargs > 0 else 99 for p in command.params if isinstance(p, click.Argument))
    given, i = 0, 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            given += len(args) - i - 1
            break
        if arg.startswith("-") and arg != "-":
            name = arg.split("=", 1)[0]
            assert name in options, f"no option {name} (it has {', '.join(sorted(options))})"
            option = options[name]
            if not option.is_flag and not option.count and "=" not in arg:
                i += option.nargs  # its value(s): one --set, one KEY=VALUE
        else:
            given += 1
        i += 1
    assert given <= takes, f"{given} arguments, and the command takes {takes}"


def _light(path: list[str], args: list[str]) -> bool:
    return ("--help" in args or "-h" in args or path[:1] == ["space"]
            or (path == ["model"] and "--measure" not in args))


def _quickstart_examples() -> tuple[list[str], dict[int, str]]:
    enqueued = yaml.safe_load((REPO / "spaces" / "quickstart.yaml").read_text())["search"]["enqueue"]
    return enqueued, dict(enumerate(enqueued))


@pytest.mark.parametrize("doc", ALL, ids=[c.where for c in ALL])
def test_a_documented_command_runs_as_written(doc: DocCommand, monkeypatch):
    monkeypatch.chdir(REPO)  # as a reader runs them: from the checkout's root
    try:
        commands = bash_words(doc.line)
    except ValueError as e:
        pytest.fail(f"{doc.where}: `{doc.line}`: {e}")
    enqueued, by_number = _quickstart_examples()
    for words in commands:
        if words[0] != "wrnsearch":
            continue
        command, path, args = resolve(words)
        try:
            check_arguments(command, args)
        except AssertionError as e:
            pytest.fail(f"{doc.where}: `{doc.line}`: {e}")
        if "runs/quickstart" in args:  # an example on a quickstart run names what it really has
            for flag, value in zip(args, args[1:]):
                if flag == "--trial":
                    assert int(value) in by_number, \
                        f"{doc.where}: a quickstart run's first trials are {by_number}; it may have no trial {value}"
                if flag == "--arch":
                    assert value in enqueued, \
                        f"{doc.where}: {value} is not one a quickstart run trains (first {enqueued})"
        if _light(path, args):
            result = CliRunner().invoke(main, words[1:])
            expected = 2 if "wrnsearch: error" in doc.output else 0
            assert result.exit_code == expected, (doc.where, doc.line, result.output[-2000:])


def test_the_checks_catch_what_a_reader_would_trip_on():
    """The unquoted name and an option that does not exist fail; the quoted name passes."""
    with pytest.raises(ValueError, match="unquoted"):
        bash_words("wrnsearch model WRN-22-2-B(3,1,3) --classes 100")
    assert bash_words("wrnsearch model 'WRN-22-2-B(3,1,3)' --classes 100 | head -3 && echo ok # comment") == [
        ["wrnsearch", "model", "WRN-22-2-B(3,1,3)", "--classes", "100"], ["head", "-3"], ["echo", "ok"]]
    assert bash_words("RAY_AUTH_MODE=token wrnsearch jobs list 2>/dev/null") == [["wrnsearch", "jobs", "list"]]
    command, path, args = resolve(["wrnsearch", "export", "runs/quickstart", "--trail", "0"])
    assert path == ["export"]
    with pytest.raises(AssertionError, match="no option --trail"):
        check_arguments(command, args)
    command, _, args = resolve(["wrnsearch", "run", "a.yaml", "b.yaml"])
    with pytest.raises(AssertionError, match="2 arguments"):
        check_arguments(command, args)
    assert len(ALL) >= 40 and any(c.where.startswith("launch/README.md") for c in ALL)


def _reference_block() -> dict:
    text = (REPO / "docs" / "spaces.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    return yaml.safe_load(block)


def _keys(data: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict) and value and key not in ("asha", "widen_factor"):
            out.update(_keys(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def test_the_space_reference_documents_every_key_with_its_true_default(tmp_path):
    """docs/spaces.md's block is ``space show`` of a file holding its ``name`` and ``space`` only."""
    documented = _reference_block()
    minimal = tmp_path / "minimal.yaml"
    minimal.write_text(yaml.safe_dump({"name": documented["name"], "space": documented["space"]}))
    result = CliRunner().invoke(main, ["space", "show", str(minimal)])
    assert result.exit_code == 0, result.output
    assert ": 500.0" not in result.output and re.search(r"val_size: 5000\n", result.output)  # counts as ints
    shown = _keys(yaml.safe_load(result.output))
    doc = _keys(documented)
    assert list(shown) == list(doc), (set(shown) ^ set(doc))  # every key, in space show's order
    wrong = {k: (doc[k], v) for k, v in shown.items() if doc[k] != v}
    assert not wrong, f"docs/spaces.md gives these defaults wrongly (doc, true): {wrong}"
