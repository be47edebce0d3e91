"""Fixtures for tests/render; they live in render_support.py so tests can import its helpers by a unique name."""

from render_support import *  # noqa: F401,F403
