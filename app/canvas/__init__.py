"""The node editor: a QGraphicsScene view of one network, and the widget that shows it."""
