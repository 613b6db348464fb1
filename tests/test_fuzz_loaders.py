"""A bounded, seeded fuzz run of the model loaders (benchmarks/fuzz_loaders.py's harness):
deep and shallow bytes of .keras, legacy .h5, .weights.h5 and legacy weights .h5 files of a
model with nested Sequentials are mutated; every file must load or raise ModelFileError in a
child process that exits normally (no crash, no hang, no other exception)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

_SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "fuzz_loaders.py"


def _harness():
    spec = importlib.util.spec_from_file_location("fuzz_loaders", _SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mutated_model_files_load_or_raise_model_file_error(tmp_path):
    result = _harness().fuzz(tmp_path, files=48, seed=14, depth=3)
    assert result["files"] == 48
    assert result["bad"] == {}, result["bad"]
    assert result["crashes"] == result["hangs"] == result["foreign"] == 0
    assert result["outcomes"].get("ModelFileError", 0) > 0  # the mutations do reach the checks
