"""pdd: git-native prompt-driven development.

Prompts (``prompts/**/*.prompt``) and behavior tests (``behavior_tests/``) are the
source of truth; modules under ``generated/`` are build output whose provenance is
recorded as git notes on their blobs (``refs/notes/pdd``). See ``docs/`` and the
product contract for the layout and formats.

This package keeps its import light: importing :mod:`pdd` loads nothing but the
standard library, so the pre-commit hook stays fast.
"""

__version__ = "0.1.0"
