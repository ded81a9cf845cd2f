"""Reusable widgets: tables, pills, the slide-over, forms. None of them calls the store."""
