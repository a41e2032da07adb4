"""Command line: ``python -m fercourse report|execute``.

    python -m fercourse report             # execute every chapter, export HTML + PDFs to build/
    python -m fercourse report q3 --no-pdf # only chapters starting with q3, HTML only
    python -m fercourse execute q3         # refresh the committed notebook (rewrites notebooks/)
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
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
