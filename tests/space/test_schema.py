"""Malformed spaces: each error names the file, the line and column of the key, its dotted path."""

from __future__ import annotations

import re

import pytest

from wrnsearch.errors import SpaceError
from wrnsearch.space import load_space, parse_space

BASE = """\
name: bad
dataset:
  name: cifar10
space:
  depth: [16, 22]
  widen_factor: {low: 1, high: 4}
  block: ["B(3,3)"]
budget:
  max_params: 40M
train:
  epochs: 10
search:
  sampler: tpe
"""


def _replace(line_no: int, new: str) -> str:
    lines = BASE.splitlines()
    lines[line_no - 1] = new
    return "\n".join(lines) + "\n"


# (case id, file text, expected line, expected column or None, fragment of the message)
CASES = [
    ("unknown-top-key", BASE + "sampler: tpe\n", 14, 1, "sampler: unknown key 'sampler'"),
    ("unknown-key-did-you-mean", _replace(11, "  epoch: 10"), 11, 3,
     "train.epoch: unknown key 'epoch' (did you mean 'epochs'?)"),
    ("unknown-space-key", _replace(6, "  widen_factr: {low: 1, high: 4}"), 6, 3, "did you mean 'widen_factor'?"),
    ("unknown-range-key", _replace(6, "  widen_factor: {low: 1, hihg: 4}"), 6, 3,
     "space.widen_factor: unknown range key 'hihg' (did you mean 'high'?)"),
    ("wrong-type-epochs", _replace(11, "  epochs: ten"), 11, 3, "train.epochs"),
    ("negative-epochs", _replace(11, "  epochs: -5"), 11, 3,
     "train.epochs: Input should be greater than or equal to 1"),
    ("bad-sampler", _replace(13, "  sampler: annealing"), 13, 3, "search.sampler: 'annealing' is not allowed"),
    ("bad-dataset", _replace(3, "  name: imagenet22k"), 3, 3, "dataset.name: 'imagenet22k' is not allowed"),
    ("bad-size", _replace(9, "  max_params: 40Q"), 9, 3, "budget.max_params: '40Q' is not a count"),
    ("impossible-depth", _replace(5, "  depth: [16, 23]"), 5, 15,
     "space.depth.1: depth 23 is realized by no allowed block"),
    ("block-without-depth", _replace(7, "  block: [\"B(3,3)\", \"B(3,1,1,1,3)\"]"), 7, 3,
     "space.block: block B(3,1,1,1,3) (l=5) fits none of the allowed depths"),
    ("budget-below-smallest", _replace(9, "  max_params: 1000"), 9, 3,
     "budget.max_params: 1,000 is below the smallest architecture in the space (175,066)"),
    ("empty-choice-list", _replace(5, "  depth: []"), 5, 3, "space.depth: the list of choices is empty"),
    ("empty-block-list", _replace(7, "  block: []"), 7, 3, "space.block: the list of blocks is empty"),
    ("even-kernel", _replace(7, "  block: [\"B(3,2)\"]"), 7, 3, "kernel sizes must be positive odd integers"),
    ("fractional-width", _replace(6, "  widen_factor: [0.3, 1]"), 6, 3,
     "space.widen_factor: widen_factor 0.3: group width 16*0.3 is not a whole number"),
    ("dropout-one", BASE.replace("  block: [\"B(3,3)\"]\n", "  block: [\"B(3,3)\"]\n  dropout: [0.0, 1.0]\n"), 8, 3,
     "space.dropout: dropout values must lie in [0, 1)"),
    ("low-above-high", _replace(6, "  widen_factor: {low: 8, high: 4}"), 6, 3, "low 8 is above high 4"),
    ("depth-and-n", BASE.replace("  block:", "  blocks_per_group: 2\n  block:"), 4, 1,
     "space: give exactly one of depth and blocks_per_group"),
    ("missing-space", "name: bad\ntrain:\n  epochs: 3\n", 1, 1, "space: required key is missing"),
    ("bad-objective", BASE + "objectives: [error, accuracy]\n", 14, 21, "objectives.1: 'accuracy' is not allowed"),
    ("duplicate-objective", BASE + "objectives: [error, error]\n", 14, 1, "objectives: an objective is listed twice"),
    ("duplicate-key", BASE + "name: again\n", 14, 1, "key 'name' appears twice (first on line 1)"),
    ("python-tag", BASE.replace("name: bad", "name: !!python/object/apply:os.system ['echo pwned']"), 1, 7,
     "is not allowed: space files are plain data"),
    ("syntax-error", _replace(6, "  widen_factor: {low: 1, high: 4"), 7, None, "YAML error"),
    ("tab-indent", _replace(11, "\tepochs: 10"), 11, None, "YAML error"),
    ("top-level-list", "- name: bad\n", 1, 1, "the top level must be a mapping"),
    ("huge-number", _replace(5, "  depth: [16, 1e400]"), 5, 3, "space.depth: choice inf is not a finite number"),
    ("huge-depth", _replace(5, "  depth: [16, 1000000000000]"), 5, 3, "space.depth: depth values must lie in 1..1000"),
    ("bad-name", _replace(1, "name: 'a b/c'"), 1, 1, "name: String should match pattern"),
    ("bad-architecture", "name: bad\nspace:\n  architecture: [WRN-16-4, WRN-17-4]\n", 3, 28,
     "space.architecture.1: depth 17 is impossible"),
    ("architecture-and-depth", "name: bad\nspace:\n  architecture: [WRN-16-4]\n  depth: 16\n", 2, 1,
     "architecture lists whole WRNs: drop depth"),
    ("bad-time", BASE.replace("  max_params: 40M", "  max_params: 40M\n  time: soon"), 10, 3,
     "budget.time: 'soon' is not a duration"),
    ("milestones-order", _replace(11, "  lr_milestones: [0.8, 0.3]"), 11, 3,
     "train.lr_milestones: lr_milestones are increasing fractions"),
    ("imagefolder-needs-resolution", _replace(3, "  name: imagefolder"), 2, 1,
     "dataset: an imagefolder dataset needs num_classes and resolution"),
]


@pytest.mark.parametrize("case, text, line, column, fragment", CASES, ids=[c[0] for c in CASES])
def test_malformed_space(tmp_path, case, text, line, column, fragment):
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError) as info:
        load_space(path)
    problems = info.value.problems
    match = [p for p in problems if fragment in p]
    assert match, problems
    m = re.match(rf"^{re.escape(str(path))}:(\d+):(\d+): ", match[0])
    assert m, match[0]
    assert int(m.group(1)) == line, match[0]
    if column is not None:
        assert int(m.group(2)) == column, match[0]
    assert all("\n" not in p for p in problems)


def test_malformed_case_count():
    assert len(CASES) >= 30


def test_several_problems_are_all_reported(tmp_path):
    path = tmp_path / "many.yaml"
    path.write_text(BASE.replace("  epochs: 10", "  epoch: 10").replace("  sampler: tpe", "  sampler: nope"))
    with pytest.raises(SpaceError) as info:
        load_space(path)
    assert len(info.value.problems) == 2
    assert {p.split(": ")[1] for p in info.value.problems} == {"train.epoch", "search.sampler"}


@pytest.mark.parametrize("line, fragment", [
    ("  depth: 27", "space.depth: depth 27 is realized by no allowed block"),
    ("  depth: [27, 33]", "space.depth: none of the depths (27, 33) is realized by an allowed block"),
])
def test_a_root_cause_is_reported_alone(tmp_path, line, fragment):
    """One mistake, one line: not the depths, then every block that fits no depth left."""
    path = tmp_path / "root.yaml"
    path.write_text(_replace(5, line))
    with pytest.raises(SpaceError) as info:
        load_space(path)
    assert len(info.value.problems) == 1 and fragment in info.value.problems[0], info.value.problems
    path.write_text(_replace(7, '  block: ["B(3,1,1,1,3)"]'))  # depths 16, 22 and a block that meets neither
    with pytest.raises(SpaceError) as info:
        load_space(path)
    assert len(info.value.problems) == 1, info.value.problems
    assert "space.depth: none of the depths (16, 22) is realized" in info.value.problems[0]
    assert "(l=5: 19, 34, 49, 64, ...)" in info.value.problems[0]


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b"", "the file is empty"),
        (b"# only a comment\n", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary data"),
        (b"name: \xff\xfe bad\n", "not UTF-8"),
    ],
)
def test_empty_and_binary_files(tmp_path, content, fragment):
    path = tmp_path / "x.yaml"
    path.write_bytes(content)
    with pytest.raises(SpaceError, match=fragment) as info:
        load_space(path)
    assert str(path) in info.value.problems[0]


def test_missing_file(tmp_path):
    with pytest.raises(SpaceError, match="no such file"):
        load_space(tmp_path / "nope.yaml")


def test_python_tag_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n"
                    "space: {depth: 16, widen_factor: 1}\n")
    with pytest.raises(SpaceError):
        load_space(path)
    assert not marker.exists()


# a space of the inference latency (tests/test_measure.py), its third objective misspelt below
INFER = """\
name: infer
dataset: {name: synthetic, num_classes: 4, resolution: 16, train_size: 64, test_size: 32, val_size: 32}
space: {architecture: [WRN-10-1]}
objectives: [error, params, latency_infer_ms]
train: {epochs: 1, batch_size: 32, lr: 0.05, infer_batch: 3}
search: {sampler: random}
"""


def test_a_misspelt_objective_is_one_line_naming_the_choices(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(INFER.replace("latency_infer_ms]", "latency_inference_ms]"))
    with pytest.raises(SpaceError) as info:
        load_space(path)
    (problem,) = info.value.problems
    assert problem.startswith(f"{path}:4:29: objectives.2: 'latency_inference_ms' is not allowed")
    assert "'latency_infer_ms'" in problem and "\n" not in problem
    with pytest.raises(SpaceError, match="train.infer_batch"):
        parse_space(INFER.replace("infer_batch: 3", "infer_batch: 0"), source="zero")
