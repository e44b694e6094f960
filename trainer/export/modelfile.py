"""The Ollama Modelfile written beside an export: `ollama create NAME -f Modelfile` and the model runs in Ollama.

Its TEMPLATE is the profile's FIM template in Ollama's Go-template syntax: with a suffix (Ollama's
`/api/generate` `suffix` field, what editor plugins send) the prompt and suffix go between the FIM
sentinels; without one the prompt passes through untouched, so a client that renders the whole prompt itself
(the `openai` backend, `raw` requests) gets exactly what it sent. The stop parameters are the profile's stop
strings, sampling is greedy like the server's default.
"""

from __future__ import annotations

from assistant.config import ServerConfig
from assistant.profiles import Profile


def ollama_template(profile: Profile) -> str:
    fim = profile.template.replace("{prefix}", "{{ .Prompt }}").replace("{suffix}", "{{ .Suffix }}")
    return "{{- if .Suffix }}" + fim + "{{- else }}{{ .Prompt }}{{- end }}"


def modelfile(profile: Profile, server: ServerConfig, model_file: str, adapter_file: str | None = None,
              others: tuple[str, ...] = (), title: str = "") -> str:
    """The Modelfile text. `model_file` is the GGUF to run (or the base, with `adapter_file` a GGUF LoRA)."""
    lines = [f"# Ollama Modelfile for {title or 'a repo-assistant model'}, written by `assistant export`.",
             "# Create the model with:  ollama create my-repo -f Modelfile",
             "# Completions: POST /api/generate with prompt (code before the cursor) and suffix (code after).",
             ]
    if others:
        lines.append("# Other GGUF files of this export (change FROM to use one): " + ", ".join(others))
    lines.append(f"FROM {_path(model_file)}")
    if adapter_file:
        lines.append(f"ADAPTER {_path(adapter_file)}")
    lines.append(f'TEMPLATE """{ollama_template(profile)}"""')
    lines += [f"PARAMETER stop {_quoted(s)}" for s in profile.stop]
    lines += [f"PARAMETER temperature {server.temperature:g}",
              "PARAMETER repeat_penalty 1",  # Ollama's default 1.1 would change what greedy decoding writes
              f"PARAMETER num_predict {server.max_new_tokens}",
              # prefix + suffix budget, the tokens generated, and room for sentinels and file headers
              f"PARAMETER num_ctx {server.context_tokens + server.max_new_tokens + 256}"]
    return "\n".join(lines) + "\n"


def _path(file: str) -> str:
    return file if file.startswith("/") else f"./{file}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
