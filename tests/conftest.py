"""Shared test fixtures: locating the external test data (``../shared/data``).

Set ``ASALEE_SHARED_DATA`` to override the location. Tests that need the data skip with a clear reason when it is
absent, except in CI (``CI=true``), where missing data is an error.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    env = os.environ.get("ASALEE_SHARED_DATA")
    return Path(env) if env else (ROOT.parent / "shared" / "data")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"external test data not found at {path} (required in CI; set ASALEE_SHARED_DATA)")
        pytest.skip(f"external test data not found at {path} (set ASALEE_SHARED_DATA to run these tests)")
    return path
