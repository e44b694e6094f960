"""Configuration: one TOML file, dataclasses with a default and help text for every key.

Files are read in this order, later ones winning: built-in defaults, `~/.config/assistant/config.toml`,
`<repo>/.assistant/config.toml`, `<repo>/assistant.toml`; then CLI flags (and, in the server, the client's
`initializationOptions`). Every value is validated at load time: an unknown key or a bad value raises
`UserError` naming the key, the value and what is allowed. `assistant config` prints the resolved
configuration with its help text.

The trust boundary: a repository's files and a client's options are written by someone else (a cloned
repository, a workspace setting), so keys that choose where code goes or what runs (the engine, the
OpenAI-compatible server and its key, models, paths written to) are marked `trusted_only` on their field and
taken only from the user's own file and the command line; anywhere else they are ignored with one warning.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from assistant import workspace
from assistant.errors import UserError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


log = logging.getLogger("assistant.config")

SMALL_MODEL_PARAMETERS = 50_000_000
"""With `server.threads = 0`, models below this size run on one thread: one decoding step is too small to
share out, and a second thread costs more than it gives (measured on the nano tiny model: 3.6 ms a token on
one thread, 85 ms on two when the other core is busy)."""


def opt(default: Any, help: str, *, choices: tuple[Any, ...] | None = None,
        min: float | None = None, max: float | None = None, trusted_only: bool = False) -> Any:
    """A config field with its help text and the values it allows.

    `trusted_only`: the key chooses where code goes or what runs, so only the user's own config file and the
    command line may set it (see the module docstring).
    """
    meta = {"help": help, "choices": choices, "min": min, "max": max, "trusted_only": trusted_only}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class MineConfig:
    languages: list[str] = opt(["all"], "Languages to learn from, by name (python, typescript, go, ... see "
                               "the README), or 'all'.")
    branch: str = opt("", "Branch or ref to mine; empty means HEAD.")
    since: str = opt("", "Only commits after this date (anything `git log --since` accepts); empty: no limit.")
    until: str = opt("", "Only commits before this date; empty: no limit.")
    max_commits: int = opt(0, "Mine at most this many of the newest commits; 0: all.", min=0)
    first_parent: bool = opt(False, "Follow only the first parent of merges (mainline history).")
    max_file_bytes: int = opt(500_000, "Skip files larger than this many bytes.", min=1)
    max_line_chars: int = opt(1_000, "Skip files with a line longer than this (minified or data).", min=1)
    max_middle_lines: int = opt(8, "Longest middle (lines a hunk example asks the model to write); longer added "
                                "blocks are split. About what one suggestion shows (server.max_new_tokens).", min=1)
    context_chars: int = opt(4_000, "Characters of prefix and of suffix kept around each middle.", min=100)
    random_spans_per_file: int = opt(2, "Random fill-in-the-middle spans drawn from each file at the split point.",
                                     min=0)
    holdout_fraction: float = opt(0.05, "Share of the newest commits held out for evaluation.", min=0.0, max=0.9)
    holdout_min_commits: int = opt(20, "Hold out at least this many commits when the history allows.", min=0)
    recency_half_life_days: float = opt(180.0, "Recency weighting: an example this many days older than the "
                                        "newest counts half as much; 0 turns weighting off.", min=0.0)
    secrets: str = opt("drop", "What to do with an example holding a credential.", choices=("drop", "redact"))
    seed: int = opt(0, "Seed for random spans and shuffling.")


@dataclass
class TrainConfig:
    base: str = opt("tiny", "Base model: 'tiny' (built here from scratch), a Hugging Face id or directory, a .gguf "
                            "file (dequantized once, cached), or an Ollama model (ollama:NAME[:TAG]).",
                    trusted_only=True)
    tiny_size: str = opt("small", "Size of the tiny base.", choices=("nano", "micro", "small", "base"))
    method: str = opt("auto", "Training method; auto: full for tiny, qlora on CUDA, lora otherwise.",
                      choices=("auto", "full", "lora", "qlora"))
    profile: str = opt("auto", "Prompt profile (FIM template); auto: the base's family when the tokenizer has each of "
                               "its FIM tokens, else generic (FIM tokens added and trained).")
    epochs: float = opt(3.0, "Passes over the training examples.", min=0.01)
    max_steps: int = opt(0, "Stop after this many optimizer steps; 0: run the epochs.", min=0)
    max_minutes: float = opt(5.0, "Time box: the schedule is shortened to fit this many minutes (step time "
                             "measured here); 0: no limit, run all epochs.", min=0.0)
    learning_rate: float = opt(0.0, "Peak learning rate; 0: 1e-3 for tiny (from scratch), 2e-4 for (Q)LoRA, "
                               "2e-5 for full fine-tuning of a pretrained base.", min=0.0)
    batch_size: int = opt(4, "Examples per step on one device.", min=1)
    grad_accum: int = opt(1, "Gradient accumulation steps.", min=1)
    max_seq_len: int = opt(512, "Longest training sequence in tokens; prefix and suffix are cut to fit.", min=32)
    warmup_ratio: float = opt(0.05, "Share of steps spent warming up the learning rate.", min=0.0, max=0.5)
    weight_decay: float = opt(0.0, "AdamW weight decay.", min=0.0)
    max_grad_norm: float = opt(1.0, "Gradient clipping norm.", min=0.0)
    lora_r: int = opt(16, "LoRA rank.", min=1)
    lora_alpha: int = opt(32, "LoRA alpha (scale = alpha / r).", min=1)
    lora_dropout: float = opt(0.05, "LoRA dropout.", min=0.0, max=0.9)
    lora_targets: list[str] = opt(["all-linear"], "Modules LoRA adapts: 'all-linear' or module names such as "
                                  "q_proj, v_proj.")
    precision: str = opt("auto", "Compute precision; auto: bf16 where the hardware supports it, else fp32.",
                         choices=("auto", "fp32", "bf16"))
    packing: bool = opt(True, "Pack examples padding-free (no compute spent on padding).")
    val_fraction: float = opt(0.05, "Share of the training period kept aside for validation loss.",
                              min=0.0, max=0.5)
    eval_every_steps: int = opt(0, "Validation interval in steps; 0: about ten times per run.", min=0)
    patience: int = opt(3, "Early stopping: validations without improvement before stopping; 0: off.", min=0)
    save_every_steps: int = opt(0, "Checkpoint interval in steps; 0: at every validation.", min=0)
    seed: int = opt(0, "Random seed for initialisation and sampling.")
    evaluate: bool = opt(True, "Evaluate base against tuned on held-out commits after training.")
    gguf: str = opt("q8_0", "GGUF written into the model dir after training a pretrained base (not tiny), with the "
                    "export's parity check; serve runs it with llama.cpp (server.backend = auto). A type such as "
                    "q8_0 or q4_k_m; empty: none (export later with `assistant export`).")
    keep_runs: int = opt(2, "Training runs kept in .assistant/runs/ (checkpoints and record), newest first; older "
                         "ones are deleted after a successful train, never one still training.", min=1)


@dataclass
class ServerConfig:
    backend: str = opt("auto", "Engine that runs the model; auto: llama-cpp when the model dir holds a GGUF export "
                       "(`train` writes one for a pretrained base) and llama-cpp-python is installed, else "
                       "transformers.", choices=("auto", "transformers", "llama-cpp", "openai"), trusted_only=True)
    model_dir: str = opt("", "Model directory; empty: <workspace>/.assistant/model.", trusted_only=True)
    base: str = opt("", "Model to serve when the workspace has no model dir (HF id or path); empty: none.",
                    trusted_only=True)
    profile: str = opt("auto", "Prompt profile; auto: from the model dir or the base's tokenizer.")
    max_new_tokens: int = opt(64, "Most tokens generated for one completion.", min=1, max=2048)
    time_budget_ms: int = opt(1000, "Return what is ready after this many milliseconds.", min=10)
    temperature: float = opt(0.0, "Sampling temperature; 0: greedy.", min=0.0, max=2.0)
    context_tokens: int = opt(1536, "Token budget for prefix, suffix and snippets together.", min=64)
    suffix_share: float = opt(0.25, "Share of the context budget given to the suffix.", min=0.0, max=0.9)
    snippet_share: float = opt(0.25, "Share of the budget for snippets from other open files.", min=0.0, max=0.9)
    threads: int = opt(0, "CPU threads for generation; 0: automatic (transformers: one thread for a model under "
                       "50M parameters, whose steps are too small to share out; all cores otherwise).", min=0)
    openai_url: str = opt("http://127.0.0.1:8080/v1", "Base URL of an OpenAI-compatible server (openai backend); "
                          "a server on another machine needs server.allow_remote.", trusted_only=True)
    openai_model: str = opt("", "Model name sent to the OpenAI-compatible server.", trusted_only=True)
    openai_api_key_env: str = opt("", "Environment variable holding the API key, if the server needs one.",
                                  trusted_only=True)
    openai_timeout_s: float = opt(10.0, "Seconds to wait for the OpenAI-compatible server to connect or send the "
                                  "next piece.", min=0.1, trusted_only=True)
    openai_retries: int = opt(2, "Retries of a failed request to the OpenAI-compatible server (connection "
                              "refused, 429, 5xx), with backoff.", min=0, max=10, trusted_only=True)
    allow_remote: bool = opt(False, "Let server.openai_url name a server on another machine: the code around the "
                             "cursor and snippets of open files are sent there.", trusted_only=True)
    gguf: str = opt("auto", "GGUF the llama-cpp backend runs: auto (the export's q8_0, else its f16/f32, else a "
                    "quantized file), a type such as q4_k_m, or a file name in the model dir.")
    telemetry: bool = opt(True, "Record shown/accepted completions locally under .assistant/ (never sent).")
    telemetry_dir: str = opt("", "Where telemetry is written; empty: <workspace>/.assistant/telemetry.",
                             trusted_only=True)
    kv_reuse: bool = opt(True, "Keep the last prompt's KV cache and reuse its longest common token prefix "
                         "(transformers and llama-cpp backends).")
    result_cache: bool = opt(True, "Answer a prompt seen recently from memory, without a model call.")
    typed_through: bool = opt(True, "When the user types the first characters of the shown suggestion, show the "
                              "rest at once, without a model call.")
    prefetch: bool = opt(True, "While a suggestion is shown, compute the one that follows accepting it.")
    draft_tokens: int = opt(16, "Speculative decoding: check up to this many tokens guessed from the prompt and the "
                            "last completions in one forward pass (greedy output unchanged; transformers and "
                            "llama-cpp backends); 0: off.", min=0, max=64)
    cold_prompt_share: float = opt(0.5, "Share of time_budget_ms a prompt evaluated from scratch may take: a window "
                                   "placed afresh above the cursor holds what the engine evaluates in that time "
                                   "(its best measured rate), then grows as you type; 0: no limit but the context "
                                   "budget.", min=0.0, max=1.0)


@dataclass
class EvalConfig:
    limit: int = opt(100, "Evaluate at most this many held-out examples, spread over the held-out period; 0: all.",
                     min=0)
    bootstrap: int = opt(1000, "Bootstrap resamples for confidence intervals.", min=10)
    max_new_tokens: int = opt(64, "Most tokens generated per example.", min=1)
    humaneval_samples: int = opt(10, "Samples per problem for pass@k.", min=1)
    humaneval_temperature: float = opt(0.8, "Sampling temperature for pass@k.", min=0.0, max=2.0)
    humaneval_max_new_tokens: int = opt(256, "Most tokens generated per HumanEval sample.", min=1)
    sandbox_timeout_s: float = opt(10.0, "Wall-clock limit for one problem's tests.", min=0.1)


@dataclass
class ExportConfig:
    outtype: str = opt("f16", "Precision of the unquantized GGUF.", choices=("f16", "f32"))
    quant: list[str] = opt(["q8_0"], "Quantized GGUF files to write (e.g. q8_0, q4_k_m); empty: none.")
    base_gguf: str = opt("", "With --adapter-only: the base model's GGUF the LoRA applies to; empty: converted "
                         "once into ~/.cache/repo-assistant/gguf/.", trusted_only=True)
    parity_prompts: int = opt(4, "Prompts from the repository the parity check runs.", min=1, max=64)
    parity_tokens: int = opt(32, "Greedy tokens compared per parity prompt.", min=4, max=512)


@dataclass
class Config:
    mine: MineConfig = field(default_factory=MineConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


SECTIONS: dict[str, type] = get_type_hints(Config)


def user_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "assistant" / "config.toml"


def config_files(repo: Path | None) -> list[Path]:
    """The config files that exist, lowest precedence first."""
    candidates = [user_config_path()]
    if repo is not None:
        candidates += [workspace.config_file(repo), repo / "assistant.toml"]
    return [p for p in candidates if p.is_file()]


@dataclass(frozen=True)
class Layer:
    """Values from one place ("section.key": value), lowest precedence first in `config_layers`."""

    source: str
    """A file's path, "command line" or "initializationOptions": how messages name the place."""
    values: dict[str, Any]
    trusted: bool
    """The user's own: may set `trusted_only` keys."""


@dataclass
class Resolved:
    cfg: Config
    warnings: list[str]
    """One line for each place whose `trusted_only` keys were ignored."""


def read_layer(path: Path, trusted: bool) -> Layer:
    """A config file's values, or UserError for a file that is not TOML or not made of [section] tables."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"config {path}: not valid TOML ({e}); fix the file or remove it") from e
    values: dict[str, Any] = {}
    for section, table in data.items():
        if section not in SECTIONS:
            raise UserError(f"config {path}: unknown section [{section}]; allowed: {', '.join(SECTIONS)}")
        if not isinstance(table, dict):
            raise UserError(f"config {path}: '{section}' must be a table ([{section}])")
        values.update({f"{section}.{key}": value for key, value in table.items()})
    return Layer(str(path), values, trusted)


def config_layers(repo: Path | None, overrides: dict[str, Any] | None = None,
                  client: dict[str, Any] | None = None) -> list[Layer]:
    """The user's file (trusted), the repository's files (not), the command line (trusted), the client (not)."""
    layers = [read_layer(path, trusted=path == user_config_path()) for path in config_files(repo)]
    layers.append(Layer("command line", {k: v for k, v in (overrides or {}).items() if v is not None}, True))
    if client:
        layers.append(Layer("initializationOptions", client, False))
    return layers


def is_trusted_only(dotted: str) -> bool:
    """Whether the key `section.key` may be set only by the user's own config file and the command line."""
    section_name, _, key = dotted.partition(".")
    section = SECTIONS.get(section_name)
    fields = {f.name: f for f in dataclasses.fields(section)} if section is not None else {}
    return key in fields and bool(fields[key].metadata.get("trusted_only"))


def resolve(repo: Path | None = None, overrides: dict[str, Any] | None = None,
            client: dict[str, Any] | None = None) -> Resolved:
    """The configuration for `repo`: defaults, files, `overrides` ("section.key": value), then `client` (the
    server's `initializationOptions`, same form). `trusted_only` keys from the repository's files or the
    client are ignored, each place with one warning; everything else is validated and applied.

    Overrides whose value is None are ignored, so CLI options can pass their unset flags straight in.
    """
    cfg = Config()
    warnings: list[str] = []
    for layer in config_layers(repo, overrides, client):
        ignored = [dotted for dotted in layer.values if not layer.trusted and is_trusted_only(dotted)]
        for dotted, value in layer.values.items():
            if dotted not in ignored:
                set_value(cfg, dotted, value, source=layer.source)
        if ignored:
            them = "them" if len(ignored) > 1 else "it"
            warnings.append(f"{layer.source}: ignored {', '.join(ignored)}: only your own config file "
                            f"({user_config_path()}) or the command line may set keys that choose where code goes "
                            f"or what runs; copy {them} there to use {them}")
    return Resolved(cfg, warnings)


def load_config(repo: Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """`resolve` for the command line: the warnings go to the log (stderr unless logging says otherwise)."""
    resolved = resolve(repo, overrides)
    for warning in resolved.warnings:
        log.warning(warning)
    return resolved.cfg


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address, IPv6 with or without brackets) is this machine's loopback."""
    host = host.strip("[]").lower()
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def set_value(cfg: Config, dotted: str, value: Any, source: str = "config") -> None:
    """Validate `value` for the key `section.key` and store it, or raise UserError."""
    section_name, _, key = dotted.partition(".")
    if section_name not in SECTIONS:
        raise UserError(f"{source}: unknown section '{section_name}'; allowed: {', '.join(SECTIONS)}")
    section = getattr(cfg, section_name)
    fields = {f.name: f for f in dataclasses.fields(section)}
    if key not in fields:
        raise UserError(f"{source}: unknown key '{dotted}'; allowed in [{section_name}]: {', '.join(fields)}")
    f = fields[key]
    setattr(section, key, _checked(dotted, value, get_type_hints(type(section))[key], f.metadata, source))


def _checked(dotted: str, value: Any, typ: Any, meta: Any, source: str) -> Any:
    def bad(allowed: str) -> UserError:
        return UserError(f"{source}: {dotted} = {value!r} is not allowed; expected {allowed}")

    if typ is bool:
        if not isinstance(value, bool):
            raise bad("true or false")
    elif typ is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad("an integer")
    elif typ is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad("a number")
        value = float(value)
    elif typ is str:
        if not isinstance(value, str):
            raise bad("a string")
    elif typ == list[str]:
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad("a list of strings")
    if meta.get("choices") and value not in meta["choices"]:
        raise bad("one of " + ", ".join(map(str, meta["choices"])))
    if meta.get("min") is not None and value < meta["min"]:
        raise bad(f"a value >= {meta['min']}")
    if meta.get("max") is not None and value > meta["max"]:
        raise bad(f"a value <= {meta['max']}")
    return value


def to_dict(cfg: Any) -> dict[str, Any]:
    """The resolved config as plain data, saved with every run."""
    return dataclasses.asdict(cfg)


def describe() -> list[tuple[str, Any, str]]:
    """(key, default, help) for every key, in file order: what README and `assistant config` list."""
    rows = []
    for section_name, section_type in SECTIONS.items():
        for f in dataclasses.fields(section_type):
            default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            help_text = f.metadata["help"]
            if f.metadata.get("choices"):
                help_text += " One of: " + ", ".join(map(str, f.metadata["choices"])) + "."
            if f.metadata.get("trusted_only"):
                help_text += " Your own config file or the command line only (a repository's files are ignored)."
            rows.append((f"{section_name}.{f.name}", default, help_text))
    return rows
