"""README.md tells the truth: every config key, every command and every option is documented."""

import re
import sys
from pathlib import Path

from helpers import run_cli

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_config_table_is_current() -> None:
    """Regenerate with: .venv/bin/assistant config --markdown (between the config-table markers)."""
    proc = run_cli("config", "--markdown")
    assert proc.returncode == 0, proc.stderr
    start = README.index("<!-- config-table:start -->") + len("<!-- config-table:start -->")
    end = README.index("<!-- config-table:end -->")
    assert README[start:end].strip() == proc.stdout.strip()


def test_every_command_and_option_is_documented() -> None:
    sys.path.insert(0, str(ROOT))
    import typer.main

    from assistant.cli import app as cli

    cli._register()
    group = typer.main.get_command(cli.app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        assert f"assistant {name}" in README, f"README does not document `assistant {name}`"
        for param in command.params:
            for opt in param.opts + param.secondary_opts:
                if opt.startswith("--") and opt != "--help":
                    assert re.search(re.escape(opt) + r"\b", README), f"README lacks {opt} of `assistant {name}`"
