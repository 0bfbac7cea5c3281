"""Read any interaction table (CSV, TSV, whitespace text, Parquet, JSON lines) into a Dataset.

:func:`load_table` is the loader for the user's own files: ``lmrec data info my.csv``. It
recognises the usual column names (``userId``, ``movieId``, ``asin``, ``overall`` …) and takes a
``columns`` mapping for anything else.

The low-level readers here (:func:`read_delimited`, :func:`read_jsonl`, :func:`read_any`,
:func:`data_file`) are shared by the source-specific loaders, so every file in lmrec is read
through one place that turns pandas / json / decoding failures into a
:class:`~lmrec.errors.DataError` naming the file, the line and the fix.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from lmrec.data.schema import BEHAVIOURS, Dataset
from lmrec.errors import ConfigError, DataError

#: Schema fields a table can map, with the column names recognised for each (compared
#: lower-case with ``_``, ``-`` and spaces removed), best first.
INTERACTION_FIELDS: dict[str, tuple[str, ...]] = {
    "user_id": ("userid", "user", "uid", "reviewerid", "customerid", "visitorid", "memberid"),
    "item_id": (
        "itemid",
        "item",
        "iid",
        "movieid",
        "asin",
        "productid",
        "product",
        "bookid",
        "isbn",
        "trackid",
        "artistid",
        "track",
        "artist",
    ),
    "timestamp": ("timestamp", "unixreviewtime", "time", "ts", "datetime", "date", "eventtime"),
    "behaviour": ("behaviour", "behavior", "event", "eventtype", "action", "type"),
    "rating": ("rating", "overall", "score", "stars", "bookrating"),
    "review": ("review", "reviewtext", "text", "comment", "body"),
    # How much of an item the event stands for: play counts, quantities. Models read it as
    # confidence / matrix value, log-scaled (lmrec.data.schema.log_weight).
    "weight": ("weight", "count", "plays", "playcount", "quantity"),
}

ITEM_FIELDS: dict[str, tuple[str, ...]] = {
    "item_id": INTERACTION_FIELDS["item_id"],
    "title": ("title", "name", "itemname", "productname", "movietitle"),
    "text": ("text", "description", "overview", "plot", "summary"),
    "categories": ("categories", "category", "genres", "genre", "tags"),
}

#: Event names other data sets use, mapped to lmrec behaviours (Retailrocket, Taobao, …).
BEHAVIOUR_SYNONYMS: dict[str, str] = {
    "pv": "view",
    "pageview": "view",
    "page_view": "view",
    "impression": "view",
    "like": "fav",
    "favorite": "fav",
    "favourite": "fav",
    "addtocart": "cart",
    "add_to_cart": "cart",
    "purchase": "buy",
    "transaction": "buy",
    "order": "buy",
    "rating": "rate",
}

_SUFFIXES = (
    ".csv",
    ".tsv",
    ".txt",
    ".dat",
    ".data",
    ".parquet",
    ".pq",
    ".jsonl",
    ".json",
    ".ndjson",
)

# Unix seconds beyond this (year 5138) can only be milliseconds.
_MILLISECONDS_THRESHOLD = 1e11


# --------------------------------------------------------------------------- low-level reading
def data_file(folder: str | Path, name: str) -> Path:
    """``folder / name``, accepting the uncompressed or gzipped twin of ``name``.

    The staged copies are gzipped (``u.data.gz``); a fresh GroupLens download is not
    (``u.data``). Both work.
    """
    folder = Path(folder)
    twin = name[:-3] if name.endswith(".gz") else name + ".gz"
    for candidate in (name, twin):
        if (folder / candidate).is_file():
            return folder / candidate
    raise DataError(f"{folder}: missing file {name!r} (also looked for {twin!r})")


def open_text(path: str | Path, encoding: str = "utf-8") -> IO[str]:
    """Open a text file, gunzipping when the name ends in ``.gz``."""
    path = Path(path)
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding=encoding, newline="")
        return open(path, encoding=encoding, newline="")
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc.strerror or exc})") from None


def _raw_bytes(path: Path) -> bytes:
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
        return f.read()


def _decode_error(path: Path, encoding: str, exc: UnicodeDecodeError) -> DataError:
    """A DataError naming the first undecodable line (found by re-reading the raw bytes)."""
    where = ""
    try:
        raw = _raw_bytes(path)
        raw.decode(encoding)
    except UnicodeDecodeError as full:
        line = raw.count(b"\n", 0, full.start) + 1
        where = f"line {line} (byte {full.start}) "
    except OSError:
        pass
    hint = "latin-1" if encoding.lower().replace("-", "") in ("utf8", "utf8sig") else "utf-8"
    return DataError(
        f"{path}: {where}is not valid {encoding} text ({exc.reason}); the file has another "
        f"encoding: pass it with the encoding option, e.g. encoding={hint!r}"
    )


def read_delimited(
    path: str | Path,
    *,
    sep: str,
    names: list[str] | None = None,
    header: int | None = 0,
    encoding: str = "utf-8",
    dtype: object = None,
) -> pd.DataFrame:
    """``pandas.read_csv`` with its failures turned into :class:`DataError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return pd.read_csv(
            path,
            sep=sep,
            names=names,
            header=header,
            encoding=encoding,
            dtype=dtype,
            compression="gzip" if path.suffix == ".gz" else None,
            engine="python" if len(sep) > 1 and sep != r"\s+" else "c",
        )
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file is empty") from None
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc) from None
    except pd.errors.ParserError as exc:
        raise DataError(f"{path}: cannot parse as {sep!r}-separated text: {exc}") from None
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def read_jsonl(path: str | Path, encoding: str = "utf-8") -> pd.DataFrame:
    """Read JSON lines (one object per line); a broken line is reported by its number.

    pandas parses the whole file at once (fast); only when that fails is the file re-read
    line by line to say which line is broken.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return pd.read_json(
            path,
            lines=True,
            encoding=encoding,
            dtype=False,  # no type guessing: ids stay as written, dates stay strings
            compression="gzip" if path.suffix == ".gz" else None,
        )
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc) from None
    except (ValueError, TypeError, OSError):
        pass  # find the broken line below
    records = []
    try:
        with open_text(path, encoding) as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise DataError(
                        f"{path}: line {number} is not valid JSON ({err.msg} at column "
                        f"{err.colno}); each line must hold one JSON object"
                    ) from None
                if not isinstance(record, dict):
                    raise DataError(
                        f"{path}: line {number} holds a JSON {type(record).__name__}, "
                        'expected an object like {"user_id": ..., "item_id": ...}'
                    )
                records.append(record)
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if not records:
        raise DataError(f"{path}: the file is empty")
    return pd.DataFrame.from_records(records)


def _read_json_any(path: Path, encoding: str) -> pd.DataFrame:
    """``.json``: a JSON array of objects, or JSON lines (Amazon's ``.json`` files are lines)."""
    with open_text(path, encoding) as f:
        try:
            head = f.read(4096).lstrip()
        except UnicodeDecodeError as exc:
            raise _decode_error(path, encoding, exc) from None
    if not head:
        raise DataError(f"{path}: the file is empty")
    if not head.startswith("["):
        return read_jsonl(path, encoding)
    try:
        with open_text(path, encoding) as f:
            records = json.load(f)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}: line {err.lineno} is not valid JSON ({err.msg} at column {err.colno})"
        ) from None
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc) from None
    if not all(isinstance(r, dict) for r in records):
        raise DataError(f"{path}: expected a JSON array of objects (one per interaction)")
    return pd.DataFrame.from_records(records)


def _read_parquet(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DataError(f"{path}: not a readable Parquet file ({exc})") from None


def table_format(path: str | Path, sep: str | None = None) -> str:
    """The format suffix of ``path`` (``.csv``, ``.parquet`` …), looking through ``.gz``.

    An unknown suffix is read as delimited text (``.txt``) when ``sep`` is given.
    """
    path = Path(path)
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    fmt = suffixes[-1] if suffixes else ""
    if fmt not in _SUFFIXES:
        if sep is not None:
            return ".txt"
        raise DataError(
            f"{path}: unknown table format {fmt or '(no suffix)'!r}; expected one of "
            f"{', '.join(_SUFFIXES)} (optionally + .gz), or pass sep= to read it as text"
        )
    return fmt


def _first_line(path: Path, encoding: str) -> str:
    try:
        with open_text(path, encoding) as f:
            for line in f:
                if line.strip():
                    return line.rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise _decode_error(path, encoding, exc) from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    raise DataError(f"{path}: the file is empty")


def _guess_sep(line: str) -> str:
    for sep in ("\t", "::", ",", "|", ";"):
        if sep in line:
            return sep
    return r"\s+"


def _split_line(line: str, sep: str) -> list[str]:
    return line.split() if sep == r"\s+" else line.split(sep)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_any(
    path: str | Path, *, sep: str | None = None, encoding: str = "utf-8"
) -> tuple[pd.DataFrame, int | None]:
    """Read a table by its suffix; returns the frame and the number of lines before its rows.

    That offset (1 after a header, 0 without one, None for Parquet) lets errors name the
    file line of a bad value. Delimited text is read as strings, so ids like ``"007"`` keep
    their zeros. A text file whose first line holds a number has no header; its columns are
    then named ``"0"``, ``"1"`` ….
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir():
        raise DataError(f"{path}: is a folder; pass a file (or a data set name)")
    fmt = table_format(path, sep)
    if fmt in (".parquet", ".pq"):
        return _read_parquet(path), None
    if fmt in (".jsonl", ".ndjson"):
        return read_jsonl(path, encoding), 1
    if fmt == ".json":
        return _read_json_any(path, encoding), 1
    first = _first_line(path, encoding)
    if sep is None:
        sep = {".csv": ",", ".tsv": "\t"}.get(fmt) or _guess_sep(first)
    fields = _split_line(first, sep)
    if any(_is_number(f.strip()) for f in fields):  # column names are never numbers
        names = [str(i) for i in range(len(fields))]
        df = read_delimited(path, sep=sep, names=names, header=None, encoding=encoding, dtype=str)
        return df, 0
    df = read_delimited(path, sep=sep, encoding=encoding, dtype=str)
    return df, 1


# --------------------------------------------------------------------------- column mapping
def _key(name: object) -> str:
    return str(name).lower().replace("_", "").replace("-", "").replace(" ", "")


def match_columns(
    found: list[str],
    fields: Mapping[str, tuple[str, ...]],
    given: Mapping[str, str] | None,
    path: Path,
    required: tuple[str, ...],
) -> dict[str, str]:
    """Schema field → file column: ``given`` first, the rest recognised by name."""
    given = dict(given or {})
    unknown = [f for f in given if f not in fields]
    if unknown:
        raise ConfigError(f"columns has unknown field(s) {unknown}; the fields are {list(fields)}")
    out: dict[str, str] = {}
    for field_name, column in given.items():
        if column not in found:
            raise DataError(
                f"{path}: column {column!r} (given for {field_name}) is not in the file; "
                f"its columns are {found}"
            )
        out[field_name] = column
    by_key: dict[str, str] = {}
    for column in found:
        by_key.setdefault(_key(column), column)
    used = set(out.values())
    for field_name, names in fields.items():
        if field_name in out:
            continue
        for name in names:
            column = by_key.get(name)
            if column is not None and column not in used:
                out[field_name] = column
                used.add(column)
                break
    missing = [f for f in required if f not in out]
    if missing:
        field_name = missing[0]
        raise DataError(
            f"{path}: no column for {field_name!r}; the file's columns are {found}. "
            f"Recognised names for {field_name}: {list(fields[field_name])}. Name the column "
            f"with columns={{{field_name!r}: '<column in the file>'}}"
        )
    return out


def _where(row: int, offset: int | None) -> str:
    return f"row {row + 1}" if offset is None else f"line {row + 1 + offset}"


def _numbers(
    values: pd.Series, path: Path, column: str, offset: int | None, what: str
) -> np.ndarray:
    converted = pd.to_numeric(values, errors="coerce")
    bad = (converted.isna() & values.notna()).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: {_where(row, offset)}, column {column!r} ({what}) has "
            f"{values.iloc[row]!r}; expected a number"
        )
    return converted.to_numpy(dtype=np.float64)


def to_unix_seconds(
    values: pd.Series, path: Path, column: str, offset: int | None = None
) -> tuple[np.ndarray, str | None]:
    """Timestamps as float unix seconds, and a note when a conversion was made.

    Numbers are taken as seconds, except values only milliseconds can explain (> 1e11),
    which are divided by 1000. Strings that are not numbers are parsed as dates (ISO 8601
    first, then any format pandas recognises); naive dates are taken as UTC.
    """
    note = None
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
        note = f"column {column!r}: dates converted to unix seconds (naive dates taken as UTC)"
    else:
        numeric = pd.to_numeric(values, errors="coerce")
        if (numeric.notna() | values.isna()).all():
            seconds = numeric.to_numpy(dtype=np.float64)
            finite = seconds[np.isfinite(seconds)]
            if len(finite) and np.median(finite) > _MILLISECONDS_THRESHOLD:
                return seconds / 1000.0, f"column {column!r}: milliseconds divided by 1000"
            return seconds, None
        text = values.astype("string")
        parsed = pd.to_datetime(text, errors="coerce", utc=True, format="ISO8601")
        if (parsed.isna() & text.notna()).any():
            parsed = pd.to_datetime(text, errors="coerce", utc=True, format="mixed")
        bad = (parsed.isna() & text.notna()).to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{path}: {_where(row, offset)}, column {column!r} (timestamp) has "
                f"{values.iloc[row]!r}; expected unix seconds or a date like 2024-01-31"
            )
        note = f"column {column!r}: dates converted to unix seconds (naive dates taken as UTC)"
    epoch = pd.Timestamp("1970-01-01", tz="UTC")
    seconds = ((parsed - epoch) / pd.Timedelta(seconds=1)).to_numpy(dtype=np.float64)
    return seconds, note


def _weights(values: pd.Series, path: Path, column: str, offset: int | None) -> np.ndarray:
    """Event weights: numbers >= 0 (an empty cell is an error, not a default)."""
    converted = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    bad = ~(converted >= 0) | ~np.isfinite(converted)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: {_where(row, offset)}, column {column!r} (weight) has "
            f"{values.iloc[row]!r}; expected a number >= 0 (a play count or a quantity)"
        )
    return converted


def _behaviours(values: pd.Series, path: Path, column: str, offset: int | None) -> np.ndarray:
    lowered = values.astype("string").str.strip().str.lower()
    mapped = lowered.replace(BEHAVIOUR_SYNONYMS).to_numpy(dtype=object)
    bad = ~np.isin(mapped, BEHAVIOURS)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{path}: {_where(row, offset)}, column {column!r} (behaviour) has "
            f"{values.iloc[row]!r}; expected one of {BEHAVIOURS} "
            f"(also understood: {sorted(BEHAVIOUR_SYNONYMS)})"
        )
    return mapped


def _ids(values: pd.Series, path: Path, column: str, offset: int | None) -> np.ndarray:
    missing = values.isna().to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise DataError(f"{path}: {_where(row, offset)}, column {column!r} is empty")
    return values.to_numpy(dtype=object)


def split_categories(values: pd.Series) -> list[list[str]]:
    """Category cells as lists: lists stay lists, strings split on ``|`` (else on ``,``)."""
    cells = values.tolist()
    strings = [c for c in cells if isinstance(c, str)]
    sep = "|" if any("|" in c for c in strings) or not any("," in c for c in strings) else ","
    out = []
    for cell in cells:
        if isinstance(cell, list | tuple | np.ndarray):
            out.append([str(c) for c in cell])
        elif isinstance(cell, str):
            parts = (p.strip() for p in cell.split(sep))
            out.append([p for p in parts if p and p != "(no genres listed)"])
        else:
            out.append([])
    return out


def truncate_text(text: str, limit: int = 2000) -> str:
    """``text`` cut to at most ``limit`` characters, at a word boundary, marked with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;") + "…"


# --------------------------------------------------------------------------- the loader
def _stem(path: Path) -> str:
    name = path.name
    if name.lower().endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[0] if "." in name else name


def load_items_table(
    path: str | Path, columns: Mapping[str, str] | None = None, encoding: str = "utf-8"
) -> pd.DataFrame:
    """An item table (``item_id`` plus optional ``title``, ``text``, ``categories``) from a file.

    Other columns are kept as extra item attributes.
    """
    path = Path(path)
    df, _ = read_any(path, encoding=encoding)
    mapping = match_columns(list(df.columns), ITEM_FIELDS, columns, path, ("item_id",))
    out = pd.DataFrame({"item_id": df[mapping["item_id"]].to_numpy(dtype=object)})
    for field_name in ("title", "text"):
        if field_name in mapping:
            out[field_name] = df[mapping[field_name]].fillna("").astype(str).to_numpy()
    if "categories" in mapping:
        out["categories"] = split_categories(df[mapping["categories"]])
    for column in df.columns:
        if column not in mapping.values() and column not in out.columns:
            out[column] = df[column].to_numpy()
    return out


def load_table(
    path: str | Path,
    columns: dict[str, str] | None = None,
    *,
    sep: str | None = None,
    name: str | None = None,
    items_path: str | Path | None = None,
    encoding: str = "utf-8",
) -> Dataset:
    """Load an interaction table from a CSV / TSV / text / Parquet / JSON-lines file.

    The format comes from the suffix (``.csv``, ``.tsv``, ``.txt``/``.dat`` with the separator
    guessed from the first line, ``.parquet``, ``.jsonl``, ``.json``), optionally gzipped
    (``.csv.gz``). ``columns`` maps schema fields (``user_id``, ``item_id``, ``timestamp``,
    ``behaviour``, ``rating``, ``review``) to the file's column names; fields not given are
    recognised from common names (see :data:`INTERACTION_FIELDS`), case-insensitively.
    A text file without a header is read as ``user item [rating [timestamp]]`` by position
    (the MovieLens ``u.data`` layout); map its columns as ``"0"``, ``"1"`` … to change that.

    Timestamps that are dates are converted to unix seconds; behaviour names of other data
    sets (``pv``, ``addtocart``, ``transaction`` …) are mapped by :data:`BEHAVIOUR_SYNONYMS`.
    ``items_path`` optionally names an item table (``item_id``, ``title``, ``text``,
    ``categories``). A ``weight`` column (``weight``, ``count``, ``plays``, ``playcount``,
    ``play_count``, ``quantity``) becomes the events' weight, which ALS, EASE and ItemKNN use
    log-scaled. Without a timestamp column the data's ``time_order`` is ``"none"``: the file
    may be sorted by id, so leave-one-out and temporal splits refuse it rather than hold out
    whichever row happens to come last. Every problem raises :class:`DataError` naming the
    file and the line.
    """
    path = Path(path)
    df, offset = read_any(path, sep=sep, encoding=encoding)
    if len(df.columns) == 0:
        raise DataError(f"{path}: the file is empty")
    if len(df) == 0:
        raise DataError(f"{path}: has a header but no rows; there are no interactions to load")
    found = [str(c) for c in df.columns]
    df.columns = found
    notes = {"source": str(path)}
    if columns is None and offset == 0:  # headerless text: position decides
        positional = ("user_id", "item_id", "rating", "timestamp")
        columns = dict(zip(positional, found, strict=False))
        notes["columns"] = "no header; read by position as " + " ".join(columns)
    mapping = match_columns(found, INTERACTION_FIELDS, columns, path, ("user_id", "item_id"))
    frame: dict[str, object] = {
        "user_id": _ids(df[mapping["user_id"]], path, mapping["user_id"], offset),
        "item_id": _ids(df[mapping["item_id"]], path, mapping["item_id"], offset),
    }
    if "timestamp" in mapping:
        frame["timestamp"], note = to_unix_seconds(
            df[mapping["timestamp"]], path, mapping["timestamp"], offset
        )
        if note:
            notes["timestamp"] = note
    if "behaviour" in mapping:
        frame["behaviour"] = _behaviours(
            df[mapping["behaviour"]], path, mapping["behaviour"], offset
        )
    if "rating" in mapping:
        frame["rating"] = _numbers(df[mapping["rating"]], path, mapping["rating"], offset, "rating")
    if "review" in mapping:
        frame["review"] = df[mapping["review"]].fillna("").astype(str).to_numpy()
    if "weight" in mapping:
        frame["weight"] = _weights(df[mapping["weight"]], path, mapping["weight"], offset)
    if "timestamp" not in mapping:
        notes["order"] = (
            "no timestamp column: the row order is the file's and is not taken as time order "
            "(leave-one-out and temporal splits refuse; use --split random)"
        )
    notes.setdefault(
        "columns", ", ".join(f"{field_name}={column}" for field_name, column in mapping.items())
    )
    items = None
    if items_path is not None:
        items = load_items_table(items_path, encoding=encoding)
        notes["items_source"] = str(items_path)
    notes["dedup"] = "none (every row is kept)"
    return Dataset.from_frames(
        pd.DataFrame(frame), items, name=name or _stem(path), source=str(path), notes=notes
    )
