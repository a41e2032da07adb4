# Two entry points, each installing what it needs (.venv from requirements.txt, the PDF
# tool-chain via apt when run as root):
#   make report   execute every chapter on the built-in data, export build/report.pdf + HTML
#   make test     unit tests + strict nbval re-execution of the committed notebooks
PY := .venv/bin/python

.PHONY: report test env pdf-tools notebooks benchmarks clean

report: env pdf-tools
	$(PY) -m fercourse report

test: env pdf-tools
	$(PY) -m pytest --nbval

env:
	@bash scripts/ensure_env.sh

pdf-tools:
	@bash scripts/ensure_pdf_tools.sh

# Re-execute the committed notebooks in place (after editing a chapter).
notebooks: env
	$(PY) -m fercourse execute

clean:
	rm -rf build .pytest_cache
