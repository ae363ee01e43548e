"""The chat TUI: ``qa`` with no arguments opens it (see ``qa.tui.app.run_app``)."""
