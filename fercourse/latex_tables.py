"""The HTML tables of notebook outputs, typeset as LaTeX for the PDF export.

A pandas table reaches the notebook as HTML (the DataFrame itself is gone), with the row and
column spans of a two-level index or header. Pandoc's HTML-to-LaTeX conversion depends on its
version for what it emits (``\\multirow``, ``\\real``, column widths) and always writes a
``longtable``, which cannot be shrunk to the page: wide tables ran off it. So the LaTeX is
written here, from the table's cell grid, with requirements this module controls: ``booktabs``
and ``graphicx`` (both loaded by nbconvert's LaTeX template) and ``longtable`` for long tables.

- Column spans become ``\\multicolumn`` with a rule under the group; row spans write their text
  in the span's first row and leave the rows below empty, as pandas' own sparse index does.
- A table of up to :data:`LONG_TABLE_ROWS` body rows is set in a box, and shrunk to the line's
  width only when it is wider; a longer one is a ``longtable`` (its header repeated on each
  page), in a small font.
"""
from __future__ import annotations

import dataclasses

LONG_TABLE_ROWS = 40

_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped (Unicode passes through to xelatex), and
    the font's TeX ligatures broken (``--`` stays two hyphens, ``''`` two quotes)."""
    out = "".join(_SPECIALS.get(char, char) for char in text)
    for pair in ("--", "''", "``", "!`", "?`", "<<", ">>"):
        out = out.replace(pair, pair[0] + "{}" + pair[1]).replace(pair, pair[0] + "{}" + pair[1])
    return out


@dataclasses.dataclass
class Cell:
    """One ``<th>``/``<td>``: its text (whitespace collapsed) and spans."""

    text: str = ""
    header: bool = False
    rowspan: int = 1
    colspan: int = 1


@dataclasses.dataclass
class Table:
    """A table's rows of cells as written in the HTML: ``head`` (``<thead>``) and ``body``."""

    head: list[list[Cell]] = dataclasses.field(default_factory=list)
    body: list[list[Cell]] = dataclasses.field(default_factory=list)


def _span(value) -> int:
    try:
        return max(1, int(value))
    except (TypeError, ValueError):
        return 1


def _cell(tag) -> Cell:
    for line_break in tag.find_all("br"):
        line_break.replace_with(" ")
    return Cell(" ".join(tag.get_text().split()), tag.name == "th", _span(tag.get("rowspan")),
                _span(tag.get("colspan")))


def parse_tables(html_text: str) -> list[Table]:
    """Every top-level table of an HTML fragment, in order (Beautiful Soup, with Python's own
    parser; a nested table is read as the text of its cell, ``<style>`` and ``<script>`` are
    not text)."""
    from bs4 import BeautifulSoup

    tables = []
    for element in BeautifulSoup(html_text, "html.parser").find_all("table"):
        if element.find_parent("table") is not None:
            continue
        table = Table()
        for row in element.find_all("tr"):
            if row.find_parent("table") is element:
                part = table.head if row.parent.name == "thead" else table.body
                part.append([_cell(cell) for cell in row.find_all(["th", "td"], recursive=False)])
        tables.append(table)
    return tables


# A slot of the expanded grid: the cell that starts there, or a marker for a slot that a
# column span ("col") or a row span ("row") from an earlier slot covers.
Slot = Cell | str


def grid(rows: list[list[Cell]]) -> list[list[Slot]]:
    """Rows of cells placed on a rectangular grid, spans expanded (``"col"``/``"row"`` mark the
    slots a span covers); short rows are padded with empty cells."""
    placed: list[dict[int, Slot]] = []
    for index, row in enumerate(rows):
        while len(placed) <= index:
            placed.append({})
        column = 0
        for cell in row:
            while column in placed[index]:
                column += 1
            for dr in range(cell.rowspan if index + cell.rowspan <= len(rows) else len(rows) - index):
                while len(placed) <= index + dr:
                    placed.append({})
                for dc in range(cell.colspan):
                    placed[index + dr][column + dc] = cell if (dr, dc) == (0, 0) else ("col" if dr == 0 else "row")
            column += cell.colspan
    width = max((max(row) + 1 for row in placed if row), default=0)
    return [[row.get(c, Cell()) for c in range(width)] for row in placed]


def _index_columns(body: list[list[Slot]]) -> int:
    """How many leading columns hold row labels (header cells in every body row)."""
    def leading(row):
        count = 0
        for slot in row:
            if slot == "row" or (isinstance(slot, Cell) and slot.header):
                count += 1
            else:
                break
        return count
    return min((leading(row) for row in body), default=0)


def _latex_rows(rows: list[list[Slot]], with_rules: bool) -> list[str]:
    lines = []
    for row in rows:
        parts, rules, column = [], [], 0
        for slot in row:
            column += 1
            if slot == "col":
                continue
            if slot == "row":
                parts.append("")
            elif slot.colspan > 1:
                parts.append(rf"\multicolumn{{{slot.colspan}}}{{c}}{{{escape(slot.text)}}}")
                if slot.text:
                    rules.append(rf"\cmidrule(lr){{{column}-{column + slot.colspan - 1}}}")
            else:
                parts.append(escape(slot.text))
        lines.append(" & ".join(parts) + r" \\" + ("".join(rules) if with_rules else ""))
    return lines


def table_to_latex(table: Table, *, long_rows: int = LONG_TABLE_ROWS) -> str:
    """LaTeX for one parsed table (see the module's docstring for the layout)."""
    head, body = grid(table.head), grid(table.body)
    width = max((len(row) for row in head + body), default=0)
    if width == 0:
        return ""
    head = [row + [Cell()] * (width - len(row)) for row in head]
    body = [row + [Cell()] * (width - len(row)) for row in body]
    labels = _index_columns(body)
    spec = "l" * labels + "r" * (width - labels)
    head_lines = _latex_rows(head, with_rules=True)
    body_lines = _latex_rows(body, with_rules=False)
    if len(body) > long_rows:
        top = [r"\toprule", *head_lines, r"\midrule"] if head_lines else [r"\toprule"]
        return "\n".join([
            r"{\footnotesize", rf"\begin{{longtable}}{{{spec}}}", *top, r"\endhead",
            r"\bottomrule", r"\endfoot", *body_lines, r"\end{longtable}", "}",
        ])
    rules = [r"\toprule", *head_lines, r"\midrule"] if head_lines else [r"\toprule"]
    return "\n".join([
        r"\ifdefined\fercoursetable\else\newsavebox{\fercoursetable}\fi",
        r"\begin{center}\footnotesize",
        rf"\sbox{{\fercoursetable}}{{\begin{{tabular}}{{{spec}}}",
        *rules, *body_lines, r"\bottomrule",
        r"\end{tabular}}%",
        r"\ifdim\wd\fercoursetable>\linewidth\resizebox{\linewidth}{!}{\usebox{\fercoursetable}}%",
        r"\else\usebox{\fercoursetable}\fi",
        r"\end{center}",
    ])


def html_to_latex(html_text: str, *, long_rows: int = LONG_TABLE_ROWS) -> str | None:
    """LaTeX for every table in an HTML output (one after the other), or None when it holds none."""
    tables = parse_tables(html_text)
    if not tables:
        return None
    return "\n".join(table_to_latex(table, long_rows=long_rows) for table in tables)
