"""Credentials: domain, policy, persistence. Never imports the UI.

Import what you need from its module (store.local, store.database, ...): this package imports
nothing itself, so the light modules (errors, models, validation) don't pull in SQLAlchemy.
"""
