"""Offline by default: the only commands that may reach the network are `assistant pull ID` and `assistant train`
given an explicit `--base ID` on its command line.

Everything else (serve, complete, eval, export, mine, bench, and train with a base named only in a config file
or a model.json) runs with the Hugging Face libraries switched offline before they are imported, so a model
name that is not on this machine is an error that says how to fetch it, never a download nobody asked for. A
repository's files cannot turn the network on: only the command line can. Weights are read from safetensors
only (`SAFE_WEIGHTS`): a pickled `.bin` can run code when loaded.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from assistant.errors import UserError

SAFE_WEIGHTS = ("*.safetensors", "*.json", "*.txt", "*.model", "*.tiktoken")
"""What `pull` downloads of a model: safetensors weights, configs and tokenizer files; no pickles, no code."""

_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_OFFLINE = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
_downloads_allowed = False
"""Set by `enforce_offline`: whether this command line may download (what `offline_hint` tells the user)."""


def is_hub_id(name: str) -> bool:
    """`org/name` as the Hugging Face hub spells it, and not a file or directory on this machine."""
    return bool(_HUB_ID.match(name)) and not Path(name).expanduser().exists() and not name.endswith(".gguf")


def command_of(argv: list[str]) -> str:
    """The subcommand of an `assistant` command line (the first word that is not an option), or ''."""
    return next((a for a in argv if not a.startswith("-")), "")


def option_value(argv: list[str], name: str) -> str | None:
    """The value of `--name VALUE` or `--name=VALUE` on a command line (the last one wins), or None."""
    value = None
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg.split("=", 1)[1]
    return value


def network_allowed(argv: list[str]) -> bool:
    """Whether this command line may download: `pull`, or `train --base ID` with ID a hub id."""
    command = command_of(argv)
    if command == "pull":
        return True
    base = option_value(argv, "--base")
    return command == "train" and base is not None and is_hub_id(base)


def enforce_offline(argv: list[str]) -> bool:
    """Switch the Hugging Face libraries offline unless `network_allowed`; call before they are imported.
    Returns whether the network stays allowed. A user's own HF_HUB_OFFLINE=1 is kept in every case."""
    global _downloads_allowed
    _downloads_allowed = network_allowed(argv)
    if _downloads_allowed:
        return True
    for key in _OFFLINE:
        os.environ[key] = "1"
    return False


def offline_hint(base: str) -> str:
    """What to do when `base` is not on this machine."""
    if is_hub_id(base) and _downloads_allowed:
        switched_off = any(os.environ.get(key) == "1" for key in _OFFLINE)
        why = ("this environment switches downloads off" if switched_off
               else "the hub did not answer or has no such model")
        return (f"cannot load base model {base!r}: it is not on this machine and could not be downloaded ({why}); "
                "check the name and the network, or pass a local path as --base")
    if is_hub_id(base):
        return (f"cannot load base model {base!r}: it is not on this machine, and only `assistant pull` and "
                f"`assistant train --base` download; run `assistant pull {base}`, or give a local path")
    return f"cannot load base model {base!r}: not a model directory, .gguf file or Ollama model on this machine"


def pull(model_id: str, revision: str | None = None) -> Path:
    """Download a model's safetensors weights, config and tokenizer into the Hugging Face cache; its local path."""
    if not is_hub_id(model_id):
        raise UserError(f"{model_id!r} is not a Hugging Face model id (org/name); `assistant pull` fetches models "
                        "from the hub, for example `assistant pull Qwen/Qwen2.5-Coder-0.5B`")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError
    from tqdm.auto import tqdm

    class _Shown(tqdm):
        """The hub's bars, shown although other libraries' bars are switched off for every command."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            kwargs["disable"] = False
            super().__init__(*args, **kwargs)

    try:
        path = snapshot_download(model_id, revision=revision, allow_patterns=list(SAFE_WEIGHTS), tqdm_class=_Shown)
    except (RepositoryNotFoundError, RevisionNotFoundError) as e:
        raise UserError(f"{model_id}{'@' + revision if revision else ''} was not found on the hub "
                        f"({type(e).__name__}); check the name") from e
    except (HfHubHTTPError, OSError, ValueError) as e:
        first = str(e).splitlines()[0][:120] if str(e) else ""
        raise UserError(f"could not download {model_id} ({type(e).__name__}: {first}); check the network, or "
                        "HF_HUB_OFFLINE if you set it") from e
    local = Path(path)
    if not any(local.glob("*.safetensors")):
        raise UserError(f"{model_id} has no safetensors weights; this tool loads safetensors only (a pickled .bin "
                        "can run code when loaded): choose a model that ships them")
    return local
