"""``python -m benchmarks``: see :mod:`benchmarks.cli` (``python -m benchmarks --help``)."""

from benchmarks.cli import main

raise SystemExit(main())
