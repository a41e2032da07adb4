"""Crash-safe checkpoints for a store entry: the last finished epoch, and the best one so far.

Keras' ``BackupAndRestore`` and ``ModelCheckpoint`` overwrite their files in place: a
kill during the write leaves a truncated HDF5 file that the next run trusts (or fails on
with an HDF5 error). Here every state is a pair published in order --

1. the weights, under a new name (``epoch-0003.weights.h5``), atomically,
2. a small JSON state naming that file and its sha256, atomically --

so a reader sees either the previous consistent state or the new one. A state whose
file does not match its checksum is ignored (the run starts over, and says so).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

from .. import atomic
from ..env import import_tensorflow


def _read_state(path: Path) -> dict | None:
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    weights = path.parent / state.get("file", "")
    return state if atomic.verify(weights, state.get("sha256")) else None


def _publish_weights(model, folder: Path, name: str, state_path: Path, state: dict) -> tuple[Path, str]:
    path = folder / name
    with atomic.publish(path) as tmp:
        model.save_weights(tmp)
    digest = atomic.sha256(path)
    _write_state(state_path, state, name, digest)
    return path, digest


def _write_state(state_path: Path, state: dict, name: str, digest: str) -> None:
    """The small JSON naming a published weights file and its checksum (step 2 above)."""
    atomic.write_text(state_path, json.dumps({**state, "file": name, "sha256": digest}))


class EpochBackup:
    """The training state after each finished epoch, under ``folder`` (weights + optimizer)."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.state_path = self.folder / "state.json"
        self.last: tuple[int, Path, str] | None = None  # (epoch, file, sha256) written this run

    def restore(self, model, log=print) -> int:
        """Load the last verified state into a compiled ``model``; returns the epoch to start at."""
        state = _read_state(self.state_path)
        if state is None:
            if self.state_path.exists():
                log(f"note: the backup in {self.folder.name}/ does not verify; training from epoch 1")
            return 0
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)  # the optimizer's moments are saved too
        model.load_weights(self.folder / state["file"])
        return int(state["epoch"])

    def callback(self):
        _, keras = import_tensorflow()
        backup = self

        class SaveEpoch(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                backup.folder.mkdir(parents=True, exist_ok=True)
                name = f"epoch-{epoch + 1:04d}.weights.h5"
                path, digest = _publish_weights(self.model, backup.folder, name, backup.state_path,
                                                {"epoch": epoch + 1})
                backup.last = (epoch + 1, path, digest)
                for old in backup.folder.glob("epoch-*.weights.h5"):
                    if old.name != name:
                        old.unlink(missing_ok=True)

        return SaveEpoch()


class BestCheckpoint:
    """The weights of the lowest validation loss so far (``best.weights.h5`` + ``best.json``).

    Unlike ``ModelCheckpoint``, the best loss survives a restart: after a resume, an epoch
    worse than the one stored before the kill does not replace it. Given the run's
    ``backup`` (whose callback must run first), a best epoch becomes a hard link to the
    file the backup just wrote -- the same weights and optimizer state -- instead of a
    second 45 MB write (light VGG).
    """

    def __init__(self, folder: Path, monitor: str = "val_loss", backup: EpochBackup | None = None):
        self.folder = Path(folder)
        self.monitor = monitor
        self.backup = backup
        self.weights_path = self.folder / "best.weights.h5"
        self.state_path = self.folder / "best.json"

    def best(self) -> float:
        state = _read_state(self.state_path)
        return float(state["value"]) if state else math.inf

    def exists(self) -> bool:
        return _read_state(self.state_path) is not None

    def load_into(self, model) -> None:
        model.load_weights(self.weights_path)

    def callback(self):
        _, keras = import_tensorflow()
        best = self

        class SaveBest(keras.callbacks.Callback):
            def on_train_begin(self, logs=None):
                self.value = best.best()

            def on_epoch_end(self, epoch, logs=None):
                value = (logs or {}).get(best.monitor)
                if value is None or not value < self.value:
                    return
                self.value = float(value)
                state = {"epoch": epoch + 1, "value": self.value}
                last = best.backup.last if best.backup is not None else None
                if last is not None and last[0] == epoch + 1 and last[1].is_file():
                    atomic.link(last[1], best.weights_path)
                    _write_state(best.state_path, state, best.weights_path.name, last[2])
                    return
                _publish_weights(self.model, best.folder, best.weights_path.name, best.state_path, state)

        return SaveBest()
