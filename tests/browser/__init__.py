"""Helpers for tests/test_browser.py (a private JupyterLab, the fixture notebook)."""
