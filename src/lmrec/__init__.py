"""lmrec: pretrained models for recommendation.

Quick start::

    import lmrec
    data = lmrec.load_dataset("ml-100k")
    split = lmrec.leave_one_out(data)
    model = lmrec.models.EASE(l2=100).fit(split.train)
    print(lmrec.evaluate(model, split, on="valid"))
"""

from lmrec.errors import (
    ConfigError,
    DataError,
    LmrecError,
    ModelFileError,
    NotFittedError,
    UnknownIdError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataError",
    "LmrecError",
    "ModelFileError",
    "NotFittedError",
    "UnknownIdError",
    "__version__",
]
