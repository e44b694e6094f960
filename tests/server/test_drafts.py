"""Draft tokens for speculative decoding: where `Drafts.propose` finds its guesses and how their length adapts."""

from __future__ import annotations

from server.drafts import FIRST_LENGTH, KEPT_COMPLETIONS, MAX_NGRAM, Drafts, longest_tail_match

END = 99


def test_a_tail_seen_earlier_in_the_sequence_proposes_what_followed_it() -> None:
    # ... f(a, b) ... f(a, -> b) ...
    sequence = [10, 1, 2, 3, 4, 5, 11, 12, 1, 2]
    drafts = Drafts(8)
    assert drafts.propose(sequence, 0, 8) == [3, 4, 5, 11][:FIRST_LENGTH]  # short until drafts prove right
    drafts.checked(FIRST_LENGTH, FIRST_LENGTH)
    assert drafts.propose(sequence, 0, 8) == [3, 4, 5, 11, 12, 1, 2]
    assert Drafts(8).propose(sequence, 0, 2) == [3, 4]  # at most `limit`
    assert Drafts(2).propose(sequence, 0, 8) == [3, 4]  # at most the draft length


def test_the_longest_tail_wins_and_the_latest_place_on_a_tie() -> None:
    sequence = [7, 2, 30, 8, 1, 2, 40, 41, 9, 1, 2]
    assert longest_tail_match(sequence, sequence, len(sequence) - 2) == (2, 6)  # "1 2" beats the earlier "2"
    assert Drafts(4).propose(sequence, 0, 4) == [40, 41, 9, 1]
    tie = [5, 1, 6, 1, 7, 1]
    assert longest_tail_match(tie, tie, len(tie) - 2) == (1, 4)  # the latest "1"
    assert longest_tail_match([1, 2, 3, 4], [0, 1, 2, 3, 4, 5], 4)[0] == MAX_NGRAM  # capped


def test_nothing_follows_the_tail_itself_and_an_unseen_tail_proposes_nothing() -> None:
    assert longest_tail_match([1, 2, 3], [1, 2, 3], 1) == (0, 0)
    assert Drafts(8).propose([1, 2, 3], 0, 8) == []
    assert Drafts(8).propose([], 0, 8) == []
    assert Drafts(8).propose([1, 2, 1], 1, 0) == []  # no room left


def test_typing_the_start_of_the_last_completion_proposes_its_rest() -> None:
    drafts = Drafts(16)
    prompt = [1, 2, 3, 4, 5]
    drafts.remember(prompt, [20, 21, 22, 23, END])
    # The user typed what was tokens 20 and 21: the new prompt ends with them.
    assert drafts.propose([1, 2, 3, 4, 5, 20, 21], 0, 16) == [22, 23, END]


def test_before_the_first_token_the_last_completion_is_the_guess_when_nothing_matches() -> None:
    drafts = Drafts(16)
    drafts.remember([1, 2, 3], [20, 21, END])
    assert drafts.propose([1, 2, 3, 50], 0, 16) == [20, 21, END]  # 50 was never seen
    assert drafts.propose([1, 2, 3, 50, 60], 1, 16) == []  # after a token of its own, only matches count


def test_the_most_recent_completions_are_kept_and_searched_first() -> None:
    drafts = Drafts(16)
    drafts.remember([1, 2], [3, 40, END])
    drafts.remember([1, 2], [3, 50, END])
    assert drafts.propose([8, 1, 2, 3], 1, 16) == [50, END]
    for k in range(KEPT_COMPLETIONS):
        drafts.remember([60 + k], [70 + k])
    assert drafts.propose([8, 1, 2, 3], 1, 16) == []  # forgotten
    drafts.remember([1], [])  # an empty completion is not kept
    assert drafts.propose([9], 0, 16) == [70 + KEPT_COMPLETIONS - 1]


def test_draft_length_starts_short_doubles_after_a_full_match_and_halves_after_a_miss() -> None:
    drafts = Drafts(16)
    assert drafts.length == FIRST_LENGTH  # short at first: a wrong guess costs a share of a pass per token
    drafts.checked(4, 4)
    drafts.checked(8, 8)
    assert drafts.length == 16
    drafts.checked(16, 3)
    assert drafts.length == 8
    drafts.checked(8, 0)
    drafts.checked(4, 1)
    drafts.checked(2, 0)
    drafts.checked(1, 0)
    assert drafts.length == 1  # never below one
    drafts.checked(0, 0)  # nothing proposed: nothing learned
    assert drafts.length == 1
    for _ in range(6):
        drafts.checked(drafts.length, drafts.length)
    assert drafts.length == 16  # never above the maximum
    sequence = [1, *range(2, 30), 1]
    drafts.checked(16, 0)
    assert len(drafts.propose(sequence, 0, 16)) == 8
