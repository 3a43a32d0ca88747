"""The blocks' own torch modules, one file per spec file of the same name.

Kept apart from the specs so that the catalogue loads without torch: a spec refers to its
modules through ``lazy("builder.blocks.modules.<file>")``, imported when a block is built.
"""
