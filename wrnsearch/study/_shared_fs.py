"""Whether every node of a cluster can reach the study and Ray Tune's storage.

On a cluster of more than one node the study and Ray Tune's experiment folder must be reachable
by name from every node (trials and checkpoints run elsewhere than the driver; a resumed driver
may land on another node). :func:`check_storage_for_cluster` decides it with three rules: a URL
of a database server (``postgresql://``, ``mysql://``...) or an object store (``s3://``,
``gs://``...) is shared; a path is shared when it lies on a network file system (its mount in
``/proc/self/mounts`` has type NFS, Lustre, GPFS, BeeGFS, CephFS, SMB, GlusterFS, WekaFS or a
FUSE mount of an object store) or under a directory the user declares shared with
``WRNSEARCH_SHARED_FS=/dir1:/dir2`` (``WRNSEARCH_SHARED_FS=1`` declares every path shared);
every other path (``/tmp``, a home directory on a local disk, Ray's session directory) is
node-local. On one node everything is fine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from wrnsearch.errors import RunError
from wrnsearch.study._urls import journal_path, sqlite_path

SHARED_FS_ENV = "WRNSEARCH_SHARED_FS"

# Filesystem types (as /proc/self/mounts names them) that every node of a cluster can mount.
NETWORK_FS_TYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "fuse.ceph-fuse",
    "glusterfs", "fuse.glusterfs", "wekafs", "panfs", "pvfs2", "orangefs", "fuse.sshfs",
    "fuse.gcsfuse", "fuse.s3fs", "fuse.goofys", "fuse.juicefs", "fuse.mountpoint-s3",
    "fuse.rclone", "fuse.alluxio-fuse",
})

_TRUE = ("1", "true", "yes", "all")
_FALSE = ("", "0", "false", "no")


def check_storage_for_cluster(
    storage_url: str,
    tune_storage_path: str,
    nodes: int,
    *,
    shared: bool | Sequence[str] | None = None,
) -> None:
    """Refuse a multi-node run whose study or Ray Tune storage is on node-local disk.

    Args:
        storage_url: the resolved Optuna storage URL (``sqlite:////abs/runs/x/study.db`` by default).
        tune_storage_path: the resolved Ray Tune ``storage_path`` (a path, ``file://`` or ``s3://``...).
        nodes: how many nodes the cluster has, or may grow to (count an autoscaling cluster as
            more than one).
        shared: directories declared shared, ``True`` for every path; None reads
            ``WRNSEARCH_SHARED_FS`` (``1`` or ``/dir1:/dir2``).

    Raises:
        RunError: one line naming each node-local location and what to use instead.
    """
    if nodes <= 1:
        return
    declared = _declared_shared() if shared is None else shared
    problems = []
    if storage_url.startswith("sqlite:"):
        db_path = sqlite_path(storage_url)
        reason = _local_reason(db_path, declared) if db_path else "an in-memory database"
        if reason:
            problems.append(f"the study storage {storage_url} is {reason}")
    elif journal_path(storage_url) is not None:
        reason = _local_reason(journal_path(storage_url) or "", declared)
        if reason:
            problems.append(f"the study storage {storage_url} is {reason}")
    elif "://" not in storage_url:
        problems.append(f"the study storage {storage_url!r} is not a storage URL")
    scheme, separator, rest = tune_storage_path.partition("://")
    if not separator:
        reason = _local_reason(tune_storage_path, declared)
    elif scheme in ("file", "local"):
        reason = _local_reason(rest if rest.startswith("/") else "/" + rest, declared)
    else:
        reason = None  # s3://, gs://, abfs://, hdfs://... reach every node
    if reason:
        problems.append(f"the Ray Tune storage {tune_storage_path} is {reason}")
    if problems:
        raise RunError(
            f"{' and '.join(problems)}, but the cluster has {nodes} nodes, which cannot all reach it: "
            f"put the run directory on a shared filesystem (--runs-dir /shared/runs; declare it with "
            f"{SHARED_FS_ENV}=/shared if it is not NFS, Lustre, GPFS, BeeGFS or CephFS), or use a "
            "database server for the study (--storage postgresql://...)"
        )


def is_shared_path(path: str | Path, shared: bool | Sequence[str] | None = None) -> bool:
    """True when every node can reach ``path`` by the rules of :func:`check_storage_for_cluster`."""
    return _local_reason(str(path), _declared_shared() if shared is None else shared) is None


def network_fs(path: str | Path, shared: bool | Sequence[str] | None = None) -> str | None:
    """What makes ``path`` reachable from other hosts (``"an nfs4 filesystem mounted at /mnt/efs"``,
    ``"a directory declared shared in WRNSEARCH_SHARED_FS"``), or None on a local disk.

    The run directory's default study follows it: a journal file there, SQLite elsewhere; and an
    SQLite study there is refused (its WAL index works on one host only).
    """
    declared = _declared_shared() if shared is None else shared
    if _local_reason(str(path), declared) is not None:
        return None
    resolved = os.path.realpath(os.path.abspath(os.path.expanduser(str(path))))
    mount, fstype = _mount_of(resolved)
    if fstype in NETWORK_FS_TYPES:
        return f"a network filesystem ({fstype} mounted at {mount})"
    return f"a filesystem declared shared ({SHARED_FS_ENV})"


def _declared_shared() -> bool | list[str]:
    value = os.environ.get(SHARED_FS_ENV, "").strip()
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return []
    return [v for v in value.split(os.pathsep) if v.strip()]


def _local_reason(path: str, declared: bool | Sequence[str]) -> str | None:
    """Why ``path`` is node-local, or None when it is shared."""
    if declared is True:
        return None
    if path in ("", ":memory:"):
        return "an in-memory database"
    resolved = os.path.realpath(os.path.abspath(os.path.expanduser(path)))
    for root in declared or ():
        root_resolved = os.path.realpath(os.path.abspath(os.path.expanduser(root)))
        if _under(resolved, root_resolved):
            return None
    mount, fstype = _mount_of(resolved)
    if fstype in NETWORK_FS_TYPES:
        return None
    where = f"on node-local disk ({resolved}"
    if fstype:
        where += f", a {fstype} filesystem mounted at {mount}"
    return where + ")"


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


_MOUNTS_FILE = "/proc/self/mounts"


def _mount_of(path: str) -> tuple[str, str]:
    """The mount point holding ``path`` and its filesystem type, from /proc/self/mounts."""
    best = ("", "")
    try:
        with open(_MOUNTS_FILE) as f:
            lines = f.read().splitlines()
    except OSError:
        return best
    for line in lines:
        parts = line.split()
        if len(parts) < 3:
            continue
        mount = parts[1].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
        if _under(path, mount) and len(mount) >= len(best[0]):
            best = (mount, parts[2])
    return best
