"""The baseline models, one import away.

=============  ==========================  =====================================================
model_type     class                       what it is
=============  ==========================  =====================================================
``popular``    :class:`MostPopular`        item popularity; the floor to beat
``itemknn``    :class:`ItemKNN`            cosine item-item neighbours (sparse)
``ease``       :class:`EASE`               closed-form item-item regression (dense inverse)
``als``        :class:`ALS`                implicit-feedback matrix factorisation (``implicit``)
``bpr``        :class:`BPR`                pairwise-ranking matrix factorisation (``implicit``)
``svd``        :class:`SVD`                biased MF for ratings (Surprise), predicts ratings
``svdpp``      :class:`SVDpp`              SVD++ for ratings (Surprise), predicts ratings
=============  ==========================  =====================================================

They live in one module per family: :mod:`~lmrec.models.popular`,
:mod:`~lmrec.models.neighbours`, :mod:`~lmrec.models.factorization` and
:mod:`~lmrec.models.ratings`.
"""

from lmrec.models.factorization import ALS, BPR
from lmrec.models.neighbours import EASE, ItemKNN
from lmrec.models.popular import MostPopular
from lmrec.models.ratings import SVD, SVDpp

__all__ = ["ALS", "BPR", "EASE", "SVD", "ItemKNN", "MostPopular", "SVDpp"]
