"""Command line: ``python -m fercourse report|execute|train|evaluate|predict|cross-validate``.

    python -m fercourse report             # execute every chapter, export HTML + PDFs to build/
    python -m fercourse report q3 --no-pdf # only chapters starting with q3, HTML only
    python -m fercourse execute q3         # refresh the committed notebook (rewrites notebooks/)
    python -m fercourse book               # the HTML book (Jupyter Book, offline) from the chapters
    python -m fercourse train light_vgg                 # what the Q5 chapter trains, same defaults
    python -m fercourse train light_vgg --data /path/to/affectnet --epochs 60 --patience 10
    python -m fercourse evaluate light_vgg --data /path/to/affectnet --epochs 60 --patience 10
    python -m fercourse train light_vgg --task valence-arousal   # the 2-float head of Q5.3
    python -m fercourse predict photos/ --cam gradcam --out annotated/  # every face in your photos
    python -m fercourse cross-validate light_vgg --data DIR --folds 10 --groups '^(S\\d+)_'
    python -m fercourse cache                       # what the cache holds; --clear KIND to delete

``evaluate`` and ``predict`` never train: they use the stored model the flags describe, or list
the stored runs and print the ``train`` command that makes the one asked for.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

from . import book, paths, report
from .errors import FercourseError


def _cmd_report(args) -> int:
    start = time.perf_counter()
    result = report.build_report(select=args.chapters or None, run=not args.no_execute, pdf=not args.no_pdf,
                                 jobs=args.jobs)
    print("\nwritten:")
    for path in [*result.executed, *result.html, *result.pdfs]:
        print(f"  {paths.display_path(path)}")
    if result.report_pdf:
        print(f"  {paths.display_path(result.report_pdf)}   <- the report")
    if result.missing_tools:
        print(f"\nPDF export skipped: {', '.join(result.missing_tools)} not found on PATH.\n"
              f"Install them, then run this command again:\n  {report.PDF_INSTALL_HINT}")
    if result.seconds:  # where the time went: each chapter's execution and export
        print("\nseconds per step:")
        for step, seconds in result.seconds.items():
            print(f"  {step:45s} {seconds:7.1f}")
    if args.book:
        index = book.build_book(result.executed)
        print(f"\nHTML book: {paths.display_path(index)}")
    if result.phases is not None:  # and inside the chapters: generation, decoding, features, training
        print("\nseconds per chapter and phase (other: narration, plots, analysis, stored models):")
        print(result.phases.round(2).to_string())
        if "execute (wall)" in result.seconds and len(result.executed) > 1:
            print(f"(chapters that ran side by side overlap: 'all' adds up their own times; "
                  f"the execution took {result.seconds['execute (wall)']:.0f} s of wall time)")
    print(f"\ndone in {time.perf_counter() - start:.0f} s")
    if result.failed:
        names = ", ".join(err.name for err in result.failed)
        print(f"\nPDF export failed for {names}; the other PDFs were written.", file=sys.stderr)
        for err in result.failed:
            print(f"  {err}", file=sys.stderr)
        return 1
    return 0


def _cmd_book(args) -> int:
    notebooks = None
    if args.from_build:
        executed = paths.build_dir() / "executed"
        notebooks = [executed / p.name for p in report.chapters() if (executed / p.name).exists()]
        if not notebooks:
            raise FercourseError(f"{paths.display_path(executed)} holds no executed chapter: run "
                                 "`python -m fercourse report` first, or build from the committed notebooks")
    index = book.build_book(notebooks)
    print(f"HTML book: {paths.display_path(index)}  (open it in a browser; it needs no network)")
    return 0


def _cmd_execute(args) -> int:
    for path in report.execute_in_place(args.chapters or None, jobs=args.jobs):
        print(f"  rewrote {paths.display_path(path)}")
    return 0


def _configs(args, data) -> dict:
    """The training configurations the flags ask for on ``data``: model name -> (TrainConfig, why)
    in order; the light VGG and the VGG16 head follow their budgets in updates unless --epochs."""
    import dataclasses

    from . import recipes

    if args.model in ("light_vgg", "light_vgg_gap"):
        name = f"light_vgg_{'bn' if args.batch_norm else 'plain'}"
        configs = {name: recipes.light_vgg_plan(data, **_overrides(args))}
        if args.model == "light_vgg_gap":  # the CAM-native variant, from the plain model's convolutions
            configs["light_vgg_gap"] = (recipes.GAP_FINE_TUNE, "the recipe's fixed fine-tuning")
        if args.task == "valence-arousal":
            configs["light_vgg_va_head"] = (recipes.VA_HEAD, "the recipe's head on cached features")
        return configs
    configs = {"vgg16_head": recipes.head_plan(data, **_overrides(args))}
    epochs = recipes.FINE_TUNE_QUICK.epochs if args.fine_tune is None else args.fine_tune
    if epochs:  # augmentation needs images: on cached block-4 maps there is none
        tuned = dataclasses.replace(recipes.FINE_TUNE_QUICK, epochs=epochs, augment=args.fine_tune_on == "images")
        name = "vgg16_finetune_block5" if args.fine_tune_on == "features" else "vgg16_finetune"
        configs[name] = (tuned, f"{epochs} epochs of fine-tuning")
    return configs


def _train_or_load(args, force: bool, stored_only: bool = False):
    from .data import load_dataset
    from .session import configure_process
    from . import recipes

    # The command line makes the process-wide choices a chapter's setup() makes, and says so.
    print(f"process: {configure_process()}")
    if args.model != "light_vgg" and args.task != "classification":
        raise FercourseError(f"--task {args.task} is a head of the light VGG: use `light_vgg --task {args.task}`")
    if args.model == "light_vgg_gap" and args.batch_norm:
        raise FercourseError("light_vgg_gap starts from the plain light VGG's convolutions: leave out --batch-norm")
    data = load_dataset(args.data, validation_split=args.validation_split, class_policy=args.class_policy,
                        progress=True, faces=args.faces, face_margin=args.face_margin)
    print(data.describe())
    _print_scan(data)
    if stored_only:
        _require_stored(args, data)
    plans = _configs(args, data)
    for name, (_, why) in plans.items():
        print(f"budget of {name}: {why}")
    configs = [config for config, _ in plans.values()]
    verbose = 1 if force or args.command == "train" else 0
    if args.model in ("light_vgg", "light_vgg_gap"):
        result = recipes.train_light_vgg(data, configs[0], batch_norm=args.batch_norm, strategy=args.strategy,
                                         force=force, verbose=verbose, stored_only=stored_only)
        if args.model == "light_vgg_gap":
            print(f"source ({result.entry.folder.name}): {result.provenance}; its convolutions start the GAP variant")
            gap = recipes.train_light_vgg_gap(data, result, force=force, verbose=verbose, stored_only=stored_only)
            return data, gap.model, gap, None
        if args.task == "valence-arousal":
            print(f"classifier ({result.entry.folder.name}): {result.provenance}; its convolutions carry "
                  "the valence/arousal head")
            va = recipes.train_valence_arousal(data, result, force=force, verbose=verbose, stored_only=stored_only)
            return data, va.model, va.head, va
        return data, result.model, result, None
    result = recipes.train_vgg16_transfer(data, configs[0], weights=args.weights,
                                          fine_tune=configs[1] if len(configs) > 1 else None,
                                          fine_tune_on=args.fine_tune_on, force=force, verbose=verbose,
                                          stored_only=stored_only)
    print(f"weights: {result.weights}")
    if result.fine_tune is not None:
        head = result.head
        print(f"phase 1 ({head.entry.folder.name}): {head.provenance}, {len(head.history)} epochs")
        return data, result.model, result.fine_tune, result
    return data, result.model, result.head, result


def _print_scan(data) -> None:
    """What the scan found, as a notebook shows it: images per class and split, sizes, modes,
    skipped files and warnings."""
    print(f"\nimages per class:\n{data.report.counts.to_string()}")
    print(f"\nimage sizes before resizing (px):\n{data.report.sizes.to_string()}")
    print(f"\n{data.report}\n")


def _train_command(args, command: str = "train") -> str:
    """The ``command`` line (default ``train``) with the flags of ``args`` that differ from
    their defaults: for ``evaluate`` and ``predict``, the training that makes the model asked for;
    for ``cross-validate``, the run itself. The flags come from the parser's own definitions."""
    parts = [f"python -m fercourse {command}", args.model]
    for action in args.reproducible:
        value = getattr(args, action.dest)
        if value != action.default:
            flag = action.option_strings[-1]
            parts += [flag] if action.nargs == 0 else [flag, shlex.quote(str(value))]
    return " ".join(parts)


def _require_stored(args, data) -> None:
    """Raise NotInStoreError (listing what is stored) unless every run asked for is stored."""
    import dataclasses

    from .errors import NotInStoreError
    from .train import ModelStore

    store = ModelStore()
    for name, (config, _) in _configs(args, data).items():
        entries = store.entries(name)
        wanted = dataclasses.asdict(config)
        if any(e.complete() and e.ingredients.get("config") == wanted and e.ingredients.get("data") == data.fingerprint
               for e in entries):
            continue
        same_data = [e for e in entries if e.ingredients.get("data") == data.fingerprint and e.complete()]
        lines = [f"no stored {name} was trained on this data with these settings (epochs {config.epochs}, "
                 f"batch size {config.batch_size}, learning rate {config.learning_rate:g}, patience "
                 f"{config.patience}); evaluate scores stored models and never trains."]
        if same_data:
            lines.append(f"Stored {name} runs on this data:")
            for e in same_data:
                d = e.describe()
                lines.append(f"  {paths.display_path(e.folder)}: epochs {d['epochs asked']} (ran {d['epochs run']}), "
                             f"batch size {d['batch size']}, learning rate {d['learning rate']:g}, "
                             f"patience {d['patience']}")
        else:
            lines.append(f"There is no stored {name} for this data ({len(entries)} for other data).")
        lines.append(f"To train the one asked for:\n  {_train_command(args)}")
        raise NotInStoreError("\n".join(lines))


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
    print(f"stored in {result.entry.folder}")
    return 0


def _cmd_evaluate(args) -> int:
    from .data.pipeline import as_tf_dataset
    from .evaluate import ClassificationReport, predict_proba

    data, model, result, extra = _train_or_load(args, force=False, stored_only=True)
    meta = result.entry.meta()
    config = result.entry.ingredients.get("config", {})
    print(f"scoring the stored {result.entry.ingredients['name']}: {config.get('epochs')} epochs asked, "
          f"{meta.get('epochs_run')} run; weights: {meta.get('weights')}")
    print(f"store entry: {result.entry.folder}")
    split = data["validation"]
    if getattr(args, "task", None) == "valence-arousal":
        table = extra.report.against(extra.baseline)
        print(f"valence/arousal on {split.name} ({len(extra.labels)} images with labels), against the "
              "constant training-mean predictor:")
        print(table.round(4).to_string())
        return 0
    y, proba = predict_proba(model, as_tf_dataset(split, batch_size=64))
    report = ClassificationReport(data.classes, y, proba)
    print(f"{args.model} on {split.name} ({len(split)} images):")
    for name, value in report.summary().items():
        print(f"  {name:9s} {value:.4f}")
    print(report.per_class().round(3).to_string())
    return 0


def _cmd_cache(args) -> int:
    from . import cache

    if args.clear:
        done = cache.clear(args.clear)
        print(f"cleared: {', '.join(done) if done else 'nothing (already empty)'}")
    print(cache.table())
    return 0


def _cmd_predict(args) -> int:
    from . import photos
    from .errors import NotInStoreError
    from . import recipes

    if args.task != "classification":
        raise FercourseError("predict classifies faces; the valence/arousal head is added when it is stored "
                             "(leave out --task)")
    data, model, result, _ = _train_or_load(args, force=False, stored_only=True)
    va = None
    if args.model == "light_vgg" and data["train"].valence_arousal is not None:
        try:
            va = recipes.train_valence_arousal(data, result, verbose=0, stored_only=True).model
        except NotInStoreError:
            print(f"no stored valence/arousal head for this classifier: classes only ({_train_command(args)} "
                  "--task valence-arousal makes it)")
    print(f"model: {result.entry.ingredients['name']} ({result.entry.folder.name}), trained on {data.name}; "
          f"weights: {result.entry.meta().get('weights')}")
    mode = args.faces or "crop"
    rows = photos.predict(args.paths, model, data.classes, faces=mode, cam=args.cam, valence_arousal=va,
                          margin=args.face_margin if args.face_margin is not None else photos.DEFAULT_MARGIN,
                          progress=sys.stderr.isatty())
    text = photos.format_rows(rows, args.format)
    print(text)
    if args.out:
        for path in photos.write_outputs(rows, args.out, args.format, data.classes):
            print(f"wrote {paths.display_path(path)}")
    failed = sorted({row.path for row in rows if row.error})
    found = sum(1 for row in rows if row.face is not None)
    print(f"{len({row.image for row in rows})} image(s), {found} face(s) found, {len(failed)} file(s) failed")
    return min(len(failed), 100)  # the exit status counts the files that failed (0: none)


def _cmd_cross_validate(args) -> int:
    from .data import load_dataset
    from .lanes import whole_count
    from .session import configure_process
    from . import recipes

    if args.model == "light_vgg_gap" or args.task != "classification":
        raise FercourseError("cross-validate trains the classifiers light_vgg (--batch-norm for the variant) "
                             "or vgg16")
    folds = args.folds if args.folds == "loso" else whole_count(args.folds)
    if folds is None or folds == 1:
        raise FercourseError(f"--folds must be a whole number >= 2 or loso, got {args.folds!r}")
    print(f"process: {configure_process()}")
    # The folds pool every image, so a set with only Train/ needs no --validation-split (any
    # hold-out is pooled back).
    data = load_dataset(args.data, validation_split=args.validation_split or 0.2, class_policy=args.class_policy,
                        progress=True, faces=args.faces, face_margin=args.face_margin)
    print(data.describe())
    fine_tune = None
    if args.model == "vgg16":
        plans = _configs(args, data)
        fine_tune = next((config for name, (config, _) in plans.items() if "finetune" in name), None)
    result = recipes.cross_validate(data, args.model, folds=folds, groups=args.groups, groups_csv=args.groups_csv,
                                    groups_column=args.groups_column, batch_norm=args.batch_norm,
                                    overrides=_overrides(args), weights=args.weights, fine_tune=fine_tune,
                                    fine_tune_on=args.fine_tune_on, force=args.force)
    print(f"\n{args.model} on {data.name}: {result.scheme}")
    print(result.table().round(3).to_string())
    print(f"\n{result.describe()}")
    print("\nconfusion summed over the folds (rows: true class):")
    import pandas as pd

    print(pd.DataFrame(result.confusion(), index=list(data.classes), columns=list(data.classes)).to_string())
    print(f"\nto reproduce: {_train_command(args, 'cross-validate')}")
    return 0


def _add_training_arguments(parser, model_flag: bool = False) -> list:
    """The flags every training command shares. Their actions are returned and kept as the
    namespace's ``reproducible``: what :func:`_train_command` writes back into a command line."""
    models = ["light_vgg", "light_vgg_gap", "vgg16"]
    what = "which Q5 model (light_vgg_gap: part 4's GAP head on the plain light VGG's convolutions)"
    if model_flag:
        parser.add_argument("--model", choices=models, default="light_vgg", help=what)
    else:
        parser.add_argument("model", choices=models, help=what)
    form = parser.add_mutually_exclusive_group()
    flags = [
        parser.add_argument("--data", default=None,
                            help="data root (default: FERCOURSE_DATA, data/affectnet, built-in)"),
        parser.add_argument("--validation-split", type=float, default=None,
                            help="hold out this fraction of Train when there is no Validation folder"),
        parser.add_argument("--class-policy", choices=["strict", "intersection"], default="strict",
                            help="when the splits hold different classes: stop (strict) or use those they share"),
        parser.add_argument("--faces", choices=["as-is", "crop", "align"], default=None,
                            help="as-is: the images are face crops (AffectNet; default, or FERCOURSE_FACES); "
                                 "crop: detect the largest face (OpenCV Haar cascade) and crop to it; "
                                 "align: crop and level the eyes"),
        parser.add_argument("--face-margin", type=float, default=None,
                            help="with --faces crop/align: share of the face's side added on each side (0.15)"),
        parser.add_argument("--epochs", type=int, default=None),
        parser.add_argument("--batch-size", type=int, default=None),
        parser.add_argument("--learning-rate", type=float, default=None),
        parser.add_argument("--patience", type=int, default=None,
                            help="epochs without a better validation loss before stopping"),
        form.add_argument("--plain", action="store_true",
                          help="light VGG: the table's plain form (the default, the chapter's main model)"),
        form.add_argument("--batch-norm", action="store_true",
                          help="light VGG: the authors' variant with batch normalisation and dropout"),
        parser.add_argument("--task", choices=["classification", "valence-arousal"], default="classification",
                            help="light VGG: the 8-class head, or the 2-float valence/arousal head on the "
                                 "classifier's convolutions"),
        parser.add_argument("--weights", default="auto", help="vgg16: auto | imagenet | hed | random | FILE"),
        parser.add_argument("--fine-tune", type=int, default=None, metavar="EPOCHS",
                            help="vgg16: then fine-tune block 5 and the head for EPOCHS (default: as the "
                                 "chapter, 3; 0 skips phase 2)"),
        parser.add_argument("--fine-tune-on", choices=["features", "images"], default="features",
                            help="vgg16: cached block-4 maps (fast, no augmentation) or augmented images"),
        parser.add_argument("--strategy", choices=["default", "mirrored"], default="default"),
    ]
    parser.set_defaults(reproducible=flags)
    return flags


def _jobs(text: str) -> int:
    from .lanes import whole_count

    if whole_count(text) is None:
        raise argparse.ArgumentTypeError(f"expected a whole number of chapters >= 1, got {text!r}")
    return whole_count(text)


def build_parser() -> argparse.ArgumentParser:
    """The command line's parser (every subcommand and flag)."""
    parser = argparse.ArgumentParser(prog="python -m fercourse", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="execute the chapters and export HTML and PDF into build/")
    rep.add_argument("chapters", nargs="*", help="chapter name prefixes (default: all, in book order)")
    rep.add_argument("--no-pdf", action="store_true", help="skip the LaTeX/PDF export")
    rep.add_argument("--no-execute", action="store_true", help="export the committed notebooks as they are")
    rep.add_argument("--book", action="store_true", help="also build the HTML book (Jupyter Book) from them")
    rep.add_argument("--jobs", "-j", type=_jobs, default=None,
                     help="chapters executed at once, longest first (default: 2 on 2+ cores, or FERCOURSE_JOBS)")
    rep.set_defaults(func=_cmd_report)
    bk = sub.add_parser("book", help="build the HTML book (Jupyter Book, offline) from the executed chapters")
    bk.add_argument("--from-build", action="store_true",
                    help="use the report's executed copies in build/executed instead of the committed notebooks")
    bk.set_defaults(func=_cmd_book)
    exe = sub.add_parser("execute", help="re-execute chapters and save them in notebooks/ (rewrites tracked files)")
    exe.add_argument("chapters", nargs="*", help="chapter name prefixes (default: all)")
    exe.add_argument("--jobs", "-j", type=_jobs, default=None, help="chapters executed at once (as for report)")
    exe.set_defaults(func=_cmd_execute)
    tr = sub.add_parser("train", help="train a Q5 model (or load it from the model store)")
    _add_training_arguments(tr)
    tr.add_argument("--force", action="store_true", help="train again even if a stored result exists")
    tr.set_defaults(func=_cmd_train)
    ev = sub.add_parser("evaluate", help="scores of a trained Q5 model on the validation split")
    _add_training_arguments(ev)
    ev.set_defaults(func=_cmd_evaluate)
    pr = sub.add_parser("predict", help="every face in your photos: expression, valence/arousal, class map")
    pr.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders (searched recursively)")
    _add_training_arguments(pr, model_flag=True)
    pr.add_argument("--cam", choices=["gradcam", "gradcam++", "scorecam", "none"], default="none",
                    help="the map of each face's top class, drawn over it in the annotated images")
    pr.add_argument("--out", default=None, help="folder for predictions.jsonl/.csv and annotated copies")
    pr.add_argument("--format", choices=["table", "json", "csv"], default="table",
                    help="what is printed (and, with --out, written): a table, JSON Lines, or CSV")
    pr.set_defaults(func=_cmd_predict)
    cv = sub.add_parser("cross-validate", help="k-fold or leave-one-subject-out cross-validation over all images")
    _add_training_arguments(cv).extend([
        cv.add_argument("--folds", default="10", help="a number of folds (default 10), or loso: one fold per subject"),
        cv.add_argument("--groups", default=None, metavar="REGEX",
                        help="the subject of a file: this regular expression's first group on its name, "
                             r"e.g. '^(S\d+)_'"),
        cv.add_argument("--groups-csv", default=None, metavar="FILE",
                        help="or a CSV table with a 'file' column (name or path under the data root)"),
        cv.add_argument("--groups-column", default="subject", help="the CSV column naming the subject")])
    cv.add_argument("--force", action="store_true", help="train every fold again even if it is stored")
    cv.set_defaults(func=_cmd_cross_validate)
    ca = sub.add_parser("cache", help="what the cache folder holds per kind; --clear to delete")
    ca.add_argument("--clear", nargs="+", metavar="KIND", choices=["all", "generated", "decoded", "features",
                                                                   "exports", "results", "models", "logs"],
                    help="delete these kinds (all, generated, decoded, features, exports, results, models, "
                         "logs)")
    ca.set_defaults(func=_cmd_cache)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FercourseError, FileNotFoundError, NotADirectoryError, PermissionError) as err:
        # The user's input or cache: one paragraph saying what and where, not a stack trace.
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
