"""What other libraries may print: nothing on a user's terminal unless `--verbose` is given.

transformers, peft, accelerate, bitsandbytes, kernels, huggingface_hub, torch and llama.cpp all talk: info
logs, warnings about defaults, notices that the hub is offline, progress bars. A user should see our lines
only, so every command starts with `quiet_libraries`: their loggers keep what they say for a log file
(`assistant serve --log-file`) and drop it otherwise, Python warnings go the same way (through the
`py.warnings` logger), and the libraries that read their verbosity from the environment at import get it
there, before they are imported. llama.cpp's own C log goes through `assistant.llama.quiet_llama_logs`.
`--verbose` leaves all of them as they are.
"""

from __future__ import annotations

import logging
import os

LIBRARIES = ("transformers", "peft", "accelerate", "bitsandbytes", "kernels", "huggingface_hub", "torch",
             "llama_cpp", "gguf", "datasets", "filelock", "urllib3", "httpx", "matplotlib", "PIL", "py.warnings")
"""Loggers whose records never reach the terminal by default (`py.warnings` carries Python warnings)."""

QUIET_ENV = {
    "TRANSFORMERS_VERBOSITY": "error",  # read when transformers is first imported
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",  # transformers' tqdm bars follow this switch too; ours are rich's
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "BITSANDBYTES_NOWELCOME": "1",
    "TQDM_DISABLE": "1",  # plain tqdm bars (transformers' GGUF dequantization); ours are rich's
}
"""Set (where the user has not) before the libraries are imported: importing transformers here to set its
level would cost every command, even `--help`, two seconds."""

_library_sink: logging.Handler = logging.NullHandler()


def quiet_libraries(verbose: bool = False) -> None:
    """Keep other libraries off the terminal (or, with `verbose`, let them speak)."""
    if verbose:
        logging.captureWarnings(False)
        return
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    logging.captureWarnings(True)
    for name in LIBRARIES:
        logger = logging.getLogger(name)
        logger.propagate = False
        logger.handlers = [_library_sink]
        logger.setLevel(logging.WARNING)


def route_library_logs(handler: logging.Handler) -> None:
    """Send what the quieted libraries say to `handler` (a log file) instead of nowhere."""
    global _library_sink
    for name in LIBRARIES:
        logger = logging.getLogger(name)
        if _library_sink in logger.handlers:
            logger.handlers = [handler if h is _library_sink else h for h in logger.handlers]
    _library_sink = handler
