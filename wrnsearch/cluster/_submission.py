"""What a search job is: its entrypoint and runtime environment, a pure function of the options.

A search runs on a cluster as a *Ray job*: the driver (``wrnsearch run SPACE --address auto``)
runs on the head node and Ray Tune spreads the trials over the nodes. :func:`build_submission`
turns a space file and :class:`SubmitOptions` into a :class:`Submission` without touching a
cluster (so it is tested without one); :func:`wrnsearch.cluster._jobs.submit` sends it.

Shipping the code. The job's runtime environment holds the checkout (``working_dir``, without
``.venv``, ``runs/``, ``.git`` and data) and, unless told otherwise, the project's dependencies
read from ``pyproject.toml`` as a pip list. The project itself is *not* pip-installed: the
working directory is the job's current directory and is on ``PYTHONPATH``, so the entrypoint
is ``python -m wrnsearch run ...``. That choice works offline: Ray builds the pip environment
on top of the node's own packages (``--system-site-packages``, or a clone of the node's
virtualenv), so requirements the node image already satisfies need no index, whereas
installing the checkout would need setuptools from an index for the build. Ray is left out of
the list: the cluster's Ray must stay the one it runs. On nodes that already have wrnsearch
installed, ``pip=False`` drops the pip list and ``runtime_env=False`` drops the runtime
environment altogether (the entrypoint is then ``wrnsearch run ...`` with the path as given).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wrnsearch import __version__
from wrnsearch.errors import RunError
from wrnsearch.space import Space
from wrnsearch.study import SHARED_FS_ENV, display_url, sqlite_path, without_password

# Left out of the shipped working directory (gitignore syntax; a leading / anchors a pattern at
# the checkout's root, so a package named data/ deeper down still travels). Ray also skips what
# the checkout's .gitignore lists; these hold even without one.
WORKING_DIR_EXCLUDES = (
    "/.venv/", "/venv/", "/.git/", "/runs/", "/.data/", "/data/", "/shared/", "/build/", "/dist/",
    "*.egg-info/", "__pycache__/", ".pytest_cache/", ".mypy_cache/", ".ruff_cache/",
    ".ipynb_checkpoints/", "*.db", "*.sqlite", "*.pt", "*.pth", "*.ckpt", "*.safetensors", "*.npz",
    "*.tar", "*.tar.gz", "*.tgz", "*.zip", "*.whl",
)


@dataclass(frozen=True)
class SubmitOptions:
    """How to run a space on a cluster: the run's own options as the nodes see them, and what to ship.

    ``runs_dir``, ``data_root`` and a SQLite ``storage`` must be absolute paths as the cluster's
    nodes see them: the job's current directory is a temporary copy of the working directory
    that Ray deletes when the job ends, so a relative run directory would lose the study.
    """

    runs_dir: str | None = None
    overrides: tuple[str, ...] = ()
    name: str | None = None
    storage: str | None = None  # passed on only when given (it overrides the space file's)
    data_root: str | None = None
    working_dir: str | Path | None = "."  # the project checkout shipped with the job
    pip: bool = True  # ship the project's dependencies as a pip list
    extra_pip: tuple[str, ...] = ()
    runtime_env: bool = True  # False: ship nothing, the nodes have wrnsearch installed
    env_vars: Mapping[str, str] = field(default_factory=dict)
    entrypoint_resources: Mapping[str, float] | None = None


@dataclass(frozen=True)
class Submission:
    """Everything :func:`~wrnsearch.cluster._jobs.submit` sends to the cluster: the entrypoint and its environment."""

    entrypoint: str
    runtime_env: dict[str, Any] | None
    metadata: dict[str, str] = field(default_factory=dict)
    entrypoint_resources: dict[str, float] | None = None


def project_requirements(working_dir: str | Path = ".") -> list[str]:
    """The project's runtime dependencies from ``pyproject.toml``, Ray left out.

    Falls back to the installed distribution's metadata when the checkout has no
    ``pyproject.toml``. Ray is dropped because the job must run on the cluster's own Ray.
    """
    pyproject = Path(working_dir) / "pyproject.toml"
    deps: list[str]
    if pyproject.is_file():
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ModuleNotFoundError:
                tomllib = None  # type: ignore[assignment]
        if tomllib is not None:
            with open(pyproject, "rb") as f:
                deps = list(tomllib.load(f).get("project", {}).get("dependencies", []))
            return [d for d in deps if not _is_ray(d)]
    from importlib import metadata

    try:
        requires = metadata.requires("wrnsearch") or []
    except metadata.PackageNotFoundError:
        raise RunError(f"cannot read the project's dependencies: no pyproject.toml in {working_dir} "
                       "and wrnsearch is not installed; pass pip=False if the nodes have them") from None
    deps = [r for r in requires if "extra ==" not in r]
    return [d for d in deps if not _is_ray(d)]


def _is_ray(requirement: str) -> bool:
    name = requirement.strip()
    for stop in "[<>=!~;@ ":
        name = name.split(stop, 1)[0]
    return name.lower().replace("_", "-") == "ray"


def build_submission(space_path: str | Path, options: SubmitOptions, *, space: Space | None = None) -> Submission:
    """The entrypoint and runtime environment of a search job; touches no cluster.

    With ``options.runtime_env`` False nothing is shipped (``pip`` is moot): the nodes must have
    wrnsearch installed and ``space_path`` must name the file as the head node sees it, relative
    to the directory the head's ``ray start`` ran in or absolute. ``space``, the loaded space,
    lends its name to the job's metadata and its ``storage`` to the path check.

    Raises:
        RunError: for relative paths, a space file outside the shipped checkout, and the like.
    """
    _check_paths(options, space)
    space_path = Path(space_path)
    env: dict[str, Any] | None = None
    if options.runtime_env:
        env, space_arg = _runtime_env(space_path, options)
        command = ["python", "-m", "wrnsearch", "run", space_arg]
    else:
        if options.extra_pip or options.env_vars:
            raise RunError("extra pip packages and environment variables travel in the job's runtime "
                           "environment: drop them, or keep the runtime environment")
        command = ["wrnsearch", "run", str(space_path)]
    command += ["--address", "auto"]
    for option, value in (("--name", options.name), ("--runs-dir", options.runs_dir), ("--storage", options.storage),
                          ("--data-root", options.data_root)):
        if value is not None:
            command += [option, str(value)]
    for override in options.overrides:
        command += ["--set", override]
    metadata = {"wrnsearch_version": __version__, "submitted_from": socket.gethostname()}
    search_name = options.name or (space.name if space is not None else None)
    if search_name:
        metadata["wrnsearch_search"] = search_name
    resources = dict(options.entrypoint_resources) if options.entrypoint_resources else None
    return Submission(entrypoint=shlex.join(command), runtime_env=env, metadata=metadata,
                      entrypoint_resources=resources)


def _check_paths(options: SubmitOptions, space: Space | None) -> None:
    problems = []
    if options.runs_dir is None:
        problems.append("runs_dir is not given")
    for option, value in (("runs_dir", options.runs_dir), ("data_root", options.data_root)):
        if value is not None and not str(value).startswith("/"):
            problems.append(f"{option} {str(value)!r} is not an absolute path")
    storage = options.storage if options.storage is not None else (space.storage if space is not None else None)
    if storage is not None and storage.startswith("sqlite:") and not (sqlite_path(storage) or "").startswith("/"):
        problems.append(f"storage {storage!r} is not an absolute SQLite path")
    if storage is not None and without_password(storage) != storage:
        # a job's entrypoint is stored and shown by the cluster (ray job list, its dashboard)
        raise RunError(f"--storage {display_url(storage)} holds a password, which the job's command line would "
                       "show to everyone who can list the cluster's jobs: give the URL without it and set "
                       "PGPASSWORD (or ~/.pgpass) on the cluster's nodes")
    if problems:
        raise RunError(
            f"{'; '.join(problems)}: a cluster job runs in a temporary copy of the working directory "
            "that Ray deletes when the job ends, so give absolute paths on storage the nodes share "
            "(e.g. runs_dir /shared/wrnsearch/runs)"
        )


def _runtime_env(space_path: Path, options: SubmitOptions) -> tuple[dict[str, Any], str]:
    """The job's runtime environment, and the space file's path inside the shipped checkout."""
    if options.working_dir is None:
        raise RunError("runtime_env needs a working_dir to ship (the project checkout)")
    root = Path(options.working_dir).resolve()
    if not root.is_dir():
        raise RunError(f"working directory {str(options.working_dir)!r} does not exist")
    try:
        space_arg = space_path.resolve().relative_to(root).as_posix()
    except ValueError:
        raise RunError(
            f"space file {str(space_path)!r} lies outside the working directory {str(root)!r} that is "
            "shipped to the cluster: move it under the working directory"
        ) from None
    env: dict[str, Any] = {"working_dir": str(root), "excludes": list(WORKING_DIR_EXCLUDES)}
    if options.runs_dir is not None:
        # A run directory inside the checkout must not be uploaded with it.
        with contextlib.suppress(ValueError):
            inside = Path(options.runs_dir).resolve().relative_to(root).as_posix()
            if inside != ".":
                env["excludes"].append(f"/{inside}/")
    packages = (project_requirements(root) if options.pip else []) + list(options.extra_pip)
    if packages:
        env["pip"] = {"packages": packages, "pip_check": False}
    variables = dict(options.env_vars)
    if SHARED_FS_ENV in os.environ and SHARED_FS_ENV not in variables:
        variables[SHARED_FS_ENV] = os.environ[SHARED_FS_ENV]
    if variables:
        env["env_vars"] = {str(k): str(v) for k, v in variables.items()}
    return env, space_arg
