"""What the CLI shows: rich tables for its own results and the training-curves chart.

Tables and charts of *records* (``metrics_table``, ``metrics_by_k_table``, ``bar_chart``,
``describe_protocol``) and the interest chart (``interest_chart``) live in
:mod:`lmrec.evaluate.report`, the one place for them, because benchmarks draw them too;
the commands import them from there. Everything here takes plain rows (dicts, lists), so
none of it needs numpy or pandas; matplotlib is imported by the chart that draws.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from lmrec.errors import ModelFileError


def recommendation_table(
    user: str, rows: Sequence[Mapping[str, Any]], title: str | None = None
) -> Table:
    """One user's top-k: rank, item, score and (when any item has one) title."""
    table = Table(title=Text(title or f"top {len(rows)} for user {user}"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("item")
    table.add_column("score", justify="right")
    with_titles = any(r["title"] for r in rows)
    if with_titles:
        table.add_column("title")
    for r in rows:
        cells = [str(r["rank"]), r["item_id"], f"{r['score']:.4f}"]
        table.add_row(*map(Text, [*cells, *([r["title"]] if with_titles else [])]))
    return table


def summary_table(summary: Mapping[str, object], title: str) -> Table:
    """A two-column key/value table (``lmrec data info``)."""
    table = Table(title=Text(title), title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in summary.items():
        if isinstance(value, float):
            text = f"{value:.4g}"
        elif isinstance(value, int) and not isinstance(value, bool):
            text = f"{value:,}"
        elif isinstance(value, dict):
            text = ", ".join(f"{k} {v:,}" for k, v in value.items()) or "–"
        elif isinstance(value, list):
            text = ", ".join(map(str, value)) or "–"
        else:
            text = str(value)
        table.add_row(Text(key), Text(text))
    return table


def datasets_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    """The known data sets: name, whether found, where, what (``lmrec data list``)."""
    table = Table(title="data sets", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("found")
    table.add_column("where")
    table.add_column("what")
    for r in rows:
        cells = [r["name"], "yes" if r["found"] else "no", r["path"] or "–", r["description"]]
        table.add_row(*map(Text, cells))
    return table


def category_table(
    user: str, categories: Sequence[str], probs: Sequence[float], temperature: float
) -> Table:
    """A user's top categories with p(category | history)."""
    table = Table(
        title=Text(f"user {user}: p(category | history), temperature {temperature:.2f}"),
        title_justify="left",
    )
    table.add_column("category")
    table.add_column("p", justify="right")
    for name, p in zip(categories, probs, strict=True):
        table.add_row(Text(str(name)), f"{float(p):.3f}")
    return table


def item_probability_table(
    user: str, item_ids: Sequence[object], titles: Sequence[str], probs: Sequence[float]
) -> Table:
    """A user's top items with p(item | history) and titles."""
    table = Table(title=Text(f"user {user}: p(item | history)"), title_justify="left")
    table.add_column("item")
    table.add_column("title")
    table.add_column("p", justify="right")
    for item, title, p in zip(item_ids, titles, probs, strict=True):
        table.add_row(Text(str(item)), Text(title), f"{float(p):.4f}")
    return table


def multi_interest_table(user: str, rows: Sequence[Mapping[str, object]]) -> Table:
    """A user's interests (``lmrec interests --multi``): weight, dominant categories of the
    interest's history, how many history items it holds, and the items it predicts."""
    table = Table(title=Text(f"user {user}: interests (weights sum to 1)"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("weight", justify="right")
    table.add_column("categories (share of its history)")
    table.add_column("history items", justify="right")
    table.add_column("top predicted items")
    for j, row in enumerate(rows, 1):
        cats = ", ".join(f"{c['category']} {c['p']:.2f}" for c in row["categories"])  # type: ignore[index, union-attr]
        items = "; ".join(row["titles"] or row["item_ids"])  # type: ignore[arg-type]
        table.add_row(
            str(j),
            f"{float(row['weight']):.2f}",
            Text(cats),
            str(row["n_history"]),
            Text(items),  # type: ignore[arg-type]
        )
    return table


def source_weights_table(rows: Mapping[str, Mapping[str, float]], weighting: str | None) -> Table:
    """Per-user weights of each interest source (``lmrec sources``); rows sum to 1."""
    how = f" ({weighting} weighting)" if weighting else ""
    table = Table(title=Text(f"source weights α{how}; rows sum to 1"), title_justify="left")
    table.add_column("user")
    sources = list(dict.fromkeys(s for weights in rows.values() for s in weights))
    for source in sources:
        table.add_column(source, justify="right")
    for user, weights in rows.items():
        table.add_row(Text(str(user)), *(f"{weights.get(s, 0.0):.3f}" for s in sources))
    return table


def similar_items_table(item: str, title: str, rows: Sequence[Mapping[str, Any]]) -> Table:
    """Items nearest to ``item`` with their cosine similarity (``lmrec similar-items``)."""
    table = Table(
        title=Text(f"items similar to {item}" + (f" ({title})" if title else "")),
        title_justify="left",
    )
    for col in ("#", "item", "title", "cosine"):
        table.add_column(col, justify="right" if col in ("#", "cosine") else "left")
    for r in rows:
        cells = [str(r["rank"]), r["item_id"], r["title"], f"{r['similarity']:.3f}"]
        table.add_row(*map(Text, cells))
    return table


#: Panels of :func:`curves_chart`: (row key, y label), in order.
CURVE_PANELS: tuple[tuple[str, str], ...] = (
    ("loss", "training loss"),
    ("lr", "learning rate"),
    ("valid_ndcg@10", "validation NDCG@10"),
)


def curves_chart(rows: Sequence[Mapping[str, Any]], path: str | Path, title: str) -> Path:
    """A PNG of a run's training curves: loss, learning rate and validation NDCG@10 by epoch.

    ``rows`` are ``curves.jsonl``'s per-epoch rows (:func:`lmrec.train.curves.read_curves`).
    A panel whose key no row has (a run trained without validation) says so instead of a
    line; the best validation epoch is marked.
    """
    # A bare Figure on the Agg canvas: no pyplot, so no global backend switch or open windows.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not rows:
        raise ModelFileError(f"no training curves to draw for {title}")
    fig = Figure(figsize=(11.0, 3.4))
    panels = list(CURVE_PANELS)
    if any("valid_neg_rmse" in r for r in rows):  # a rating model that stopped on RMSE
        panels[-1] = ("valid_neg_rmse", "validation −RMSE")
    axes = fig.subplots(1, len(panels))
    for ax, (key, label) in zip(axes, panels, strict=True):
        points = [
            (int(r["epoch"]), float(r[key]))
            for r in rows
            if r.get(key) is not None and math.isfinite(float(r[key]))
        ]
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("epoch")
        if not points:
            ax.text(
                0.5, 0.5, f"no {key} recorded", ha="center", va="center", transform=ax.transAxes
            )
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, marker="o" if len(xs) < 30 else None, markersize=3)
        if key.startswith("valid_"):
            best = max(range(len(ys)), key=ys.__getitem__)
            ax.axvline(xs[best], color="C1", linestyle="--", linewidth=1)
            ax.annotate(
                f"best {ys[best]:.4f} @ {xs[best]}",
                (xs[best], ys[best]),
                textcoords="offset points",
                xytext=(4, -12),
                fontsize=8,
            )
        if key == "lr":
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(fig).print_png(str(out))
    return out
