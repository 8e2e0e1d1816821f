"""`python -m benchmarks [names...]`: run the named benchmarks (default: all) with their defaults.

Each benchmark is a module here with `main(argv) -> Path` returning where its JSON went; run one
module directly (`python -m benchmarks.features --customers 200000`) to pass it options.
"""

from __future__ import annotations

import sys
from importlib import import_module

BENCHMARKS = ["features", "scoring", "engines"]


def main(argv: list[str]) -> int:
    names = argv or BENCHMARKS
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; known: {BENCHMARKS}", file=sys.stderr)
        return 1
    written = {name: import_module(f"benchmarks.{name}").main([]) for name in names}
    for name, path in written.items():
        print(f"{name}: results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
