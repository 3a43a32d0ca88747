"""pyqtgraph panels of the training dock.  Each panel builds its plot items once and then
only calls ``setData`` on them from ``refresh(series)``, which the dock calls at most ~30
times a second and only for the panels that are on screen."""
