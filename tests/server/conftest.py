"""Fixtures for tests/server; they live in server_support.py so tests can import its helpers by a unique name."""

from server_support import *  # noqa: F401,F403
