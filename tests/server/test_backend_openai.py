"""The openai backend against llama-cpp-python's own OpenAI-compatible server, started here on 127.0.0.1 with
the export of a tiny model trained by `assistant train`: the same completions as llama.cpp in process, retries
while the server starts, and one-line errors for a server that is down or silent."""

from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import pattern_module

from assistant.config import ServerConfig, load_config
from assistant.errors import UserError
from assistant.prompt import FimInput, render_prompt
from server.backends import load_backend
from server.backends.base import GenerationRequest, generate
from server.backends.openai_backend import OpenAIBackend
from trainer.export.export import export


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class RetryLog(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.retries = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.retries += "retry" in record.getMessage()


@pytest.fixture(scope="module")
def served(tiny_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The f32 export served by `python -m llama_cpp.server`; the backend connected while it was starting."""
    ws = tmp_path_factory.mktemp("openai") / "ws"
    shutil.copytree(tiny_workspace, ws, symlinks=True)
    md = ws / ".assistant" / "model"
    export(md, load_config(ws, {"export.outtype": "f32", "export.quant": ""}))
    port = free_port()
    log_file = open(ws / "server.log", "w")  # noqa: SIM115 - closed in the teardown below
    proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(md / "model-f32.gguf"),
                             "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "False",
                             # the same attention kernel as the in-process backend: the same arithmetic
                             "--flash_attn", "True", "--n_threads", "1", "--n_threads_batch", "1"],
                            stdout=log_file, stderr=subprocess.STDOUT)
    retry_log = RetryLog()
    logging.getLogger("assistant.openai").addHandler(retry_log)
    logging.getLogger("assistant.openai").setLevel(logging.INFO)
    try:
        cfg = server_cfg(ws, openai_url=f"http://127.0.0.1:{port}/v1", openai_retries=10)
        started = time.monotonic()
        backend = load_backend(cfg, md)  # asks the starting server for its models, retrying with backoff
        yield {"ws": ws, "md": md, "cfg": cfg, "backend": backend, "retries": retry_log.retries,
               "wait": time.monotonic() - started}
    finally:
        logging.getLogger("assistant.openai").removeHandler(retry_log)
        proc.terminate()
        proc.wait(timeout=30)
        log_file.close()


def server_cfg(ws: Path, **values: Any) -> ServerConfig:
    return load_config(ws, {"server.backend": "openai", **{f"server.{k}": v for k, v in values.items()}}).server


def test_completions_match_llama_cpp_in_process(served: dict[str, Any]) -> None:
    remote = served["backend"]
    assert isinstance(remote, OpenAIBackend) and remote.model.endswith("model-f32.gguf")
    local = load_backend(load_config(served["ws"], {"server.backend": "llama-cpp"}).server, served["md"])
    text = pattern_module(7)
    nonempty = 0
    for k in (2, 5, 9):
        cut = text.index(f"def handle_7_{k}(request):\n") + len(f"def handle_7_{k}(request):\n    ")
        prompt = render_prompt(remote.profile, FimInput(prefix=text[:cut], suffix=text[cut:], path="pkg/h.py"))
        request = GenerationRequest(prompt, max_new_tokens=20, stop=remote.profile.stop)
        over_http, in_process = generate(remote, request), generate(local, request)
        assert over_http.text == in_process.text
        nonempty += bool(over_http.text.strip())
    assert nonempty >= 2
    # Context budgets are counted with the model dir's own tokenizer.
    sample = "    value = request.get('handle_7_2')\n"
    assert remote.count_tokens(sample) == local.count_tokens(sample)


def test_the_backend_retried_until_the_server_was_up(served: dict[str, Any]) -> None:
    assert served["retries"] >= 1  # the server needs a few seconds to start; the first attempts were refused
    assert served["wait"] < 60


def test_a_server_that_is_down_is_one_line(served: dict[str, Any]) -> None:
    cfg = server_cfg(served["ws"], openai_url=f"http://127.0.0.1:{free_port()}/v1", openai_retries=1)
    with pytest.raises(UserError, match=r"cannot reach the OpenAI-compatible server at http://127\.0\.0\.1:\d+/v1 "
                                        r"\(.*refused.*\); start it or fix server\.openai_url"):
        load_backend(cfg, served["md"])


def test_a_silent_server_times_out(served: dict[str, Any]) -> None:
    """A server that accepts the connection and never answers: the request ends after the timeout."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    accepted: list[socket.socket] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()[0]), daemon=True).start()
    port = listener.getsockname()[1]
    cfg = server_cfg(served["ws"], openai_url=f"http://127.0.0.1:{port}/v1", openai_model="tiny",
                     openai_timeout_s=0.5, openai_retries=0)
    backend = load_backend(cfg, served["md"])
    started = time.monotonic()
    with pytest.raises(UserError, match="timed out"):
        generate(backend, GenerationRequest("def f(", max_new_tokens=4))
    assert time.monotonic() - started < 5
    listener.close()
    for conn in accepted:
        conn.close()
