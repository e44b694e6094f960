"""The openai backend: completions from an OpenAI-compatible `/v1/completions` server.

For serving a team from one machine: vLLM (with the LoRA adapter), llama.cpp's server, llama-cpp-python's
server (`python -m llama_cpp.server --model model-f16.gguf`) or Ollama. Select it with
`server.backend = "openai"` and set `server.openai_url` (the base URL, ending in /v1), `server.openai_model`
(empty: the first model the server lists) and, if the server wants a key, `server.openai_api_key_env`.

The prompt is rendered here with the model dir's profile and sent as is (FIM sentinels included); context
budgets are counted with the model dir's tokenizer. Responses stream (server-sent events), one piece per
token, so the pipeline can stop between pieces and closing the stream ends the request. Each connect and
read waits at most `server.openai_timeout_s`; a refused connection, a timeout, 429 or 5xx is retried
`server.openai_retries` times with backoff, only before the first piece (a retry after it would repeat text).

What leaves the machine: the prompt (code around the cursor, snippets of other open files) and the API key.
So the URL must be http(s) on this machine unless the user's own config sets `server.allow_remote`, and
redirects are never followed: urllib would resend the Authorization header, and the prompt, to wherever a
redirect points.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from assistant.config import ServerConfig, is_loopback, user_config_path
from assistant.errors import UserError
from assistant.profiles import LEFT_TO_RIGHT, Profile, get_profile, resolve_profile
from server.backends.base import Capabilities, GenerationCounts, GenerationRequest, trained_context

log = logging.getLogger("assistant.openai")
RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}


class _RefuseRedirects(urllib.request.HTTPRedirectHandler):
    """Every 3xx becomes an HTTPError: a redirect would carry the prompt and the Authorization header along."""

    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


def checked_url(cfg: ServerConfig) -> str:
    """`server.openai_url` without its trailing slash, or UserError: not http(s), or not on this machine
    without `server.allow_remote`."""
    url = cfg.openai_url.rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UserError(f"server.openai_url = {cfg.openai_url!r} is not an http:// or https:// URL; set it to the "
                        "server's base URL, such as http://127.0.0.1:8080/v1")
    if not is_loopback(parts.hostname) and not cfg.allow_remote:
        raise UserError(f"server.openai_url = {url!r} is not on this machine, and your code would be sent there; "
                        f"if you trust that server, set server.allow_remote = true in {user_config_path()}")
    return url


class OpenAIBackend:
    capabilities = Capabilities()
    """The remote server keeps (or not) its own KV cache; nothing here can switch it or see what it saved."""

    def __init__(self, cfg: ServerConfig, profile: Profile, tokenizer: Any | None, name_hint: str = "") -> None:
        self.url = checked_url(cfg)
        self.timeout = cfg.openai_timeout_s
        self.retries = cfg.openai_retries
        self.profile = profile
        self.tokenizer = tokenizer
        self.trained_context: int | None = None
        """The model dir's trained length, for the pipeline's context budget (as with the in-process engines)."""
        self.prompt_rate: float | None = None
        """Not measured: the other server evaluates the prompt, and how fast is not ours to see."""
        handlers: list[urllib.request.BaseHandler] = [_RefuseRedirects()]
        if is_loopback(urlsplit(self.url).hostname or ""):
            # A proxy from the environment must not swallow requests to a server on this machine.
            handlers.append(urllib.request.ProxyHandler({}))
        self._opener = urllib.request.build_opener(*handlers)
        self._headers = {"Content-Type": "application/json"}
        if cfg.openai_api_key_env:
            key = os.environ.get(cfg.openai_api_key_env)
            if not key:
                raise UserError(f"server.openai_api_key_env names {cfg.openai_api_key_env}, which is not set; "
                                "export it or clear the setting")
            self._headers["Authorization"] = f"Bearer {key}"
        self.model = cfg.openai_model or self._first_model()
        self.name = f"{self.model} @ {self.url}" + (f" ({name_hint})" if name_hint else "")

    def _first_model(self) -> str:
        with self._request("GET", "/models", None) as response:
            data = json.load(response).get("data") or []
        if not data:
            raise UserError(f"the server at {self.url} lists no models; set server.openai_model")
        return str(data[0]["id"])

    def configure(self, kv_reuse: bool, draft_tokens: int) -> None:
        """Nothing to configure: see `capabilities`."""

    def last_counts(self) -> GenerationCounts:
        return GenerationCounts()

    def count_tokens(self, text: str) -> int:
        if not text:
            return 0
        if self.tokenizer is not None:
            return len(self.tokenizer.tokenize(text))
        # No tokenizer on this machine (the model lives on the server): code averages about 3 bytes a token.
        return (len(text.encode("utf-8")) + 2) // 3

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        body: dict[str, Any] = {
            "model": self.model, "prompt": request.prompt, "max_tokens": request.max_new_tokens,
            "temperature": request.temperature, "top_p": 1.0, "stream": True,
            # llama-cpp-python's server and Ollama default to a 1.1 repeat penalty, which would change greedy
            # completions; other servers ignore the field.
            "repeat_penalty": 1.0,
        }
        if request.stop:
            body["stop"] = list(request.stop)
        received = False
        with self._request("POST", "/completions", body) as response:
            try:
                for raw in response:
                    line = raw.decode("utf-8").strip()
                    if not line.startswith("data:"):
                        continue  # blank separators and SSE comments
                    payload = line[5:].strip()
                    if payload == "[DONE]":
                        return
                    choices = json.loads(payload).get("choices") or [{}]
                    text = choices[0].get("text") or ""
                    if text:
                        received = True
                        yield text
            except (TimeoutError, ConnectionError) as e:
                if not received:
                    raise UserError(f"the server at {self.url} sent nothing for {self.timeout:g} s ({e}); it is "
                                    "overloaded or stuck (raise server.openai_timeout_s)") from e
                # Like the deadline: what arrived is the completion.
                log.warning("the server at %s stopped mid-completion (%s); keeping what arrived", self.url, e)

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        """The response of `method url+path`, retried with backoff while nothing has been received."""
        data = json.dumps(body).encode("utf-8") if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=self._headers)
        for attempt in range(self.retries + 1):
            try:
                return self._opener.open(request, timeout=self.timeout)
            except urllib.error.HTTPError as e:
                if 300 <= e.code < 400:
                    raise UserError(f"the server at {self.url} redirected {path} to {e.headers.get('Location')!r} "
                                    f"({e.code}); redirects are not followed (they would carry your code and API "
                                    "key along): set server.openai_url to the address that answers") from e
                detail = e.read().decode("utf-8", "replace")[:200].replace("\n", " ")
                if e.code not in RETRYABLE_STATUS or attempt == self.retries:
                    raise UserError(f"the server at {self.url} answered {e.code} to {path}: {detail}; check "
                                    "server.openai_url and server.openai_model") from e
                reason = f"status {e.code}"
            except (TimeoutError, urllib.error.URLError, ConnectionError) as e:
                reason = str(getattr(e, "reason", e))
                if attempt == self.retries:
                    raise UserError(f"cannot reach the OpenAI-compatible server at {self.url} ({reason}); start it "
                                    "or fix server.openai_url") from e
            log.info("request to %s failed (%s); retry %d of %d", self.url, reason, attempt + 1, self.retries)
            time.sleep(min(0.25 * 2**attempt, 4.0))
        raise AssertionError("unreachable: the last attempt returns or raises")


def load_openai(cfg: ServerConfig, model_dir: Path | None) -> OpenAIBackend:
    """The backend, with the profile and tokenizer of the model dir (or of `server.base`) for prompts and budgets."""
    from assistant.modeldir import read_manifest
    from assistant.models import load_tokenizer, vocab_of

    tokenizer: Any = None
    if model_dir is not None and (model_dir / "model.json").exists():
        manifest = read_manifest(model_dir)
        source = model_dir / manifest.tokenizer if manifest.tokenizer else manifest.base
        try:
            tokenizer = load_tokenizer(source)
        except UserError as e:
            log.warning("no tokenizer for context budgets (%s); estimating token counts", e)
        profile = get_profile(manifest.profile if cfg.profile == "auto" else cfg.profile)
        backend = OpenAIBackend(cfg, profile, tokenizer, name_hint=str(model_dir))
        backend.trained_context = trained_context(manifest)
        return backend
    if cfg.base:
        tokenizer = load_tokenizer(cfg.base)
        profile = resolve_profile(cfg.profile, vocab_of(tokenizer), cfg.base, fallback=LEFT_TO_RIGHT)
        return OpenAIBackend(cfg, profile, tokenizer)
    if cfg.profile != "auto":
        return OpenAIBackend(cfg, get_profile(cfg.profile), None)
    raise UserError("the openai backend needs a prompt profile: train a model dir here, set server.base to the "
                    "served model's id or path, or set server.profile")
