"""Recommendation models behind one protocol (:class:`Recommender`), and how to build or load them.

from lmrec.models import EASE, make_model, load
model = EASE(l2=50).fit(train)            # or make_model("ease", l2=50)
model.save("runs/ease"); model = load("runs/ease")
"""

from lmrec.models.base import Recommender
from lmrec.models.baselines import ALS, BPR, EASE, SVD, ItemKNN, MostPopular, SVDpp
from lmrec.models.registry import MODEL_TYPES, load, make_model, model_params

__all__ = [
    "ALS",
    "BPR",
    "EASE",
    "MODEL_TYPES",
    "SVD",
    "ItemKNN",
    "MostPopular",
    "Recommender",
    "SVDpp",
    "load",
    "make_model",
    "model_params",
]
