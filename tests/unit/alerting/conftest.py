"""Fixtures the alerting tests share: an HTTP client and a capture server answering `capture_default`, and
`hook`, a capture server for tests whose `server` is a running logwarden server.

A test module whose channel answers something else than an empty 200 overrides `capture_default`.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.unit.alerting.capture import Answer, CaptureServer


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    """The client the notifier sends through (closed after the test)."""
    with httpx.Client() as client:
        yield client


@pytest.fixture
def capture_default() -> Answer | None:
    """What the capture server answers when a test scripted nothing (None: an empty 200)."""
    return None


@pytest.fixture
def server(capture_default: Answer | None) -> Iterator[CaptureServer]:
    """A capture server on a loopback port, recording every request."""
    with CaptureServer(capture_default) as s:
        yield s


@pytest.fixture
def hook() -> Iterator[CaptureServer]:
    """A capture server on a loopback port, the webhook the tenant tests' receivers post to."""
    with CaptureServer() as capture:
        yield capture
