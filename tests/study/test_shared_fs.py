"""The node-local storage rule (check_storage_for_cluster): a study or Tune folder every node of a
cluster must see, declared shared (WRNSEARCH_SHARED_FS) or on a network filesystem."""

from __future__ import annotations

import os
import textwrap

import pytest

from wrnsearch.errors import RunError
from wrnsearch.study import _shared_fs as shared_fs
from wrnsearch.study import check_storage_for_cluster, is_shared_path

# --------------------------------------------------------------------------------------------
# check_storage_for_cluster


@pytest.fixture
def no_declaration(monkeypatch):
    monkeypatch.delenv(shared_fs.SHARED_FS_ENV, raising=False)


def test_one_node_may_use_any_storage(no_declaration):
    check_storage_for_cluster("sqlite:////tmp/runs/q/study.db", "/tmp/runs/q/tune", nodes=1)


def test_node_local_sqlite_and_tune_folder_are_refused_on_several_nodes(no_declaration):
    with pytest.raises(RunError) as e:
        check_storage_for_cluster("sqlite:////tmp/runs/q/study.db", "/tmp/runs/q/tune", nodes=3)
    message = str(e.value)
    assert "\n" not in message
    assert "the study storage sqlite:////tmp/runs/q/study.db is on node-local disk" in message
    assert "the Ray Tune storage /tmp/runs/q/tune is on node-local disk" in message
    assert "3 nodes" in message and "WRNSEARCH_SHARED_FS" in message and "postgresql://" in message
    with pytest.raises(RunError, match="in-memory"):
        check_storage_for_cluster("sqlite://", "s3://bucket/tune", nodes=2)
    with pytest.raises(RunError, match="Ray Tune storage file:///tmp/t"):
        check_storage_for_cluster("postgresql://db/wrn", "file:///tmp/t", nodes=2)


def test_servers_and_object_stores_are_shared(no_declaration):
    check_storage_for_cluster("postgresql+psycopg2://u@db:5432/wrn", "s3://bucket/runs/q/tune", nodes=8)
    check_storage_for_cluster("mysql://db/wrn", "gs://bucket/tune", nodes=8)


def test_declared_directories_are_shared(monkeypatch):
    monkeypatch.setenv(shared_fs.SHARED_FS_ENV, "/scratch/team" + os.pathsep + "/tmp/shared")
    check_storage_for_cluster("sqlite:////tmp/shared/q/study.db", "/scratch/team/q/tune", nodes=4)
    with pytest.raises(RunError, match="/tmp/sharedness"):  # a prefix of a name is not its parent
        check_storage_for_cluster("sqlite:////tmp/sharedness/study.db", "/scratch/team/q/tune", nodes=4)
    monkeypatch.setenv(shared_fs.SHARED_FS_ENV, "1")
    check_storage_for_cluster("sqlite:////tmp/anything.db", "/tmp/anything", nodes=4)
    monkeypatch.setenv(shared_fs.SHARED_FS_ENV, "0")
    assert not is_shared_path("/tmp/anything")
    assert is_shared_path("/tmp/anything", shared=["/tmp"])
    assert is_shared_path("/tmp/anything", shared=True)


def test_network_filesystems_are_recognized(tmp_path, monkeypatch, no_declaration):
    mounts = tmp_path / "mounts"
    mounts.write_text(textwrap.dedent("""\
        /dev/root / ext4 rw,relatime 0 0
        tmpfs /tmp tmpfs rw 0 0
        fs-1.efs.us-west-2.amazonaws.com:/ /mnt/efs nfs4 rw,vers=4.1 0 0
        lustre@tcp:/fs /lustre lustre rw 0 0
        10.0.0.5:/export /mnt/with\\040space nfs rw 0 0
        """))
    monkeypatch.setattr(shared_fs, "_MOUNTS_FILE", str(mounts))
    check_storage_for_cluster("sqlite:////mnt/efs/runs/q/study.db", "/lustre/u/runs/q/tune", nodes=5)
    assert is_shared_path("/mnt/with space/runs")
    with pytest.raises(RunError, match=r"a tmpfs filesystem mounted at /tmp\)"):
        check_storage_for_cluster("sqlite:////tmp/q/study.db", "/mnt/efs/q/tune", nodes=5)
    with pytest.raises(RunError, match="an ext4 filesystem|a ext4 filesystem"):
        check_storage_for_cluster("sqlite:////home/u/runs/study.db", "/mnt/efs/q/tune", nodes=5)
