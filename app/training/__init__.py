"""Live training in the editor: the bridge to the runtime, the dock of plots, the settings,
the run history and the export dialog."""
