"""Screens and pages: the shell, the Settings modal, the API page and its modals."""
