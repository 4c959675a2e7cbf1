"""Trial checkpoints: written atomically every epoch, loaded weights-only, resumed only when alike.

A restarted trial continues from the newest checkpoint that loads and matches its SHA-256 (a
corrupt one is skipped for the one before it) and belongs to its architecture, and only if it was trained with the same
recipe and split (:func:`run_identity`): a checkpoint trained with another learning rate or
epoch count would silently carry the wrong LR milestones.
"""

from __future__ import annotations

import hashlib
import io
import logging
from pathlib import Path
from typing import Any

import torch

from wrnsearch.errors import RunError, one_line
from wrnsearch.files import atomic_path
from wrnsearch.spec import WRNSpec

log = logging.getLogger(__name__)

CHECKPOINT_GLOB = "checkpoint-*.pt"
WEIGHTS_FILE = "model.pt"  # a completed trial's final weights, for export (no optimizer state)
WEIGHTS_FORMAT = "wrnsearch-weights/1"
DIGEST_SUFFIX = ".sha256"  # beside each checkpoint: the SHA-256 of its bytes
KEEP_CHECKPOINTS = 2  # the newest and the one before, to fall back on if the newest is corrupt

# Settings that only change how a run is measured or executed, not what it trains: a checkpoint
# written under other values of these may be resumed.
_NOT_IDENTITY = {"eval_batch_size", "compile", "latency_batch", "latency_steps", "infer_batch"}


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + DIGEST_SUFFIX)


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    """Write ``checkpoint-<epoch>.pt`` atomically (fsynced), then its SHA-256 beside it, and keep the
    newest two. torch's zip reader checks no CRC, so a flipped bit in a tensor's bytes would load
    as silently wrong weights: the digest catches it."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"checkpoint-{state['epoch']:05d}.pt"
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getvalue()
    with atomic_path(path, fsync=True) as tmp:
        Path(tmp).write_bytes(data)
    with atomic_path(_digest_path(path), fsync=True) as tmp:
        Path(tmp).write_text(hashlib.sha256(data).hexdigest() + "\n")
    for old in sorted(directory.glob(CHECKPOINT_GLOB))[:-KEEP_CHECKPOINTS]:
        old.unlink(missing_ok=True)
        _digest_path(old).unlink(missing_ok=True)
    return path


def _verified_bytes(path: Path) -> bytes:
    """The checkpoint's bytes, checked against its digest when it has one (one written before the
    digests, or by a writer killed between the two files, has none: it was written atomically)."""
    data = path.read_bytes()
    digest = _digest_path(path)
    if digest.is_file():
        expected = digest.read_text().strip()
        if hashlib.sha256(data).hexdigest() != expected:
            raise ValueError("its bytes do not match its SHA-256 (corrupt on disk)")
    return data


def load_checkpoint(directory: Path | None, spec: WRNSpec) -> dict[str, Any] | None:
    """The newest checkpoint in ``directory`` that loads and belongs to ``spec``, else None.

    Loading is weights-only: a checkpoint whose pickle would build arbitrary objects is refused,
    never executed; a truncated or corrupt one is skipped for the one before it.
    """
    if directory is None or not directory.is_dir():
        return None
    for path in sorted(directory.glob(CHECKPOINT_GLOB), reverse=True):
        try:
            state = torch.load(io.BytesIO(_verified_bytes(path)), map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or state.get("spec") != spec.to_dict() or "model" not in state:
                raise ValueError("not a checkpoint of this architecture")
            return state
        except Exception as e:  # noqa: BLE001 - any unreadable file is skipped, never trusted
            log.warning("skipping checkpoint %s: %s", path, one_line(e, 200))
    return None


def save_weights(directory: Path, model: torch.nn.Module, spec: WRNSpec, splits: Any, normalize: str,
                 epochs: int | None) -> Path:
    """Write a completed trial's final weights, with what an exported model needs around them: the
    input normalization it trained with (its training split's mean and std), resolution and
    classes. Tensors, numbers and strings only, so it loads weights-only."""
    path = Path(directory) / WEIGHTS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "format": WEIGHTS_FORMAT, "spec": spec.to_dict(), "epochs": epochs,
        "model": {k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous()
                  for k, v in model.state_dict().items()},
        "normalize": normalize, "mean": [float(m) for m in splits.mean], "std": [float(s) for s in splits.std],
        "resolution": int(splits.train_x.shape[-1]), "channels": int(splits.train_x.shape[1]),
        "classes": list(splits.classes),
    }
    with atomic_path(path, fsync=True) as tmp:
        torch.save(state, tmp)
    return path


def load_weights(path: Path) -> dict[str, Any]:
    """A file :func:`save_weights` wrote, loaded weights-only.

    Raises:
        RunError: when it is missing, unreadable or not such a file.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise RunError(f"{path}: no final weights (the trial did not complete here, or they were cleaned)") from None
    except Exception as e:  # noqa: BLE001 - a corrupt file is the user's to know about, in one line
        raise RunError(f"{path}: unreadable weights ({one_line(e, 200, kind=True)})") from None
    if not isinstance(state, dict) or state.get("format") != WEIGHTS_FORMAT:
        raise RunError(f"{path}: not a wrnsearch weights file ({WEIGHTS_FORMAT})")
    return state


def run_identity(recipe: dict[str, Any], dataset: dict[str, Any]) -> dict[str, Any]:
    """What a checkpoint must have been trained with to be resumed: the recipe and the split.

    The data set's path is left out (it differs between machines holding the same copy); the
    validation indices' hash stands for the split.
    """
    return {"recipe": {k: v for k, v in recipe.items() if k not in _NOT_IDENTITY},
            "dataset": {k: v for k, v in dataset.items() if k != "source"}}


def check_identity(state: dict[str, Any], identity: dict[str, Any], directory: Path | None, spec: WRNSpec) -> None:
    """Refuse a checkpoint trained with other settings (older checkpoints carry no identity).

    Raises:
        RunError: naming up to four settings that changed.
    """
    saved = state.get("run")
    if saved is None or saved == identity:
        return
    changed = []
    for section in ("recipe", "dataset"):
        a, b = saved.get(section, {}), identity.get(section, {})
        changed += [f"{section}.{k} {a.get(k)!r} -> {b.get(k)!r}"
                    for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    raise RunError(f"{directory}: holds {spec.name} trained with other settings "
                   f"({'; '.join(changed[:4])}{'; ...' if len(changed) > 4 else ''}): resume with the same "
                   "settings, or give another checkpoint directory")


def rng_state(generator: torch.Generator, device: torch.device) -> dict[str, Any]:
    """Every random state a resumed trial needs to draw what the uninterrupted one would."""
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict[str, Any], generator: torch.Generator, device: torch.device) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
