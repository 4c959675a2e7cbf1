"""Every private API of Optuna and torch that wrnsearch relies on, and nothing else.

Each function here names what it reaches into and why no public call does the job. The
dotted names in :data:`PRIVATE_APIS` are checked against the installed versions by
``tests/test_compat.py``, which fails naming the call when an upgrade moves one; the functions
are tested on a real SQLite study and this machine's torch. Optuna and torch are imported
lazily, so that importing this module costs nothing.

Tested with Optuna 5.0 and torch 2.14.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

# Resolved by the compat test; keep in step with the functions below.
PRIVATE_APIS = (
    "optuna.study.Study._storage",
    "optuna.trial.Trial._trial_id",
    "optuna.trial.FrozenTrial._trial_id",
    "optuna.storages._CachedStorage._backend",
    "optuna.storages._rdb.models.TrialModel.state",
    "optuna.storages._rdb.models.TrialUserAttributeModel",
    "optuna.storages._rdb.models.TrialSystemAttributeModel",
    "optuna.storages._rdb.storage._create_scoped_session",
    "optuna.storages.RDBStorage.check_trial_is_updatable",
    "optuna.storages.RDBStorage.scoped_session",
    "optuna.study._tell._tell_with_warning",
    "optuna.samplers._tpe.sampler._get_pruned_trial_score",
    "torch.cpu._is_amx_tile_supported",
    "torch.cpu._is_avx512_bf16_supported",
    # Ray's, called where Ray is known (search/_preflight.py: this module imports Optuna, and
    # only search may know both): the monitor's status, which no public call reads
    "ray.experimental.internal_kv._internal_kv_get",
)

# Optuna 5 stores a named constraint as the system attribute "constraints:<name>".
_CONSTRAINT_PREFIX = "constraints:"


def study_storage(study: Any) -> Any:
    """The storage behind a study (``Study._storage``): the study itself offers no call to write
    a trial it does not hold as a ``Trial`` object (one a killed driver left RUNNING)."""
    return study._storage  # noqa: SLF001


def close_storage(study: Any) -> None:
    """Close the database connections a study's RDB storage pools (``_CachedStorage._backend``):
    a driver that returns must not keep its run directory's files open."""
    backend = getattr(study_storage(study), "_backend", None)
    engine = getattr(backend, "engine", None)
    if engine is not None:
        engine.dispose()


def trial_id(trial: Any) -> int:
    """The storage id of a ``Trial`` or ``FrozenTrial`` (``_trial_id``; Optuna exposes only the number)."""
    return trial._trial_id  # noqa: SLF001


def set_trial_attrs(study: Any, trial: Any, user_attrs: Mapping[str, Any],
                    constraints: Mapping[str, float] | None = None) -> None:
    """Set many user attributes (and Optuna 5 named constraints) of an unfinished trial at once.

    ``Trial.set_user_attr`` costs a lookup, an update check and a commit per attribute; a trial
    stores about twenty. With SQLite or PostgreSQL this is one upsert statement, executed for
    every row, in one commit, as Optuna's own per-attribute upsert
    (``RDBStorage._set_trial_attr_without_commit``) but batched, through Optuna's ORM models
    (``optuna.storages._rdb.models``), after the same check that the trial is still running.
    Other storages get the public calls. ``trial`` is a ``Trial`` or ``FrozenTrial`` of ``study``.
    """
    storage = study_storage(study)
    backend = getattr(storage, "_backend", storage)  # _CachedStorage wraps the RDB storage
    import optuna

    engine = backend.engine.name if isinstance(backend, optuna.storages.RDBStorage) else None
    if engine not in ("sqlite", "postgresql"):
        if isinstance(trial, optuna.Trial):
            for key, value in user_attrs.items():
                trial.set_user_attr(key, value)
            for key, value in (constraints or {}).items():
                trial.set_constraint(key, value)
            return
        for key, value in user_attrs.items():
            storage.set_trial_user_attr(trial_id(trial), key, value)
        for key, value in (constraints or {}).items():
            storage.set_trial_system_attr(trial_id(trial), _CONSTRAINT_PREFIX + key, float(value))
        return
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session
    from sqlalchemy import select

    rows = {
        models.TrialUserAttributeModel: list(user_attrs.items()),
        models.TrialSystemAttributeModel: [(_CONSTRAINT_PREFIX + k, float(v)) for k, v in (constraints or {}).items()],
    }
    tid = trial_id(trial)
    with _create_scoped_session(backend.scoped_session, True) as session:
        # the state alone (a core select), not the ORM row with its relationships
        state = session.execute(select(models.TrialModel.state).where(models.TrialModel.trial_id == tid)).scalar()
        if state is None:
            raise KeyError(f"No trial with trial_id {tid} exists.")
        backend.check_trial_is_updatable(tid, state)
        for model, items in rows.items():
            if items:  # one statement, compiled once, executed for every row (executemany)
                session.execute(_upsert(engine, model),
                                [{"trial_id": tid, "key": k, "value_json": json.dumps(v)} for k, v in items])


_UPSERTS: dict[tuple[str, type], Any] = {}


def _upsert(engine: str, model: type) -> Any:
    """INSERT ... ON CONFLICT (trial_id, key) DO UPDATE of an attribute table, built once."""
    if (engine, model) not in _UPSERTS:
        if engine == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        stmt = insert(model)
        _UPSERTS[engine, model] = stmt.on_conflict_do_update(index_elements=[model.trial_id, model.key],
                                                              set_={"value_json": stmt.excluded.value_json})
    return _UPSERTS[engine, model]


def tell(study: Any, trial: Any, values: Sequence[float] | None = None, state: Any = None, *,
         skip_if_finished: bool = False) -> None:
    """``Study.tell`` without its return value (``optuna.study._tell._tell_with_warning``).

    ``Study.tell`` ends by reading the finished trial back from the storage and deep-copying it,
    a database read per trial that the driver, which keeps what it told, throws away.
    """
    from optuna.study._tell import _tell_with_warning

    _tell_with_warning(study=study, trial=trial, value_or_values=values, state=state,
                       skip_if_finished=skip_if_finished)


def tpe_ranks_pruned_errors() -> None:
    """Let TPE rank pruned trials of a multi-objective study
    (``optuna.samplers._tpe.sampler._get_pruned_trial_score``).

    TPE sorts pruned trials by their last intermediate value in ``study.direction``, which a
    multi-objective study has not: Optuna's own ``Trial.report`` refuses such studies, so Optuna
    never meets one with intermediate values, and its TPE raises ``RuntimeError`` at the next
    proposal once ours has a pruned trial (each epoch's validation error is written as an
    intermediate value, for optuna-dashboard's learning curves). For a study of several
    objectives the replacement ranks a pruned trial by the epoch it reached, then by that epoch's
    error, minimized (what the single-objective rule does for a minimized value); any other
    study is ranked by Optuna's own function. Idempotent.
    """
    import math

    from optuna.samplers._tpe import sampler as tpe

    original = tpe._get_pruned_trial_score  # noqa: SLF001
    if getattr(original, "wrnsearch", False):
        return

    def score(trial: Any, study: Any) -> tuple[float, float]:
        if len(study.directions) > 1 and trial.intermediate_values:
            step, error = max(trial.intermediate_values.items())
            return -step, float("inf") if math.isnan(error) else error
        return original(trial, study)

    score.wrnsearch = True  # type: ignore[attr-defined]
    score.original = original  # type: ignore[attr-defined]
    tpe._get_pruned_trial_score = score  # noqa: SLF001


def cpu_has_amx_bf16() -> bool:
    """AMX tiles and AVX-512 bf16 on this CPU, as torch's own probes see them.

    ``torch.cpu._is_amx_tile_supported`` and ``_is_avx512_bf16_supported`` are what torch's
    oneDNN dispatch checks; no public call says whether bf16 matmuls run natively. Another torch
    without them makes no claim (False).
    """
    import torch

    try:
        return bool(torch.cpu._is_amx_tile_supported() and torch.cpu._is_avx512_bf16_supported())  # noqa: SLF001
    except (AttributeError, RuntimeError):
        return False

