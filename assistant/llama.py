"""The llama.cpp engine as both sides use it: loading a GGUF (serving, the export's parity check) and its log.

`open_llama` loads a GGUF (plus a GGUF LoRA) with llama-cpp-python, threads chosen for the machine, and turns a
failure into one `UserError` line with llama.cpp's own reason. `quiet_llama_logs` sends llama.cpp's C log to
Python logging (the export's quantizer uses it too), where `assistant.logs` keeps it off the terminal.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
from pathlib import Path
from typing import Any

from assistant.config import SMALL_MODEL_PARAMETERS
from assistant.errors import UserError

log = logging.getLogger("llama_cpp.native")
"""llama.cpp's C log: under `llama_cpp`, one of the libraries `assistant.logs` keeps off the terminal."""
_recent: collections.deque[str] = collections.deque(maxlen=8)
_callback: Any = None
# ggml's log levels (ggml.h): llama-cpp-python's own callback still maps the older numbering, and so
# prints every warning even with verbose=False; ours routes them to logging instead.
_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.INFO, 4: logging.ERROR}


def quiet_llama_logs() -> None:
    """Send llama.cpp's log to the `llama_cpp.native` logger (chatter at debug level, errors at error level)."""
    global _callback
    if _callback is not None:
        return
    import llama_cpp

    @llama_cpp.llama_log_callback
    def on_log(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        message = text.decode("utf-8", "replace").rstrip()
        if message:
            _recent.append(message)
            log.log(_LEVELS.get(level, logging.DEBUG), "%s", message)

    _callback = on_log  # ctypes must keep the callback object alive
    llama_cpp.llama_log_set(on_log, ctypes.c_void_p(0))


def open_llama(model_path: Path, n_ctx: int, lora_path: Path | None = None, threads: int = 0) -> Any:
    """A llama.cpp model from a GGUF (plus a GGUF LoRA), or one UserError line with llama.cpp's reason."""
    quiet_llama_logs()
    import llama_cpp
    from llama_cpp import Llama

    for path in (model_path, lora_path):
        if path is not None and not path.is_file():
            raise UserError(f"{path} does not exist; run `assistant export` (again)")
    _recent.clear()
    cores = threads or os.cpu_count() or 1
    try:
        # n_threads_batch too: llama-cpp-python's default for prompt evaluation is every core, whatever n_threads.
        # Flash attention: prompts evaluate ~30% faster on CPU (bench/backends.py); parity is checked with it on.
        llm = Llama(model_path=str(model_path), lora_path=str(lora_path) if lora_path else None, n_ctx=n_ctx,
                    n_batch=min(n_ctx, 512), n_threads=cores, n_threads_batch=cores, flash_attn=True, verbose=False)
    except (ValueError, RuntimeError) as e:
        what = f"{model_path.name} + {lora_path.name}" if lora_path else model_path.name
        reason = next((m for m in reversed(_recent) if "error" in m.lower() or "fail" in m.lower()), str(e))
        raise UserError(f"llama.cpp cannot load {what}: {reason}; re-export with `assistant export`") from e
    if threads == 0 and llama_cpp.llama_model_n_params(llm._model.model) < SMALL_MODEL_PARAMETERS:
        # Like the transformers backend: a small model's steps are too short to share out between threads.
        llama_cpp.llama_set_n_threads(llm._ctx.ctx, 1, 1)
        llm.n_threads = llm.n_threads_batch = 1
    return llm
