"""The space language: parsing, precise errors, impossible spaces, enumeration, overrides."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from wrnsearch.errors import SpaceError
from wrnsearch.space import count_specs, iter_specs, load_space, minimum_costs, parse_space, space_size
from wrnsearch.units import format_seconds, parse_bytes, parse_count, parse_seconds

SHIPPED = sorted((REPO / "spaces").glob("*.yaml"))

GOOD = """\
name: t
dataset:
  name: synthetic
  num_classes: 4
  resolution: 16
space:
  depth: [10, 16]
  widen_factor: {low: 1, high: 4}
  block: ["B(3,3)", [3, 1]]
  dropout: [0.0, 0.3]
budget:
  max_params: 2M
  time: 30m
  trial_time: 90s
train:
  epochs: 3
  weight_decay: 5e-4
"""


def write(tmp_path: Path, text: str, name: str = "space.yaml") -> Path:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_good_space_resolves_defaults(tmp_path):
    s = load_space(write(tmp_path, GOOD))
    assert s.budget.max_params == 2_000_000
    assert s.budget.time == 1800 and s.budget.trial_time == 90
    assert s.train.weight_decay == 5e-4  # YAML 1.1 reads 5e-4 as a string; we take it as a number
    assert s.train.lr == 0.1 and s.train.lr_milestones == [0.3, 0.6, 0.8] and s.train.lr_gamma == 0.2
    assert s.objectives == ["error", "params", "latency_ms"]
    assert s.dataset.num_classes == 4 and s.dataset.channels == 3
    shown = s.to_yaml_dict()
    assert shown["space"]["widen_factor"] == {"low": 1, "high": 4}
    assert shown["space"]["block"] == ["B(3,3)", "B(3,1)"]
    assert shown["budget"]["time"] == "30m"
    # the resolved dump is itself a valid space that resolves to the same thing
    again = parse_space(yaml.safe_dump(shown), source="shown")
    assert again.to_yaml_dict() == shown


def test_svhn_gets_the_papers_svhn_recipe(tmp_path):
    s = load_space(write(tmp_path, "name: s\ndataset: {name: svhn}\nspace: {depth: 16, widen_factor: 4}\n"))
    t = s.train
    recipe = (t.epochs, t.lr, t.lr_milestones, t.lr_gamma, t.augment, t.normalize)
    assert recipe == (160, 0.01, [0.5, 0.75], 0.1, False, "scale")


def test_enumeration_and_count(tmp_path):
    s = load_space(write(tmp_path, GOOD))
    specs = list(iter_specs(s))
    # depth 10 and 16, k 1..4, two blocks (both l=2), two dropouts
    assert len(specs) == len(set(specs)) == 2 * 4 * 2 * 2 == space_size(s)
    assert all(sp.num_classes == 4 for sp in specs)
    total, fitting = count_specs(s)
    assert total == 32
    from wrnsearch.cost import model_cost

    assert fitting == sum(model_cost(sp, 16, 128).params <= 2_000_000 for sp in specs)
    assert 0 < fitting < total


def test_depth_per_block_length(tmp_path):
    s = load_space(write(tmp_path, """\
        name: t
        space:
          depth: [16, 22, 28, 40]
          widen_factor: 2
          block: ["B(3,3)", "B(3,1,3)"]
        """))
    names = sorted(sp.name for sp in iter_specs(s))
    assert names == sorted(["WRN-16-2", "WRN-22-2", "WRN-28-2", "WRN-40-2", "WRN-22-2-B(3,1,3)", "WRN-40-2-B(3,1,3)"])


def test_convs_per_block_with_kernel_sizes(tmp_path):
    s = load_space(write(tmp_path, """\
        name: t
        space:
          blocks_per_group: 1
          widen_factor: 1
          convs_per_block: [1, 2]
          kernel_sizes: [1, 3]
        """))
    blocks = sorted(sp.kernels for sp in iter_specs(s))
    assert blocks == [(1,), (1, 1), (1, 3), (3,), (3, 1), (3, 3)]


def test_continuous_range_is_not_enumerable(tmp_path):
    s = load_space(write(tmp_path, "name: t\nspace: {depth: 16, widen_factor: 2, dropout: {low: 0.0, high: 0.5}}\n"))
    assert math.isinf(space_size(s))
    assert count_specs(s) == (math.inf, None)
    with pytest.raises(SpaceError, match="space.dropout is a continuous range"):
        list(iter_specs(s))


def test_minimum_costs_is_the_true_minimum(tmp_path):
    s = load_space(write(tmp_path, GOOD))
    from wrnsearch.space import space_cost

    costs = [space_cost(s, sp) for sp in iter_specs(s)]
    assert minimum_costs(s) == (min(c.params for c in costs), min(c.macs for c in costs),
                                min(c.activation_bytes for c in costs))


def test_overrides_are_validated_like_the_file(tmp_path):
    p = write(tmp_path, GOOD)
    s = load_space(p, ["train.epochs=10", "budget.max_params=5M", "search.sampler=nsga2"])
    assert (s.train.epochs, s.budget.max_params, s.search.sampler) == (10, 5_000_000, "nsga2")
    with pytest.raises(SpaceError) as e:
        load_space(p, ["train.epochs=0"])
    expected = f"{p}: --set train.epochs=0: train.epochs: Input should be greater than or equal to 1 (got 0)"
    assert e.value.problems == [expected]
    with pytest.raises(SpaceError,
                       match=r"--set train.epoch=3: train.epoch: unknown key 'epoch' \(did you mean 'epochs'\?\)"):
        load_space(p, ["train.epoch=3"])
    with pytest.raises(SpaceError, match="expected KEY=VALUE"):
        load_space(p, ["train.epochs"])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_shipped_spaces_load_and_sample(path):
    from wrnsearch.samplers import sample_specs

    text = path.read_text()
    assert text.startswith("#"), "each shipped space starts with a header comment"
    s = load_space(path)
    rows = sample_specs(s, 5)
    assert len(rows) == 5 and all(r["name"].startswith("WRN-") for r in rows)
    total, fitting = count_specs(s)
    assert total >= 1 and fitting >= 1


def test_shipped_space_set():
    assert {p.name for p in SHIPPED} >= {"cifar10.yaml", "cifar100.yaml", "svhn.yaml", "paper-table4.yaml",
                                         "quickstart.yaml"}
    c10 = load_space(REPO / "spaces" / "cifar10.yaml")
    assert c10.space.depth.values == (16, 22, 28, 40)
    assert c10.space.widen_factor.finite_values() == list(range(1, 13))
    assert len(c10.space.block) == 6 and c10.space.dropout.values == (0.0, 0.3)
    assert c10.train.epochs == 200 and c10.budget.max_params is not None
    table4 = load_space(REPO / "spaces" / "paper-table4.yaml")
    assert len(list(iter_specs(table4))) == 10 and table4.search.sampler == "grid"
    assert load_space(REPO / "spaces" / "svhn.yaml").space.dropout.values == (0.4,)


@pytest.mark.parametrize(
    "text, parse, expected",
    [
        ("36.5M", parse_count, 36_500_000), ("2.2e6", parse_count, 2_200_000), (1500, parse_count, 1500),
        ("500K", parse_count, 500_000), ("8GiB", parse_bytes, 8 * 2**30), ("2GB", parse_bytes, 2_000_000_000),
        ("512MiB", parse_bytes, 512 * 2**20), ("30m", parse_seconds, 1800), ("2h", parse_seconds, 7200),
        ("90s", parse_seconds, 90), ("1d", parse_seconds, 86400), (45, parse_seconds, 45),
        ("2m30s", parse_seconds, 150), ("1h 30m", parse_seconds, 5400),
    ],
)
def test_units(text, parse, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("bad", ["36.5X", "-3M", "0", "lots", True, None, "nanM", "1e999"])
def test_bad_units(bad):
    with pytest.raises(ValueError):
        parse_count(bad)


def test_format_seconds_round_trips():
    for s in (45, 90, 1800, 7200, 86400, 5400):
        assert parse_seconds(format_seconds(s)) == s


def test_a_run_directory_written_by_an_earlier_version_still_resumes(tmp_path, caplog):
    """Its space.yaml holds train.workers, which no longer exists: dropped with a warning, not refused."""
    import yaml

    from wrnsearch.study import resolve_run

    run_dir = tmp_path / "old"
    run_dir.mkdir()
    text = "name: old\ndataset: {name: synthetic}\nspace: {architecture: [WRN-10-1]}\ntrain: {epochs: 2, amp: true}\n"
    old = parse_space(text).to_yaml_dict()  # resolved, as a run directory holds it ...
    old["train"]["workers"] = "auto"  # ... with the key that version wrote
    (run_dir / "space.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    spaces = tmp_path / "old.yaml"
    spaces.write_text(text)
    with caplog.at_level("WARNING"):
        space, resolved = resolve_run(None, run_dir=run_dir)  # wrnsearch resume RUN_DIR
        again, _ = resolve_run(spaces, runs_dir=tmp_path)  # wrnsearch run old.yaml, same run dir
    assert again.to_yaml_dict() == space.to_yaml_dict()
    assert resolved == run_dir and space.train.epochs == 2 and space.train.amp is True
    assert "train.workers is retired and ignored" in caplog.text
    assert "workers" not in space.to_yaml_dict()["train"]


@pytest.mark.parametrize("dataset, saved_sizes", [
    ("{name: cifar10, train_subset: 3000}", {}),  # a real data set never reads the synthetic image counts
    ("{name: svhn}", {}),
    ("{name: cifar10, train_size: 500}", {"train_size": 500}),  # set by hand: kept, the space reloads as it was
    ("{name: synthetic}", {"train_size": 1024, "test_size": 256}),
    ("{name: synthetic, train_size: 300, test_size: 90}", {"train_size": 300, "test_size": 90}),
])
def test_the_saved_space_holds_the_dataset_keys_its_data_set_reads_and_reloads_equal(tmp_path, dataset,
                                                                                     saved_sizes):
    from wrnsearch.study import prepare_run_dir, resolve_run

    path = write(tmp_path, f"name: d\ndataset: {dataset}\nspace: {{architecture: [WRN-10-1]}}\n")
    space, run_dir = prepare_run_dir(path, runs_dir=tmp_path / "runs")  # as wrnsearch run saves it
    saved = yaml.safe_load((run_dir / "space.yaml").read_text())
    assert {k: v for k, v in saved["dataset"].items() if k in ("train_size", "test_size")} == saved_sizes
    assert saved["dataset"]["num_classes"] == space.dataset.num_classes and "val_size" in saved["dataset"]
    again, _ = resolve_run(None, run_dir=run_dir)  # as wrnsearch resume reads it
    assert again.model_dump() == space.model_dump()  # every field, the synthetic counts included
    assert again.to_yaml_dict() == space.to_yaml_dict() == saved


def test_a_run_directory_saved_with_the_synthetic_sizes_on_cifar10_still_resumes(tmp_path):
    """Earlier versions saved train_size and test_size on every data set: not taken for another data set."""
    from wrnsearch.study import prepare_run_dir, resolve_run

    text = "name: c\ndataset: {name: cifar10, train_subset: 3000}\nspace: {architecture: [WRN-10-1]}\n"
    run_dir = tmp_path / "runs" / "c"
    run_dir.mkdir(parents=True)
    old = parse_space(text).model_dump(mode="json")  # as earlier versions saved it
    assert old["dataset"]["train_size"] == 1024
    (run_dir / "space.yaml").write_text(yaml.safe_dump(old, sort_keys=False))
    space, _ = resolve_run(None, run_dir=run_dir)  # wrnsearch resume RUN_DIR
    again, _ = prepare_run_dir(write(tmp_path, text, "c.yaml"), runs_dir=tmp_path / "runs")  # wrnsearch run c.yaml
    assert again.model_dump() == space.model_dump()
    assert "train_size" not in yaml.safe_load((run_dir / "space.yaml").read_text())["dataset"]


def test_the_default_sampler_is_ehvi_where_it_applies(tmp_path):
    finite = load_space(write(tmp_path, "name: t\nspace: {depth: [16, 22], widen_factor: {low: 1, high: 12}}\n"))
    assert finite.search.sampler == "ehvi"
    continuous = load_space(write(tmp_path, "name: t\nspace: {depth: 16, widen_factor: 2, "
                                            "dropout: {low: 0.0, high: 0.5}}\n"))
    assert continuous.search.sampler == "tpe"  # ehvi cannot enumerate it
    huge = load_space(write(tmp_path, "name: t\nspace: {blocks_per_group: {low: 1, high: 300}, "
                                      "widen_factor: {low: 1, high: 64}, dropout: [0.0, 0.1, 0.2]}\n"))
    assert huge.search.sampler == "tpe"
    chosen = load_space(write(tmp_path, "name: t\nspace: {depth: 16, widen_factor: 2}\nsearch: {sampler: nsga2}\n"))
    assert chosen.search.sampler == "nsga2"
    with pytest.raises(SpaceError, match="search.sampler: ehvi needs a finite space"):
        load_space(write(tmp_path, "name: t\nspace: {depth: 16, widen_factor: 2, dropout: {low: 0.0, high: 0.5}}\n"
                                   "search: {sampler: ehvi}\n"))


def test_start_up_proposals_default_per_sampler_and_the_saved_space_names_them(tmp_path):
    # unset, n_startup_trials is the sampler's measured default (ehvi 5, TPE and GP 10), the one
    # the sampler gets after the default sampler is chosen; a value given is kept
    finite = load_space(write(tmp_path, "name: t\nspace: {depth: [16, 22], widen_factor: [1, 2]}\n"))
    assert (finite.search.sampler, finite.search.n_startup_trials) == ("ehvi", 5)
    continuous = load_space(write(tmp_path, "name: t\nspace: {depth: 16, widen_factor: 2, "
                                            "dropout: {low: 0.0, high: 0.5}}\n"))
    assert (continuous.search.sampler, continuous.search.n_startup_trials) == ("tpe", 10)
    overridden = load_space(write(tmp_path, "name: t\nspace: {depth: [16, 22], widen_factor: [1, 2]}\n"),
                            ["search.sampler=gp"])
    assert overridden.search.n_startup_trials == 10
    given = load_space(write(tmp_path, "name: t\nspace: {depth: 16, widen_factor: 2}\n"
                                       "search: {sampler: tpe, n_startup_trials: 3}\n"))
    assert given.search.n_startup_trials == 3
    assert finite.to_yaml_dict()["search"]["n_startup_trials"] == 5
    # a sampler that is not a name is the sampler field's one-line error, not a crash in the default
    with pytest.raises(SpaceError, match=r"space\.yaml:3:\d+: search\.sampler"):
        load_space(write(tmp_path, "name: t\nspace: {depth: 16, widen_factor: 2}\nsearch: {sampler: [tpe]}\n"))


def test_the_quickstart_is_sized_by_its_time_budget():
    """The quickstart's budget logic: a time budget that leaves its 3 minutes room for start-up and
    the end, enough validation images, and the widest network within the budget started first
    (with the narrowest), so that it has the time to finish."""
    from wrnsearch.space import budget_violations, iter_specs, space_cost
    from wrnsearch.spec import parse_name

    q = load_space(REPO / "spaces" / "quickstart.yaml")
    assert q.budget.time is not None and q.budget.time <= 165 and q.budget.trial_time <= q.budget.time
    assert q.dataset.val_size >= 500 and q.train.epochs >= 3
    fitting = [s for s in iter_specs(q) if not budget_violations(q, space_cost(q, s))]
    sizes = {s.name: space_cost(q, s).params for s in fitting}
    assert len(fitting) >= 6
    first = [parse_name(n).name for n in q.search.enqueue]
    assert first[0] == max(sizes, key=sizes.get) and first[1] == min(sizes, key=sizes.get), (first, sizes)
