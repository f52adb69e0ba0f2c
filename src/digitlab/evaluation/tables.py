"""How evaluation figures are written: percentages and Markdown tables.

Every table the README, the CLI and the app show is built here, so a figure reads the same
wherever it appears (``tests/test_readme_results.py`` checks the README's against them).
"""

from __future__ import annotations


def percent(value: float, decimals: int = 1, signed: bool = False) -> str:
    """A ratio in [0, 1] as a percentage: ``percent(0.9876)`` is ``"98.8%"``; ``signed`` writes
    a change's sign (``"+1.2%"``, ``"-0.5%"``)."""
    return f"{value:{'+' if signed else ''}.{decimals}%}"


def markdown_table(rows: list[dict]) -> str:
    """Rows of equal keys -> a Markdown table with padded columns (readable in a terminal too);
    "" for no rows."""
    if not rows:
        return ""
    keys = list(rows[0])
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]

    def line(cells) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(keys), sep, *(line([r[k] for k in keys]) for r in rows)])


def header_table(header: list[str], rows: list[list]) -> str:
    """A padded Markdown table from a header and rows of cells (``markdown_table``)."""
    return markdown_table([dict(zip(header, map(str, row), strict=True)) for row in rows])


def compact_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table without padding: wide tables of many columns stay on one line each."""

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cells) + " |"

    return "\n".join([line(header), "|" + "---|" * len(header), *map(line, rows)])
