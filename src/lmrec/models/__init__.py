"""Recommendation models behind one protocol (:class:`Recommender`), and how to build or load them.

from lmrec.models import EASE, make_model, load
model = EASE(l2=50).fit(train)            # or make_model("ease", l2=50)
model.save("runs/ease"); model = load("runs/ease")
capabilities_table()                      # {"ease": ("score_histories",), ...}

The registry is imported eagerly (it imports no model code); the classes below are imported
on first use, so ``import lmrec.models.registry`` stays cheap (no pandas, no torch).
"""

from importlib import import_module

from lmrec.models.registry import (
    MODEL_TYPES,
    load,
    make_model,
    model_class,
    model_names,
    model_params,
)

#: Public class name -> module that defines it (imported lazily by ``__getattr__``).
_LAZY = {
    "Recommender": "lmrec.models.base",
    "CAPABILITIES": "lmrec.models.base",
    "capabilities_table": "lmrec.models.base",
    "RepeatBaseline": "lmrec.models.repeat",
    "ALS": "lmrec.models.factorization",
    "BPR": "lmrec.models.factorization",
    "EASE": "lmrec.models.neighbours",
    "ItemKNN": "lmrec.models.neighbours",
    "MostPopular": "lmrec.models.popular",
    "RandomRanking": "lmrec.models.random_baseline",
    "SVD": "lmrec.models.ratings",
    "SVDpp": "lmrec.models.ratings",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lmrec.models' has no attribute {name!r}")


__all__ = [
    "ALS",
    "BPR",
    "CAPABILITIES",
    "EASE",
    "MODEL_TYPES",
    "SVD",
    "ItemKNN",
    "MostPopular",
    "RandomRanking",
    "Recommender",
    "RepeatBaseline",
    "SVDpp",
    "capabilities_table",
    "load",
    "make_model",
    "model_class",
    "model_names",
    "model_params",
]
