"""lmrec: pretrained models for recommendation.

Quick start::

    import lmrec
    data = lmrec.load_dataset("ml-100k")
    split = lmrec.split_dataset(data, "loo")
    model = lmrec.make_model("ease", l2=100.0).fit(split.fit_data("test"))
    print(lmrec.evaluate(model, split, on="test").metrics["ndcg@10"])
    model.save("runs/ease"); model = lmrec.load("runs/ease")

The names below are imported on first use, so ``import lmrec`` stays fast (torch is only
loaded by the models that need it).
"""

from importlib import import_module

from lmrec.errors import (
    ConfigError,
    DataError,
    LmrecError,
    ModelFileError,
    NotFittedError,
    UnknownIdError,
)

__version__ = "0.1.0"

#: Public name -> module that defines it (imported lazily by ``__getattr__``).
_LAZY = {
    "Dataset": "lmrec.data.schema",
    "load_dataset": "lmrec.data.registry",
    "dataset_names": "lmrec.data.registry",
    "split_dataset": "lmrec.data.split",
    "evaluate": "lmrec.evaluate.ranking",
    "evaluate_ratings": "lmrec.evaluate.ranking",
    "make_model": "lmrec.models.registry",
    "load": "lmrec.models.registry",
    "MultiInterest": "lmrec.models.multi_interest",
    "TextEncoder": "lmrec.text.encoder",
    "item_texts": "lmrec.text.item_text",
    "cold_item_split": "lmrec.evaluate.cold_start",
    "cold_user_split": "lmrec.evaluate.cold_start",
    "evaluate_cold_items": "lmrec.evaluate.cold_start",
    "evaluate_cold_users": "lmrec.evaluate.cold_start",
    "item_space": "lmrec.evaluate.diversity",
    "Reranked": "lmrec.rerank",
    "MultiInterestLists": "lmrec.rerank.interests",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lmrec' has no attribute {name!r}")


__all__ = [
    *_LAZY,
    "ConfigError",
    "DataError",
    "LmrecError",
    "ModelFileError",
    "NotFittedError",
    "UnknownIdError",
    "__version__",
]
