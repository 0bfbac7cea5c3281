"""Named data sets: resolve ``"ml-100k"`` to its files and load it.

:data:`DATASETS` is the one table of known names. A name is looked up as a folder in, in
order (:func:`search_dirs`):

1. ``data_dir`` (the CLI's ``--data PATH``),
2. every folder in ``$LMREC_DATA_DIR`` (``os.pathsep``-separated),
3. ``./data``,
4. ``../shared/datasets`` relative to the current directory,
5. ``../shared/datasets`` relative to the repository root (so a clean clone with ``shared/``
   beside it works from any directory).

In each place the data set's folder (``ml-100k/``) is tried, then the place itself, so
``--data ~/Downloads/ml-100k`` also works. Nothing is cached on disk: the loaders read the
raw files each time (ML-100K in well under a second).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from lmrec.data.loaders.amazon import INSTRUMENTS_FILE, load_instruments
from lmrec.data.loaders.jd import load_jd, load_jd_split
from lmrec.data.loaders.movielens import load_ml100k, load_ml_latest_small
from lmrec.data.loaders.s3rec import load_s3rec
from lmrec.data.loaders.synthetic import make_synthetic
from lmrec.data.loaders.tabular import load_table
from lmrec.data.schema import Dataset
from lmrec.data.split import Split, split_dataset
from lmrec.errors import ConfigError, DataError

ENV_VAR = "LMREC_DATA_DIR"

#: The repository root when running from a source checkout (src/lmrec/data/registry.py).
_REPO_ROOT = Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class DatasetSpec:
    """How to find and load one named data set."""

    name: str
    #: Folder name under a data directory; None for generated data (no files).
    folder: str | None
    #: Files that must be present (a ``.gz`` name also accepts the uncompressed file).
    files: tuple[str, ...]
    #: ``loader(folder) -> Dataset`` (called without arguments when ``folder`` is None).
    loader: Callable[..., Dataset]
    description: str
    #: ``split_loader(folder) -> Split`` for data shipped with its own split.
    split_loader: Callable[[Path], Split] | None = None


_S3REC = "s3rec-sequential"

#: Every named data set. Add a spec here when you add a loader.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "ml-100k",
            "ml-100k",
            ("u.data.gz", "u.item", "u.user"),
            partial(load_ml100k, name="ml-100k"),
            "MovieLens 100K: 100,000 ratings, 943 users, 1,682 movies; titles, genres, "
            "user attributes; timestamps",
        ),
        DatasetSpec(
            "ml-latest-small",
            "ml-latest-small",
            ("ratings.csv.gz", "movies.csv.gz"),
            partial(load_ml_latest_small, name="ml-latest-small"),
            "MovieLens latest-small (2018): 100,836 ratings, 610 users, 9,742 movies; titles, "
            "genres, tags as item text; timestamps",
        ),
        DatasetSpec(
            "instruments",
            "amazon2014-musical-instruments-5core",
            (INSTRUMENTS_FILE,),
            # Item text would be built from every review's summary, held-out ones included;
            # text models read each item's *training* reviews instead (lmrec.text.item_text).
            partial(load_instruments, name="instruments", item_text=False),
            "Amazon 2014 Musical Instruments 5-core: 10,261 reviews with text, 1,429 users, "
            "900 items; no item titles",
        ),
        DatasetSpec(
            "beauty",
            _S3REC,
            ("Beauty.txt.gz",),
            partial(load_s3rec, dataset="Beauty", name="beauty"),
            "Amazon Beauty (S3-Rec sequences): 198,502 events, 22,363 users, 12,101 items; "
            "attribute ids; order only",
        ),
        DatasetSpec(
            "toys",
            _S3REC,
            ("Toys_and_Games.txt.gz",),
            partial(load_s3rec, dataset="Toys_and_Games", name="toys"),
            "Amazon Toys_and_Games (S3-Rec sequences): 167,597 events, 19,412 users, "
            "11,924 items; attribute ids; order only",
        ),
        DatasetSpec(
            "lastfm",
            _S3REC,
            ("LastFM.txt.gz",),
            partial(load_s3rec, dataset="LastFM", name="lastfm"),
            "LastFM (S3-Rec sequences): 52,551 events, 1,090 users, 3,646 artists; "
            "attribute ids; order only",
        ),
        DatasetSpec(
            "jd",
            "jd-multibehavior-vcgae",
            ("trn_pv.txt.gz", "trn_fav.txt.gz", "trn_buy.txt.gz"),
            partial(load_jd, name="jd"),
            "JD multi-behaviour: 217,977 views, 7,380 favourites, 60,967 buys, 10,690 users; "
            "shipped valid/test buys; no timestamps",
            split_loader=partial(load_jd_split, name="jd"),
        ),
        DatasetSpec(
            "synthetic",
            None,
            (),
            make_synthetic,
            "Synthetic world with known user interests: 300 users, 200 items, 8 categories "
            "(generated, no files)",
        ),
        DatasetSpec(
            "synthetic-repeats",
            None,
            (),
            partial(make_synthetic, repeat=0.3, name="synthetic-repeats"),
            "Synthetic world where users come back to their own items: each event after the "
            "first repeats an earlier one with probability 0.3 (generated, no files)",
        ),
    )
}


def dataset_names() -> list[str]:
    """Names :func:`load_dataset` accepts, in table order."""
    return list(DATASETS)


def search_dirs(data_dir: str | Path | None = None) -> list[Path]:
    """The places searched for a data set folder, in order (see the module docstring)."""
    dirs: list[Path] = []
    if data_dir is not None:
        dirs.append(Path(data_dir).expanduser())
    dirs.extend(Path(p).expanduser() for p in os.environ.get(ENV_VAR, "").split(os.pathsep) if p)
    cwd = Path.cwd()
    dirs += [
        cwd / "data",
        cwd.parent / "shared" / "datasets",
        _REPO_ROOT.parent / "shared" / "datasets",
    ]
    unique: list[Path] = []
    for d in dirs:
        if d.resolve() not in {u.resolve() for u in unique}:
            unique.append(d)
    return unique


def _spec(name: str) -> DatasetSpec:
    spec = DATASETS.get(name.lower())
    if spec is None:
        raise DataError(
            f"unknown data set {name!r}; known names: {', '.join(DATASETS)} "
            "(or pass the path of a .csv / .tsv / .parquet / .jsonl file)"
        )
    return spec


def _has_files(folder: Path, files: tuple[str, ...]) -> bool:
    def present(name: str) -> bool:
        twin = name[:-3] if name.endswith(".gz") else name + ".gz"
        return (folder / name).is_file() or (folder / twin).is_file()

    return folder.is_dir() and all(present(f) for f in files)


def find_dataset(name: str, data_dir: str | Path | None = None) -> Path | None:
    """The folder holding data set ``name``'s files, or None if no searched place has them.

    Generated data sets (``synthetic``) have no folder and always give None.
    """
    spec = _spec(name)
    if spec.folder is None:
        return None
    for base in search_dirs(data_dir):
        for folder in (base / spec.folder, base):
            if _has_files(folder, spec.files):
                return folder
    return None


def _locate(spec: DatasetSpec, data_dir: str | Path | None) -> Path:
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise DataError(f"data directory {str(data_dir)!r} does not exist or is not a folder")
    folder = find_dataset(spec.name, data_dir)
    if folder is None:
        searched = ", ".join(str(d / spec.folder) for d in search_dirs(data_dir))
        raise DataError(
            f"data set {spec.name!r} not found: no folder with {list(spec.files)} in "
            f"{searched}; put the {spec.folder!r} folder in one of these places, pass its parent "
            f"with --data PATH (data_dir=...), or set {ENV_VAR}"
        )
    return folder


def load_dataset(
    name_or_path: str | Path,
    data_dir: str | Path | None = None,
    columns: dict[str, str] | None = None,
) -> Dataset:
    """Load a named data set (``ml-100k`` …) or any table file (via :func:`load_table`).

    An existing file path goes to :func:`~lmrec.data.loaders.tabular.load_table` with
    ``columns``; anything else must be a name in :data:`DATASETS`.
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return load_table(path, columns)
    if path.is_dir():
        raise DataError(
            f"{path}: is a folder; pass a file, or a data set name ({', '.join(DATASETS)}) "
            "with this folder as --data PATH"
        )
    text = str(name_or_path)
    if text.lower() not in DATASETS and (os.sep in text or "." in Path(text).name):
        raise DataError(f"{text}: no such file (and not a data set name: {', '.join(DATASETS)})")
    spec = _spec(text)
    if columns:
        raise ConfigError(f"columns applies to table files only; {spec.name!r} has a fixed loader")
    if spec.folder is None:
        return spec.loader()
    return spec.loader(_locate(spec, data_dir))


def load_given_split(name: str, data_dir: str | Path | None = None) -> Split:
    """The split shipped with a data set (only ``jd`` has one: its vld / tst buy files)."""
    spec = _spec(name)
    if spec.split_loader is None:
        with_split = [s.name for s in DATASETS.values() if s.split_loader is not None]
        raise ConfigError(
            f"data set {spec.name!r} ships no split; only {with_split} do. Use a split "
            "protocol instead (loo, temporal, random)"
        )
    return spec.split_loader(_locate(spec, data_dir))


def load_split(
    name_or_path: str,
    protocol: str = "loo",
    data_dir: str | Path | None = None,
    columns: dict[str, str] | None = None,
    seed: int = 0,
) -> Split:
    """A data set split by protocol name: ``loo``, ``temporal``, ``random`` or ``given``."""
    if protocol == "given":
        return load_given_split(name_or_path, data_dir=data_dir)
    data = load_dataset(name_or_path, data_dir=data_dir, columns=columns)
    return split_dataset(data, protocol, seed=seed)
