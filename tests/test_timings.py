"""Where a book run's time goes: phases recorded by the library, split per chapter."""
import os

import nbformat
import pytest

from fercourse import report, timings


def test_phases_are_recorded_only_when_asked_and_never_twice(tmp_path, monkeypatch):
    log = tmp_path / "t.jsonl"
    with timings.phase("train", "unrecorded"):  # FERCOURSE_TIMINGS unset: nothing written
        pass
    assert not log.exists()
    monkeypatch.setenv(timings.ENV, str(log))
    monkeypatch.setenv(timings.CHAPTER_ENV, "q9")
    with timings.phase("train", "outer"):
        with timings.phase("decode", "inner"):  # inside another phase: counts towards the outer
            pass
    with pytest.raises(RuntimeError):
        with timings.phase("features", "failed"):  # a phase that raised is not recorded
            raise RuntimeError("boom")
    with timings.phase("generate", "after a failure"):  # the nesting depth was reset
        pass
    events = timings.read(log)
    assert [(e["chapter"], e["phase"], e["what"]) for e in events] == [
        ("q9", "train", "outer"), ("q9", "generate", "after a failure")]
    with pytest.raises(ValueError, match="unknown phase"):
        with timings.phase("lunch"):
            pass


def test_phase_table_splits_each_chapter_and_sums_to_the_wall_time():
    events = [{"chapter": "a", "phase": "train", "what": "m", "seconds": 30.0},
              {"chapter": "a", "phase": "train", "what": "n", "seconds": 10.0},
              {"chapter": "a", "phase": "decode", "what": "", "seconds": 5.0},
              {"chapter": "b", "phase": "features", "what": "", "seconds": 2.0}]
    table = timings.phase_table(events, {"a": 60.0, "b": 4.0})
    assert table.loc["a", "train"] == 40.0 and table.loc["a", "other"] == 15.0
    assert table.loc["b", "other"] == 2.0
    assert table.loc["all", "total"] == 64.0
    assert table.loc["all", [*timings.PHASES, "other"]].sum() == pytest.approx(64.0)
    assert table.loc["share", "train"] == pytest.approx(40 / 64)


def test_the_report_says_where_each_chapter_spent_its_time(tmp_path, monkeypatch):
    chapters = []
    for name, seconds in (("c1_fast", 0.0), ("c2_trains", 0.4)):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            "import time\nfrom fercourse import timings\n"
            f"with timings.phase('train', 'toy'):\n    time.sleep({seconds})")])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        chapters.append(tmp_path / f"{name}.ipynb")
        nbformat.write(nb, chapters[-1])
    monkeypatch.setattr(report, "chapters", lambda: chapters)
    monkeypatch.delenv(timings.ENV, raising=False)
    result = report.build_report(pdf=False, build=tmp_path / "build", log=lambda *_: None)
    table = result.phases
    assert list(table.index) == ["c1_fast", "c2_trains", "all", "share"]
    assert table.loc["c2_trains", "train"] >= 0.4 > table.loc["c1_fast", "train"]
    assert table.loc["c2_trains", "total"] > table.loc["c2_trains", "train"]  # the kernel's start: other
    assert timings.ENV not in os.environ  # the report's variables do not leak into the caller


def test_training_says_which_epoch_runs(tf_keras, tmp_path, monkeypatch):
    import numpy as np

    from fercourse.train import ModelStore, TrainConfig, train

    tf, keras = tf_keras
    status = tmp_path / "status"
    monkeypatch.setenv(timings.STATUS_ENV, str(status))
    seen = []

    class Spy(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(timings.read_status(status))

    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices((x, (x[:, 0] > 0).astype("int32"))).batch(8)
    net = lambda: keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])  # noqa: E731
    train("toy", net, ds, ds, TrainConfig(epochs=2), data_fingerprint="d", store=ModelStore(tmp_path / "s"),
          verbose=0, extra_callbacks=[Spy()])
    assert seen[0] == "train toy: epoch 1/2"
    assert seen[1].startswith("train toy: epoch 2/2 (epoch 1: val. loss ")
    assert timings.read_status(status) == ""  # cleared when training ends
