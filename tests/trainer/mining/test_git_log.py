"""The git layer of mining: one `git log` stream parsed into commits and file changes, one blob reader.

Every case is a real repository made in tmp_path; nothing is mocked.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from helpers import GitRepo

from assistant.errors import UserError
from trainer.mining.git import BlobReader, Repo, Unreadable, iter_commit_diffs
from trainer.mining.history import CommitDiff, parse_log, unquote_path

TEN = "".join(f"line {i}\n" for i in range(10))


def diffs(repo: GitRepo, *revs: str) -> list[CommitDiff]:
    r = Repo.open(repo.root)
    shas = [c.sha for c in r.rev_list(revs[0] if revs else "HEAD")]
    out = [d for d in iter_commit_diffs(r, shas) if isinstance(d, CommitDiff)]
    assert len(out) == len(shas)
    return out


def test_added_modified_and_root_commit_hunks(make_repo) -> None:
    repo = make_repo()
    root = repo.commit({"a.py": "x = 1\ny = 2\n"})
    second = repo.commit({"a.py": "x = 1\nz = 0\ny = 2\nw = 3\n"})
    newest, oldest = diffs(repo)
    assert (newest.sha, oldest.sha) == (second, root)
    assert newest.parents == (root,) and oldest.parents == ()
    [change] = newest.files
    assert (change.path, change.status) == ("a.py", "modified")
    assert [(h.new_start, h.new_count, h.removed) for h in change.hunks] == [(2, 1, []), (4, 1, [])]
    assert change.new_sha == repo.git("rev-parse", "HEAD:a.py").strip()
    [added] = oldest.files
    assert added.status == "added" and [(h.new_start, h.new_count) for h in added.hunks] == [(1, 2)]


def test_renames_copies_deletions_and_mode_changes(make_repo) -> None:
    repo = make_repo()
    repo.commit({"a.py": TEN, "b.py": TEN.replace("line", "row")})
    repo.git("mv", "a.py", "moved.py")
    repo.commit(message="pure rename")
    repo.git("mv", "b.py", "b2.py")
    repo.commit({"b2.py": TEN.replace("line", "row") + "row 10\n"}, message="rename and edit")
    (repo.root / "moved.py").unlink()
    repo.commit(message="delete")
    os.chmod(repo.root / "b2.py", 0o755)
    repo.commit(message="mode only")
    # A copy is found when its source changed in the same commit (git's --find-copies).
    repo.commit({"b2.py": TEN.replace("line", "row") + "row 10\nrow 11\n",
                 "c.py": TEN.replace("line", "row") + "row 10\ncopied on\n"}, message="copy")
    copy, mode, delete, rename_edit, rename, _ = diffs(repo)

    assert [(f.path, f.status, f.old_path, f.hunks) for f in rename.files] == [("moved.py", "renamed", "a.py", [])]
    [edited] = rename_edit.files
    assert (edited.path, edited.status, edited.old_path) == ("b2.py", "renamed", "b.py")
    assert [(h.new_start, h.new_count) for h in edited.hunks] == [(11, 1)]
    assert [(f.path, f.status) for f in delete.files] == [("moved.py", "deleted")]
    assert not delete.files[0].has_additions
    assert [(f.path, f.status, f.new_mode, f.hunks) for f in mode.files] == [("b2.py", "mode", "100755", [])]
    by_path = {f.path: f for f in copy.files}
    assert (by_path["c.py"].status, by_path["c.py"].old_path) == ("copied", "b2.py")
    assert [(h.new_start, h.new_count) for h in by_path["c.py"].hunks] == [(12, 1)]


def test_a_merge_is_diffed_against_its_first_parent(make_repo) -> None:
    repo = make_repo()
    repo.commit({"main.py": "a = 1\n", "side.py": "s = 1\n"})
    repo.git("checkout", "-q", "-b", "side")
    repo.commit({"side.py": "s = 1\ns = 2\n"}, message="side work")
    repo.git("checkout", "-q", "main")
    repo.commit({"main.py": "a = 1\na = 2\n"}, message="main work")
    repo.git("merge", "-q", "--no-ff", "-m", "merge side", "side")
    merge = diffs(repo)[0]
    assert len(merge.parents) == 2
    assert [(f.path, [(h.new_start, h.new_count) for h in f.hunks]) for f in merge.files] == [("side.py", [(2, 1)])]


def test_paths_with_spaces_quotes_tabs_and_unicode(make_repo) -> None:
    repo = make_repo()
    names = ["with space.py", 'q"uote.py', "tab\there.py", "ünï cödé.py"]
    repo.commit({name: "x = 1\n" for name in names})
    [commit] = diffs(repo)
    assert sorted(f.path for f in commit.files) == sorted(names)
    assert all(f.hunks and f.new_sha for f in commit.files)


def test_binary_changes_are_flagged_not_parsed(make_repo) -> None:
    repo = make_repo()
    repo.commit({"blob.bin": b"\x00\x01\x02" * 100, "a.py": "x = 1\n"})
    [commit] = diffs(repo)
    by_path = {f.path: f for f in commit.files}
    assert by_path["blob.bin"].binary and not by_path["blob.bin"].hunks
    assert not by_path["a.py"].binary


def test_unquote_path() -> None:
    assert unquote_path(b"plain/path.py") == "plain/path.py"
    assert unquote_path(b'"b/tab\\there.py"') == "b/tab\there.py"
    assert unquote_path(b'"q\\"uote"') == 'q"uote'
    assert unquote_path(b'"\\303\\274.py"') == "ü.py"
    assert unquote_path(b"b/with space.py\t") == "b/with space.py"


def test_parse_log_ignores_content_lines_that_look_like_headers() -> None:
    stream = [b"\0" + b"a" * 40 + b" 100 ", b"", b"diff --git a/x.py b/x.py", b"index 1..2 100644",
              b"--- a/x.py", b"+++ b/x.py", b"@@ -0,0 +1,2 @@", b"+diff --git a/fake b/fake", b"+++ b/fake"]
    [commit] = parse_log(stream)
    [change] = commit.files
    assert change.path == "x.py" and [(h.new_start, h.new_count) for h in change.hunks] == [(1, 2)]


def corrupt(repo: GitRepo, sha: str) -> None:
    path = repo.root / ".git" / "objects" / sha[:2] / sha[2:]
    path.chmod(0o644)
    path.write_bytes(b"this is not a zlib stream")


def test_a_corrupt_blob_skips_only_its_commit(make_repo) -> None:
    repo = make_repo()
    shas = [repo.commit({f"f{i}.py": f"v = {i}\n", "log.py": "".join(f"e{k}\n" for k in range(i + 1))})
            for i in range(4)]
    corrupt(repo, repo.git("rev-parse", f"{shas[1]}:f1.py").strip())
    r = Repo.open(repo.root)
    out = list(iter_commit_diffs(r, list(reversed(shas))))
    assert [type(x).__name__ for x in out] == ["CommitDiff", "CommitDiff", "Unreadable", "CommitDiff"]
    bad = out[2]
    assert isinstance(bad, Unreadable) and bad.sha == shas[1] and "unable to read" in bad.message
    assert [x.sha for x in out] == list(reversed(shas))


def test_rev_list_selection(make_repo) -> None:
    repo = make_repo()
    day = 86_400
    for i in range(5):
        repo.commit({"a.py": f"v = {i}\n"}, date=1_700_000_000 + i * day)
    r = Repo.open(repo.root)
    assert len(r.rev_list("HEAD")) == 5
    assert len(r.rev_list("HEAD", max_count=2)) == 2
    assert len(r.rev_list("HEAD", since="@1700172800")) == 3  # from day 2 on
    assert len(r.rev_list("HEAD", until="@1700086400")) == 2  # up to day 1
    with pytest.raises(UserError, match="not a date git understands"):
        r.rev_list("HEAD", since="banana")
    with pytest.raises(UserError, match="git branch -a"):
        r.rev_parse("no-such-branch")


def test_blob_reader_answers_in_order_skips_huge_and_missing(make_repo) -> None:
    repo = make_repo()
    repo.commit({"small.py": "x = 1\n", "big.py": "y = 2\n" * 1000})
    small = repo.git("rev-parse", "HEAD:small.py").strip()
    big = repo.git("rev-parse", "HEAD:big.py").strip()
    with BlobReader(Repo.open(repo.root)) as blobs:
        blobs.request([small, "0" * 40, big], max_bytes=100)
        got = blobs.receive(3)
        assert [(b.size, b.data) for b in got] == [(6, b"x = 1\n"), (0, None), (6000, None)]
        assert blobs.read(big) == b"y = 2\n" * 1000


def test_blob_reader_on_a_path(tmp_path: Path) -> None:
    repo = GitRepo(tmp_path / "r")
    repo.commit({"a.py": "a\n"})
    with BlobReader(repo.root) as blobs:
        assert blobs.read(repo.git("rev-parse", "HEAD:a.py").strip()) == b"a\n"
