"""Small painted icons: a block's category colour with a two-letter mnemonic.

Drawn at the screen's device pixel ratio, so they stay sharp on high-DPI displays.
"""

from __future__ import annotations

import re

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QGuiApplication, QIcon, QPainter, QPixmap

from app import theme
from builder.blocks.spec import BlockSpec

__all__ = ["block_icon", "tile_icon", "mnemonic", "severity_icon"]

_CACHE: dict[tuple, QIcon] = {}


def mnemonic(spec: BlockSpec) -> str:
    """Two letters that tell blocks of one category apart: Conv2d → C2, LayerNorm → LN."""
    label = spec.type
    caps = re.findall(r"[A-Z]|\d", label)
    if len(caps) >= 2:
        return (caps[0] + caps[-1]) if caps[-1].isdigit() else "".join(caps[:2])
    return label[:2].capitalize()


def severity_icon(error: bool, size: int = 14) -> QIcon:
    """A red disc with "!" for an error, an amber one for a warning (as the canvas badges)."""
    key = ("severity", error, size, theme.current().name)
    icon = _CACHE.get(key)
    if icon is not None:
        return icon
    pix, p = _canvas(size)
    p.setBrush(theme.color("error" if error else "warning"))
    p.drawEllipse(QRectF(1, 1, size - 2, size - 2))
    font = QFont()
    font.setPixelSize(int(size * 0.75))
    font.setBold(True)
    p.setFont(font)
    p.setPen(QColor("#ffffff"))
    p.drawText(QRectF(0, 0, size, size), Qt.AlignCenter, "!")
    p.end()
    icon = _CACHE[key] = QIcon(pix)
    return icon


def _canvas(size: int) -> tuple[QPixmap, QPainter]:
    screen = QGuiApplication.primaryScreen()
    ratio = screen.devicePixelRatio() if screen else 1.0
    pix = QPixmap(int(size * ratio), int(size * ratio))
    pix.setDevicePixelRatio(ratio)
    pix.fill(Qt.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.Antialiasing)
    p.setPen(Qt.NoPen)
    return pix, p


def block_icon(spec: BlockSpec, size: int = 20) -> QIcon:
    return tile_icon(spec.category, mnemonic(spec), size)


def tile_icon(category: str, text: str, size: int = 20) -> QIcon:
    """A rounded tile in the category's colour with a short white label: the palette's
    icons, so names line up whatever kind of entry they are."""
    key = (category, text, size, theme.current().name)
    icon = _CACHE.get(key)
    if icon is not None:
        return icon
    pix, p = _canvas(size)
    p.setBrush(theme.category_color(category))
    rect = QRectF(1, 1, size - 2, size - 2)
    p.drawRoundedRect(rect, 4, 4)
    font = QFont()
    font.setPixelSize(int(size * 0.45))
    font.setBold(True)
    p.setFont(font)
    p.setPen(QColor("#ffffff"))
    p.drawText(rect, Qt.AlignCenter, text)
    p.end()
    icon = _CACHE[key] = QIcon(pix)
    return icon
