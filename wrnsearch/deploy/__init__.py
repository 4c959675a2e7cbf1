"""From a search's front to a model people deploy.

- :mod:`~wrnsearch.deploy._deployed_model`: :class:`DeployedWRN`, a trained WRN with the input
  normalization it trained with inside (float RGB in [0, 1] in, fp32 logits out).
- :mod:`~wrnsearch.deploy._export`: ``wrnsearch export``: a completed trial's final weights
  (found by trial number or architecture) written as TorchScript, ``torch.export`` (.pt2),
  safetensors or ONNX, with a JSON model card beside it (``<file name>.card.json``, read by :func:`read_card`).
- :mod:`~wrnsearch.deploy._clean`: ``wrnsearch clean``: resume checkpoints and off-front weights removed.
"""

from wrnsearch.deploy._clean import clean_run
from wrnsearch.deploy._deployed_model import DeployedWRN, load_safetensors
from wrnsearch.deploy._export import EXPORT_FORMATS, export_trial, pick_trial, read_card, trial_weights_path
from wrnsearch.deploy._retrain import RETRAIN_DIR, choose, plan_retrain, retrain_space

__all__ = [
    "DeployedWRN", "EXPORT_FORMATS", "RETRAIN_DIR", "choose", "clean_run", "export_trial", "load_safetensors",
    "pick_trial", "plan_retrain", "read_card", "retrain_space", "trial_weights_path",
]
