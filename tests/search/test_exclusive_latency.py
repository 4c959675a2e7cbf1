"""Latency timed alone: the front recomputed on exclusive figures until all of it was timed alone,
on a real (in-memory) Optuna study with hand-made trials and real timings on this CPU."""

from __future__ import annotations

import optuna
import pytest

from tests.spaces import THREE_ARCHITECTURES
from wrnsearch.measure import device_name
from wrnsearch.pareto import ALONE_ATTR, alone_figures, front_info, front_rows
from wrnsearch.search import NOTE_ATTR, measure_front_alone
from wrnsearch.space import space_from_data
from wrnsearch.spec import parse_name


def _trial(arch: str, error: float, latency: float, device: str) -> optuna.trial.FrozenTrial:
    spec = parse_name(arch, num_classes=4)
    return optuna.trial.create_trial(
        values=[error, latency],
        user_attrs={"arch": arch, "spec": spec.to_dict(), "status": "complete", "val_error": error,
                    "latency_ms": latency, "device": device, "params": 1, "epochs": 1})


@pytest.fixture
def cpu_one_thread():
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    name = device_name("cpu")
    torch.set_num_threads(saved)
    return name


def test_a_member_that_only_co_located_timing_kept_off_the_front_is_timed_too(cpu_one_thread):
    space = space_from_data(THREE_ARCHITECTURES)
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_metric_names(["error", "latency_ms"])
    # WRN-10-1 looked absurdly fast while it shared the machine, which hid WRN-10-1-B(3,1) behind it;
    # timed alone it is slower than B(3,1)'s co-located figure, so B(3,1) joins the front and is timed
    study.add_trial(_trial("WRN-10-1", 50.0, 1e-6, cpu_one_thread))
    study.add_trial(_trial("WRN-10-1-B(3,1)", 60.0, 1e-5, cpu_one_thread))
    study.add_trial(_trial("WRN-10-2", 70.0, 1e9, "cpu (64 threads)"))  # never on the front
    assert [t.user_attrs["arch"] for t in front_info(study).front_trials] == ["WRN-10-1"]
    result = measure_front_alone(study, space)
    assert result.timed == ["WRN-10-1", "WRN-10-1-B(3,1)"]
    alone = alone_figures(study)
    assert set(alone) == set(result.timed)
    for arch in result.timed:
        assert alone[arch]["device"] == cpu_one_thread and alone[arch]["latency_ms"] > 1e-3
        assert alone[arch]["latency_infer_ms"] > 0
    rows = front_rows(study)
    assert rows and all(r["timed_alone"] for r in rows)
    for r in rows:
        assert r["latency_ms"] == alone[r["arch"]]["latency_ms"]
    # the trials keep what they timed; the study says which figures are which
    assert [t.values[1] for t in study.trials[:2]] == [1e-6, 1e-5]
    assert "shared the device" in study.user_attrs[NOTE_ATTR]
    # measuring again times nothing: the front is all timed alone
    assert measure_front_alone(study, space).timed == []


def test_a_trial_timed_on_another_device_is_skipped_and_named(cpu_one_thread):
    space = space_from_data(THREE_ARCHITECTURES)
    study = optuna.create_study(directions=["minimize", "minimize"])
    study.set_metric_names(["error", "latency_ms"])
    study.add_trial(_trial("WRN-10-2", 40.0, 3.0, "NVIDIA H100 80GB HBM3"))
    result = measure_front_alone(study, space)
    assert result.timed == [] and "NVIDIA H100" in result.skipped["WRN-10-2"]
    assert ALONE_ATTR not in study.user_attrs
    assert front_rows(study)[0]["timed_alone"] is False
