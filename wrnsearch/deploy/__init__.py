"""From a search's front to a model people deploy.

- :mod:`~wrnsearch.deploy.model`: :class:`DeployedWRN`, a trained WRN with the input
  normalization it trained with inside (float RGB in [0, 1] in, fp32 logits out).
- :mod:`~wrnsearch.deploy.export`: ``wrnsearch export``: a completed trial's final weights
  (found by trial number or architecture) written as TorchScript, ``torch.export`` (.pt2),
  safetensors or ONNX, with a JSON model card beside it.
- :mod:`~wrnsearch.deploy.clean`: ``wrnsearch clean``: resume checkpoints and off-front weights removed.
"""

from wrnsearch.deploy.clean import clean_run
from wrnsearch.deploy.export import EXPORT_FORMATS, export_trial, pick_trial, trial_weights_path
from wrnsearch.deploy.model import DeployedWRN, load_safetensors

__all__ = ["EXPORT_FORMATS", "DeployedWRN", "clean_run", "export_trial", "load_safetensors", "pick_trial",
           "trial_weights_path"]
