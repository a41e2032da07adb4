"""Does the default training budget learn at every size? Prints the numbers that decide it.

    .venv/bin/python benchmarks/calibrate_budget.py                  # 20, 50, 150 per class
    .venv/bin/python benchmarks/calibrate_budget.py --sizes 20 --models light_vgg

Subsets of the built-in set: the first N generated images per class of Train (the generator is
seeded per image, so they are the full set's first N) and the whole Validation split (50 per
class). For each size and model, three budgets:

* ``15 epochs`` -- the recipe's fixed epochs, the default before budgets followed the data,
* ``budget`` -- the default now (``recipes.light_vgg_plan`` / ``recipes.head_plan``): the
  recipe's updates whatever the size, between a floor and a ceiling in epochs,
* ``40 epochs`` -- a long fixed run, the reference a small set is judged against,
* optionally (``--budgets``) e.g. ``"150 epochs, no early stopping"``: what the ceiling reaches.

Printed per run: validation accuracy, macro-F1, epochs asked and run, the epoch kept, and the
training seconds (a stored run reports the time it took when it trained). Target: the budget
within 3 points of 40 epochs at every size. Runs go through the model store.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine  # noqa: E402


def _fixed(config, budget: str):
    """``"N epochs"``: the recipe for N epochs; ``"N epochs, no early stopping"``: patience N too."""
    epochs = int(budget.split()[0])
    return dataclasses.replace(config, epochs=epochs, **({"patience": epochs} if "no early" in budget else {}))


def _light_vgg(data, budget: str, batch_norm: bool):
    from fercourse import recipes
    from fercourse.evaluate import ClassificationReport, predict_split

    config = recipes.light_vgg_plan(data)[0] if budget == "budget" else _fixed(recipes.LIGHT_VGG_QUICK, budget)
    run = recipes.train_light_vgg(data, config, batch_norm=batch_norm, verbose=0)
    return config, run, ClassificationReport(data.classes, *predict_split(run.model, data["validation"]))


def _head(data, budget: str):
    from fercourse import recipes
    from fercourse.evaluate import ClassificationReport

    config = recipes.head_plan(data)[0] if budget == "budget" else _fixed(recipes.HEAD_QUICK, budget)
    run = recipes.train_vgg16_transfer(data, config, verbose=0, log=lambda *a: None)
    return config, run.head, ClassificationReport(data.classes, data["validation"].labels, run.proba)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 150], help="training images per class")
    parser.add_argument("--models", nargs="+", default=["light_vgg", "vgg16_head"],
                        choices=["light_vgg", "light_vgg_bn", "vgg16_head"])
    parser.add_argument("--budgets", nargs="+", default=["15 epochs", "budget", "40 epochs"],
                        help='"budget" or "N epochs" or "N epochs, no early stopping"')
    args = parser.parse_args()

    import pandas as pd

    from fercourse.session import configure_process
    from fercourse.data import load_dataset
    from fercourse.synthetic.generate import ensure_dataset

    print(f"{machine()}; process: {configure_process()}")
    rows = []
    for size in args.sizes:
        data = load_dataset(ensure_dataset(train_per_class=size).root, announce=False, log=lambda *a: None)
        for model in args.models:
            for budget in args.budgets:
                start = time.perf_counter()
                config, run, report = (_head(data, budget) if model == "vgg16_head"
                                       else _light_vgg(data, budget, batch_norm=model == "light_vgg_bn"))
                kept = min(run.history, key=lambda r: r["val_loss"])
                rows.append({"per class": size, "model": model, "budget": budget, "accuracy": report.accuracy,
                             "macro-F1": report.macro_f1, "epochs asked": config.epochs,
                             "epochs run": len(run.history), "kept": kept["epoch"] + 1,
                             "training s": run.training_seconds, "wall s": time.perf_counter() - start})
                print(pd.DataFrame(rows[-1:]).round(3).to_string(index=False, header=len(rows) == 1), flush=True)
    table = pd.DataFrame(rows)
    print("\n" + table.round(3).to_string(index=False))
    wide = table.pivot_table(index=["model", "per class"], columns="budget", values="accuracy")
    if {"budget", "40 epochs"} <= set(wide.columns):
        wide["budget - 40 epochs (points)"] = 100 * (wide["budget"] - wide["40 epochs"])
    print("\n" + wide.round(3).to_string())


if __name__ == "__main__":
    main()
