"""Maintainer scripts (run them from the repository root, e.g. ``python tools/make_exercises.py``)."""
