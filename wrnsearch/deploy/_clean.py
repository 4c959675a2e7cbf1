"""``wrnsearch clean``: free the disk a finished search's checkpoints hold, keeping what matters.

A trial's directory ``RUN_DIR/checkpoints/<key>/`` holds its resume checkpoints (weights,
optimizer and random states of the newest two epochs) and, once it completed, ``model.pt`` (its
final weights, what ``wrnsearch export`` reads). Cleaning removes:

- the resume checkpoints of every key whose trials have all finished (a trial that is running,
  waiting or was interrupted keeps them: a resumed search continues from them);
- with ``--keep front`` (the default) the final weights of completed trials off the front;
  ``--keep completed`` keeps every completed trial's final weights.

It refuses while a search holds the run (its lock), and ``--dry-run`` only lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from wrnsearch.deploy._export import CHECKPOINTS_DIR, is_completed
from wrnsearch.pareto import front_info
from wrnsearch.record import Attr
from wrnsearch.study import Outcome, RunLock, load_study, outcome_of
from wrnsearch.train import CHECKPOINT_GLOB, DIGEST_SUFFIX, WEIGHTS_FILE

KEEP = ("front", "completed")


@dataclass
class Cleaned:
    removed: list[Path] = field(default_factory=list)
    kept_weights: list[Path] = field(default_factory=list)
    freed_bytes: int = 0


def clean_run(run_dir: str | Path, *, keep: str = "front", dry_run: bool = False) -> Cleaned:
    """Remove what :mod:`this module <wrnsearch.deploy._clean>` says; what was (or would be) removed.

    Raises:
        RunError: when a search holds the run, or it is not a run directory.
    """
    if keep not in KEEP:
        raise ValueError(f"keep must be one of {KEEP}")
    run_dir = Path(run_dir)
    study = load_study(run_dir=run_dir)
    with RunLock(run_dir):
        trials = study.get_trials(deepcopy=False)
        unfinished = {t.user_attrs.get(Attr.KEY) for t in trials
                      if outcome_of(t) in (Outcome.RUNNING, Outcome.WAITING, Outcome.INTERRUPTED)}
        if keep == "front":
            wanted = {t.user_attrs.get(Attr.KEY) for t in front_info(study).front_trials}
        else:
            wanted = {t.user_attrs.get(Attr.KEY) for t in trials if is_completed(t)}
        out = Cleaned()
        root = run_dir / CHECKPOINTS_DIR
        for key_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
            doomed = [] if key_dir.name in unfinished else sorted(
                [*key_dir.glob(CHECKPOINT_GLOB), *key_dir.glob(CHECKPOINT_GLOB + DIGEST_SUFFIX)])
            weights = key_dir / WEIGHTS_FILE
            if weights.is_file():
                (out.kept_weights if key_dir.name in wanted else doomed).append(weights)
            for path in doomed:
                out.freed_bytes += path.stat().st_size
                out.removed.append(path)
                if not dry_run:
                    path.unlink()
            if not dry_run and not any(key_dir.iterdir()):
                key_dir.rmdir()
        return out
