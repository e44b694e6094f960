"""The openai backend against llama-cpp-python's own OpenAI-compatible server, started here on 127.0.0.1 with
the export of a tiny model trained by `assistant train`: the same completions as llama.cpp in process, retries
while the server starts, and one-line errors for a server that is down or silent. Then what may leave the
machine: a redirect is not followed (real HTTP servers record that the key went nowhere), and a server on
another machine needs the user's `server.allow_remote`."""

from __future__ import annotations

import dataclasses
import http.server
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
from assistant.profiles import GENERIC
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


class Recorder:
    """A real HTTP server on 127.0.0.1: records (method, path, Authorization) of each request; answers with a
    redirect to `redirect_to` when given (status `code`), else as an OpenAI-compatible server lists models."""

    def __init__(self, host: str = "127.0.0.1", redirect_to: str = "", code: int = 302) -> None:
        self.requests: list[tuple[str, str, str | None]] = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self) -> None:
                requests.append((self.command, self.path, self.headers.get("Authorization")))
                if redirect_to:
                    self.send_response(code)
                    self.send_header("Location", redirect_to + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = b'{"data": [{"id": "elsewhere"}]}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://{host}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("code", [302, 307])
def test_a_redirect_is_not_followed_so_the_key_and_the_code_go_nowhere(monkeypatch: pytest.MonkeyPatch,
                                                                        code: int) -> None:
    monkeypatch.setenv("ASSISTANT_TEST_API_KEY", "the-users-secret-token")
    elsewhere = Recorder(host="localhost")  # another origin than the one configured
    front = Recorder(redirect_to=elsewhere.origin, code=code)
    try:
        cfg = ServerConfig(backend="openai", openai_url=front.origin + "/v1", openai_retries=0,
                           openai_api_key_env="ASSISTANT_TEST_API_KEY")
        with pytest.raises(UserError, match=rf"the server at {front.origin}/v1 redirected /models to "
                                            rf"'{elsewhere.origin}/v1/models' \({code}\); redirects are not "
                                            "followed"):
            OpenAIBackend(cfg, GENERIC, None)  # asks for the model list
        backend = OpenAIBackend(dataclasses.replace(cfg, openai_model="m"), GENERIC, None)
        with pytest.raises(UserError, match="redirected /completions"):
            generate(backend, GenerationRequest("def f(", max_new_tokens=4))
        assert [(m, path, auth) for m, path, auth in front.requests] == [
            ("GET", "/v1/models", "Bearer the-users-secret-token"),
            ("POST", "/v1/completions", "Bearer the-users-secret-token")]
        assert elsewhere.requests == []
    finally:
        front.close()
        elsewhere.close()


def test_a_server_on_another_machine_needs_the_users_opt_in() -> None:
    cfg = ServerConfig(backend="openai", openai_url="http://10.1.2.3:8080/v1/", openai_model="m")
    with pytest.raises(UserError, match=r"server\.openai_url = 'http://10\.1\.2\.3:8080/v1' is not on this "
                                        r"machine, and your code would be sent there; if you trust that server, "
                                        r"set server\.allow_remote = true in .*config\.toml"):
        OpenAIBackend(cfg, GENERIC, None)
    backend = OpenAIBackend(dataclasses.replace(cfg, allow_remote=True), GENERIC, None)  # no request made yet
    assert backend.url == "http://10.1.2.3:8080/v1"
    for url in ("http://127.0.0.1:8080/v1", "http://localhost:8080/v1", "http://[::1]:8080/v1"):
        assert OpenAIBackend(dataclasses.replace(cfg, openai_url=url), GENERIC, None).url == url


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://127.0.0.1/v1", "127.0.0.1:8080/v1"])
def test_a_url_that_is_not_http_is_one_line(url: str) -> None:
    cfg = ServerConfig(backend="openai", openai_url=url, openai_model="m", allow_remote=True)
    with pytest.raises(UserError, match=r"is not an http:// or https:// URL"):
        OpenAIBackend(cfg, GENERIC, None)
