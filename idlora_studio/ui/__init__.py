"""Widgets and dialogs of the Studio: layout and binding only; work happens in state/workers."""
