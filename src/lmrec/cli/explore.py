"""Look inside a run: ``recommend``, ``similar-items``, ``interests``, ``explain``, ``predict``,
``sources``, ``plot``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from lmrec.cli.display import (
    category_table,
    item_probability_table,
    multi_interest_table,
    recommendation_table,
    similar_items_table,
    source_weights_table,
)
from lmrec.cli.options import JsonOpt, RunDirArg, out_console, print_json

if TYPE_CHECKING:
    from lmrec.models.base import Recommender


def recommendation_rows(model: Recommender, user: str, k: int) -> list[dict[str, Any]]:
    """A user's top-``k`` as rows: rank, item id, score, title."""
    ids, scores = model.recommend(user, k=k)
    keep = [j for j, item in enumerate(ids) if item != ""]
    titles = model.titles([ids[j] for j in keep])
    return [
        {"rank": r, "item_id": str(ids[j]), "score": float(scores[j]), "title": title}
        for r, (j, title) in enumerate(zip(keep, titles, strict=True), 1)
    ]


def recommend(
    run_dir: RunDirArg,
    user: Annotated[str, typer.Option("--user", help="External user id.", show_default=False)],
    k: Annotated[int, typer.Option("-k", "--k", help="Number of items.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Top-k items for one user, with titles when the data has them."""
    from lmrec.models.registry import load

    rows = recommendation_rows(load(run_dir), user, k)
    if as_json:
        print_json({"user": user, "k": k, "items": rows})
        return
    out_console().print(recommendation_table(user, rows))


def similar_items(
    run_dir: RunDirArg,
    item: Annotated[str, typer.Option("--item", help="External item id.", show_default=False)],
    k: Annotated[int, typer.Option("-k", "--k", help="Number of items.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """The items nearest to one item by cosine of the model's item vectors (text-fused).

    Models without item vectors use the cosine of the items' user columns."""
    import math

    from lmrec.models.registry import load

    model = load(run_dir)
    ids, scores = model.similar_items(item, k=k)
    keep = [i for i, s in enumerate(scores) if math.isfinite(s)]
    ids, scores = [str(ids[i]) for i in keep], [float(scores[i]) for i in keep]
    titles = model.titles(ids) if ids else []
    rows = [
        {"rank": r + 1, "item_id": i, "title": t, "similarity": round(s, 6)}
        for r, (i, t, s) in enumerate(zip(ids, titles, scores, strict=True))
    ]
    if as_json:
        print_json({"item": item, "k": k, "items": rows})
        return
    (title,) = model.titles([item])
    out_console().print(similar_items_table(item, title, rows))


def interests(
    run_dir: Annotated[Path, typer.Argument(help="A transformer run directory.")],
    user: Annotated[str, typer.Option("--user", help="External user id.", show_default=False)],
    top: Annotated[int, typer.Option("--top", help="How many categories and items.")] = 10,
    multi: Annotated[
        bool,
        typer.Option(
            "--multi",
            help="Several interests: the recent history split into groups (by category, "
            "or text with --space text), each scored on its own by the model.",
        ),
    ] = False,
    n_interests: Annotated[
        int, typer.Option("--interests", help="At most this many interests (--multi).")
    ] = 4,
    space: Annotated[
        str, typer.Option("--space", help="Item space that groups the history (--multi).")
    ] = "categories",
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot", help="Write a bar chart of the categories (PNG).", show_default=False
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A user's calibrated interest distribution: top categories and items with probabilities.

    With --multi: the user's several interests, each labelled by its dominant categories."""
    if multi:
        _multi_interests(run_dir, user, n_interests, space, top, as_json)
        return
    from lmrec.evaluate.report import interest_chart
    from lmrec.models.registry import load

    model = load(run_dir)
    model._require("interests", f"{run_dir}; train one with lmrec train --model transformer")
    result = model.interests(user, top_items=top, top_categories=top)
    if plot is not None:
        interest_chart(result, plot, title=f"user {user}: p(category | history)")
    if as_json:
        print_json({"user": user, **result.as_dict()})
        return
    out = out_console()
    out.print(category_table(user, result.categories, result.category_probs, result.temperature))
    titles = model.titles(result.item_ids)
    out.print(item_probability_table(user, result.item_ids, titles, result.item_probs))
    if plot is not None:
        out.print(f"chart: {plot}")


def _multi_interests(
    run_dir: Path, user: str, n_interests: int, space: str, top: int, as_json: bool
) -> None:
    from lmrec.evaluate.diversity import item_space
    from lmrec.rerank.interests import MultiInterestLists
    from lmrec.runs import fitted_data, load_run

    model, run = load_run(run_dir)
    fit_data = fitted_data(model, run, run_dir)
    lists = MultiInterestLists(
        model, fit_data, item_space(fit_data, space), 0.5, n_interests=n_interests
    )
    found = lists.interests(user, top_items=min(top, 5), top_categories=3)
    rows = []
    for interest in found:
        row = interest.as_dict()
        row["n_history"] = len(interest.history)
        row["item_ids"] = [str(i) for i in interest.items]
        row["titles"] = [t for t in model.titles(interest.items) if t]
        rows.append(row)
    if as_json:
        print_json({"user": user, "interests": rows})
        return
    out_console().print(multi_interest_table(user, rows))


def explain(
    run_dir: RunDirArg,
    user: Annotated[str, typer.Option("--user", help="External user id.", show_default=False)],
    item: Annotated[str, typer.Option("--item", help="Item to explain.", show_default=False)],
    top: Annotated[int, typer.Option("--top", help="History events to show.")] = 5,
    sentence: Annotated[
        bool,
        typer.Option(
            "--sentence",
            help="Also say it in one sentence, written by the bundled SmolLM2-135M from the "
            "item's and the top 3 events' titles (about 30 s to load).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Which history events, and which of their sources, drove an item's score.

    Gradient × input per event, split into the item itself, behaviour, rating and review.
    """
    from rich.table import Table

    from lmrec.models.explain import source_shares
    from lmrec.models.registry import load

    model = load(run_dir)
    model._require("explain", "train a transformer run to explain its scores")
    events = model.explain(user, item, top=None)  # every event: the shares cover them all
    shares = source_shares(events)
    rows = [a.as_dict() for a in events[:top]]
    titles = model.titles([r["item_id"] for r in rows]) if rows else []
    for row, title in zip(rows, titles, strict=True):
        row["title"] = title
    (title,) = model.titles([item])
    words = None
    if sentence:
        from lmrec.text.sentence import explanation_sentence

        words = explanation_sentence(title or item, [r["title"] or r["item_id"] for r in rows[:3]])
    if as_json:
        out = {"user": user, "item_id": item, "sources": shares, "events": rows}
        print_json(out if words is None else {**out, "sentence": words})
        return
    table = Table(title=f"why {item} ({title}) for user {user}")
    names = list(shares)
    for name in ("#", "item", "behaviour", "attribution", "share"):
        table.add_column(name, justify="left" if name in ("item", "behaviour") else "right")
    for name in names:  # the event's attribution split by what the blocks read
        table.add_column(f"via {name}", justify="right")
    table.add_column("title")
    for rank, row in enumerate(rows, 1):
        table.add_row(
            str(rank),
            row["item_id"],
            row["behaviour"],
            f"{row['attribution']:+.4f}",
            f"{row['share']:.0%}",
            *(f"{row['sources'][n]:+.4f}" for n in names),
            row["title"],
        )
    console = out_console()
    console.print(table)
    if shares:
        parts = ", ".join(f"{n} {v:.0%}" for n, v in shares.items())
        console.print(f"sources over the whole history (share of |gradient × input|): {parts}")
    if words is not None:
        console.print(f"in words (SmolLM2-135M): {words}")


def predict_rows(model: Recommender, user: str, items: list[str]) -> list[dict[str, Any]]:
    """What the model predicts for ``user`` and each of ``items``: the predicted rating
    (``predict_ratings``), p(item | history) (``predict_proba``) and the probability of the
    target behaviour, buy or like (``predict_behaviour``), whichever it can."""
    abilities = ("predict_ratings", "predict_proba", "predict_behaviour")
    if not any(model.supports(a) for a in abilities):
        model._require(
            "predict_ratings", "train a transformer-rating, transformer-behaviour or svd run"
        )
    rows: list[dict[str, Any]] = [{"item_id": i} for i in items]
    if model.supports("predict_ratings"):
        for row, rating in zip(rows, model.predict([user] * len(items), items), strict=True):
            row["rating"] = float(rating)
    if model.supports("predict_proba"):
        probs = model.predict_proba([user])[0]
        for row, index in zip(rows, model.idmap_.item_index(items), strict=True):
            row["probability"] = float(probs[index])
    if model.supports("predict_behaviour"):
        kind = model.task_.kind  # type: ignore[attr-defined]
        chance = model.predict_behaviour([user] * len(items), items)
        for row, p in zip(rows, chance, strict=True):
            row[f"p_{kind}"] = float(p)
    for row, title in zip(rows, model.titles(items), strict=True):
        row["title"] = title
    return rows


def predict(
    run_dir: RunDirArg,
    user: Annotated[str, typer.Option("--user", help="External user id.", show_default=False)],
    item: Annotated[
        list[str], typer.Option("--item", help="Item id (repeatable).", show_default=False)
    ],
    as_json: JsonOpt = False,
) -> None:
    """A user's predicted rating of items, p(item | history) and the chance they buy (or
    like) each, as far as the run can tell."""
    from rich.table import Table

    from lmrec.models.registry import load

    model = load(run_dir)
    rows = predict_rows(model, user, item)
    if as_json:
        print_json({"user": user, "items": rows})
        return
    table = Table(title=f"predictions for user {user}")
    names = ("item_id", "rating", "probability", "p_buy", "p_like", "title")
    columns = [c for c in names if c in rows[0]]
    for name in columns:
        table.add_column(name, justify="left" if name in ("item_id", "title") else "right")
    for row in rows:
        cells = {
            "item_id": row["item_id"],
            "rating": f"{row.get('rating', 0):.2f}",
            "probability": f"{row.get('probability', 0):.5f}",
            "p_buy": f"{row.get('p_buy', 0):.3f}",
            "p_like": f"{row.get('p_like', 0):.3f}",
            "title": row["title"],
        }
        table.add_row(*(cells[c] for c in columns))
    out_console().print(table)


def sources(
    run_dir: Annotated[Path, typer.Argument(help="A transformer or multi-interest run directory.")],
    user: Annotated[
        list[str], typer.Option("--user", help="External user id (repeatable).", show_default=False)
    ],
    as_json: JsonOpt = False,
) -> None:
    """How much each interest source (behaviours, ratings, review text) counts for a user."""
    from lmrec.models.registry import load

    model = load(run_dir)
    model._require(
        "source_weights",
        f"{run_dir}; train a transformer with --param sources=rating,review, or multi-interest",
    )
    weights = model.source_weights_of(user)
    rows = {str(u): {str(k): float(v) for k, v in weights.loc[u].items()} for u in weights.index}
    if as_json:
        print_json({"users": rows})
        return
    params = model.get_params()  # the weighting parameter's name differs between versions
    weighting = params.get("source_weighting", params.get("fusion"))
    out_console().print(source_weights_table(rows, weighting))


def plot(
    run_dir: Annotated[
        Path, typer.Argument(help="A run directory with training curves (curves.jsonl).")
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="PNG to write (default: RUN/curves.png).", show_default=False),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw a run's training curves (loss, learning rate, validation NDCG@10 per epoch)."""
    from lmrec.cli.display import curves_chart
    from lmrec.train.curves import read_curves

    rows = read_curves(run_dir)
    path = curves_chart(rows, out or run_dir / "curves.png", title=f"training curves: {run_dir}")
    if as_json:
        print_json({"run_dir": str(run_dir), "chart": str(path), "epochs": rows})
        return
    scored = [r for r in rows if r.get("valid_ndcg@10") is not None]
    best = max(scored, key=lambda r: r["valid_ndcg@10"]) if scored else None
    summary = (
        f"; best validation NDCG@10 {best['valid_ndcg@10']:.4f} at epoch {best['epoch']}"
        if best
        else ""
    )
    out_console().print(f"{len(rows)} epochs{summary}\nchart: {path}")
