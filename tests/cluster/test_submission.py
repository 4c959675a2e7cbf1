"""What a submitted job carries (build_submission): the entrypoint, the shipped checkout and its
requirements, and the paths and passwords a job must not carry. No cluster needed."""

from __future__ import annotations

import shlex
import shutil

import pytest

from tests.conftest import REPO
from wrnsearch.cluster import (
    SubmitOptions,
    build_submission,
    project_requirements,
    submit_search,
)
from wrnsearch.errors import RunError, SpaceError
from wrnsearch.space import load_space

QUICKSTART = REPO / "spaces" / "quickstart.yaml"

# --------------------------------------------------------------------------------------------
# build_submission: no cluster needed


def _options(**kw) -> SubmitOptions:
    for key in ("overrides", "extra_pip"):
        if key in kw:
            kw[key] = tuple(kw[key])
    return SubmitOptions(**kw)


def _build(**kw):
    kw.setdefault("runs_dir", "/shared/runs")
    kw.setdefault("working_dir", REPO)
    return build_submission(kw.pop("space_path", QUICKSTART), _options(**kw), space=load_space(QUICKSTART))


def test_entrypoint_runs_the_search_from_the_shipped_checkout():
    sub = _build(overrides=["train.epochs=3", "dataset.root=/data/with space"], name="q1",
                 data_root="/shared/data", storage="postgresql://u@db/wrn")
    assert shlex.split(sub.entrypoint) == [
        "python", "-m", "wrnsearch", "run", "spaces/quickstart.yaml", "--address", "auto", "--name", "q1",
        "--runs-dir", "/shared/runs", "--storage", "postgresql://u@db/wrn", "--data-root", "/shared/data",
        "--set", "train.epochs=3", "--set", "dataset.root=/data/with space",
    ]
    assert sub.metadata["wrnsearch_search"] == "q1"


def test_entrypoint_parses_with_the_cli_run_command():
    from wrnsearch.cli import main

    if "run" not in main.commands:  # pragma: no cover - before `wrnsearch run` exists
        pytest.skip("wrnsearch run is not in the CLI yet")
    args = shlex.split(_build(overrides=["train.epochs=3"], data_root="/shared/data").entrypoint)[4:]
    ctx = main.commands["run"].make_context("wrnsearch run", args)
    assert ctx.params["address"] == "auto"
    assert ctx.params["runs_dir"] == "/shared/runs"
    assert ctx.params["overrides"] == ("train.epochs=3",)


def test_runtime_env_ships_the_checkout_and_its_requirements_without_ray():
    from ray.runtime_env import RuntimeEnv

    sub = _build()
    env = sub.runtime_env
    assert env["working_dir"] == str(REPO)
    for excluded in ("/.venv/", "/.git/", "/runs/", "*.tar.gz", "__pycache__/"):
        assert excluded in env["excludes"]
    packages = env["pip"]["packages"]
    assert "torch>=2.1" in packages and "optuna>=5.0" in packages
    assert not [p for p in packages if p.lower().startswith("ray")]
    assert packages == project_requirements(REPO)
    RuntimeEnv(**env)  # Ray's own validation of every field


def test_pip_can_be_skipped_or_extended_and_the_runtime_env_dropped():
    assert "pip" not in _build(pip=False).runtime_env
    assert _build(pip=False, extra_pip=["psycopg2-binary"]).runtime_env["pip"]["packages"] == ["psycopg2-binary"]
    bare = _build(runtime_env=False, space_path="spaces/quickstart.yaml")
    assert bare.runtime_env is None
    assert shlex.split(bare.entrypoint)[:3] == ["wrnsearch", "run", "spaces/quickstart.yaml"]
    with pytest.raises(RunError, match="runtime environment"):
        _build(runtime_env=False, extra_pip=["x"])


def test_a_run_directory_inside_the_checkout_is_not_uploaded(tmp_path):
    (tmp_path / "spaces").mkdir()
    space = tmp_path / "spaces" / "q.yaml"
    shutil.copy(QUICKSTART, space)
    sub = build_submission(space, _options(runs_dir=str(tmp_path / "results" / "cluster"), working_dir=tmp_path,
                                           pip=False))
    assert "/results/cluster/" in sub.runtime_env["excludes"]
    assert shlex.split(sub.entrypoint)[4] == "spaces/q.yaml"


def test_paths_must_be_absolute_because_the_job_directory_is_temporary():
    with pytest.raises(RunError, match="runs_dir is not given.*temporary copy"):
        _build(runs_dir=None)
    with pytest.raises(RunError, match="'runs' is not an absolute path"):
        _build(runs_dir="runs")
    with pytest.raises(RunError, match="data_root 'data' is not an absolute path"):
        _build(data_root="data")
    with pytest.raises(RunError, match="not an absolute SQLite path"):
        _build(storage="sqlite:///study.db")
    _build(storage="sqlite:////shared/study.db")


def test_a_password_never_goes_on_a_job_command_line():
    with pytest.raises(RunError) as e:
        _build(storage="postgresql://wrn:s3cret@db:5432/wrn")
    assert "s3cret" not in str(e.value) and "postgresql://wrn:***@db:5432/wrn holds a password" in str(e.value)
    assert "PGPASSWORD" in str(e.value)
    assert "s3cret" not in _build(storage="postgresql://wrn@db:5432/wrn").entrypoint


def test_a_space_file_outside_the_checkout_is_refused(tmp_path):
    outside = tmp_path / "q.yaml"
    shutil.copy(QUICKSTART, outside)
    with pytest.raises(RunError, match="outside the working directory"):
        build_submission(outside, _options(runs_dir="/shared/runs", working_dir=REPO))


def test_a_broken_space_file_fails_before_contacting_the_cluster(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(QUICKSTART.read_text().replace("train:", "trian:", 1))
    with pytest.raises(SpaceError):
        # Port 9 (discard) on a documentation address: never contacted if validation runs first.
        submit_search(bad, "http://192.0.2.1:9", _options(runs_dir="/shared/runs", working_dir=tmp_path))
