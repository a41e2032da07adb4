"""Training through Keras ``fit``, with the callbacks a long run needs, and the model store.

``train()`` returns stored weights when the same training was done before (same model,
hyper-parameters, data, weights source, seed and policy), and otherwise trains with Adam
(``fused_adam``: Keras' update, one kernel per weight) and:

* ``EarlyStopping`` on validation loss (best weights restored),
* ``ReduceLROnPlateau`` on validation loss,
* an epoch backup (``checkpoints.EpochBackup``): a run killed mid-way -- even with
  SIGKILL -- resumes at the last finished epoch when the same training is asked again,
* a best-weights checkpoint and a JSON history written after every epoch,
  all published atomically and verified by checksum before they are trusted,

under a ``tf.distribute`` strategy (the default one, or ``MirroredStrategy`` across the
devices TensorFlow sees -- how a user with several GPUs scales up).
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable

from .. import atomic, digests, reproducible, timings
from ..env import import_tensorflow, native_log_to_file
from ..errors import NotInStoreError
from .checkpoints import BestCheckpoint, EpochBackup
from .fused_adam import adam
from ..digests import architecture_digest
from .store import ModelStore, StoreEntry


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (all part of the model-store key)."""

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 4
    lr_patience: int = 2
    lr_factor: float = 0.5
    augment: bool = True
    class_weights: bool = False  # balanced class weights (the light VGG authors' choice)
    monitor_fraction: float = 0.1  # stratified slice of Train watched by early stopping / LR decay
    seed: int = 0


@dataclasses.dataclass
class TrainResult:
    """A trained model, its per-epoch history, and where it came from."""

    model: object
    history: list[dict]
    entry: StoreEntry
    from_store: bool
    seconds: float
    policy: str

    @property
    def training_seconds(self) -> float:
        """How long the training took when it ran (also for a model loaded from the store)."""
        return float(self.entry.meta().get("seconds", self.seconds)) if self.from_store else self.seconds

    @property
    def provenance(self) -> str:
        """``"loaded from the model store"`` or ``"trained in N s"``."""
        return "loaded from the model store" if self.from_store else f"trained in {self.seconds:.0f} s"

    def curves(self) -> dict[str, list[float]]:
        """History as ``{"loss": [...], "val_loss": [...], ...}`` in epoch order."""
        keys = [k for k in (self.history[0] if self.history else {}) if k != "epoch"]
        return {k: [record[k] for record in self.history] for k in keys}


def get_strategy(kind: str = "default"):
    """``"default"``: the current strategy; ``"mirrored"``: MirroredStrategy over all GPUs, or all
    logical CPUs when there is no GPU (``FERCOURSE_LOGICAL_CPUS`` splits the CPU)."""
    tf, _ = import_tensorflow()
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices=devices)
    raise ValueError(f"strategy must be 'default' or 'mirrored', got {kind!r}")


def _status_callback(name: str, epochs: int):
    """Say which epoch runs (``timings.status``), with the last one's monitored loss."""
    _, keras = import_tensorflow()

    class EpochStatus(keras.callbacks.Callback):
        last = ""

        def on_epoch_begin(self, epoch, logs=None):
            timings.status(f"train {name}: epoch {epoch + 1}/{epochs}{self.last}")

        def on_epoch_end(self, epoch, logs=None):
            if logs and "val_loss" in logs:
                self.last = f" (epoch {epoch + 1}: val. loss {float(logs['val_loss']):.3f})"

    return EpochStatus()


def _history_callback(entry: StoreEntry):
    """Append each epoch's logs to ``history.json`` (replacing a redone epoch after a resume)."""
    _, keras = import_tensorflow()

    class JsonHistory(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            records = [r for r in entry.history() if r["epoch"] < epoch]
            lr = self.model.optimizer.learning_rate
            row = {"epoch": int(epoch), **{k: float(v) for k, v in (logs or {}).items()},
                   "learning_rate": float(lr.numpy() if hasattr(lr, "numpy") else lr)}
            entry.save_history(records + [row])

    return JsonHistory()


def balanced_class_weights(labels, num_classes: int) -> dict[int, float]:
    """scikit-learn's 'balanced' weights: n_samples / (n_classes * count_c)."""
    import numpy as np
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(labels)
    weights = compute_class_weight("balanced", classes=present, y=labels)
    out = {int(c): 1.0 for c in range(num_classes)}
    out.update({int(c): float(w) for c, w in zip(present, weights)})
    return out


def train(
    name: str,
    build: Callable[[], object],
    train_data,
    val_data,
    config: TrainConfig,
    *,
    data_fingerprint: str,
    weights_source: str = "none",
    weights_description: str | None = None,
    store: ModelStore | None = None,
    force: bool = False,
    strategy=None,
    class_weight: dict | None = None,
    loss: str = "sparse_categorical_crossentropy",
    metrics=("accuracy",),
    extra_callbacks=(),
    key: dict | None = None,
    verbose="auto",
    stored_only: bool = False,
    initialize: Callable[[object], None] | None = None,
) -> TrainResult:
    """Train ``build()`` on ``train_data`` (a tf.data.Dataset of batches), or load it from the store.

    ``build`` must create a fresh, uncompiled model (it is called inside the strategy's
    scope). ``force=True`` trains again even when a stored result exists. ``weights_source``
    (e.g. a checksum) is part of the store key; ``weights_description`` is saved beside the
    history in ``meta.json`` so that every stored result says which weights it started from.
    ``key`` adds whatever else decides the result (e.g. the augmentation ranges) to the store key.
    ``stored_only=True`` never trains: it loads the stored run or raises :class:`NotInStoreError`.
    ``initialize(model)`` sets the built model's starting weights when it is about to be trained,
    and is skipped when a stored run is loaded: for starting points that cost more than building
    (a head fitted by logistic regression on the network's features).

    Runs seeded with ``config.seed`` and under op determinism (unless
    ``FERCOURSE_DETERMINISTIC=0``), and gives the caller's random state back
    (:func:`fercourse.reproducible.scope`).
    """
    # Seeded before building, inside a scope that gives the caller's random state back: the
    # initial weights are part of the run, and must not come from whatever the global RNG held.
    with reproducible.scope(config.seed):
        return _train(name, build, train_data, val_data, config, data_fingerprint=data_fingerprint,
                      weights_source=weights_source, weights_description=weights_description, store=store,
                      force=force, strategy=strategy, class_weight=class_weight, loss=loss, metrics=metrics,
                      extra_callbacks=extra_callbacks, key=key, verbose=verbose, stored_only=stored_only,
                      initialize=initialize)


def _train(name, build, train_data, val_data, config, *, data_fingerprint, weights_source, weights_description,
           store, force, strategy, class_weight, loss, metrics, extra_callbacks, key, verbose, stored_only,
           initialize) -> TrainResult:
    _, keras = import_tensorflow()
    policy = keras.config.dtype_policy().name
    store = store or ModelStore()
    strategy = strategy or get_strategy("default")
    start = time.perf_counter()
    with strategy.scope():
        model = build()
        entry = store.entry(name, architecture=architecture_digest(model), config=dataclasses.asdict(config),
                            data=data_fingerprint, weights=weights_source, policy=policy, loss=loss,
                            code=digests.code_digest(*TRAINING_CODE),
                            **({"extra": key} if key else {}))
    if stored_only and not entry.complete():  # checked before the lock: asking creates nothing
        raise NotInStoreError(f"{name}: no stored run with these settings ({entry.folder.name})", entry)
    # One trainer per entry: a second process (another chapter on another pytest worker, a
    # second terminal) waits here, then loads what the first one stored.
    with _entry_lock(entry):
        if entry.complete() and not force:
            entry.load_into(model)
            return TrainResult(model, entry.history(), entry, True, time.perf_counter() - start, policy)
        with timings.phase("train", name):
            if initialize is not None:
                with strategy.scope():
                    initialize(model)
            return _fit(model, entry, train_data, val_data, config, start=start, policy=policy, force=force,
                        strategy=strategy, class_weight=class_weight, loss=loss, metrics=metrics,
                        extra_callbacks=extra_callbacks, weights_source=weights_source,
                        weights_description=weights_description, verbose=verbose)


# The code that decides what a run computes besides the model's configuration (the loop, the
# optimizer, the custom layers' arithmetic): part of the store key, so a change retrains.
TRAINING_CODE = ("fercourse.train.fit", "fercourse.train.checkpoints", "fercourse.train.fused_adam",
                 "fercourse.models.batch_norm", "fercourse.models.blurpool", "fercourse.models.standardize",
                 "fercourse.data.holdout")  # the monitor slice


def one_iterator(dataset):
    """``(dataset.repeat(), batches per epoch)`` for a finite ``tf.data`` set, else ``(dataset, None)``.

    Why: given a finite set, ``fit`` starts a new iterator every epoch, and the first step of
    many epochs then stalls for seconds (``benchmarks/bench_training.py`` shows it in the
    baseline's epoch times; docs/experiments.md has the numbers). One repeated iterator
    with ``steps_per_epoch`` keeps the epochs and their order - the shuffle before the repeat
    still reshuffles every pass - and has no stall.
    """
    tf, _ = import_tensorflow()
    if not isinstance(dataset, tf.data.Dataset):
        return dataset, None
    steps = int(dataset.cardinality())
    if steps <= 0:  # infinite or unknown: the caller's own epoch definition stands
        return dataset, None
    return dataset.repeat(), steps


def steps_per_execution(steps: int | None, most: int = 8) -> int:
    """The largest divisor of an epoch's ``steps`` up to ``most``: how many training steps
    ``fit`` runs in one call of its compiled function (1 when the epoch length is unknown).

    Why: between calls ``fit`` returns to Python (iterator, callbacks, logs), a fixed cost
    that is a noticeable share of a small model's step at batch 8; several steps per call
    remove most of it and train bit for bit the same weights (tested). A divisor, because Keras runs whole
    calls and would run past the epoch's end into the next pass of the repeated iterator.
    """
    if not steps or steps < 1:
        return 1
    return max(k for k in range(1, min(most, steps) + 1) if steps % k == 0)


def _entry_lock(entry: StoreEntry):
    """An exclusive advisory lock on the entry's folder, held while training (or loading)."""
    entry.folder.mkdir(parents=True, exist_ok=True)
    return atomic.exclusive(entry.folder / ".lock")


def _fit(model, entry, train_data, val_data, config, *, start, policy, force, strategy, class_weight, loss, metrics,
         extra_callbacks, weights_source, weights_description, verbose) -> TrainResult:
    import shutil

    tf, keras = import_tensorflow()
    backup = EpochBackup(entry.backup_dir)
    best = BestCheckpoint(entry.folder, backup=backup)
    train_data, steps = one_iterator(train_data)
    with strategy.scope():
        if force:
            entry.clear()
        # Keras' loop of several steps per call fails under MirroredStrategy (tested): one there.
        per_call = 1 if isinstance(strategy, tf.distribute.MirroredStrategy) else steps_per_execution(steps)
        model.compile(optimizer=adam(config.learning_rate), loss=loss, metrics=list(metrics),
                      steps_per_execution=per_call)
        initial_epoch = backup.restore(model)  # 0, or the epoch after the last one a killed run finished
    entry.folder.mkdir(parents=True, exist_ok=True)
    # Order matters at an epoch's end: the backup (with the learning rate just reduced) is
    # written before history.json records the epoch, so the history never claims an epoch
    # that a restart could not resume from.
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=config.lr_factor, patience=config.lr_patience),
        backup.callback(),
        best.callback(),  # after the backup: a best epoch links the file the backup just wrote
        _history_callback(entry),
        _status_callback(entry.ingredients.get("name", "model"), config.epochs),
        *extra_callbacks,
    ]
    if initial_epoch < config.epochs:
        # shuffle=False: the tf.data pipeline shuffles (Keras would only warn that it cannot).
        with native_log_to_file():
            model.fit(train_data, validation_data=val_data, epochs=config.epochs, initial_epoch=initial_epoch,
                      steps_per_epoch=steps, callbacks=callbacks, class_weight=class_weight, verbose=verbose,
                      shuffle=False)
    if best.exists():  # also right after a resume, when EarlyStopping lost its memory
        best.load_into(model)
    seconds = time.perf_counter() - start
    entry.save(model, {"seconds": seconds, "policy": policy, "epochs_run": len(entry.history()),
                       "resumed_at_epoch": initial_epoch, "weights": weights_description or weights_source})
    shutil.rmtree(entry.backup_dir, ignore_errors=True)  # the entry is complete: nothing to resume
    return TrainResult(model, entry.history(), entry, False, seconds, policy)
