"""``lmrec data list`` and ``lmrec data info``: which data sets exist and what one holds."""

from __future__ import annotations

from lmrec.cli.display import datasets_table, summary_table
from lmrec.cli.options import (
    ColumnsOpt,
    DataDirOpt,
    DataName,
    JsonOpt,
    SepOpt,
    err_console,
    out_console,
    parse_columns,
    print_json,
)


def data_list(data: DataDirOpt = None, as_json: JsonOpt = False) -> None:
    """List the named data sets, whether each is found, and where."""
    from lmrec.data.registry import DATASETS, dataset_names, find_dataset, search_dirs

    rows = []
    for name in dataset_names():
        spec = DATASETS[name]
        path = find_dataset(name, data_dir=data)
        where = "built-in (generated)" if spec.folder is None else str(path) if path else None
        rows.append(
            {
                "name": name,
                "found": spec.folder is None or path is not None,
                "path": where,
                "description": spec.description,
            }
        )
    if as_json:
        print_json(rows)
        return
    out_console().print(datasets_table(rows))
    if not all(r["found"] for r in rows):
        places = ", ".join(str(d) for d in search_dirs(data))
        err_console().print(f"searched: {places}", style="dim")


def data_info(
    name_or_path: DataName,
    columns: ColumnsOpt = None,
    sep: SepOpt = None,
    data: DataDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Load a data set (by name or from a file) and describe it, with its repeat events, time
    order, weights and the share of repeat targets under each split."""
    from lmrec.data.repeats import repeat_summary
    from lmrec.runs import load_data

    dataset = load_data(name_or_path, data, parse_columns(columns), sep)
    summary = {**dataset.summary(), **repeat_summary(dataset)}
    if as_json:
        print_json(summary)
        return
    out_console().print(summary_table(summary, f"data set {dataset.name}"))
