"""Token healing: a left-to-right prompt cut at the start of an indented line ends with a lone newline token,
which the tokenizer never produces before indentation ("\\n   " is one token); the server takes it back and the
model spells it again, and training builds the same boundary."""

from __future__ import annotations

import pytest
from helpers import TEST_CACHE

from assistant.healing import Healer, healer_for, split_prompt
from assistant.models import Loaded
from assistant.profiles import LEFT_TO_RIGHT, PROFILES
from server.backends.base import GenerationRequest, generate
from server.backends.transformers_backend import TransformersBackend
from trainer.mining.examples import Example
from trainer.training import tiny
from trainer.training.encoding import IGNORE, encode_example

CORPUS = ["def add(a, b):\n    return a + b\n", "def sub(a, b):\n    return a - b\n"] * 20
PREFIX = "def add(a, b):\n"


@pytest.fixture(scope="module")
def tok():
    return tiny.train_tokenizer(CORPUS, 300)


def test_the_last_token_is_taken_back_unless_it_is_special_partial_or_alone() -> None:
    pieces = {1: "x", 2: "\n", 3: "\ufffd", 0: "<s>"}
    assert split_prompt([1, 1, 2], pieces.__getitem__, {0}) == ([1, 1], "\n")
    assert split_prompt([1, 0], pieces.__getitem__, {0}) == ([1, 0], "")
    assert split_prompt([1, 3], pieces.__getitem__, {0}) == ([1, 3], "")
    assert split_prompt([2], pieces.__getitem__, {0}) == ([2], "")
    assert split_prompt([], pieces.__getitem__, {0}) == ([], "")


def test_allowed_tokens_start_with_the_text_or_are_a_first_part_of_it() -> None:
    healer = Healer(["\n", "\n   ", "\n\n", " x", "", "\n  "])
    assert healer.allowed("\n") == [0, 1, 2, 5]
    assert healer.allowed("\n   ") == [0, 1, 5]


def test_a_prompt_ending_in_a_newline_token_is_healed(tok) -> None:
    ids = tok(PREFIX)["input_ids"]
    assert tok.decode(ids[-1:]) == "\n"  # the situation: a lone newline, never seen before indentation
    assert "\n   " in tok.get_vocab() or any(tok.decode([i]) == "\n   " for i in range(len(tok)))
    healer = healer_for(tok)
    assert healer is not None
    kept, healed = split_prompt(ids, healer.pieces.__getitem__, set(tok.all_special_ids))
    assert kept == ids[:-1] and healed == "\n"


def test_training_gives_the_taken_back_token_to_the_target(tok) -> None:
    ex = Example(path="m.py", language="python", prefix=PREFIX, middle="    return a + b\n", suffix="", kind="hunk")
    enc = encode_example(ex, tok, LEFT_TO_RIGHT, max_len=64, suffix_share=0.25, healer=healer_for(tok))
    assert enc is not None
    prompt = [t for t, label in zip(enc.input_ids, enc.labels, strict=True) if label == IGNORE]
    target = [t for t, label in zip(enc.input_ids, enc.labels, strict=True) if label != IGNORE]
    assert tok.decode(prompt) == PREFIX[:-1]  # what the healed server prompt holds
    assert target == tok(ex.middle and "\n" + ex.middle, add_special_tokens=False)["input_ids"]
    assert tok.decode(target[:1]) == "\n   "  # the natural token, as the model saw it in pretraining
    fim = encode_example(ex, tok, PROFILES["tiny"], max_len=64, suffix_share=0.25, healer=None)
    assert fim is not None and tok.decode([t for t, lab in zip(fim.input_ids, fim.labels, strict=True)
                                           if lab != IGNORE]) == ex.middle + "<|endoftext|>"


def _backend(tok, profile) -> TransformersBackend:
    model = tiny.build_model("nano", tok, seed=0).eval()
    return TransformersBackend(Loaded(model, tok, profile, None, name="nano"), threads=1)


def test_the_served_completion_starts_where_the_prefix_ends(tok) -> None:
    import torch

    backend = _backend(tok, LEFT_TO_RIGHT)
    backend.set_drafting(0)
    ids = tok(PREFIX)["input_ids"]
    with torch.inference_mode():
        logits = backend.model(input_ids=torch.tensor([ids[:-1]])).logits[0, -1]
    newline_first = [i for i in range(len(tok)) if tok.decode([i]).startswith("\n")]
    healed_pick = newline_first[int(torch.argmax(logits[newline_first]))]
    assert healed_pick != ids[-1]  # this seed's model prefers another newline token: the test tells them apart

    out = generate(backend, GenerationRequest(prompt=PREFIX, max_new_tokens=6))
    assert out.tokens >= 2
    fed = backend._past_ids  # the prompt the model was given, then every generated token but the last
    assert fed[:len(ids) - 1] == ids[:-1] and fed[len(ids) - 1] == healed_pick
    assert (PREFIX + out.text).startswith(tok.decode(fed))  # the completion follows the prefix, no newline twice


def test_drafts_and_healing_give_the_greedy_completion(tok) -> None:
    plain, drafted = _backend(tok, LEFT_TO_RIGHT), _backend(tok, LEFT_TO_RIGHT)
    plain.set_drafting(0)
    drafted.set_drafting(8)
    for prompt in (PREFIX, PREFIX + "    return a", "def sub(a, b):\n    return a - b\n\n\n" + PREFIX):
        request = GenerationRequest(prompt=prompt, max_new_tokens=10)
        assert generate(plain, request).text == generate(drafted, request).text == generate(drafted, request).text


def test_a_fim_profile_is_not_healed(tok) -> None:
    backend = _backend(tok, PROFILES["tiny"])
    assert backend.healer() is None


@pytest.mark.slow
def test_the_untuned_real_model_writes_code_after_an_indented_line_start(smollm2_gguf, monkeypatch) -> None:
    """SmolLM2-135M on prompts that stop at the start of an indented line: unhealed it writes another newline or
    nothing for some of them; healed, each completion is code on the next line."""
    from assistant.models import load_base_for_inference

    monkeypatch.setenv("XDG_CACHE_HOME", str(TEST_CACHE))
    base = load_base_for_inference(str(smollm2_gguf), LEFT_TO_RIGHT.name)
    backend = TransformersBackend(base, threads=0)
    prompts = [
        "import os\n\n\ndef read_config(path):\n    with open(path) as f:\n",
        "class Stack:\n    def __init__(self):\n        self.items = []\n\n    def push(self, item):\n",
        "def fib(n):\n    if n < 2:\n        return n\n",
        "def mean(values):\n    total = 0\n    for v in values:\n",
    ]

    def first_lines(heal: bool) -> list[str]:
        backend._healer = False if heal else None
        backend.set_prompt_cache(False)
        return [generate(backend, GenerationRequest(prompt=p, max_new_tokens=12)).text.split("\n")[0]
                for p in prompts]

    healed, unhealed = first_lines(True), first_lines(False)
    assert all(line.strip() for line in healed), healed
    assert all(line.startswith("    ") for line in healed), healed  # indented code, on the line the cursor is on
    assert any(not line.strip() for line in unhealed), unhealed  # what healing fixes
