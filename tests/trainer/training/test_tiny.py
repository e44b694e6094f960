from trainer.training import tiny


def test_tokenizer_has_the_special_tokens_and_round_trips_code() -> None:
    tok = tiny.train_tokenizer(["def f(x):\n\treturn x  # é ✓\n"] * 10, 400)
    for special in tiny.SPECIAL_TOKENS:
        assert tok.convert_tokens_to_ids(special) != tok.unk_token_id
        assert len(tok.tokenize(special)) == 1
    text = "def f(x):\n\treturn x  # é ✓ 漢字\n"
    assert tok.decode(tok(text)["input_ids"]) == text


def test_sizes_grow_and_nano_is_small() -> None:
    tok = tiny.train_tokenizer(["a b c"] * 5, 300)
    counts = [sum(p.numel() for p in tiny.build_model(s, tok).parameters()) for s in ("nano", "micro")]
    assert counts[0] < 400_000 < counts[1]


def test_same_seed_same_weights() -> None:
    tok = tiny.train_tokenizer(["a b c"] * 5, 300)
    a, b = tiny.build_model("nano", tok, seed=3), tiny.build_model("nano", tok, seed=3)
    assert all((p == q).all() for p, q in zip(a.parameters(), b.parameters(), strict=True))
