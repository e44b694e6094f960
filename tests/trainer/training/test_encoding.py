"""Loss only on what the user would have typed: the label mask, token by token."""

import torch

from assistant.profiles import PROFILES
from assistant.prompt import FimInput, render_prompt
from trainer.mining.examples import Example
from trainer.training import tiny
from trainer.training.batches import PackingCollator, PaddingCollator
from trainer.training.encoding import IGNORE, encode_example

CORPUS = ["def add(a, b):\n    return a + b\n", "def sub(a, b):\n    return a - b\n"] * 20


def make_tokenizer():
    return tiny.train_tokenizer(CORPUS, 300)


def test_labels_mask_prefix_suffix_and_sentinels_and_keep_middle_and_end_token() -> None:
    tok = make_tokenizer()
    profile = PROFILES["tiny"]
    ex = Example(path="m.py", language="python", prefix="def add(a, b):\n    ", middle="return a + b",
                 suffix="\n", kind="hunk")
    enc = encode_example(ex, tok, profile, max_len=128, suffix_share=0.25)
    assert enc is not None
    prompt = render_prompt(profile, FimInput(prefix=ex.prefix, suffix=ex.suffix, path="m.py", language="python"))
    prompt_ids = tok(prompt)["input_ids"]
    target_ids = tok("return a + b<|endoftext|>", add_special_tokens=False)["input_ids"]
    assert enc.input_ids == prompt_ids + target_ids
    # Every prompt token (path, sentinels, prefix, suffix) is masked; every middle token and the end token count.
    assert enc.labels == [IGNORE] * len(prompt_ids) + target_ids
    tokens = tok.convert_ids_to_tokens(enc.input_ids)
    for token, label in zip(tokens, enc.labels, strict=True):
        if token in ("<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>"):
            assert label == IGNORE
    assert enc.labels[-1] == tok.convert_tokens_to_ids("<|endoftext|>")


def test_long_context_is_trimmed_to_fit_the_window() -> None:
    tok = make_tokenizer()
    ex = Example(path="m.py", language="python", prefix="x = 1\n" * 500, middle="y = 2\n", suffix="z = 3\n" * 500,
                 kind="hunk")
    enc = encode_example(ex, tok, PROFILES["tiny"], max_len=64, suffix_share=0.25)
    assert enc is not None and len(enc.input_ids) <= 64
    assert tok.decode([t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab != IGNORE]) == \
        "y = 2\n<|endoftext|>"


def test_packing_keeps_examples_apart() -> None:
    """Packed rows give every example exactly the logits it gets alone: no attention across examples."""
    tok = make_tokenizer()
    model = tiny.build_model("nano", tok).eval()
    feats = [{"input_ids": ids, "labels": ids} for ids in
             (tok(t)["input_ids"] for t in ("def add(a, b):", "    return a - b\n", "def sub(a,"))]
    batch = PackingCollator(capacity=64, pad_id=tok.pad_token_id)(feats)
    assert batch["input_ids"].shape[0] == 1  # all three fit in one row
    model.train()  # as the Trainer runs it: the whole batch as keyword arguments, the model's defaults otherwise
    with torch.no_grad():
        packed = model(**{k: v for k, v in batch.items() if k != "labels"}).logits[0]
        model.eval()
        pos = 0
        for f in sorted(feats, key=lambda f: -len(f["input_ids"])):
            n = len(f["input_ids"])
            alone = model(input_ids=torch.tensor([f["input_ids"]])).logits[0]
            torch.testing.assert_close(packed[pos:pos + n], alone, atol=1e-5, rtol=1e-4)
            pos += n


def test_packing_uses_fewer_slots_than_padding() -> None:
    feats = [{"input_ids": [5] * n, "labels": [5] * n} for n in (60, 10, 12, 30, 8, 50)]
    packed = PackingCollator(capacity=64, pad_id=0)(feats)
    padded = PaddingCollator(pad_id=0)(feats)
    assert packed["input_ids"].numel() < padded["input_ids"].numel()
    assert int((packed["labels"] != IGNORE).sum()) == int((padded["labels"] != IGNORE).sum()) == 170


def test_labelled_head_gives_the_models_own_loss_and_gradients() -> None:
    """Logits only where labelled: the same loss and gradients as the full-logits loss, at a fraction of the cost."""
    from trainer.training.labelled_head import HEAD_STEP, LabelledHead

    tok = make_tokenizer()
    model = tiny.build_model("nano", tok)
    ids = [tok("def add(a, b):\n    return a")["input_ids"], tok("def sub(a, b):\n    return a - b")["input_ids"]]
    feats = [{"input_ids": i, "labels": [IGNORE] * (len(i) - 3) + i[-3:]} for i in ids]
    batch = PackingCollator(capacity=64, pad_id=tok.pad_token_id)(feats)
    inputs = {k: v for k, v in batch.items() if k != "labels"}
    reference = model(**inputs, labels=batch["labels"]).loss
    reference.backward()
    expected = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    head = LabelledHead(model)
    with head.only_labelled(batch["labels"]):
        out = model(**inputs)
    # 3 labelled tokens per example, rounded up with unlabelled positions to a few fixed shapes
    assert out.logits.shape[:2] == (1, min(batch["labels"].numel(), HEAD_STEP))
    loss = LabelledHead.loss(out, batch["labels"])
    loss.backward()
    torch.testing.assert_close(loss, reference)
    for p, g in zip(model.parameters(), expected, strict=True):
        torch.testing.assert_close(p.grad, g)
    assert model(**inputs).logits.shape[1] == batch["input_ids"].shape[1]  # outside training: every position


def test_the_labelled_head_selects_a_multiple_of_its_step() -> None:
    from trainer.training.labelled_head import HEAD_STEP, next_labels, selected_positions

    labels = torch.full((3, 200), IGNORE)
    labels[0, 50:60] = 1
    labels[2, 190:] = 2
    chosen = selected_positions(labels)
    assert int(chosen.sum()) == HEAD_STEP
    assert bool(chosen[next_labels(labels) != IGNORE].all())  # every labelled position is among them
    assert int(selected_positions(torch.full((1, 5), 7)).sum()) == 5  # fewer positions than a step: all of them


def test_training_prompt_is_byte_identical_to_the_served_prompt() -> None:
    """The same document, cursor and other files give the same prompt in training and in the server."""
    from assistant.config import ServerConfig
    from server.context import CompletionRequest, build_context

    tok = make_tokenizer()
    profile = PROFILES["tiny"]
    other = "def sub(a, b):\n    return a - b\n\n\ndef mul(a, b):\n    return a * b\n"
    prefix = "import util\n\n" + "x = 1\n" * 30 + "def add(a, b):\n    "
    ex = Example(path="pkg/m.py", language="python", prefix=prefix, middle="return a + b", suffix="\n\nz = 2\n",
                 kind="hunk", snippets=[["pkg/util.py", other]])
    max_len = 400
    enc = encode_example(ex, tok, profile, max_len, suffix_share=0.25, snippet_share=0.25)
    assert enc is not None
    target_len = len(tok("return a + b<|endoftext|>", add_special_tokens=False)["input_ids"])
    cfg = ServerConfig(context_tokens=max_len - target_len - 16, suffix_share=0.25, snippet_share=0.25)
    req = CompletionRequest(text=ex.prefix + ex.suffix, offset=len(ex.prefix), path=ex.path, language_id="python",
                            open_documents=(("pkg/util.py", other),))
    served = render_prompt(profile, build_context(req, lambda s: len(tok.tokenize(s)) if s else 0, cfg).fim)
    assert "<file_sep>pkg/util.py\n" in served
    prompt_ids = [t for t, lab in zip(enc.input_ids, enc.labels, strict=True) if lab == IGNORE]
    assert tok.decode(prompt_ids) == served
