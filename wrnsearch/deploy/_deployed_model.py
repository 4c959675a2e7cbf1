"""A trained WRN as deployers take it: the training normalization inside, fp32 logits out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from wrnsearch.errors import RunError
from wrnsearch.model import build_model
from wrnsearch.spec import WRNSpec
from wrnsearch.train import Augmenter

SAFETENSORS_KEYS = ("spec", "normalize", "mean", "std", "resolution", "classes")


class DeployedWRN(nn.Module):
    """``forward(images)``: float RGB images in [0, 1], NCHW at the data set's resolution, to logits
    (fp32). The input is normalized exactly as the trial's evaluation did (the same scale and shift
    tensors applied to the 0..255 pixel values), so the exported model reproduces its test error.
    """

    def __init__(self, spec: WRNSpec, normalize: str, mean: list[float], std: list[float]) -> None:
        super().__init__()
        aug = Augmenter(tuple(mean), tuple(std), augment=False, normalize=normalize, device=torch.device("cpu"))
        self.register_buffer("scale", aug.scale.clone())
        self.register_buffer("shift", aug.shift.clone())
        self.net = build_model(spec)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = (images.float() * 255.0) * self.scale + self.shift
        return self.net(x).float()

    @classmethod
    def from_weights(cls, state: dict[str, Any]) -> DeployedWRN:
        """From what :func:`wrnsearch.train.save_weights` wrote; in eval mode."""
        model = cls(WRNSpec.from_dict(state["spec"]), state["normalize"], state["mean"], state["std"])
        model.net.load_state_dict(state["model"])
        return model.eval()


def safetensors_metadata(state: dict[str, Any]) -> dict[str, str]:
    """What :func:`load_safetensors` needs besides the tensors (safetensors metadata is str -> str)."""
    return {key: json.dumps(state[key]) for key in SAFETENSORS_KEYS}


def load_safetensors(path: str | Path) -> DeployedWRN:
    """A model that ``wrnsearch export --format safetensors`` wrote: torch, safetensors and this class.

    Raises:
        RunError: when the file is not such an export.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    missing = [k for k in SAFETENSORS_KEYS if k not in meta]
    if missing:
        raise RunError(f"{path}: not a wrnsearch export (metadata lacks {', '.join(missing)})")
    info = {k: json.loads(meta[k]) for k in SAFETENSORS_KEYS}
    model = DeployedWRN(WRNSpec.from_dict(info["spec"]), info["normalize"], info["mean"], info["std"])
    model.load_state_dict(load_file(str(path)))
    return model.eval()
