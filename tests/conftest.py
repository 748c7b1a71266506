"""Fixtures several test modules share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def results_copy(small_results, tmp_path) -> Path:
    """A private copy of the requesting module's ``small_results`` (free to damage)."""
    copy = tmp_path / "results"
    shutil.copytree(small_results, copy)
    return copy
