"""The start page: the gallery of templates as cards, a blank project, and recent files."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFontMetrics, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app import settings, theme
from builder.gallery import Template, templates
from builder.lessons import LessonError, lesson
from builder.serialize import LoomError
from runtime.data import DATASETS

__all__ = ["StartPage", "section_of", "thumbnail", "search_text"]


# Sections of the gallery, in order: generative and transfer families by recipe, the others
# by what their data is.
BY_RECIPE = {"autoencoder": "Autoencoders", "gan": "GANs", "pix2pix": "GANs", "cyclegan": "GANs",
             "stylegan": "GANs", "vae_gan": "GANs", "dann": "Transfer and adaptation",
             "transfer": "Transfer and adaptation", "fine_tune": "Transfer and adaptation",
             "layerwise": "Transfer and adaptation",
             "skipgram": "Embeddings", "seq2seq": "Sequences and language",
             "language": "Sequences and language", "vqvae": "Text to image",
             "diffusion": "Text to image", "clip": "Text to image", "dalle": "Text to image",
             "dalle2": "Text to image", "imagen": "Text to image"}
BY_DATA = {"Images": "Images and CNNs", "Sequences": "Sequences and language",
           "Text": "Sequences and language", "Structures": "Trees and structures"}
SECTIONS = ("First networks", "Images and CNNs", "Sequences and language",
            "Trees and structures", "Embeddings", "Autoencoders", "GANs",
            "Transfer and adaptation", "Text to image")
THUMB = (220, 54)
CARD_W = THUMB[0] + 24


def section_of(t: Template) -> str:
    if t.recipe in BY_RECIPE:
        return BY_RECIPE[t.recipe]
    spec = DATASETS.get(t.dataset)
    return BY_DATA.get(spec.category if spec else "", SECTIONS[0])


def search_text(t: Template) -> str:
    """What a search on the start page matches: the card's words and its lesson's."""
    try:
        found = lesson(t.name)
    except LessonError:
        found = None
    words = (t.name, t.title, t.summary, t.recipe, t.dataset, found.text() if found else "")
    return " ".join(words).lower()


def thumbnail(t: Template, size: tuple[int, int] = THUMB) -> QPixmap:
    """The first network in miniature: its blocks in their category colours, and the wires."""
    w, h = size
    pix = QPixmap(w, h)
    pix.fill(theme.color("canvas"))
    if not t.nodes:
        return pix
    xs, ys = [n[0] for n in t.nodes], [n[1] for n in t.nodes]
    span_x, span_y = max(max(xs) - min(xs), 1.0), max(max(ys) - min(ys), 1.0)
    scale = min((w - 16) / span_x, (h - 12) / span_y)
    ox = (w - span_x * scale) / 2 - min(xs) * scale
    oy = (h - span_y * scale) / 2 - min(ys) * scale
    at = [QPointF(x * scale + ox, y * scale + oy) for x, y, _ in t.nodes]
    painter = QPainter(pix)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setPen(QPen(theme.color("wire"), 1.0))
    for a, b in t.wires:
        painter.drawLine(at[a], at[b])
    side = max(3.0, min(9.0, 0.6 * scale * 150))
    painter.setPen(Qt.NoPen)
    for p, (_, _, category) in zip(at, t.nodes, strict=True):
        painter.setBrush(theme.category_color(category))
        painter.drawRoundedRect(QRectF(p.x() - side / 2, p.y() - side / 2, side, side), 2, 2)
    painter.end()
    return pix


class _Card(QPushButton):
    def __init__(self, t: Template, parent=None):
        super().__init__(parent)
        self.name = t.name
        self.setCursor(Qt.PointingHandCursor)
        self.setFixedSize(CARD_W, 150)
        self.setToolTip(f"<b>{t.title or t.name}</b><br>{t.summary}")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(10, 8, 10, 8)
        lay.setSpacing(4)
        picture = QLabel()
        picture.setPixmap(thumbnail(t))
        head = QLabel(t.title or t.name)
        head.setWordWrap(True)
        font = head.font()
        font.setBold(True)
        head.setFont(font)
        # Two lines of the summary at most; the tooltip has all of it.
        metrics = QFontMetrics(self.font())
        body = QLabel(metrics.elidedText(t.summary, Qt.ElideRight, 2 * THUMB[0] - 30))
        body.setWordWrap(True)
        body.setProperty("role", "dim")
        for label in (picture, head, body):
            label.setAttribute(Qt.WA_TransparentForMouseEvents)
            lay.addWidget(label)
        lay.addStretch(1)


class StartPage(QScrollArea):
    template_chosen = Signal(str)
    blank_chosen = Signal()
    file_chosen = Signal(str)
    open_requested = Signal()
    back_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self._query = ""  # the search, kept when the page is rebuilt
        self.refresh()

    def refresh(self) -> None:
        host = QWidget()
        outer = QVBoxLayout(host)
        outer.setContentsMargins(40, 30, 40, 30)
        outer.setSpacing(12)
        title = QLabel("Layerloom")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 2)
        font.setBold(True)
        title.setFont(font)
        outer.addWidget(title)
        outer.addWidget(QLabel("Design a neural network by wiring blocks. Start from an "
                               "example or a blank canvas."))
        row = QHBoxLayout()
        for text, signal in (("Blank project", self.blank_chosen), ("Open…", self.open_requested),
                             ("Back to the editor", self.back_requested)):
            button = QPushButton(text)
            button.clicked.connect(signal.emit)
            row.addWidget(button)
        row.addStretch(1)
        outer.addLayout(row)
        self.search = QLineEdit(self._query)
        self.search.setPlaceholderText("Search the examples: a title, a dataset, a recipe, a "
                                       "word of a lesson (attention, β, residual…)")
        self.search.setClearButtonEnabled(True)
        self.search.setMaximumWidth(640)
        self.search.textChanged.connect(self._filter)
        outer.addWidget(self.search)
        self.no_match = QLabel()
        self.no_match.setProperty("role", "dim")
        self.no_match.hide()
        outer.addWidget(self.no_match)
        self.cards: dict[str, _Card] = {}
        self._haystack: dict[str, str] = {}
        self.headings: dict[str, QLabel] = {}
        self._grids: list[tuple[QGridLayout, list[_Card], QLabel]] = []
        self._columns = 0
        try:
            gallery = templates()
        except LoomError:
            gallery = []
        sections: dict[str, list[Template]] = {name: [] for name in SECTIONS}
        for t in gallery:
            sections.setdefault(section_of(t), []).append(t)
        for name, members in sections.items():
            if not members:
                continue
            head = QLabel(f"{name}  ·  {len(members)}")
            head.setProperty("role", "heading")
            head.setProperty("section", name)
            outer.addWidget(head)
            self.headings[name] = head
            grid = QGridLayout()
            grid.setSpacing(10)
            grid.setAlignment(Qt.AlignLeft | Qt.AlignTop)
            cards = []
            for t in members:
                card = _Card(t)
                card.clicked.connect(lambda _=False, n=t.name: self.template_chosen.emit(n))
                cards.append(card)
                self.cards[t.name] = card
                self._haystack[t.name] = search_text(t)
            self._grids.append((grid, cards, head))
            outer.addLayout(grid)
        head = QLabel("Recent files")
        head.setProperty("role", "heading")
        outer.addWidget(head)
        self.recent = QListWidget()
        self.recent.setMaximumHeight(200)
        for path in settings.recent_files():
            item = QListWidgetItem(f"{Path(path).name}    —    {path}")
            item.setData(Qt.UserRole, path)
            self.recent.addItem(item)
        if not self.recent.count():
            self.recent.addItem("No recent files yet.")
        self.recent.itemActivated.connect(self._recent)
        self.recent.itemClicked.connect(self._recent)
        outer.addWidget(self.recent)
        outer.addStretch(1)
        self.setWidget(host)
        self._filter(self._query)

    def _filter(self, query: str) -> None:
        """Only the cards whose words hold every word of ``query``; a section left empty
        hides with its heading."""
        self._query = query
        words = query.lower().split()
        shown = 0
        for _grid, cards, head in self._grids:
            visible = [c for c in cards if all(w in self._haystack[c.name] for w in words)]
            for card in cards:
                card.setVisible(card in visible)
            head.setText(f"{head.property('section')}  ·  {len(visible)}"
                         + (f" of {len(cards)}" if len(visible) < len(cards) else ""))
            head.setVisible(bool(visible))
            shown += len(visible)
        self.no_match.setText(f"No example matches “{query.strip()}”.")
        self.no_match.setVisible(bool(words) and not shown)
        self._columns = 0
        self._flow()

    def _flow(self) -> None:
        """As many cards per row as the page is wide (never a sideways scroll), the cards a
        search hides leaving no holes."""
        columns = max(1, (self.viewport().width() - 80 + 10) // (CARD_W + 10))
        if columns == self._columns:
            return
        self._columns = columns
        for grid, cards, _ in self._grids:
            for card in cards:
                grid.removeWidget(card)
            for i, card in enumerate(c for c in cards if not c.isHidden()):
                grid.addWidget(card, i // columns, i % columns)

    def resizeEvent(self, event):
        super().resizeEvent(event)
        self._flow()

    def _recent(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.UserRole)
        if path:
            self.file_chosen.emit(path)


if __name__ == "__main__":
    from app.preview import run_preview

    run_preview(StartPage, (900, 640))
