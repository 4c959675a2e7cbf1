"""Corrupt checkpoints: truncated, bit-flipped, or a pickle whose payload would run code."""

from __future__ import annotations

import pickle

import pytest
import torch

from tests.spaces import exactly, space_text
from wrnsearch.data import load_splits
from wrnsearch.space import parse_space
from wrnsearch.spec import parse_name
from wrnsearch.train import load_checkpoint, train_trial

# one architecture's 3-epoch trial, stopped and resumed from its checkpoints
SPACE = space_text("c", dataset={"train_size": 320}, space=exactly({"architecture": ["WRN-10-1"]}), train={"epochs": 3})


@pytest.fixture(scope="module")
def setup():
    s = parse_space(SPACE, source="c")
    return s, load_splits(s.dataset), parse_name("WRN-10-1", num_classes=4)


class _Payload:
    """Unpickling this would run a shell command that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _truncate(path, tmp_path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 3])


def _bitflip(path, tmp_path):
    data = bytearray(path.read_bytes())
    for i in range(64, len(data), max(1, len(data) // 97)):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _malicious(path, tmp_path):
    state = torch.load(path, weights_only=True)
    state["model"] = _Payload(tmp_path / "pwned")  # a real torch.save file, with the payload inside
    torch.save(state, path, pickle_protocol=pickle.DEFAULT_PROTOCOL)


def _one_byte(path, tmp_path):
    """One byte in the middle of the file, inside a tensor's data: the file still loads (torch's zip
    reader checks no CRC); only the checkpoint's SHA-256 tells."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    torch.load(path, weights_only=True)  # loads: the corruption is silent without the digest


CORRUPTIONS = {"truncated": _truncate, "bit-flipped": _bitflip, "pickle payload": _malicious,
               "one tensor byte": _one_byte}


@pytest.mark.parametrize("kind", list(CORRUPTIONS))
def test_corrupt_newest_checkpoint_falls_back_to_the_previous(setup, tmp_path, ledger, kind):
    s, splits, spec = setup
    ck = tmp_path / "ck"
    # the 3-epoch trial stopped after epoch 2, as an interrupted one would be
    train_trial(spec, s.train, splits, device="cpu", checkpoint_dir=ck, measure=False, callback=lambda r,
                _: r.epoch < 2)
    newest = sorted(ck.glob("checkpoint-*.pt"))[-1]
    assert newest.name == "checkpoint-00002.pt"
    CORRUPTIONS[kind](newest, tmp_path)
    record = train_trial(spec, s.train, splits, device="cpu", checkpoint_dir=ck, measure=False)
    survived = record.status == "complete" and record.resumed_from_epoch == 1 and not (tmp_path / "pwned").exists()
    ledger.fault("corrupt checkpoint", f"{kind} newest checkpoint: fell back to the previous one", survived=survived,
                 finished_before=1, lost=0 if survived else 1)
    assert not (tmp_path / "pwned").exists(), "the checkpoint's payload ran"
    assert record.resumed_from_epoch == 1  # the good checkpoint of epoch 1
    assert record.status == "complete" and [c["epoch"] for c in record.curve] == [1, 2, 3]


def test_every_checkpoint_corrupt_restarts_the_trial(setup, tmp_path, ledger):
    s, splits, spec = setup
    ck = tmp_path / "ck"
    train_trial(spec, s.train, splits, device="cpu", epochs=2, checkpoint_dir=ck, measure=False)
    files = sorted(ck.glob("checkpoint-*.pt"))
    _malicious(files[0], tmp_path)
    _truncate(files[1], tmp_path)
    assert load_checkpoint(ck, spec) is None
    record = train_trial(spec, s.train, splits, device="cpu", epochs=2, checkpoint_dir=ck, measure=False)
    survived = record.status == "complete" and record.resumed_from_epoch is None and not (tmp_path / "pwned").exists()
    ledger.fault("corrupt checkpoint", "every checkpoint corrupt (payload + truncated): the trial restarted",
                 survived=survived, finished_before=0, lost=0)
    assert survived


def test_payload_is_refused_even_when_loaded_directly(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"model": _Payload(tmp_path / "pwned2")}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    assert not (tmp_path / "pwned2").exists()
