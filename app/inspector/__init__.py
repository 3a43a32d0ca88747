"""The inspector: the selected block's generated param form and everything known about it."""
