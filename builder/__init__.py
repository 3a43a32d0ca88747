"""Layerloom's builder: block catalogue, project document, validation, shapes, compiler.

Pure Python + torch + networkx; never imports Qt.
"""

__all__: list[str] = []
