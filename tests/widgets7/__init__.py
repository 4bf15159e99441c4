"""ipywidgets 7.7.1 (Colab) set-up for tests/test_widgets_ipyw7.py."""
