"""The CLI: every command has help; errors are one line, exit 2, no traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from wrnsearch import __version__
from wrnsearch.cli import main


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        yield prefix + (name,), cmd
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, prefix + (name,))


def test_every_command_has_help_text():
    commands = list(_all_commands(main))
    assert len(commands) >= 3
    runner = CliRunner()
    for path, cmd in commands:
        assert cmd.help and cmd.help.strip(), f"{' '.join(path)} has no docstring"
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: wrnsearch " + " ".join(path) in result.output
        for param in cmd.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, f"{' '.join(path)} {param.opts} has no help"


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert __version__ in result.output

@pytest.mark.parametrize(
    "args, fragment",
    [
        (["model", "WRN-27-10"], "depth 27 is impossible"),
        (["model", "ResNet-50"], "'ResNet-50' is not a WRN name"),
        (["model", "WRN-28-10", "--bogus"], "No such option"),
        (["model", "WRN-28-10", "--resolution", "4"], "--resolution"),
        (["model", "WRN-28-10", "--format", "xml"], "--format"),
        (["model", "WRN-16-2", "--measure", "--device", "tpu9" if __import__("torch").cuda.is_available() else "cuda"],
         "--device"),
        (["nothing"], "No such command"),
    ],
)
def test_bad_input_is_one_line_exit_2(args, fragment):
    exe = shutil.which("wrnsearch") or pytest.skip("wrnsearch console script not installed")
    proc = subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert fragment in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_debug_shows_traceback():
    exe = shutil.which("wrnsearch") or pytest.skip("wrnsearch console script not installed")
    proc = subprocess.run([exe, "--debug", "model", "WRN-27-10"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" in proc.stderr and "SpecError" in proc.stderr


def test_module_entry_point():
    proc = subprocess.run([sys.executable, "-m", "wrnsearch", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and __version__ in proc.stdout


# A command run through the quick exit: a non-daemon thread still writing when the command returns,
# an exit handler, and output left in the streams' buffers, as a normal exit would finish them
QUICK_EXIT = """
import atexit, sys, threading, time
from pathlib import Path
from wrnsearch.cli import entry
out = Path(sys.argv[1])
def late():
    time.sleep(0.5)
    (out / "thread").write_text("joined")
threading.Thread(target=late).start()
atexit.register(lambda: (out / "atexit").write_text("ran"))
sys.stdout.write("buffered, no newline")
sys.argv = ["wrnsearch", *sys.argv[2:]]
entry()
"""


@pytest.mark.parametrize("args, code", [(["--version"], 0), (["model", "WRN-27-10"], 2), (["nothing"], 2)])
def test_the_quick_exit_keeps_the_exit_code_joins_threads_and_runs_exit_handlers(tmp_path, args, code):
    proc = subprocess.run([sys.executable, "-c", QUICK_EXIT, str(tmp_path), *args], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout.startswith("buffered, no newline")
    assert (__version__ in proc.stdout) == (code == 0)
    assert (len(proc.stderr.strip().splitlines()) == 1) == (code == 2), proc.stderr
    assert (tmp_path / "thread").read_text() == "joined"
    assert (tmp_path / "atexit").read_text() == "ran"


def test_an_exit_with_a_message_takes_pythons_own_way_out(tmp_path):
    code = "import sys; from wrnsearch.cli import _group; _group.main = lambda: sys.exit('a message'); _group.entry()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr.strip() == "a message"
