"""The VS Code extension (editors/vscode) through its own tests, and its .vsix.

`npm test` compiles it (TypeScript strict), lints it (ESLint, type-checked rules), runs its unit tests and
an integration test in which the extension's protocol module drives the real `assistant serve` over stdio
in the tiny model's workspace (a copy of it): the completion must be what `assistant complete --json`
prints, and `assistant stats --json` must count the shown, partial and accepted feedback once each. VS Code
itself cannot run here (no display, and its test runner downloads VS Code), so what needs the editor, the
ghost text on screen and Tab, is VS Code's own. `.ci/setup dev` runs `npm ci`; a missing `npm` skips these.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

EXTENSION = Path(__file__).resolve().parents[2] / "editors" / "vscode"
NPM = shutil.which("npm")
INTEGRATION_TEST = "inline completion, feedback and accept against the real server"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(NPM is None, reason="npm is not installed: the VS Code extension's tests need Node.js and npm"),
]


def npm(*args: str, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    assert NPM is not None
    return subprocess.run([NPM, *args], cwd=EXTENSION, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def installed() -> None:
    """The extension's dependencies, as `.ci/setup dev` installs them (`npm ci` from package-lock.json)."""
    if not (EXTENSION / "node_modules" / ".package-lock.json").is_file():
        proc = npm("ci", "--no-audit", "--no-fund")
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]


def test_npm_test_compiles_lints_and_passes_against_the_real_server(installed: None, tiny_workspace: Path) -> None:
    # The venv's `assistant`, and the workspace the Neovim tests trained (copied by the test): no second training.
    env = {"ASSISTANT_CLI": str(Path(sys.executable).with_name("assistant")),
           "REPO_ASSISTANT_TEST_WORKSPACE": str(tiny_workspace)}
    proc = npm("test", env=env)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-8000:]
    assert re.search(r"^ℹ fail 0$", output, re.MULTILINE), output[-3000:]
    passed = re.search(r"^ℹ pass (\d+)$", output, re.MULTILINE)
    assert passed and int(passed.group(1)) >= 50, output[-3000:]
    assert f"✔ {INTEGRATION_TEST}" in output, "the integration test against the real server did not pass"


def test_vsix_holds_the_compiled_extension_and_its_runtime_dependencies(installed: None, tmp_path: Path) -> None:
    vsix = tmp_path / "repo-assistant.vsix"
    proc = npm("run", "package", "--", "--out", str(vsix))
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    with zipfile.ZipFile(vsix) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("extension/package.json"))
    main = "extension/" + manifest["main"].removeprefix("./")
    assert main in names
    for module in ("client", "commands", "config", "inlineCompletion", "protocol", "status", "telemetry"):
        assert f"extension/out/src/{module}.js" in names
    assert "extension/node_modules/vscode-languageclient/package.json" in names
    assert "extension/node_modules/vscode-languageserver-protocol/package.json" in names
    leftovers = [n for n in names if n.startswith(("extension/src/", "extension/test/", "extension/out/test/"))
                 or n.endswith((".ts", ".map", ".tsbuildinfo")) or "/node_modules/typescript/" in n]
    assert not leftovers, f"sources, tests or dev dependencies in the .vsix: {sorted(leftovers)[:10]}"
