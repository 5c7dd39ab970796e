"""The frameworks' public APIs only: every import of a private module or name of Hydra,
Lightning, OmegaConf or torch, and every call of the private node and job-return helpers this
project once used, has on the line above it a comment saying why no public one serves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIBRARIES = r"(hydra|lightning|omegaconf|torch)"
PRIVATE = [
    re.compile(rf"^\s*from {LIBRARIES}[\w.]*\._\w"),  # a private module
    re.compile(rf"^\s*import {LIBRARIES}[\w.]*\._\w"),
    re.compile(rf"^\s*from {LIBRARIES}[\w.]* import .*\b_[A-Za-z]"),  # a private name
    re.compile(r"\._(get_node|is_interpolation|return_value|parse_config|metadata)\b"),
]


def private_uses() -> list[tuple[Path, int, str, str]]:
    """(file, line number, line, the line above) of every private use in the project's code."""
    files = [*ROOT.glob("src/**/*.py"), *ROOT.glob("scripts/**/*.py"), ROOT / "train.py",
             ROOT / "eval.py"]  # fmt: skip
    uses = []
    for path in files:
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if any(p.search(line) for p in PRIVATE):
                uses.append((path.relative_to(ROOT), i + 1, line, lines[i - 1] if i else ""))
    return uses


def test_every_private_api_use_says_why_on_the_line_above():
    uses = private_uses()
    assert uses, "the scan finds the uses it is meant to find (there are two, each explained)"
    unexplained = [f"{p}:{n}: {line.strip()}" for p, n, line, above in uses
                   if not above.strip().startswith("#")]  # fmt: skip
    assert not unexplained, "\n".join(unexplained)
    assert not any("hydra._internal" in line for *_, line, _ in uses)  # the sweeper is public
