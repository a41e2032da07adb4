# Two entry points, each installing what it needs (.venv from requirements.txt, the PDF
# tool-chain via apt when run as root):
#   make report   execute every chapter on the built-in data, export build/report.pdf + HTML
#   make test     unit tests + strict nbval re-execution of the committed notebooks
PY := .venv/bin/python

.PHONY: report test book env pdf-tools notebooks benchmarks clean

report: env pdf-tools
	$(PY) -m fercourse report

# Two workers, one file each at a time (--dist loadfile keeps a notebook's cells in order on
# one kernel). Notebooks are collected first so the long Q5 chapter starts at once while the
# unit tests share the second core: TensorFlow keeps only ~1.2 of 2 cores busy on its own.
TEST_WORKERS ?= 2

test: env pdf-tools
	$(PY) -m pytest --nbval -n $(TEST_WORKERS) --dist loadfile notebooks tests

env:
	@bash scripts/ensure_env.sh

pdf-tools:
	@bash scripts/ensure_pdf_tools.sh

# The HTML book (Jupyter Book) from the committed, executed chapters: build/book/_build/html/.
book: env
	$(PY) -m fercourse book

# Re-execute the committed notebooks in place (after editing a chapter).
notebooks: env
	$(PY) -m fercourse execute

clean:
	rm -rf build .pytest_cache
