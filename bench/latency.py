"""Latency: time to ghost text with the server's latency features on and off, measured in one run.

    .venv/bin/python bench/latency.py --repo PATH [--examples 6] [--max-chars 240] [--keystroke-ms 60] [--json]

The same benchmark as `assistant bench latency` (see assistant/cli/bench.py and server/replay.py): a
scripted typist types the repository's held-out code into two real servers over LSP, one with KV reuse,
the result cache, typed-through reuse, prefetch and speculative decoding on, one with them off, and the
on/off ratio of the p50 time to ghost text is printed (target: at most 0.4). The repository needs a trained model dir.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from assistant.cli.app import main

if __name__ == "__main__":
    sys.argv = ["assistant", "bench", "latency", *sys.argv[1:]]
    main()
