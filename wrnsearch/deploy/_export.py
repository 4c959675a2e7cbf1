"""``wrnsearch export``: a completed trial's final weights as a self-contained model and its card.

A completed trial's final weights sit in ``RUN_DIR/checkpoints/<key>/model.pt`` (written by the
trainer, weights-only, no optimizer state; ``key`` is the trial's ``key`` attribute, shared by
trials that reused the same training). This module finds them by trial number or architecture
and writes:

- ``torchscript`` (``.pt``): ``torch.jit.load(path)``; torch only (deprecated by PyTorch, still loads).
- ``export`` (``.pt2``): ``torch.export.load(path).module()``; torch only, PyTorch's recommended format.
- ``safetensors``: the tensors, and in the metadata what
  :func:`wrnsearch.deploy.load_safetensors` needs (torch, safetensors and the ``WideResNet`` class).
- ``onnx``: needs the ``onnx`` extra (``onnx``, ``onnxscript``); checked against ``onnxruntime``
  when that is installed.

Every format takes float RGB images in [0, 1], NCHW, at the data set's resolution, any batch
size, and returns fp32 logits. Beside the model, its card ``<file name>.card.json`` (``m.onnx.card.json``):
what it is, how it was trained and measured, where it came from. Each exported file has its own
card, so exports of one stem in two formats keep both; :func:`read_card` still finds a card that an
earlier version wrote as ``<stem>.card.json``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import stat
import warnings
from pathlib import Path
from typing import Any

import optuna
import torch
from optuna.trial import FrozenTrial

from wrnsearch import __version__
from wrnsearch.deploy._deployed_model import DeployedWRN, safetensors_metadata
from wrnsearch.errors import RunError
from wrnsearch.files import atomic_path, atomic_write_text
from wrnsearch.objectives import NAMES, retimed
from wrnsearch.pareto import alone_figures, timed_alone
from wrnsearch.record import Attr, Status
from wrnsearch.study import Outcome, load_study, outcome_of
from wrnsearch.train import WEIGHTS_FILE, load_weights

EXPORT_FORMATS = {"torchscript": ".pt", "export": ".pt2", "safetensors": ".safetensors", "onnx": ".onnx"}
CHECKPOINTS_DIR = "checkpoints"
CARD_SUFFIX = ".card.json"


def pick_trial(study: optuna.Study, number: int | None = None, arch: str | None = None) -> FrozenTrial:
    """The completed trial with ``number``, or the best (lowest validation error) of ``arch``.

    Raises:
        RunError: naming what the study holds instead.
    """
    if (number is None) == (arch is None):
        raise RunError("give --trial N or --arch NAME (one of them)")
    trials = study.get_trials(deepcopy=False)
    if number is not None:
        found = [t for t in trials if t.number == number]
        if not found:
            raise RunError(f"study {study.study_name!r} has no trial {number} (trials 0-{len(trials) - 1})")
        trial = found[0]
        if not is_completed(trial):
            raise RunError(f"trial {number} ({trial.user_attrs.get(Attr.ARCH, '?')}) is {outcome_of(trial)}, not "
                           "complete: it has no final weights; pick a completed trial (wrnsearch pareto lists them)")
        return trial
    named = [t for t in trials if t.user_attrs.get(Attr.ARCH) == arch and is_completed(t)]
    if not named:
        known = sorted({t.user_attrs[Attr.ARCH] for t in trials if is_completed(t)})
        raise RunError(f"no completed trial of {arch} in study {study.study_name!r} (completed: "
                       f"{', '.join(known[:8]) or 'none'}{' ...' if len(known) > 8 else ''})")
    return min(named, key=lambda t: (t.user_attrs.get(Attr.VAL_ERROR, float("inf")), t.number))


def is_completed(trial: FrozenTrial) -> bool:
    """Trained in full (here, in the trial it reused, or in the run it was copied from): it has final weights."""
    return (outcome_of(trial) in (Outcome.DONE, Outcome.REUSED, Outcome.COPIED)
            and trial.user_attrs.get(Attr.STATUS) == Status.COMPLETE.value)


def trial_weights_path(run_dir: str | Path, trial: FrozenTrial) -> Path:
    """Where a completed trial's final weights are (a reused trial shares its source's; a copied one,
    or a reuse of it, has them in the run that trained it, under the same key: same data and recipe)."""
    key = trial.user_attrs.get(Attr.KEY)
    if not key:
        raise RunError(f"trial {trial.number} has no key attribute: not a wrnsearch trial")
    origin = trial.user_attrs.get(Attr.WARM_START)
    while isinstance(origin, dict) and isinstance(origin.get("via"), dict):  # a copy of a copy
        origin = origin["via"]
    trained_in = Path(origin["run_dir"]) if isinstance(origin, dict) and "run_dir" in origin else Path(run_dir)
    return trained_in / CHECKPOINTS_DIR / key / WEIGHTS_FILE


def export_trial(run_dir: str | Path, output: str | Path, *, fmt: str = "export", trial: int | None = None,
                 arch: str | None = None, study_name: str | None = None) -> tuple[Path, Path]:
    """Write a completed trial of the run as a self-contained model and its card; both paths.

    Raises:
        RunError: an unknown format, a trial without weights, a failed conversion.
    """
    if fmt not in EXPORT_FORMATS:
        raise RunError(f"--format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    study = load_study(run_dir=run_dir, study_name=study_name)
    chosen = pick_trial(study, trial, arch)
    weights = trial_weights_path(run_dir, chosen)
    state = load_weights(weights)
    if state["spec"] != chosen.user_attrs.get(Attr.SPEC, state["spec"]):
        raise RunError(f"{weights}: holds another architecture than trial {chosen.number}")
    model = DeployedWRN.from_weights(state)
    output = Path(output)
    if output.suffix == "":
        output = output.with_suffix(EXPORT_FORMATS[fmt])
    output.parent.mkdir(parents=True, exist_ok=True)
    example = torch.rand(2, state["channels"], state["resolution"], state["resolution"])
    _write_model(fmt, model, example, state, output)
    checked = _check_onnx(model, example, output) if fmt == "onnx" else None
    card = model_card(study, chosen, state, fmt, output, run_dir)
    if checked is not None:
        card["onnxruntime_max_abs_diff"] = checked
    card_path = output.with_name(output.name + CARD_SUFFIX)
    atomic_write_text(card_path, json.dumps(card, indent=2) + "\n")
    return output, card_path


def read_card(model_path: str | Path) -> dict[str, Any]:
    """The card of an exported model file: ``<file name>.card.json``, or the ``<stem>.card.json`` that
    exports before per-file cards wrote, when that card names this file (one stem's exports shared it).

    Raises:
        RunError: when the model has no card.
    """
    model_path = Path(model_path)
    card_path = model_path.with_name(model_path.name + CARD_SUFFIX)
    if card_path.is_file():
        return json.loads(card_path.read_text())
    shared = model_path.with_name(model_path.stem + CARD_SUFFIX)
    if shared.is_file():
        card = json.loads(shared.read_text())
        if card.get("file") == model_path.name:
            return card
    raise RunError(f"{model_path}: no model card beside it ({card_path.name}); export it again with wrnsearch export")


def _write_model(fmt: str, model: DeployedWRN, example: torch.Tensor, state: dict[str, Any], output: Path) -> None:
    """Write ``output`` atomically with the mode of any new file here (0644 under umask 022), whatever
    the format's writer does: safetensors writes a 0600 temporary of its own and renames it over the path."""
    with atomic_path(output) as tmp:
        tmp.touch()  # created as open() creates a file: its mode is the one the model file gets
        mode = stat.S_IMODE(tmp.stat().st_mode)
        _WRITERS[fmt](model, example, state, tmp)
        os.chmod(tmp, mode)


def _torchscript(model: DeployedWRN, example: torch.Tensor, state: dict[str, Any], path: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        # PyTorch deprecates TorchScript for torch.export (the default format); it still loads
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(model, example)
        torch.jit.save(traced, str(path))


def _export(model: DeployedWRN, example: torch.Tensor, state: dict[str, Any], path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.export.export(model, (example,), dynamic_shapes={"images": {0: batch}})
    buffer = io.BytesIO()  # torch.export.save wants a name ending in .pt2; the atomic temporary has none
    torch.export.save(program, buffer)
    path.write_bytes(buffer.getvalue())


def _safetensors(model: DeployedWRN, example: torch.Tensor, state: dict[str, Any], path: Path) -> None:
    try:
        from safetensors.torch import save_file
    except ImportError:
        raise RunError("--format safetensors needs the safetensors package: pip install 'wrnsearch[export]'") from None
    tensors = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(path), metadata=safetensors_metadata(state))


def _onnx(model: DeployedWRN, example: torch.Tensor, state: dict[str, Any], path: Path) -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise RunError("--format onnx needs onnx and onnxscript: pip install 'wrnsearch[export]'") from None
    batch = torch.export.Dim("batch", min=1, max=65536)
    program = torch.onnx.export(model, (example,), dynamic_shapes={"images": {0: batch}}, input_names=["images"],
                                output_names=["logits"], dynamo=True, verbose=False)
    program.save(str(path))


_WRITERS = {"torchscript": _torchscript, "export": _export, "safetensors": _safetensors, "onnx": _onnx}


def _check_onnx(model: DeployedWRN, example: torch.Tensor, path: Path) -> float | None:
    """The largest difference between onnxruntime's logits and torch's (None: onnxruntime absent).

    Raises:
        RunError: when they differ by more than 1e-3.
    """
    try:
        import onnxruntime
    except ImportError:
        return None
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: example.numpy()})[0]
    with torch.no_grad():
        want = model(example).numpy()
    diff = float(abs(got - want).max())
    if diff > 1e-3:
        raise RunError(f"{path}: onnxruntime's logits differ from torch's by {diff:.3g}: the export is wrong")
    return diff


def model_card(study: optuna.Study, trial: FrozenTrial, state: dict[str, Any], fmt: str, output: Path,
               run_dir: str | Path) -> dict[str, Any]:
    """What the exported model is, how it was trained and measured, and where it came from."""
    attrs = trial.user_attrs
    space = study.user_attrs.get("space", {})
    split = attrs.get(Attr.DATASET_SPLIT) or {}
    train = space.get("train", {})
    # each figure timed alone (the latencies) as the trial timed it, then as timed alone if it was
    latencies = [{o.name: attrs.get(o.attr), "device": attrs.get(Attr.DEVICE),
                  "what": f"median {o.title} at batch {train.get(o.batch_setting, '?')}"}
                 for i, o in enumerate(retimed(NAMES)) if i == 0 or attrs.get(o.attr) is not None]
    figures = alone_figures(study)
    alone = figures.get(attrs.get(Attr.ARCH))
    if alone is not None and timed_alone(trial, figures):
        latencies.append({**{o.name: alone.get(o.name) for o in retimed(NAMES)}, "device": alone.get("device"),
                          "what": "timed alone (wrnsearch measure)"})
    return {
        "name": attrs.get(Attr.ARCH), "format": fmt, "file": output.name, "sha256": _sha256(output),
        "spec": state["spec"], "params": attrs.get(Attr.PARAMS), "macs": attrs.get(Attr.MACS),
        "val_error": attrs.get(Attr.VAL_ERROR), "test_error": attrs.get(Attr.TEST_ERROR),
        "epochs": attrs.get(Attr.EPOCHS), "recipe": space.get("train"),
        "dataset": {"name": space.get("dataset", {}).get("name"), "split": split,
                    "classes": state["classes"]},
        "input": {"layout": "NCHW", "dtype": "float32", "range": [0.0, 1.0], "channels": state["channels"],
                  "height": state["resolution"], "width": state["resolution"],
                  "normalization_inside": {"kind": state["normalize"], "mean": state["mean"], "std": state["std"]}},
        "output": {"logits": len(state["classes"]), "dtype": "float32"},
        "latencies": latencies,
        "source": {"run_dir": str(Path(run_dir).resolve()), "study": study.study_name, "trial": trial.number,
                   Attr.REUSED_FROM: attrs.get(Attr.REUSED_FROM), "key": attrs.get(Attr.KEY)},
        "versions": {"wrnsearch": __version__, "torch": torch.__version__, "trained_with_torch": attrs.get("torch"),
                     "optuna": optuna.__version__, "python": platform.python_version()},
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
