"""Notebook HTML tables typeset as LaTeX (fercourse.latex_tables): spans, escaping, size."""
import re
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fercourse import latex_tables as lt


def _rows(latex: str) -> list[str]:
    """The table's rows (the lines that end a row), without the rules after them."""
    return [line.split(r" \\")[0] for line in latex.splitlines() if line.rstrip().endswith("\\\\")
            or r" \\\cmidrule" in line]


def _two_level_index() -> pd.DataFrame:
    index = pd.MultiIndex.from_product([["valence", "arousal"], ["model", "mean predictor"]])
    return pd.DataFrame(np.arange(8).reshape(4, 2) / 10, index=index, columns=["RMSE", "CCC"])


def test_a_two_level_index_writes_each_group_once_without_multirow():
    latex = lt.html_to_latex(_two_level_index().to_html())
    assert r"\multirow" not in latex  # a package the LaTeX template does not load
    rows = _rows(latex)
    assert rows[0] == " &  & RMSE & CCC"
    assert rows[1:] == ["valence & model & 0.0 & 0.1", " & mean predictor & 0.2 & 0.3",
                        "arousal & model & 0.4 & 0.5", " & mean predictor & 0.6 & 0.7"]
    assert r"\begin{tabular}{llrr}" in latex  # row labels left, numbers right


def test_two_level_columns_become_multicolumn_groups_with_a_rule_under_each():
    columns = pd.MultiIndex.from_product([["Grad-CAM, plain", "CAM, GAP"], ["pointing", "energy"]])
    table = pd.DataFrame([[0.42, 0.24, 0.54, 0.28]], index=pd.Index(["neutral"], name="class"), columns=columns)
    latex = lt.html_to_latex(table.to_html())
    assert r"\multicolumn{2}{c}{Grad-CAM, plain} & \multicolumn{2}{c}{CAM, GAP}" in latex
    assert r"\cmidrule(lr){2-3}\cmidrule(lr){4-5}" in latex
    rows = _rows(latex)
    assert rows[1] == " & pointing & energy & pointing & energy"
    assert rows[2].startswith("class &")  # pandas' row of index names
    assert rows[3] == "neutral & 0.42 & 0.24 & 0.54 & 0.28"


def test_specials_are_escaped_and_style_blocks_and_nested_tables_are_not_cells():
    html = ("<div><style>.dataframe th {x: 1}</style><table class='dataframe'><thead><tr><th>a_b</th>"
            "<th>50%</th></tr></thead><tbody><tr><td>x &amp; y</td><td>$1 #2 {3} ~ ^ \\ --</td></tr>"
            "</tbody></table></div>")
    latex = lt.html_to_latex(html)
    assert r"a\_b & 50\%" in latex
    assert r"x \& y & \$1 \#2 \{3\} \textasciitilde{} \textasciicircum{} \textbackslash{} -{}-" in latex
    assert "dataframe th" not in latex
    nested = "<table><tr><td>outer<table><tr><td>inner</td></tr></table></td><td>2</td></tr></table>"
    assert lt.parse_tables(nested)[0].body[0][1].text == "2" and len(lt.parse_tables(nested)) == 1
    assert lt.html_to_latex("<p>no table here</p>") is None


def test_ragged_rows_and_spans_past_the_end_are_padded_onto_one_grid():
    html = ("<table><tbody><tr><th rowspan='5'>g</th><td colspan='3'>wide</td></tr>"
            "<tr><td>1</td></tr></tbody></table>")
    rows = lt.grid(lt.parse_tables(html)[0].body)
    assert [len(row) for row in rows] == [4, 4]
    assert rows[0][1].text == "wide" and rows[0][2] == "col" and rows[1][0] == "row"
    assert rows[1][1].text == "1" and rows[1][3].text == ""


def test_a_long_table_is_a_longtable_whose_header_repeats_on_every_page():
    table = pd.DataFrame({"x": range(lt.LONG_TABLE_ROWS + 1)})
    latex = lt.html_to_latex(table.to_html())
    assert r"\begin{longtable}{lr}" in latex and r"\endhead" in latex
    assert latex.index(r"\endhead") < latex.index("\n0 & 0")
    assert r"\begin{longtable}" not in lt.html_to_latex(table.head(lt.LONG_TABLE_ROWS).to_html())


_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zl", "Zp")), max_size=8)


@settings(max_examples=60, deadline=None)
@given(shape=st.tuples(st.integers(1, 6), st.integers(1, 5)), levels=st.integers(1, 2), data=st.data())
def test_every_cell_lands_in_its_row_and_column(shape, levels, data):
    """Property: whatever the values and index depth, each body row has one slot per column and
    holds the row's values, escaped, in order."""
    rows, cols = shape
    values = [[data.draw(_text) for _ in range(cols)] for _ in range(rows)]
    if levels == 2:
        index = pd.MultiIndex.from_tuples([(f"g{i // 2}", f"r{i}") for i in range(rows)])
    else:
        index = pd.Index([f"r{i}" for i in range(rows)])
    table = pd.DataFrame(values, index=index, columns=[f"c{j}" for j in range(cols)])
    latex = lt.html_to_latex(table.to_html())
    body = _rows(latex)[-rows:]
    for i, row in enumerate(body):
        cells = row.split(" & ")
        # escaped text holds no bare '&', so the split is exact
        assert len(cells) == levels + cols
        assert cells[levels - 1] == f"r{i}"
        expected = [lt.escape(" ".join(v.split())) for v in values[i]]
        assert cells[levels:] == expected


@pytest.mark.pdf
def test_wide_long_and_spanning_tables_compile_and_fit_the_page(tmp_path):
    """What broke the report: row spans (\\multirow undefined) and wide tables (overfull)."""
    if shutil.which("xelatex") is None:
        pytest.skip("needs xelatex")
    wide = pd.DataFrame(np.round(np.random.default_rng(0).random((3, 14)), 3),
                        columns=[f"energy / chance {j}" for j in range(14)])
    parts = [lt.html_to_latex(t.to_html()) for t in
             (_two_level_index(), wide, pd.DataFrame({"x": range(60)}))]
    doc = "\n".join([r"\documentclass{article}\usepackage{graphicx,booktabs,longtable}\begin{document}",
                     *parts, r"\end{document}"])
    (tmp_path / "t.tex").write_text(doc)
    run = subprocess.run(["xelatex", "-interaction=nonstopmode", "t.tex"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert run.returncode == 0, log[-2000:]
    assert not re.search(r"Overfull \\hbox \((\d+\.?\d*)pt", log), "a table runs past the margin"
    assert (tmp_path / "t.pdf").stat().st_size > 1000
