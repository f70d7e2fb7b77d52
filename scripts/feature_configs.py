"""Rewrite conf/feature/<name>.yaml of the built-in collections from the registry.

The header comment is the collection's source line and `params` are its builder's defaults
(tests/features/test_registry.py checks that they agree); `name` and `only` are kept as they are.
Run after changing a built-in collection:  .venv/bin/python scripts/feature_configs.py
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import yaml

from probing.features import COLLECTIONS

CONF = Path(__file__).resolve().parent.parent / "conf" / "feature"
NOTE = "# Every key below is the builder's default; override with feature.params.KEY=VALUE."


def render(name: str, old: str) -> str:
    collection = COLLECTIONS[name]
    lines = old.splitlines()
    body = next(i for i, line in enumerate(lines) if line.startswith("name:"))
    params = next(i for i, line in enumerate(lines) if line.startswith("params:"))
    header = [f"# {h}" for h in textwrap.wrap(f"{name}: {collection.source}", 98)]
    dumped = yaml.safe_dump(
        collection.defaults, sort_keys=False, default_flow_style=False, allow_unicode=True
    )
    indented = ["  " + line for line in dumped.rstrip().splitlines()]
    return "\n".join([*header, NOTE, *lines[body:params], "params:", *indented]) + "\n"


def main() -> None:
    for path in sorted(CONF.glob("*.yaml")):  # the built-ins; custom/, paper/, quick/ are nested
        text = render(path.stem, path.read_text())
        assert yaml.safe_load(text)["params"] == COLLECTIONS[path.stem].defaults, path
        path.write_text(text)


if __name__ == "__main__":
    main()
