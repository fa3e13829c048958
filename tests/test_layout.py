"""The layout the README describes is the tree, and modules stay small (≤ 300 lines)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bold5000_ae"


def _layout_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Layout", 1)[1]
    return section.split("```", 2)[1]


def test_readme_layout_names_every_subpackage_and_nothing_else() -> None:
    listed = set(re.findall(r"^  (\w+)/", _layout_block(), re.M))
    # "viz/ report/" style lines are not used: one folder per line
    actual = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert listed == actual
    top = set(re.findall(r"^(\w+)/", _layout_block(), re.M))
    assert all((ROOT / name).is_dir() for name in top), top


def test_no_module_over_300_lines() -> None:
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 300}
    assert not long, long
