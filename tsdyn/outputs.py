"""Writing what people look at: CSV tables and figures (PNG + PDF), always atomically."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Iterable, Sequence

from tsdyn.atomic import atomic_open


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


#: Minor ticks of log axes, per decade. Matplotlib's default (2..9) builds eight tick
#: artists a decade on every axis at every draw: on the sweep's many-panel log-log
#: figures that was about half of the report time.
LOG_MINOR_SUBS = (2.0, 5.0)


def save_figure(fig, stem: Path, *, dpi: int = 130) -> list[Path]:
    """Write ``stem.png`` and ``stem.pdf`` atomically, close the figure, return the paths.

    Log axes get minor ticks at :data:`LOG_MINOR_SUBS` times each power of ten.
    """
    from matplotlib.ticker import LogLocator

    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_minor_locator(LogLocator(subs=LOG_MINOR_SUBS))
    paths = []
    for ext in ("png", "pdf"):
        path = Path(stem).with_suffix("." + ext)
        # No creation date in the PDF: a rerun that draws the same figure writes the same bytes.
        metadata = {"CreationDate": None} if ext == "pdf" else None
        with atomic_open(path, "wb") as fh:
            fig.savefig(fh, format=ext, dpi=dpi, metadata=metadata)
        paths.append(path)
    pyplot().close(fig)
    return paths


def write_rows(rows: Iterable[dict], path: Path, columns: Sequence[str] | None = None) -> Path:
    """Write dict rows as CSV (columns: ``columns`` or the union of keys in first-seen order).

    Floats are written with ``repr`` (full precision); missing entries stay empty.
    """
    rows = list(rows)
    if columns is None:
        columns = list(dict.fromkeys(k for row in rows for k in row))
    with atomic_open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c, "")) for c in columns])
    return Path(path)


def _cell(value) -> str:
    if isinstance(value, float):
        return repr(float(value))  # np.float64 is a float whose repr is "np.float64(...)" in NumPy 2
    if hasattr(value, "item"):  # numpy scalar
        return _cell(value.item())
    return str(value)


#: Folder (inside the sweep's output) of the sections of ``theorems.md``: one Markdown file per
#: target that checks the theorems, named ``NN_target.md`` so that the order is the name order.
THEOREM_SECTIONS = "theorems.d"


def assemble_theorems(out: Path) -> Path | None:
    """Write ``out/theorems.md`` from the sections in ``out/theorems.d/*.md`` (name order); None if there are none.

    Each target writes only its own section (the theorems target ``10_theorems.md``, theorems_zc
    ``20_theorems_zc.md``, retrain ``30_retrain.md``), so a sweep of one target keeps the others'.
    """
    sections = sorted(Path(out, THEOREM_SECTIONS).glob("*.md"))
    if not sections:
        return None
    text = "\n\n".join(p.read_text().strip("\n") for p in sections) + "\n"
    path = Path(out, "theorems.md")
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return path
