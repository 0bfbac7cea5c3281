"""The ``lmrec`` command line: thin typer commands that build objects from flags and print.

The commands are plain functions in modules by area: :mod:`~lmrec.cli.data`,
:mod:`~lmrec.cli.train`, :mod:`~lmrec.cli.evaluate`, :mod:`~lmrec.cli.explore` (look inside
a run), :mod:`~lmrec.cli.diversity` (re-ranking sweeps), :mod:`~lmrec.cli.compare`,
:mod:`~lmrec.cli.compress`, :mod:`~lmrec.cli.update` (continue training on new events),
:mod:`~lmrec.cli.serve` and :mod:`~lmrec.cli.demo`; they are
registered below, in the order ``lmrec --help`` lists them.
The group and its error handling are in :mod:`~lmrec.cli.app`, shared options in
:mod:`~lmrec.cli.options`, tables and charts in :mod:`~lmrec.cli.display`.

Every command takes ``--json`` (machine-readable output on stdout instead of tables) and,
where it reads data, ``--data PATH``. Progress and notes go to stderr. Errors the user can
fix print one line, ``error: <message>``, on stderr and exit with code 2.

Importing this package imports no numpy, pandas or torch (each command imports what it
needs inside its function), so ``lmrec --help`` answers at once.
"""

from lmrec.cli import (
    compare,
    compress,
    data,
    demo,
    diversity,
    evaluate,
    explore,
    serve,
    train,
    update,
)
from lmrec.cli.app import app, data_app, keys_app, main

data_app.command("list")(data.data_list)
data_app.command("info")(data.data_info)
app.command("train")(train.train)
app.command("pretrain")(train.pretrain)
app.command("finetune")(train.finetune)
app.command("evaluate")(evaluate.evaluate_cmd)
app.command("recommend")(explore.recommend)
app.command("similar-items")(explore.similar_items)
app.command("interests")(explore.interests)
app.command("explain")(explore.explain)
app.command("predict")(explore.predict)
app.command("sources")(explore.sources)
app.command("plot")(explore.plot)
app.command("diversity")(diversity.diversity)
app.command("compare")(compare.compare)
app.command("compress")(compress.compress)
app.command("update")(update.update)
app.command("serve")(serve.serve)
keys_app.command("create")(serve.keys_create)
app.command("demo")(demo.demo)

__all__ = ["app", "main"]
