"""Every private API of Optuna and torch we use is in wrnsearch/compat.py, and still where we reach.

When an upgrade moves one, the resolution test fails naming the call; the functional tests run
each compat function on a real SQLite study and this machine's torch.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from wrnsearch import compat

PACKAGE = Path(__file__).resolve().parent.parent / "wrnsearch"
THIRD_PARTY = ("optuna", "torch", "torchvision", "ray", "sqlalchemy", "plotly", "pydantic")

optuna.logging.set_verbosity(optuna.logging.WARNING)


@pytest.fixture
def study(tmp_path):
    return optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="s",
                               directions=["minimize", "minimize"])


def _resolve(dotted: str, instances: dict[str, object]) -> object:
    """Import the longest module prefix, then walk attributes; an attribute that only instances
    have (set in ``__init__``) is looked up on the real instance of that class."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        break
    else:  # pragma: no cover - optuna and torch are installed
        raise AssertionError(f"{dotted}: no module of it imports")
    for i in range(cut, len(parts)):
        owner = ".".join(parts[:i])
        if hasattr(target, parts[i]):
            target = getattr(target, parts[i])
        elif owner in instances and hasattr(instances[owner], parts[i]):
            target = getattr(instances[owner], parts[i])
        else:
            raise AssertionError(f"{dotted}: {owner} has no {parts[i]} in the installed version; "
                                 "update wrnsearch/compat.py")
    return target


def test_every_private_api_resolves_in_the_installed_versions(study):
    trial = study.ask()
    frozen = study.get_trials(deepcopy=False)[0]
    instances = {
        "optuna.study.Study": study, "optuna.trial.Trial": trial, "optuna.trial.FrozenTrial": frozen,
        "optuna.storages._CachedStorage": compat.study_storage(study),
        "optuna.storages.RDBStorage": compat.study_storage(study)._backend,
    }
    for dotted in compat.PRIVATE_APIS:
        assert _resolve(dotted, instances) is not None, dotted


def test_the_resolver_fails_naming_a_moved_call(study):
    with pytest.raises(AssertionError, match="optuna.study.Study has no _moved_storage"):
        _resolve("optuna.study.Study._moved_storage", {"optuna.study.Study": study})
    with pytest.raises(AssertionError, match="optuna.storages._rdb.models has no GoneModel"):
        _resolve("optuna.storages._rdb.models.GoneModel", {})


def test_set_trial_attrs_writes_attrs_and_constraints_in_one_call(study):
    trial = study.ask()
    compat.set_trial_attrs(study, trial, {"arch": "WRN-16-4", "curve": [{"epoch": 1}], "n": 3},
                           {"max_params": 0.5, "max_macs": -1.0})
    compat.set_trial_attrs(study, trial, {"n": 4})  # an upsert: the second write wins
    stored = compat.study_storage(study).get_trial(compat.trial_id(trial))
    assert stored.number == trial.number and compat.trial_id(stored) == compat.trial_id(trial)
    assert stored.user_attrs == {"arch": "WRN-16-4", "curve": [{"epoch": 1}], "n": 4}
    assert stored.constraints == {"max_params": 0.5, "max_macs": -1.0}
    study.tell(trial, [1.0, 2.0])
    with pytest.raises(RuntimeError):  # a finished trial is not updatable, as in Optuna itself
        compat.set_trial_attrs(study, trial, {"late": True})
    assert "late" not in study.trials[0].user_attrs


def test_set_trial_attrs_on_a_trial_a_killed_driver_left_running(study):
    study.ask()
    frozen = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))[0]  # no Trial object
    compat.set_trial_attrs(study, frozen, {"status": "x"})
    assert study.trials[0].user_attrs == {"status": "x"}


def test_set_trial_attrs_falls_back_to_public_calls_in_memory():
    study = optuna.create_study(directions=["minimize"])
    trial = study.ask()
    compat.set_trial_attrs(study, trial, {"a": 1}, {"max_params": 2.0})
    assert study.trials[0].user_attrs == {"a": 1} and study.trials[0].constraints == {"max_params": 2.0}


def test_cpu_probe_agrees_with_the_kernel():
    flags = Path("/proc/cpuinfo").read_text().split()
    assert compat.cpu_has_amx_bf16() == ("amx_bf16" in flags and "avx512_bf16" in flags)


def test_no_module_but_compat_imports_a_private_module_of_a_dependency():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "compat.py" and path.parent == PACKAGE:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                parts = name.split(".")
                if parts[0] in THIRD_PARTY and any(p.startswith("_") and p != "__future__" for p in parts[1:]):
                    found.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {name}")
    assert not found, found


def test_tell_stores_what_study_tell_stores(study):
    ours, theirs = study.ask(), study.ask()
    compat.tell(study, ours, [1.0, 2.0])
    study.tell(theirs, [1.0, 2.0])
    a, b = study.trials
    assert (a.state, a.values) == (b.state, b.values) == (TrialState.COMPLETE, [1.0, 2.0])
    pruned = study.ask()
    compat.tell(study, pruned, state=TrialState.PRUNED)
    compat.tell(study, pruned, state=TrialState.FAIL, skip_if_finished=True)  # a second tell is skipped
    assert study.trials[2].state == TrialState.PRUNED
    with pytest.raises(ValueError, match="Cannot tell a PRUNED trial"):
        compat.tell(study, pruned, state=TrialState.FAIL)


def test_close_storage_lets_go_of_the_database(study):
    study.ask()
    engine = compat.study_storage(study)._backend.engine
    assert engine.pool.checkedin() >= 1  # the pool keeps the file open between calls
    compat.close_storage(study)
    assert engine.pool.checkedin() == 0


def test_tpe_proposes_after_pruned_trials_with_learning_curves(study):
    """A multi-objective study whose pruned trials hold each epoch's error (as the driver writes
    them): Optuna's TPE alone raises at the next proposal; with the shim it proposes, and ranks
    pruned trials by the epoch reached, then by error."""
    from optuna.samplers._tpe import sampler as tpe

    from wrnsearch.study import report_epochs

    compat.tpe_ranks_pruned_errors()
    compat.tpe_ranks_pruned_errors()  # idempotent: one wrapper, not a wrapper of a wrapper
    score = tpe._get_pruned_trial_score  # noqa: SLF001
    assert score.wrnsearch and not getattr(score.original, "wrnsearch", False)
    for x in (0.1, 0.5, 0.9):
        trial = study.ask()
        study.tell(trial, [trial.suggest_float("x", 0, 1) + x, 1 - x])
    for curve in ({1: 60.0, 2: 55.0}, {1: 50.0}, {1: 70.0, 2: 52.0}):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        report_epochs(study, trial, curve)
        study.tell(trial, state=TrialState.PRUNED)
    pruned = study.get_trials(states=(TrialState.PRUNED,))
    with pytest.raises(RuntimeError, match="single direction"):
        score.original(pruned[0], study)  # why the shim exists; when Optuna fixes this, it can go
    ranked = sorted(pruned, key=lambda t: score(t, study))
    assert [t.intermediate_values for t in ranked] == [{1: 70.0, 2: 52.0}, {1: 60.0, 2: 55.0}, {1: 50.0}]
    single = optuna.create_study()
    asked = single.ask()
    asked.report(3.0, 1)
    single.tell(asked, state=TrialState.PRUNED)
    frozen = single.trials[0]
    assert score(frozen, single) == score.original(frozen, single) == (-1, 3.0)
    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=2, multivariate=True, group=True)
    study.sampler = sampler
    for _ in range(3):
        trial = study.ask()
        assert 0 <= trial.suggest_float("x", 0, 1) <= 1
        study.tell(trial, [0.3, 0.3])
