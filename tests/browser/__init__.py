"""Helpers for tests/test_widgets_browser.py (a private JupyterLab, the fixture notebook)."""
