"""Command line: ``python -m fercourse report|execute|train|evaluate``.

    python -m fercourse report             # execute every chapter, export HTML + PDFs to build/
    python -m fercourse report q3 --no-pdf # only chapters starting with q3, HTML only
    python -m fercourse execute q3         # refresh the committed notebook (rewrites notebooks/)
    python -m fercourse train light_vgg                 # what the Q5 chapter trains, same defaults
    python -m fercourse train light_vgg --data /path/to/affectnet --epochs 60 --patience 10
    python -m fercourse evaluate light_vgg --data /path/to/affectnet --epochs 60 --patience 10
"""
from __future__ import annotations

import argparse
import sys
import time

from . import paths, report


def _cmd_report(args) -> int:
    start = time.perf_counter()
    result = report.build_report(select=args.chapters or None, run=not args.no_execute, pdf=not args.no_pdf)
    print("\nwritten:")
    for path in [*result.executed, *result.html, *result.pdfs]:
        print(f"  {paths.display_path(path)}")
    if result.report_pdf:
        print(f"  {paths.display_path(result.report_pdf)}   <- the report")
    if result.missing_tools:
        print(f"\nPDF export skipped: {', '.join(result.missing_tools)} not found on PATH.\n"
              f"Install them, then run this command again:\n  {report.PDF_INSTALL_HINT}")
    print(f"\ndone in {time.perf_counter() - start:.0f} s")
    return 0


def _cmd_execute(args) -> int:
    for path in report.execute_in_place(args.chapters or None):
        print(f"  rewrote {paths.display_path(path)}")
    return 0


def _train_or_load(args, force: bool):
    import dataclasses

    from .data import load_dataset
    from .train import recipes

    data = load_dataset(args.data, validation_split=args.validation_split, progress=True)
    print(data.describe())
    verbose = 1 if force or args.command == "train" else 0
    if args.model == "light_vgg":
        config = dataclasses.replace(recipes.LIGHT_VGG_QUICK, **_overrides(args))
        result = recipes.train_light_vgg(data, config, batch_norm=args.batch_norm, strategy=args.strategy,
                                         force=force, verbose=verbose)
        return data, result.model, result, None
    config = dataclasses.replace(recipes.HEAD_QUICK, **_overrides(args))
    tuned = None
    epochs = recipes.FINE_TUNE_QUICK.epochs if args.fine_tune is None else args.fine_tune
    if epochs:  # augmentation needs images: on cached block-4 maps there is none
        tuned = dataclasses.replace(recipes.FINE_TUNE_QUICK, epochs=epochs, augment=args.fine_tune_on == "images")
    result = recipes.train_vgg16_transfer(data, config, weights=args.weights, fine_tune=tuned,
                                          fine_tune_on=args.fine_tune_on, force=force, verbose=verbose)
    print(f"weights: {result.weights}")
    if result.fine_tune is not None:
        head = result.head
        print(f"phase 1 ({head.entry.folder.name}): {head.provenance}, {len(head.history)} epochs")
        return data, result.model, result.fine_tune, result
    return data, result.model, result.head, result


def _overrides(args) -> dict:
    return {k: v for k, v in {"epochs": args.epochs, "batch_size": args.batch_size,
                              "learning_rate": args.learning_rate, "patience": args.patience}.items()
            if v is not None}


def _cmd_train(args) -> int:
    _, _, result, _ = _train_or_load(args, force=args.force)
    print(f"{result.entry.folder.name}: {result.provenance}, {len(result.history)} epochs, "
          f"policy {result.policy}")
    scored = [r for r in result.history if "val_loss" in r]
    if scored:  # the weights kept are those of the lowest validation loss
        best = min(scored, key=lambda r: r["val_loss"])
        accuracy = f", validation accuracy {best['val_accuracy']:.3f}" if "val_accuracy" in best else ""
        print(f"kept epoch {best['epoch'] + 1}: validation loss {best['val_loss']:.4f}{accuracy}")
    print(f"stored in {paths.display_path(result.entry.folder)}")
    return 0


def _cmd_evaluate(args) -> int:
    from .data.pipeline import as_tf_dataset
    from .evaluate import ClassificationReport, predict_proba

    data, model, _, transfer = _train_or_load(args, force=False)
    split = data["validation"]
    y, proba = predict_proba(model, as_tf_dataset(split, batch_size=64))
    report = ClassificationReport(data.classes, y, proba)
    print(f"{args.model} on {split.name} ({len(split)} images):")
    for name, value in report.summary().items():
        print(f"  {name:9s} {value:.4f}")
    print(report.per_class().round(3).to_string())
    return 0


def _add_training_arguments(parser) -> None:
    parser.add_argument("model", choices=["light_vgg", "vgg16"], help="which Q5 model")
    parser.add_argument("--data", default=None, help="data root (default: FERCOURSE_DATA, data/affectnet, built-in)")
    parser.add_argument("--validation-split", type=float, default=None,
                        help="hold out this fraction of Train when there is no Validation folder")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--patience", type=int, default=None,
                        help="epochs without a better validation loss before stopping")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--plain", action="store_true",
                      help="light VGG: the table's plain form (the default, the chapter's main model)")
    form.add_argument("--batch-norm", action="store_true",
                      help="light VGG: the authors' variant with batch normalisation and dropout")
    parser.add_argument("--weights", default="auto", help="vgg16: auto | imagenet | hed | random | FILE")
    parser.add_argument("--fine-tune", type=int, default=None, metavar="EPOCHS",
                        help="vgg16: then fine-tune block 5 and the head for EPOCHS (default: as the chapter, "
                             "3; 0 skips phase 2)")
    parser.add_argument("--fine-tune-on", choices=["features", "images"], default="features",
                        help="vgg16: cached block-4 maps (fast, no augmentation) or augmented images")
    parser.add_argument("--strategy", choices=["default", "mirrored"], default="default")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fercourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="execute the chapters and export HTML and PDF into build/")
    rep.add_argument("chapters", nargs="*", help="chapter name prefixes (default: all, in book order)")
    rep.add_argument("--no-pdf", action="store_true", help="skip the LaTeX/PDF export")
    rep.add_argument("--no-execute", action="store_true", help="export the committed notebooks as they are")
    rep.set_defaults(func=_cmd_report)
    exe = sub.add_parser("execute", help="re-execute chapters and save them in notebooks/ (rewrites tracked files)")
    exe.add_argument("chapters", nargs="*", help="chapter name prefixes (default: all)")
    exe.set_defaults(func=_cmd_execute)
    tr = sub.add_parser("train", help="train a Q5 model (or load it from the model store)")
    _add_training_arguments(tr)
    tr.add_argument("--force", action="store_true", help="train again even if a stored result exists")
    tr.set_defaults(func=_cmd_train)
    ev = sub.add_parser("evaluate", help="scores of a trained Q5 model on the validation split")
    _add_training_arguments(ev)
    ev.set_defaults(func=_cmd_evaluate)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as err:  # a clear message, not a stack trace, for data and weights problems
        from .data import DataError

        if isinstance(err, (DataError, FileNotFoundError, RuntimeError)):
            print(f"error: {err}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
