"""Metric code against values computed by hand."""

import pytest

from trainer.evaluation.metrics import corpus_scores, first_line, normalize, paired_bootstrap, pass_at_k, score


def test_whitespace_at_line_ends_does_not_count_but_indentation_does() -> None:
    assert normalize("  x = 1   \n\n\n") == "  x = 1"
    assert score("x = 1  \n", "x = 1")["exact_match"] == 1.0
    assert score(" x = 1", "x = 1")["exact_match"] == 0.0


def test_first_line_match() -> None:
    s = score("return a\n    more", "return a\n    other")
    assert s["first_line_match"] == 1.0 and s["exact_match"] == 0.0
    assert first_line("\nx") == ""


def test_edit_similarity_is_one_minus_normalized_levenshtein() -> None:
    # kitten -> sitting: 3 edits over the longer length 7.
    assert score("kitten", "sitting")["edit_similarity"] == pytest.approx(1 - 3 / 7)
    assert score("abc", "abc")["edit_similarity"] == 1.0
    assert score("", "abc")["edit_similarity"] == 0.0


def test_chrf_and_bleu_bounds() -> None:
    same = score("return value * 2", "return value * 2")
    assert same["chrf"] == pytest.approx(1.0) and same["bleu"] == pytest.approx(1.0)
    disjoint = score("zzzz", "qqqq")
    assert disjoint["chrf"] == 0.0 and disjoint["bleu"] == 0.0
    partial = score("return value * 3", "return value * 2")
    assert 0.0 < partial["chrf"] < 1.0
    assert corpus_scores(["a b c d"], ["a b c d"])["corpus_bleu"] == pytest.approx(1.0)


def test_pass_at_k_by_hand() -> None:
    assert pass_at_k(10, 2, 1) == pytest.approx(0.2)
    assert pass_at_k(10, 2, 10) == 1.0
    assert pass_at_k(5, 1, 2) == pytest.approx(1 - 6 / 10)  # 1 - C(4,2)/C(5,2)
    assert pass_at_k(10, 0, 5) == 0.0
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 10)


def test_paired_bootstrap() -> None:
    ci = paired_bootstrap([0.0] * 50, [1.0] * 50)
    assert (ci.mean, ci.low, ci.high) == (1.0, 1.0, 1.0)
    a = [0.0, 1.0] * 50
    ci = paired_bootstrap(a, a[::-1])
    assert ci.mean == 0.0 and ci.low < 0.0 < ci.high
