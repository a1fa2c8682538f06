"""The stixgate process helper of tests/interop, shared rather than copied."""

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location("stixgate_interop", Path(__file__).parents[1] / "interop" / "conftest.py")
_interop = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_interop)

ROOT = _interop.ROOT
BINARY = _interop.BINARY
Stixgate = _interop.Stixgate
