"""Backup and restore of an SQLite store, consistent while the app or the service writes to it.

SQLite's online backup API copies a snapshot page by page under SQLite's own locks, so a copy
taken while writers run holds exactly the transactions committed before it finished (a plain
`cp` of store.db misses what is still in the -wal file). PostgreSQL stores are backed up with
pg_dump, as the README shows.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from turris_api.store.database import SCHEMA_HEAD, SQLITE_BUSY_TIMEOUT_S, Database, note_commit, sqlite_file
from turris_api.store.errors import Conflict, Invalid, Unavailable

PG_ADVICE = ("For a PostgreSQL store use pg_dump and pg_restore (pg_dump -Fc -f turris.dump DBNAME; "
             "pg_restore --clean -d DBNAME turris.dump); see the README's Backup section.")


def backup(db: Database, dest: Path, *, force: bool = False) -> int:
    """Copy the store into `dest` (created 0600); returns the number of pages copied."""
    source = sqlite_file(db.url)
    if source is None:
        raise Invalid("db", f"backup copies SQLite stores. {PG_ADVICE}")
    dest = dest.expanduser()
    if dest.resolve() == source.resolve():
        raise Invalid("file", "The backup file is the store itself; name another file.", str(dest))
    _new_private_file(dest, force)
    return _copy(source, dest)


def restore(url: str, source: Path, *, force: bool = False) -> str:
    """Replace the store at `url` with the backup `source`, then bring its schema up to date.
    Refuses an existing store unless `force`; returns the schema revision the backup had."""
    target = sqlite_file(url)
    if target is None:
        raise Invalid("db", f"restore writes SQLite stores. {PG_ADVICE}")
    source = source.expanduser()
    revision = _backup_revision(source)
    if target.exists() and target.stat().st_size > 0 and not force:
        raise Conflict(f"A store already exists at {target}: restoring replaces every credential in it, and "
                       "a running app or service would switch to the backup at once. Add --force to replace it.")
    db = Database(url, migrate=False)  # creates the file 0600 if it is new
    try:
        _copy(source, target)  # under SQLite's locks: readers of the live store see old or new, never half
        note_commit()
        db.migrate()  # an older backup gets today's schema
    finally:
        db.dispose()
    return revision


def _copy(source: Path, dest: Path) -> int:
    """SQLite's online backup of `source` into `dest`; returns the pages copied."""
    try:
        src = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_S)
        try:
            out = sqlite3.connect(dest, timeout=SQLITE_BUSY_TIMEOUT_S)
            try:
                src.backup(out)
                return out.execute("PRAGMA page_count").fetchone()[0]
            finally:
                out.close()
        finally:
            src.close()
    except sqlite3.Error as err:
        raise Unavailable(f"The copy from {source} to {dest} failed: {err}. Try again.") from None


def _backup_revision(source: Path) -> str:
    if not source.is_file():
        raise Invalid("file", f"No backup file {source}.", str(source))
    try:
        with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        conn.close()
    except sqlite3.DatabaseError as err:
        raise Invalid("file", f"{source} is not a turris-api backup ({err}).", str(source)) from None
    if row is None:
        raise Invalid("file", f"{source} is not a turris-api backup (it has no schema revision).", str(source))
    if row[0] > SCHEMA_HEAD:
        raise Invalid("file", f"{source} was made by a newer turris-api (schema {row[0]}, this one knows "
                      f"{SCHEMA_HEAD}); upgrade turris-api first.", str(source))
    return row[0]


def _new_private_file(path: Path, force: bool) -> None:
    flags = os.O_CREAT | os.O_WRONLY | (os.O_TRUNC if force else os.O_EXCL)
    try:
        os.close(os.open(path, flags, 0o600))
    except FileExistsError:
        raise Conflict(f"{path} exists already; add --force to overwrite it.") from None
    except OSError as err:
        raise Unavailable(f"Cannot write the backup file {path}: {err.strerror or err}.") from err
    if force:
        os.chmod(path, 0o600)
