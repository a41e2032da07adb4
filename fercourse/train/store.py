"""The model store: trained weights and histories, keyed by everything that produced them.

Key = (model name, architecture, hyper-parameters, data fingerprint, weights source, seed,
policy). A
notebook that asks for the same training again gets the stored weights in a second;
change any ingredient and it trains anew. Files per entry, under
``<cache>/models/<name>-<key>/``:

    model.weights.h5   final weights (best validation loss)
    history.json       one record per epoch (written as training goes)
    meta.json          the key's ingredients, timings, the weights' sha256, ``complete: true``
    best.weights.h5    best-so-far checkpoint (+ best.json)
    backup/            the last finished epoch, for resuming (``checkpoints.EpochBackup``)
    .lock              held by the process that trains this entry

Every file is published atomically (``fercourse.atomic``) and the final weights are
verified against the checksum in ``meta.json`` before they are loaded: an entry whose
weights were cut short or damaged is not complete, and is trained again.

Only weights are stored (no pickled objects, no serialized code): a model is rebuilt
from its builder and the weights are loaded into it.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path


from .. import atomic, digests, paths


def _key(ingredients: dict) -> str:
    return digests.key(ingredients, length=16)


@dataclasses.dataclass(frozen=True)
class StoreEntry:
    """One stored training run."""

    folder: Path
    ingredients: dict

    @property
    def weights_path(self) -> Path:
        return self.folder / "model.weights.h5"

    @property
    def history_path(self) -> Path:
        return self.folder / "history.json"

    @property
    def meta_path(self) -> Path:
        return self.folder / "meta.json"

    @property
    def backup_dir(self) -> Path:
        return self.folder / "backup"

    def complete(self) -> bool:
        """True when training finished and the weights match the checksum it recorded."""
        if not (self.meta_path.exists() and self.weights_path.exists()):
            return False
        try:
            meta = json.loads(self.meta_path.read_text())
        except ValueError:
            return False
        return bool(meta.get("complete")) and atomic.verify(self.weights_path, meta.get("sha256") or "missing")

    def history(self) -> list[dict]:
        """Per-epoch records ``{"epoch": i, "loss": ..., "val_loss": ...}`` (empty if none)."""
        if not self.history_path.exists():
            return []
        return json.loads(self.history_path.read_text())

    def meta(self) -> dict:
        return json.loads(self.meta_path.read_text()) if self.meta_path.exists() else {}

    def save_history(self, records: list[dict]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        atomic.write_text(self.history_path, json.dumps(records, indent=1))

    def save(self, model, meta: dict) -> None:
        """Store the final weights, then mark the entry complete (in that order)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic.publish(self.weights_path) as tmp:
            model.save_weights(tmp)
        atomic.write_text(self.meta_path, json.dumps({**meta, "ingredients": self.ingredients,
                                                      "sha256": atomic.sha256(self.weights_path),
                                                      "complete": True}, indent=1, default=str))

    def load_into(self, model) -> None:
        """Load the stored weights into ``model`` (after checking them against ``meta.json``)."""
        if not self.complete():
            raise RuntimeError(f"{self.folder.name}: no complete, verified weights to load")
        model.load_weights(self.weights_path)

    def describe(self) -> dict:
        """What a user needs to recognise a stored run: its folder, variant and training."""
        meta = self.meta()
        config = self.ingredients.get("config", {})
        return {"entry": self.folder.name, "complete": self.complete(),
                "epochs asked": config.get("epochs"), "epochs run": meta.get("epochs_run"),
                "batch size": config.get("batch_size"), "learning rate": config.get("learning_rate"),
                "patience": config.get("patience"), "weights": meta.get("weights"),
                "data": self.ingredients.get("data")}

    def clear(self) -> None:
        """Remove the stored run; the folder and its ``.lock`` stay (a trainer may hold it)."""
        if not self.folder.exists():
            return
        for child in self.folder.iterdir():
            if child.name == ".lock":
                continue
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)


class ModelStore:
    """Stored training runs under ``root`` (default ``<cache>/models``)."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else paths.cache_dir() / "models"

    def entry(self, name: str, **ingredients) -> StoreEntry:
        """The entry for ``name`` trained with these ingredients (it may not exist yet)."""
        ingredients = {"name": name, **ingredients}
        return StoreEntry(self.root / f"{name}-{_key(ingredients)}", ingredients)

    def entries(self, name: str | None = None) -> list[StoreEntry]:
        """Stored runs (those with a ``meta.json``), optionally of one model ``name``."""
        if not self.root.exists():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            meta_path = folder / "meta.json"
            if not meta_path.exists():
                continue
            try:
                ingredients = json.loads(meta_path.read_text()).get("ingredients", {})
            except ValueError:
                continue
            if name is None or ingredients.get("name") == name:
                found.append(StoreEntry(folder, ingredients))
        return found
