"""Languages the assistant knows: file extensions, LSP language ids and line-comment markers.

Mining selects files by these extensions; the server uses the comment markers to tell code from
comments and to render snippets of other files for profiles without a file separator token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath


@dataclass(frozen=True)
class Language:
    name: str
    extensions: tuple[str, ...]
    line_comment: str
    filenames: tuple[str, ...] = ()


LANGUAGES: tuple[Language, ...] = (
    Language("python", (".py", ".pyi"), "#"),
    Language("javascript", (".js", ".jsx", ".mjs", ".cjs"), "//"),
    Language("typescript", (".ts", ".tsx", ".mts", ".cts"), "//"),
    Language("go", (".go",), "//"),
    Language("rust", (".rs",), "//"),
    Language("java", (".java",), "//"),
    Language("kotlin", (".kt", ".kts"), "//"),
    Language("scala", (".scala",), "//"),
    Language("c", (".c", ".h"), "//"),
    Language("cpp", (".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx"), "//"),
    Language("csharp", (".cs",), "//"),
    Language("swift", (".swift",), "//"),
    Language("ruby", (".rb",), "#", ("Rakefile", "Gemfile")),
    Language("php", (".php",), "//"),
    Language("lua", (".lua",), "--"),
    Language("shell", (".sh", ".bash", ".zsh"), "#"),
    Language("r", (".r", ".R"), "#"),
    Language("julia", (".jl",), "#"),
    Language("haskell", (".hs",), "--"),
    Language("elixir", (".ex", ".exs"), "#"),
    Language("dart", (".dart",), "//"),
    Language("sql", (".sql",), "--"),
    Language("vim", (".vim",), '"'),
    Language("zig", (".zig",), "//"),
    Language("toml", (".toml",), "#"),
    Language("yaml", (".yml", ".yaml"), "#"),
    Language("cmake", (".cmake",), "#", ("CMakeLists.txt",)),
    Language("make", (".mk",), "#", ("Makefile",)),
    Language("dockerfile", (), "#", ("Dockerfile",)),
)

BY_NAME = {lang.name: lang for lang in LANGUAGES}
_BY_EXT = {ext: lang for lang in LANGUAGES for ext in lang.extensions}
_BY_FILENAME = {name: lang for lang in LANGUAGES for name in lang.filenames}

# LSP language ids that differ from our names.
_LSP_IDS = {"typescriptreact": "typescript", "javascriptreact": "javascript", "sh": "shell",
            "bash": "shell", "c++": "cpp"}


def language_of(path: str) -> Language | None:
    """The language of a file path, or None when it is not source code we know."""
    p = PurePosixPath(path)
    return _BY_FILENAME.get(p.name) or _BY_EXT.get(p.suffix) or _BY_EXT.get(p.suffix.lower())


def language_from_lsp_id(language_id: str, path: str = "") -> Language | None:
    """The language for an LSP `languageId`, falling back to the path's extension."""
    name = _LSP_IDS.get(language_id, language_id)
    return BY_NAME.get(name) or language_of(path)


def select(names: list[str]) -> set[str]:
    """Validate a language selection from the config and return the set of names ('all' = every one)."""
    from assistant.errors import UserError

    if "all" in names:
        return set(BY_NAME)
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise UserError(f"mine.languages: unknown language {unknown[0]!r}; known: all, {', '.join(BY_NAME)}")
    return set(names)
