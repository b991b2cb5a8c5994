"""End-to-end fixtures: one real Label Studio server per test session.

The e2e tests need Label Studio 1.23.2 in its own virtualenv (``scripts/install-label-studio``).
Without it they are skipped, except when ``CI`` is set: CI must run them, so there they fail.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from vidseg.labelstudio.client import LabelStudioClient

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path.
sys.path.insert(0, str(Path(__file__).parent))
from label_studio_server import (  # noqa: E402
    LabelStudioServer,
    free_port,
    label_studio_executable,
    start_label_studio,
)


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: needs a real Label Studio server (scripts/install-label-studio)")


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory) -> LabelStudioServer:
    """A running Label Studio: ``.url``, ``.token`` (legacy API token), ``.frames_root``
    (the local-files document root; put frames below it), ``.headers``, ``.process``."""
    executable = label_studio_executable()
    if not executable.exists():
        reason = f"Label Studio is not installed at {executable}: run scripts/install-label-studio"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so the e2e tests must run)")
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("label-studio")
    with start_label_studio(root / "data", free_port(), root / "frames") as server:
        print(f"Label Studio {server.url} started in {server.startup_seconds:.1f} s")
        yield server


@pytest.fixture
def ls_client(label_studio) -> LabelStudioClient:
    """A LabelStudioClient logged in to the session's Label Studio."""
    return LabelStudioClient(label_studio.url, label_studio.token, retries=1, backoff=0.2)
