"""Recommendation models behind one protocol (:class:`Recommender`), and how to build or load them.

from lmrec.models import EASE, make_model, load
model = EASE(l2=50).fit(train)            # or make_model("ease", l2=50)
model.save("runs/ease"); model = load("runs/ease")
capabilities_table()                      # {"ease": ("score_histories",), ...}
"""

from lmrec.models.base import CAPABILITIES, Recommender, capabilities_table
from lmrec.models.baselines import ALS, BPR, EASE, SVD, ItemKNN, MostPopular, SVDpp
from lmrec.models.registry import MODEL_TYPES, load, make_model, model_params

__all__ = [
    "ALS",
    "BPR",
    "CAPABILITIES",
    "EASE",
    "MODEL_TYPES",
    "SVD",
    "ItemKNN",
    "MostPopular",
    "Recommender",
    "SVDpp",
    "capabilities_table",
    "load",
    "make_model",
    "model_params",
]
