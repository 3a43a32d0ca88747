"""Layerloom's desktop editor (PySide6 + pyqtgraph): a thin view over builder and runtime."""
