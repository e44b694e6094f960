"""The parity check every export must pass: llama.cpp running the GGUF behaves like transformers.

For a few prompts from the repository's own mined dataset (rendered exactly as the server renders them):

1. the GGUF's tokenizer (llama.cpp) must produce the same ids as the transformers tokenizer;
2. llama.cpp decodes greedily; transformers, fed the same sequence, must pick the same next token at
   (at least `MIN_AGREEMENT` of) those steps. Comparing step by step on one shared sequence means one
   near-tie decided differently counts once, not for every token after it;
3. at those steps the two next-token distributions must be close: mean KL(transformers || llama.cpp) at
   most `MAX_KL`. A small, barely trained model can pick the same greedy tokens from a subtly broken file
   (its attention hardly matters yet); the distributions still show it. A correct f16 export of the tiny
   model differs by ~1e-8 nats, a Q/K layout error by ~1e-3 and more; llama.cpp reports ~1e-5 for f16 and
   ~1e-3 for q8_0 on 7B models, so the bound leaves f16 a wide margin.

A wrong tensor layout, a missing tokenizer detail or a bad LoRA scale fails this loudly; see
`tests/trainer/test_export*.py` for deliberately broken exports being caught.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from assistant.errors import UserError
from assistant.llama import open_llama
from assistant.profiles import Profile
from assistant.prompt import FimInput, render_prompt, trim_context

MIN_AGREEMENT = 0.95
MAX_KL = 1e-3
PROMPT_TOKENS = 384
"""Context budget of a parity prompt: long enough to be a real editor prompt, quick to run twice."""

# Used only when the model dir has no mined dataset beside it (it was copied elsewhere).
FALLBACK_SOURCES = (
    ("src/util.py", "python", "def clamp(value, low, high):\n    \"\"\"Limit value to [low, high].\"\"\"\n",
     "\n\ndef mean(values):\n    return sum(values) / len(values)\n"),
    ("src/server.ts", "typescript", "export function parsePort(text: string): number {\n  const port = ",
     ";\n  return port;\n}\n"),
    ("cmd/main.go", "go", "func main() {\n\tname := os.Args[1]\n\t", "\n\tfmt.Println(name)\n}\n"),
)


@dataclass
class Parity:
    prompts: int
    steps: int
    agreeing: int
    source: str
    """'dataset' (the repository's mined examples) or 'built-in'."""
    kl: float = 0.0
    """Mean KL divergence (nats) of llama.cpp's next-token distribution from transformers' over the steps."""

    @property
    def agreement(self) -> float:
        return self.agreeing / self.steps if self.steps else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "kl": float(f"{self.kl:.3g}"), "agreement": round(self.agreement, 4)}


def parity_prompts(data_dir: Path, profile: Profile, tokenizer: Any, count: int) -> tuple[list[str], str]:
    """`count` prompts from the mined dataset (held-out first), spread over it; built-in code if none."""
    from trainer.mining.examples import read_dataset

    def tokens(text: str) -> int:
        return len(tokenizer.tokenize(text)) if text else 0

    try:
        dataset = read_dataset(data_dir)
        pool = [ex for ex in dataset.heldout + dataset.train if ex.prefix.strip()]
        source = "dataset"
    except UserError:
        pool = []
    if pool:
        step = max(1, len(pool) // count)
        picked = [(ex.path, ex.language, ex.prefix, ex.suffix) for ex in pool[::step][:count]]
    else:
        picked, source = list(FALLBACK_SOURCES[:count]), "built-in"
    prompts = []
    for path, language, prefix, suffix in picked:
        prefix, suffix = trim_context(prefix, suffix, tokens, PROMPT_TOKENS)
        prompts.append(render_prompt(profile, FimInput(prefix=prefix, suffix=suffix, path=path, language=language)))
    return prompts, source


def check_parity(gguf_path: Path, model: Any, tokenizer: Any, prompts: Sequence[str], new_tokens: int,
                 source: str, lora_path: Path | None = None, threads: int = 0) -> Parity:
    """Compare llama.cpp (the GGUF, plus `lora_path`) with the transformers `model`; UserError if they differ."""
    encoded = [list(tokenizer(p, add_special_tokens=True)["input_ids"]) for p in prompts]
    n_ctx = max(len(ids) for ids in encoded) + new_tokens + 8
    llm = open_llama(gguf_path, n_ctx, lora_path, threads)
    steps = agreeing = 0
    kl_sum = 0.0
    try:
        for i, (prompt, ids) in enumerate(zip(prompts, encoded, strict=True)):
            theirs = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
            if theirs != ids:
                at = next((k for k, (a, b) in enumerate(zip(ids, theirs, strict=False)) if a != b),
                          min(len(ids), len(theirs)))
                raise UserError(f"parity check failed: llama.cpp tokenizes prompt {i + 1} differently from "
                                f"transformers (from token {at}: {theirs[at:at + 3]} vs {ids[at:at + 3]}); "
                                "nothing was written")
            generated, their_logits = _greedy(llm, ids, new_tokens)
            same, kl = _teacher_forced(model, ids, generated, their_logits)
            steps += len(generated)
            agreeing += same
            kl_sum += kl
    finally:
        llm.close()
    parity = Parity(prompts=len(prompts), steps=steps, agreeing=agreeing, source=source,
                    kl=kl_sum / steps if steps else 0.0)
    if parity.agreement < MIN_AGREEMENT:
        raise UserError(f"parity check failed: llama.cpp and transformers chose the same greedy token at only "
                        f"{parity.agreement:.1%} of {steps} steps (need {MIN_AGREEMENT:.0%}); nothing was written")
    if parity.kl > MAX_KL:
        raise UserError(f"parity check failed: llama.cpp's next-token distributions differ from transformers' "
                        f"(mean KL {parity.kl:.2g} nats, allowed {MAX_KL:g}); nothing was written")
    return parity


def _greedy(llm: Any, ids: list[int], count: int) -> tuple[list[int], np.ndarray]:
    """`count` greedy tokens from llama.cpp (past any end token: more steps compared, same arithmetic) and the
    logits each was picked from, (count, vocab)."""
    import llama_cpp

    tokens: list[int] = []
    rows: list[np.ndarray] = []
    for token in llm.generate(ids, temp=0.0, repeat_penalty=1.0, reset=True):
        # The context still holds the logits this token was sampled from (the last position's).
        logits = llama_cpp.llama_get_logits_ith(llm._ctx.ctx, -1)
        rows.append(np.ctypeslib.as_array(logits, shape=(llm.n_vocab(),)).copy())
        tokens.append(int(token))
        if len(tokens) >= count:
            break
    return tokens, np.stack(rows)


@torch.inference_mode()
def _teacher_forced(model: Any, prompt: list[int], generated: list[int], their_logits: np.ndarray
                    ) -> tuple[int, float]:
    """(how many of `generated` transformers also picks greedily given the same tokens before each, the summed
    KL divergence of llama.cpp's distributions from transformers' at those steps)."""
    sequence = torch.tensor([prompt + generated])
    logits = model(input_ids=sequence).logits[0]  # (len, vocab)
    ours = logits[len(prompt) - 1: len(prompt) - 1 + len(generated)].float()  # (steps, vocab)
    picks = ours.argmax(dim=-1).tolist()
    same = sum(int(a == b) for a, b in zip(picks, generated, strict=True))
    theirs = torch.from_numpy(their_logits).float()  # same vocabulary: the GGUF has a token per embedding row
    p_log, q_log = torch.log_softmax(ours, dim=-1), torch.log_softmax(theirs, dim=-1)
    kl = (p_log.exp() * (p_log - q_log)).sum(dim=-1).clamp(min=0.0)  # (steps,)
    return same, float(kl.sum())
