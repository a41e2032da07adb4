"""The training budget in updates: the built-in set keeps its recipe, a small set gets its updates."""
import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, strategies as st

from fercourse import __main__ as cli
from fercourse import recipes
from fercourse.train.budget import Budget


def _data(per_class: int, classes: int = 8):
    return {"train": SimpleNamespace(labels=np.repeat(np.arange(classes), per_class))}


def test_the_built_in_set_trains_the_recipe_as_tuned():
    # 150 images of each of 8 classes, less the monitor slice: 1,080 images, the reference.
    assert recipes.fit_images(_data(150)) == 1080
    assert recipes.light_vgg_plan(_data(150))[0] == recipes.LIGHT_VGG_QUICK
    assert recipes.head_plan(_data(150))[0] == recipes.HEAD_QUICK
    assert recipes.LIGHT_VGG_BUDGET.updates == 2025


def test_a_small_set_gets_the_recipes_updates_and_patience():
    config, why = recipes.light_vgg_plan(_data(20))  # 144 images: 18 batches of 8
    assert (config.epochs, config.patience, config.lr_patience) == (113, 45, 30)
    assert config.epochs * 18 >= recipes.LIGHT_VGG_BUDGET.updates
    assert dataclasses.replace(config, epochs=15, patience=6, lr_patience=4) == recipes.LIGHT_VGG_QUICK
    assert "113 epochs of 18 batches of 8 = 2,034 updates, for the recipe's 2,025" in why
    assert "patience 45 epochs" in why
    tiny, why = recipes.light_vgg_plan(_data(2))  # 8 images: one batch
    assert tiny.epochs == recipes.LIGHT_VGG_BUDGET.max_epochs and "the ceiling: 150 epochs" in why
    large, why = recipes.light_vgg_plan(_data(3000))
    assert large == recipes.LIGHT_VGG_QUICK and "the floor" in why


def test_asked_epochs_are_taken_as_they_are():
    config, why = recipes.light_vgg_plan(_data(20), epochs=40)
    assert (config.epochs, config.patience, config.lr_patience) == (40, 6, 4)
    assert why.startswith("40 epochs as asked (720 updates")
    config, _ = recipes.light_vgg_plan(_data(20), patience=3, batch_size=16)
    assert config.patience == 3 and config.batch_size == 16 and config.epochs == 150  # 9 batches: the ceiling


@given(images=st.integers(1, 200_000), batch=st.sampled_from([4, 8, 32, 64]))
def test_a_plan_keeps_the_updates_between_floor_and_ceiling(images, batch):
    budget = Budget(recipes.LIGHT_VGG_QUICK, reference_batches=135, max_epochs=150)
    config, _ = budget.plan(images, batch_size=batch)
    batches = -(-images // batch)
    assert 15 <= config.epochs <= 150
    assert config.epochs * batches >= budget.updates or config.epochs == 150
    assert config.patience <= config.epochs and config.lr_patience <= config.epochs
    assert config.patience * batches >= 6 * 135 or config.patience in (6, config.epochs)


def test_the_command_says_the_budget_it_chose(tmp_path, monkeypatch, capsys):
    from PIL import Image

    from fercourse.classes import AFFECTNET_CLASSES

    for split, n in (("Train", 20), ("Validation", 2)):
        for cls in AFFECTNET_CLASSES:
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (16, 16), (i * 9, 40, 80)).save(tmp_path / split / cls / f"{i}.png")
    monkeypatch.setenv("FERCOURSE_CACHE", str(tmp_path / "cache"))
    seen = {}

    class Stop(Exception):
        pass

    def fake(data, config, **kw):
        seen["config"] = config
        raise Stop

    monkeypatch.setattr(recipes, "train_light_vgg", fake)
    with pytest.raises(Stop):
        cli.main(["train", "light_vgg", "--data", str(tmp_path)])
    out = capsys.readouterr().out
    assert "budget of light_vgg_plain: 113 epochs of 18 batches of 8 = 2,034 updates" in out
    assert seen["config"].epochs == 113
    with pytest.raises(Stop):
        cli.main(["train", "light_vgg", "--data", str(tmp_path), "--epochs", "40"])
    assert "budget of light_vgg_plain: 40 epochs as asked" in capsys.readouterr().out
    assert seen["config"].epochs == 40
