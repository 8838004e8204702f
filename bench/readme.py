"""Writes a generated block into README.md between `<!-- NAME:start -->` and `<!-- NAME:end -->`.

Why: the README's tables come from the benchmark scripts, never from hand edits; each script owns one block.
"""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"


def replace_between_markers(text: str, name: str, body: str) -> str:
    """`text` with `body` between the markers of `name` (appended at the end, markers included, when absent)."""
    start_marker, end_marker = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start_marker}\n{body}{end_marker}"
    start, end = text.find(start_marker), text.find(end_marker)
    if start == -1 or end == -1 or end < start:
        return text.rstrip("\n") + f"\n\n{block}\n"
    return text[:start] + block + text[end + len(end_marker) :]


def write_block(name: str, body: str) -> None:
    """Edits only between the markers, re-reading README.md right before writing (others edit it too)."""
    text = README.read_text(encoding="utf-8")
    README.write_text(replace_between_markers(text, name, body), encoding="utf-8")
