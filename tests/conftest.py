"""Shared fixtures: where the real data sets live, and ML-100K loaded once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATASETS = (REPO_ROOT.parent / "shared" / "datasets").resolve()


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``shared/datasets`` beside the repository; tests that need it skip when it is absent."""
    if not (SHARED_DATASETS / "README.md").is_file():
        pytest.skip(
            f"real data sets not found at {SHARED_DATASETS} (a clone needs shared/datasets "
            "beside it); skipping tests that read them"
        )
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def ml100k(shared_datasets: Path):
    """MovieLens 100K as loaded by lmrec (read-only: tests must not modify it)."""
    from lmrec.data.loaders.movielens import load_ml100k

    return load_ml100k(shared_datasets / "ml-100k")
