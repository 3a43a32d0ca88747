"""Colours of the app and the canvas, dark by default, and how to apply them to a QApplication.

The canvas items read ``current()`` when they paint, so switching themes is an ``update()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

__all__ = ["Theme", "DARK", "LIGHT", "THEMES", "current", "apply", "category_color", "color"]


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str
    alt_base: str
    text: str
    dim: str
    accent: str
    canvas: str
    grid_minor: str
    grid_major: str
    node_body: str
    node_border: str
    node_text: str
    wire: str
    wire_index: str
    label_bg: str
    error: str
    warning: str
    frozen: str


DARK = Theme(
    name="dark", window="#1f2023", base="#26282c", alt_base="#2c2e33", text="#dfe1e5",
    dim="#9aa0a8", accent="#4c8dff", canvas="#18191c", grid_minor="#202226",
    grid_major="#292c31", node_body="#2b2e34", node_border="#454a52", node_text="#e4e6ea",
    wire="#8d95a1", wire_index="#d99a4e", label_bg="#23262b", error="#ef5350",
    warning="#e3a63a", frozen="#7fb7e6",
)

LIGHT = Theme(
    name="light", window="#f2f3f5", base="#ffffff", alt_base="#f6f7f9", text="#1f2328",
    dim="#5f6873", accent="#2f6fde", canvas="#f8f9fb", grid_minor="#eef0f3",
    grid_major="#e0e3e8", node_body="#ffffff", node_border="#c3c9d1", node_text="#1f2328",
    wire="#7d8590", wire_index="#c26d12", label_bg="#ffffff", error="#d1242f",
    warning="#b07800", frozen="#3b82c4",
)

THEMES = {"dark": DARK, "light": LIGHT}

# One hue per palette category: header strips of nodes and the palette's icons.
_CATEGORY = {
    "Data": "#3f8f63",
    "Dense & shape": "#3f6fb5",
    "Activations": "#c2762a",
    "Convolution": "#7a55b6",
    "Pooling": "#5560b3",
    "Normalization": "#2d8f91",
    "Regularization": "#a34f63",
    "Recurrent": "#a98a2f",
    "Sequence": "#8a8f2e",
    "Attention": "#b8663c",
    "Generative & special": "#a8468a",
    "Composite": "#56708a",
}

_current = DARK
_colors: dict[str, QColor] = {}


def current() -> Theme:
    return _current


def color(name: str) -> QColor:
    """A QColor of the current theme by field name (cached: painting asks for these a lot)."""
    c = _colors.get(name)
    if c is None:
        c = _colors[name] = QColor(getattr(_current, name))
    return c


def category_color(category: str) -> QColor:
    key = "cat:" + category
    c = _colors.get(key)
    if c is None:
        c = _colors[key] = QColor(_CATEGORY.get(category, "#6b7280"))
    return c


def apply(app: QApplication, name: str = "dark") -> Theme:
    """Fusion style with this theme's palette; item colours follow on their next paint."""
    global _current
    _current = THEMES.get(name, DARK)
    _colors.clear()
    t = _current
    app.setStyle("Fusion")
    pal = QPalette()
    roles = {
        QPalette.Window: t.window, QPalette.WindowText: t.text, QPalette.Base: t.base,
        QPalette.AlternateBase: t.alt_base, QPalette.Text: t.text, QPalette.Button: t.alt_base,
        QPalette.ButtonText: t.text, QPalette.ToolTipBase: t.base, QPalette.ToolTipText: t.text,
        QPalette.Highlight: t.accent, QPalette.HighlightedText: "#ffffff",
        QPalette.PlaceholderText: t.dim, QPalette.Link: t.accent, QPalette.Mid: t.node_border,
        QPalette.Midlight: t.node_border, QPalette.Dark: t.window, QPalette.Light: t.alt_base,
    }
    for role, value in roles.items():
        pal.setColor(role, QColor(value))
    for role in (QPalette.Text, QPalette.WindowText, QPalette.ButtonText):
        pal.setColor(QPalette.Disabled, role, QColor(t.dim))
    app.setPalette(pal)
    app.setStyleSheet(
        f"QToolTip {{ color: {t.text}; background: {t.base}; border: 1px solid {t.node_border};"
        " padding: 4px; }"
        f" QDockWidget::title {{ padding: 4px 6px; background: {t.alt_base}; }}"
        f" QLineEdit[invalid=\"true\"] {{ border: 1px solid {t.error}; }}"
        f" QLabel[role=\"error\"] {{ color: {t.error}; }}"
        f" QLabel[role=\"dim\"] {{ color: {t.dim}; }}"
        f" QLabel[role=\"heading\"] {{ font-weight: 600; padding-top: 6px; }}"
        f" QLabel#banner {{ background: {t.alt_base}; color: {t.text}; padding: 5px 12px;"
        f" border-bottom: 2px solid {t.warning}; }}"
    )
    return t
