"""Helpers the tests share: real git repositories in temp dirs, and running the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ASSISTANT = [sys.executable, "-m", "assistant.cli"]
TEST_CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "repo-assistant-tests"
"""Kept between runs: the real model's GGUF (fetched once per machine) and its dequantized copy."""


class GitRepo:
    """A real repository in a temp dir, with helpers to write files and commit at chosen dates."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self._tick = 1_700_000_000

    def git(self, *args: str, date: int | None = None) -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.com",
               "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.com"}
        if date is not None:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = f"@{date} +0000"
        return subprocess.run(["git", "-C", str(self.root), *args], check=True, capture_output=True,
                              text=True, env=env).stdout

    def write(self, path: str, text: str | bytes) -> None:
        p = self.root / path
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            p.write_bytes(text)
        else:
            p.write_text(text, encoding="utf-8")

    def commit(self, files: dict[str, str | bytes] | None = None, message: str = "change",
               date: int | None = None) -> str:
        for path, text in (files or {}).items():
            self.write(path, text)
        self.git("add", "-A")
        if date is None:
            self._tick += 3600
            date = self._tick
        self.git("commit", "-q", "--allow-empty", "-m", message, date=date)
        return self.git("rev-parse", "HEAD").strip()


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 600, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ASSISTANT, *args], capture_output=True, text=True, cwd=cwd, timeout=timeout,
                          env={**os.environ, **(env or {})})


def pattern_module(i: int) -> str:
    """Source with a strong, learnable pattern: small handlers that all look alike."""
    lines = [f'"""Handlers, part {i}."""', "", "from registry import register", ""]
    for k in range(12):
        name = f"handle_{i}_{k}"
        lines += [f"@register('{name}')", f"def {name}(request):", f"    value = request.get('{name}')",
                  "    if value is None:", "        return None", "    return value * 2", ""]
    return "\n".join(lines) + "\n"


def fim_examples(n: int = 48) -> list:
    """`n` training examples cut from one handlers module: the same middle at different places."""
    from trainer.mining.examples import Example

    text = pattern_module(0)
    out = []
    for i in range(n):
        cut = text.index("    return value * 2", (i * 97) % (len(text) - 200))
        out.append(Example(path="h.py", language="python", prefix=text[:cut], middle="    return value * 2\n",
                           suffix=text[cut + 21:], kind="hunk", weight=1.0))
    return out
