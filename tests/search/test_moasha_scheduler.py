"""MO-ASHA in a real search: Ray Tune runs it on a scripted trainer, and it decides exactly as the
pure rung functions say (which the replay uses too), keeping the small networks ASHA cuts."""

from __future__ import annotations

import optuna
import pytest

from tests.spaces import exactly
from wrnsearch.search import Rungs, RunOptions, run_search, rung_milestones
from wrnsearch.spec import WRNSpec
from wrnsearch.study import counts_as_trained, load_study

# 18 architectures, 3 of them over 1.2M parameters, trained one at a time under MO-ASHA from a
# quarter of the 4 epochs
MO = dict(dataset={"train_size": 128}, space={"depth": [10, 16, 22]}, budget={"max_trials": 9, "max_params": "1.2M"},
          train={"epochs": 4, "lr": None},
          search=exactly({"sampler": "random", "seed": 3, "max_concurrent": 1, "scheduler": "moasha",
                          "asha": {"grace_period": 0.25, "reduction_factor": 2}}))


@pytest.mark.slow
def test_moasha_under_ray_tune_decides_as_the_pure_rungs(tmp_path, make_space, local_ray):
    from tests.trainables import scripted_error, scripted_latency_ms, scripted_mo_trial

    space = make_space("mo", **MO)
    result = run_search(space, RunOptions(runs_dir=tmp_path / "runs", num_cpus=2), trainable=scripted_mo_trial)
    study = load_study(result.run_dir)
    trained = sorted((t for t in study.get_trials(deepcopy=False) if counts_as_trained(t)), key=lambda t: t.number)
    assert len(trained) == 9

    # one trial at a time: the rungs saw the trials in the order they were launched
    milestones = rung_milestones(1, 2, 4)
    assert milestones == [1, 2]
    moasha, asha = Rungs(milestones, 2, multi=True), Rungs(milestones, 2, multi=False)
    cut_by_asha_kept_by_moasha = 0
    for t in trained:
        spec = WRNSpec.from_dict(t.user_attrs["spec"])
        params = t.user_attrs["params"]
        expected_epochs = 4
        asha_epochs = 4
        for e in milestones:
            vector = [scripted_error(spec, e, 4), params, scripted_latency_ms(params)]
            if expected_epochs == 4 and not moasha.decide(str(t.number), e, vector):
                expected_epochs = e
            if asha_epochs == 4 and not asha.decide(str(t.number), e, vector):
                asha_epochs = e
        a = t.user_attrs
        assert a["epochs"] == expected_epochs, (t.number, a["arch"], a["epochs"], expected_epochs)
        # the learning curve is in the study, a stopped trial's included (up to the epoch it reached)
        assert sorted(t.intermediate_values) == list(range(1, expected_epochs + 1))
        assert t.intermediate_values[expected_epochs] == pytest.approx(scripted_error(spec, expected_epochs, 4))
        if expected_epochs < 4:
            assert t.state == optuna.trial.TrialState.PRUNED and a["status"] == "pruned"
            assert a["prune_reason"] == f"stopped early after epoch {expected_epochs}"
        else:
            assert t.state == optuna.trial.TrialState.COMPLETE and a["status"] == "complete"
        cut_by_asha_kept_by_moasha += asha_epochs < 4 and expected_epochs == 4

    assert any(t.state == optuna.trial.TrialState.PRUNED for t in trained), "MO-ASHA stopped nothing"
    assert cut_by_asha_kept_by_moasha > 0, "no network that ASHA would stop was kept"
    smallest = min(trained, key=lambda t: t.user_attrs["params"])
    assert smallest.state == optuna.trial.TrialState.COMPLETE
    from wrnsearch.pareto import front_info

    pruned = {t.number for t in trained if t.state == optuna.trial.TrialState.PRUNED}
    assert not pruned & set(front_info(study).trial_numbers)
