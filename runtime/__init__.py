"""Layerloom's runtime: datasets, training recipes, the trainer loop, events, export, CLI.

Uses torch and the builder; never imports Qt or the app.
"""

__all__: list[str] = []
