"""Batched augmentation and normalization of uint8 image tensors, on the trial's device.

The whole data set sits as uint8 tensors on the device; each minibatch is gathered, augmented
(reflect-pad 4, random crop, horizontal flip: the paper's CIFAR augmentation) and normalized
there in one batched operation, with the random draws taken from a CPU generator that the
checkpoint carries, so a resumed trial draws what the uninterrupted one would have.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class Augmenter:
    """Normalize (per-channel mean/std, or /255) and, for training, augment image batches."""

    def __init__(self, mean: tuple[float, ...], std: tuple[float, ...], *, augment: bool, normalize: str,
                 device: torch.device, channels_last: bool = False, pad: int = 4) -> None:
        c = len(mean)
        if normalize == "meanstd":
            self.scale = (1 / (255 * torch.tensor(std, device=device))).view(1, c, 1, 1)
            self.shift = (-torch.tensor(mean, device=device) / torch.tensor(std, device=device)).view(1, c, 1, 1)
        else:  # pixels / 255
            self.scale = torch.full((1, c, 1, 1), 1 / 255, device=device)
            self.shift = torch.zeros((1, c, 1, 1), device=device)
        self.augment, self.pad, self.device = augment, pad, device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() * self.scale + self.shift).contiguous(memory_format=self.memory_format)

    def eval_batch(self, x: torch.Tensor) -> torch.Tensor:
        return self._normalize(x)

    def train_batch(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = self._normalize(x)
        if not self.augment:
            return x
        b, _, h, w = x.shape
        p = self.pad
        padded = F.pad(x, (p, p, p, p), mode="reflect")
        # per-image offsets and flips drawn on the CPU generator (checkpointed), applied on device
        oy = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(self.device, non_blocking=True)
        ox = torch.randint(0, 2 * p + 1, (b,), generator=generator).to(self.device, non_blocking=True)
        flip = (torch.rand(b, generator=generator) < 0.5).to(self.device, non_blocking=True)
        rows = (oy[:, None] + torch.arange(h, device=self.device))[:, :, None]  # (B, H, 1)
        cols = torch.arange(w, device=self.device).expand(b, w)
        cols = torch.where(flip[:, None], w - 1 - cols, cols) + ox[:, None]  # flipping = reading backwards
        crops = padded[torch.arange(b, device=self.device)[:, None, None], :, rows, cols[:, None, :]]  # (B, H, W, C)
        return crops.permute(0, 3, 1, 2).contiguous(memory_format=self.memory_format)
