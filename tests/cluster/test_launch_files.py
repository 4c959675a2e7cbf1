"""The launch files: Ray's own validation where it exists, structure and commands everywhere else.

Every ``wrnsearch ...`` command written in launch/ (files, comments and README) must name a real
subcommand with real options, and every space file it names must exist.
"""

from __future__ import annotations

import copy
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import click
import pytest
import ray
import yaml

from tests.conftest import REPO
from wrnsearch.cli import main as cli_main

LAUNCH = REPO / "launch"
CLUSTER_YAML = LAUNCH / "cluster-gpu.yaml"
RAYJOB_YAML = LAUNCH / "rayjob.yaml"
SBATCH = LAUNCH / "slurm.sbatch"
README = LAUNCH / "README.md"

SHELL_OPERATORS = {"|", "||", "&", "&&", ";", ">", ">>", "2>&1", ")"}


# --------------------------------------------------------------------------------------------
# Finding the wrnsearch commands a file writes


def _join_continuations(text: str) -> list[str]:
    lines, pending = [], ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return lines + ([pending] if pending else [])


def _commands_in_comment_lines(text: str) -> list[str]:
    """Comment lines that show a command: '#   wrnsearch submit ...'."""
    out = []
    for line in _join_continuations(text):
        stripped = line.strip()
        if stripped.startswith("#"):
            body = stripped.lstrip("#").strip()
            if body.startswith("wrnsearch "):
                out.append(body)
    return out


def _commands_in_strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [m.group(0) for m in re.finditer(r"(?<![\w/.-])wrnsearch\s[^\n;&|]*", value)]
    if isinstance(value, dict):
        return [c for v in value.values() for c in _commands_in_strings(v)]
    if isinstance(value, list):
        return [c for v in value for c in _commands_in_strings(v)]
    return []


def _yaml_commands(path: Path) -> list[str]:
    text = path.read_text()
    return _commands_in_comment_lines(text) + [
        c for doc in yaml.safe_load_all(text) for c in _commands_in_strings(doc)
    ]


def _sbatch_commands(path: Path) -> list[str]:
    out = _commands_in_comment_lines(path.read_text())
    for line in _join_continuations(path.read_text()):
        code = re.sub(r"(^|\s)#.*$", "", line)  # a comment, whole-line or trailing
        out += [m.group(0) for m in re.finditer(r"(?<![\w/.$-])wrnsearch\s[^\n;&|]*", code)]
    return out


def _readme_commands(path: Path) -> list[str]:
    text = path.read_text()
    out = []
    in_code = False
    for line in _join_continuations(text):
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            out += [m.group(0) for m in re.finditer(r"(?<![\w/.-])wrnsearch\s[^\n;&|#]*", line)]
        else:
            out += [span for span in re.findall(r"`([^`]+)`", line) if span.startswith("wrnsearch ")]
    return out


def _all_commands() -> list[tuple[str, str]]:
    found = [(CLUSTER_YAML.name, c) for c in _yaml_commands(CLUSTER_YAML)]
    found += [(RAYJOB_YAML.name, c) for c in _yaml_commands(RAYJOB_YAML)]
    found += [(SBATCH.name, c) for c in _sbatch_commands(SBATCH)]
    found += [(README.name, c) for c in _readme_commands(README)]
    return found


def _tokens(command: str) -> list[str]:
    """The command's words up to a shell operator; "$@" (the script's own arguments) dropped."""
    tokens = shlex.split(command, comments=True)
    for i, token in enumerate(tokens):
        if token in SHELL_OPERATORS:
            tokens = tokens[:i]
            break
    return [t for t in tokens if t not in ("$@", "${@}")]


def _check_command(command: str) -> None:
    """Raise unless ``command`` names a real (or planned) subcommand with real options."""
    tokens = _tokens(command)
    assert tokens[0] == "wrnsearch", command
    args = tokens[1:]
    node: click.Command = cli_main
    path: list[str] = []
    while isinstance(node, click.Group) and args and args[0] in node.commands:
        path.append(args.pop(0))
        node = node.commands[path[-1]]
    if not isinstance(node, click.Group):  # the CLI has it: click parses the arguments
        if not args:
            return  # a mention in prose, such as `wrnsearch run`
        node.make_context(" ".join(["wrnsearch", *path]), list(args), resilient_parsing=False)
        return
    if not args:
        return  # a bare mention of a command group in prose, such as `wrnsearch jobs`
    raise AssertionError(f"{command!r}: {' '.join([*path, args[0]])!r} is no wrnsearch subcommand")


def test_launch_files_and_readme_write_commands():
    commands = _all_commands()
    files = {name for name, _ in commands}
    assert files == {CLUSTER_YAML.name, RAYJOB_YAML.name, SBATCH.name, README.name}, files
    assert len(commands) >= 10


@pytest.mark.parametrize("where,command", _all_commands(), ids=lambda v: v if len(v) < 40 else v[:40])
def test_every_wrnsearch_command_is_real(where, command):
    tokens = _tokens(command)
    _check_command(command)
    for token in tokens:
        if token.startswith("spaces/") and token.endswith((".yaml", ".yml")):
            assert (REPO / token).is_file(), f"{where}: {command!r} names {token}, which does not exist"


def test_command_checker_has_teeth():
    with pytest.raises(AssertionError):
        _check_command("wrnsearch sumbit spaces/cifar10.yaml")
    with pytest.raises(AssertionError):
        _check_command("wrnsearch jobs statu raysubmit_1 --address http://127.0.0.1:8265")
    with pytest.raises((AssertionError, click.UsageError)):
        _check_command("wrnsearch run spaces/cifar10.yaml --adress auto")
    with pytest.raises(click.UsageError):
        _check_command("wrnsearch space validate spaces/cifar10.yaml --sett x=1")
    _check_command("wrnsearch space validate spaces/cifar10.yaml --set train.epochs=1")


# --------------------------------------------------------------------------------------------
# cluster-gpu.yaml: the cluster launcher's own schema and checks


def _cluster_config() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


def _validate_cluster_config(config: dict) -> None:
    from ray.autoscaler._private.util import prepare_config, validate_config

    validate_config(prepare_config(copy.deepcopy(config)))


def test_cluster_yaml_passes_ray_validation():
    _validate_cluster_config(_cluster_config())


def test_cluster_yaml_validation_rejects_a_typo():
    config = _cluster_config()
    config["max_worker"] = config.pop("max_workers")
    with pytest.raises(Exception, match="max_worker"):
        _validate_cluster_config(config)


def test_cluster_yaml_gpu_workers_loopback_dashboard_and_token():
    config = _cluster_config()
    head_type = config["head_node_type"]
    workers = {k: v for k, v in config["available_node_types"].items() if k != head_type}
    assert workers and all(v["resources"].get("GPU", 0) >= 1 for v in workers.values())
    assert all(re.match(r"(g5|g6|p4d|p5)\.", v["node_config"]["InstanceType"]) for v in workers.values())

    head_start = " ".join(config["head_start_ray_commands"])
    assert "ray start --head" in head_start
    assert "--dashboard-host=127.0.0.1" in head_start
    gcs_port = re.search(r"--port=(\d+)", head_start).group(1)
    worker_start = " ".join(config["worker_start_ray_commands"])
    assert f"--address=$RAY_HEAD_IP:{gcs_port}" in worker_start
    for start in (head_start, worker_start):
        assert "RAY_AUTH_MODE=token" in start
    assert config["file_mounts"].get("~/.ray/auth_token") == "~/.ray/auth_token"
    assert any("pip install" in c and "~/wrnsearch" in c for c in config["setup_commands"])
    assert ".venv" in config["rsync_exclude"]
    assert config["docker"]["image"].startswith(f"rayproject/ray:{ray.__version__}")


# --------------------------------------------------------------------------------------------
# rayjob.yaml: KubeRay's RayJob


def _rayjob_documents() -> dict[str, dict]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(RAYJOB_YAML.read_text()) if doc}


def test_rayjob_manifest_structure():
    docs = _rayjob_documents()
    job = docs["RayJob"]
    assert job["apiVersion"] == "ray.io/v1"
    assert job["metadata"]["name"]
    spec = job["spec"]
    assert spec["shutdownAfterJobFinishes"] is True
    cluster = spec["rayClusterSpec"]
    assert cluster["rayVersion"] == ray.__version__  # client, image and cluster run one Ray
    assert cluster["authOptions"]["mode"] == "token"
    head = cluster["headGroupSpec"]
    assert head.get("serviceType", "ClusterIP") == "ClusterIP"
    head_containers = head["template"]["spec"]["containers"]
    assert head_containers and all(c["image"] and c["resources"]["requests"] for c in head_containers)
    groups = cluster["workerGroupSpecs"]
    assert groups and all(g["groupName"] and g["maxReplicas"] >= g.get("minReplicas", 0) for g in groups)
    for group in groups:
        for container in group["template"]["spec"]["containers"]:
            for kind in ("requests", "limits"):
                assert int(container["resources"][kind]["nvidia.com/gpu"]) >= 1


def test_rayjob_shares_one_volume_with_every_pod():
    docs = _rayjob_documents()
    claim = docs["PersistentVolumeClaim"]
    assert "ReadWriteMany" in claim["spec"]["accessModes"]
    cluster = docs["RayJob"]["spec"]["rayClusterSpec"]
    templates = [cluster["headGroupSpec"]["template"]] + [g["template"] for g in cluster["workerGroupSpecs"]]
    mount_paths = set()
    for template in templates:
        volumes = {v["name"]: v for v in template["spec"]["volumes"]}
        for container in template["spec"]["containers"]:
            claimed = {name for name, v in volumes.items()
                       if v.get("persistentVolumeClaim", {}).get("claimName") == claim["metadata"]["name"]}
            mounts = [m for m in container["volumeMounts"] if m["name"] in claimed]
            assert len(mounts) == 1, container["name"]
            mount_paths.add(mounts[0]["mountPath"])
    assert len(mount_paths) == 1
    tokens = _tokens(docs["RayJob"]["spec"]["entrypoint"])
    assert tokens[:3] == ["wrnsearch", "run", "spaces/cifar10.yaml"]
    assert tokens[tokens.index("--address") + 1] == "auto"
    runs_dir = tokens[tokens.index("--runs-dir") + 1]
    assert runs_dir.startswith(mount_paths.pop() + "/")


# --------------------------------------------------------------------------------------------
# slurm.sbatch


def test_sbatch_is_valid_bash():
    bash = shutil.which("bash")
    assert bash
    result = subprocess.run([bash, "-n", str(SBATCH)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_sbatch_starts_and_stops_only_its_own_ray():
    text = SBATCH.read_text()
    assert text.startswith("#!/bin/bash\n")
    directives = re.findall(r"^#SBATCH\s+(--[\w-]+)", text, flags=re.M)
    assert {"--nodes", "--time", "--ntasks-per-node"} <= set(directives)
    # SBATCH directives only count before the first command.
    first_command = next(i for i, line in enumerate(text.splitlines()) if line.strip() and not line.startswith("#"))
    assert all(i < first_command for i, line in enumerate(text.splitlines()) if line.startswith("#SBATCH"))
    assert re.search(r"ray start --head --block", text)
    assert re.search(r"ray start --block --address", text)
    assert "--dashboard-host=127.0.0.1" in text
    trap = re.search(r"^trap (\w+) EXIT", text, flags=re.M)
    assert trap, "no EXIT trap"
    body = re.search(rf"^{trap.group(1)}\(\) {{\n(.*?)^}}", text, flags=re.M | re.S).group(1)
    assert "kill" in body and "RAY_PIDS" in body
    assert not re.search(r"^\s*(srun .*)?ray stop", text, flags=re.M), "ray stop stops every Ray of a node"
    assert "RAY_AUTH_MODE=token" in text
    assert re.search(r"wrnsearch run \"\$SPACE\" --address auto --runs-dir", text)


# --------------------------------------------------------------------------------------------
# The GPU check script (launch/device-check.sh) runs on a lent machine no test reaches: check
# here that it is valid shell and that every wrnsearch subcommand and option it uses exists.

DEVICE_CHECK = LAUNCH / "device-check.sh"


def test_device_check_script_is_valid_shell_and_uses_real_options():
    for script in (DEVICE_CHECK, LAUNCH / "device-prepare.sh"):
        proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    calls = [line.split('"${W[@]}"', 1)[1] for line in _join_continuations(DEVICE_CHECK.read_text())
             if '"${W[@]}"' in line and not line.lstrip().startswith("W=")]
    assert len(calls) >= 3
    used = set()
    for call in calls:
        words = shlex.split(call.split(">")[0].split("||")[0])
        node: click.Command = cli_main
        path = []
        while isinstance(node, click.Group):
            assert words and words[0] in node.commands, call
            path.append(words.pop(0))
            node = node.commands[path[-1]]
        known = {opt for p in node.params for opt in getattr(p, "opts", [])}
        options = [w for w in words if w.startswith("--") and "$" not in w]
        assert options and set(options) <= known, (call, set(options) - known)
        used.add(" ".join(path))
    assert used == {"train", "bench train", "plan"}
