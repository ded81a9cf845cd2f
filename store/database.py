"""Opening a store database: engine set-up, migrations, transactions, and error translation."""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from turris_api.store.errors import Conflict, Invalid, Unavailable

MIGRATIONS = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_S = 5.0
SQLITE_POOL_SIZE = 40
LOOKUP_ROWS_PER_CONNECTION = 10_000  # rows a lookup connection remembers before it starts over
PG_READ_ONLY_SQLSTATE = "25006"  # read_only_sql_transaction: psycopg raises it as InternalError
PG_MIGRATION_LOCK = 0x7475_7272  # advisory lock id: one instance migrates at a time
SCHEMA_HEAD = "0006"  # the newest migration; tests check it matches Alembic's head


def default_url() -> str:
    """$TURRIS_DB_URL, else an SQLite file in the user's data directory."""
    if url := os.environ.get("TURRIS_DB_URL"):
        return url
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return f"sqlite:///{base / 'turris-api' / 'store.db'}"


def describe(url: str) -> str:
    """Where the store lives, for a status line: a file path, or the URL without its password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"local file {parsed.database or ':memory:'}"
    return parsed.render_as_string(hide_password=True)


class Database:
    """One engine per process; short transactions; database trouble becomes `Unavailable`."""

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = url or default_url()
        try:
            self.description = describe(self.url)
            file = sqlite_file(self.url)
            self.warnings: list[str] = _private_file(file) if file is not None else []
            """What the operator should know about this store (shown by the CLI and the app)."""
            self.engine = _create_engine(self.url)
        # Not the URL itself in these messages: a PostgreSQL one may carry a password.
        except ImportError as err:  # the dialect exists, its driver is not installed
            raise Invalid("db", "This store URL needs a database driver that is not installed; for PostgreSQL "
                          "install the postgres extra: pip install 'turris-api-settings[postgres]' "
                          "(pipx install 'turris-api-settings[postgres]').") from err
        except sa.exc.NoSuchModuleError as err:
            raise Invalid("db", "The store URL names a database driver that is not installed; "
                          "for PostgreSQL use postgresql+psycopg://user@host/dbname.") from err
        except (sa.exc.ArgumentError, ValueError) as err:
            raise Invalid("db", "The store URL is not a database URL; expected e.g. sqlite:///path/to/store.db "
                          "or postgresql+psycopg://user@host/dbname.") from err
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._before_dispose: list[Callable[[], None]] = []
        # The file a file store was opened on: one deleted or replaced under us must not go on being
        # read through connections still holding the old one (that would fail open).
        self._file = file
        self._file_identity: tuple[int, int] | None = None
        self._file_lock = threading.Lock()
        if file is not None:
            st = file.stat()
            self._file_identity = (st.st_dev, st.st_ino)
        # SQLite has one writer at a time, and a writer that finds it busy sleeps in growing steps:
        # many concurrent writers in one process spend most of their time asleep. They queue here instead.
        self._write_turn = threading.RLock() if self.is_sqlite else None
        # A file SQLite store gives each thread its own lookup connection (`fetch_one`); an
        # in-memory one cannot, each connection would see a database of its own.
        self._lookups: _ThreadLookups | None = (
            _ThreadLookups() if isinstance(self.engine.pool, sa.pool.QueuePool) and self.is_sqlite else None
        )
        if migrate:
            self.migrate()

    def _check_file(self) -> None:
        """Unavailable if the store file is gone; if another file took its place, reconnect to it."""
        try:
            st = os.stat(self._file)
        except OSError:
            raise Unavailable("The credential store file is missing; nothing can be checked until it is "
                              "restored. Try again later.", retry_after=5) from None
        identity = (st.st_dev, st.st_ino)
        if identity == self._file_identity:
            return
        with self._file_lock:
            if self._file_identity is not None and identity != self._file_identity:
                # Connections opened on the old file would keep reading it: drop them all.
                if self._lookups is not None:
                    self._lookups.close_all()
                self.engine.dispose()
            self._file_identity = identity

    def schema_revision(self) -> str | None:
        with self.guard(), self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def pending_migrations(self) -> list[str]:
        """The migrations `migrate` would apply, oldest first."""
        from alembic.script import ScriptDirectory

        current = self.schema_revision()
        script = ScriptDirectory(str(MIGRATIONS))
        pending = [rev.revision for rev in script.iterate_revisions("head", current)]
        return list(reversed(pending))

    def migrate(self, revision: str = "head") -> None:
        """Apply pending migrations; an up-to-date store costs one query (Alembic is not even loaded)."""
        if revision == "head" and self.schema_revision() == SCHEMA_HEAD:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.guard(), self.engine.connect() as conn, _foreign_keys_off(conn):
            with conn.begin():
                if self.engine.dialect.name == "postgresql":
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": PG_MIGRATION_LOCK})
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                if self.is_sqlite and conn.exec_driver_sql("PRAGMA foreign_key_check").first() is not None:
                    raise Unavailable("A migration left references to rows that do not exist; nothing was changed.")
        note_commit()

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Translate driver errors into store errors the user can act on."""
        try:
            yield
        except sa.exc.SQLAlchemyError as err:
            translated = _store_error(err)
            if translated is None:
                raise
            raise translated from err

    @contextmanager
    def read(self) -> Iterator[Connection]:
        if self._file is not None:
            self._check_file()
        with self.guard(), self.engine.connect() as conn, conn.begin():
            yield conn

    def fetch_one(self, query: PreparedLookup, params: Mapping[str, object]):
        """Run a prepared single-row read on the driver's own cursor: the row as a named tuple, or None.

        Driver errors become SQLAlchemy's, then store errors (as in `guard`), and a connection
        found dead is dropped, as SQLAlchemy's own execution path would do.
        """
        dialect = self.engine.dialect
        driver_error = dialect.loaded_dbapi.Error
        try:  # what guard() does, without a generator on every credential check
            if self._lookups is not None:
                return self._fetch_one_on_this_thread(query, params, driver_error)
            if self._file is not None:
                self._check_file()
            try:
                raw = self.engine.raw_connection()
            except driver_error as err:  # (re)connecting failed: unlike Engine.connect, not wrapped
                raise DBAPIError.instance(None, None, err, driver_error, connection_invalidated=True,
                                          dialect=dialect) from err
            cursor = None
            try:
                cursor = raw.cursor()
                cursor.execute(query.sql, query.arguments(params))
                found = cursor.fetchone()
            except driver_error as err:
                lost = dialect.is_disconnect(err, raw.dbapi_connection, cursor)
                if lost:
                    raw.invalidate(err)
                raise DBAPIError.instance(query.sql, None, err, driver_error, hide_parameters=True,
                                          connection_invalidated=lost, dialect=dialect) from err
            finally:
                if cursor is not None:
                    cursor.close()
                raw.close()  # back to the pool, which ends any transaction the driver opened
        except sa.exc.SQLAlchemyError as err:
            translated = _store_error(err)
            if translated is None:
                raise
            raise translated from err
        return None if found is None else query.row(found)

    def _fetch_one_on_this_thread(self, query: PreparedLookup, params: Mapping[str, object], driver_error):
        """SQLite: the lookup on this thread's own autocommit connection, so each read is its own
        transaction and sees every committed change. Skipping the pool's checkout and return
        (and its rollback) halves the lookup's cost (bench/, issue 6).

        Rows are remembered per connection until SQLite's `data_version` moves, which it does when
        any other connection, in any process, commits (see `_fresh_lookups`)."""
        held = self._lookups.held()
        try:
            if held is None or not held.fresh(_commits.value):
                held = self._fresh_lookups()
            key = (query, *params.items())
            if key in held.rows:
                return held.rows[key]
            cursor = held.dbapi.execute(query.sql, query.arguments(params))
            found = cursor.fetchone()
            cursor.close()
        except driver_error as err:
            self._lookups.drop()  # a connection that failed once is not trusted again
            raise DBAPIError.instance(query.sql, None, err, driver_error, hide_parameters=True,
                                      dialect=self.engine.dialect) from err
        row = None if found is None else query.row(found)
        if len(held.rows) >= LOOKUP_ROWS_PER_CONNECTION:  # bounded whatever ids are asked for
            held.rows.clear()
        held.rows[key] = row
        return row

    def _fresh_lookups(self) -> _LookupConnection:
        """This thread's lookup connection, its rows dropped if the file was replaced or anything
        committed since they were read (the file's identity, then `PRAGMA data_version`).

        That check costs three system calls, more than the lookup it guards. On an event loop it
        serves the rest of the loop's turn: a request answered in this turn was received before the
        check (a request read during the turn runs in the next one, after `held.expire`), so a change
        committed before it arrived is still seen; and a commit made by this process clears it at
        once. Off a loop, every read checks."""
        if self._file is not None:
            self._check_file()  # may close every lookup connection: asked for only after it
        held = self._lookups.held() or self._lookups.open(self.engine)
        commits = _commits.value  # before the check: a commit noted during it makes the next lookup check again
        version = held.dbapi.execute("PRAGMA data_version").fetchone()[0]
        if version != held.version:
            held.rows.clear()
            held.version = version
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return held
        held.commits = commits
        loop.call_soon(held.expire)
        return held

    def ping(self) -> None:
        """One trivial read; Unavailable if the store cannot be read now."""
        with self.read() as conn:
            conn.execute(sa.text("SELECT 1"))

    def prepare(self, stmt: sa.Select) -> PreparedLookup:
        return PreparedLookup(stmt, self.engine.dialect)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction; on SQLite it takes the write lock up front (BEGIN IMMEDIATE)."""
        if self._file is not None:
            self._check_file()
        with self.guard(), self._writer_turn(), self.engine.connect() as conn:
            conn.execution_options(turris_immediate=True)
            try:
                with conn.begin():
                    yield conn
            except OperationalError as err:
                # SQLite opens a file it cannot write read-only without a word, and the pool would keep
                # that connection refusing writes long after the file is writable again.
                if _is_read_only(err):
                    conn.invalidate()
                raise
            finally:
                note_commit()

    @contextmanager
    def _writer_turn(self) -> Iterator[None]:
        if self._write_turn is None:
            yield
            return
        if not self._write_turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_S):
            raise Unavailable("The credential store is busy with other changes. Try again in a moment.")
        try:
            yield
        finally:
            self._write_turn.release()

    def before_dispose(self, flush: Callable[[], None]) -> None:
        """Have `flush` (a write-back's last batch) run before the connections close."""
        self._before_dispose.append(flush)

    def dispose(self) -> None:
        for flush in self._before_dispose:
            flush()
        if self._lookups is not None:
            self._lookups.close_all()
        self.engine.dispose()


class _Commits:
    """How many writes this process has made (any store): a lookup's check for this loop turn
    does not outlive one (see `Database._fresh_lookups`)."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def note(self) -> None:
        with self._lock:
            self.value += 1


_commits = _Commits()


def note_commit() -> None:
    """This process changed a store (`Database.write`, a migration, a restore's copy): the next
    lookup, even in the same loop turn, checks the store again."""
    _commits.note()


class _LookupConnection:
    """A DBAPI connection a thread keeps for itself; its owner (a thread-local) drops it with the thread."""

    __slots__ = ("dbapi", "generation", "version", "rows", "commits", "__weakref__")

    def __init__(self, dbapi, generation: int) -> None:
        self.dbapi = dbapi
        self.generation = generation
        self.version: int | None = None  # PRAGMA data_version when `rows` were read
        self.rows: dict[tuple, object] = {}  # (lookup, its parameters) -> row (read-only), or None
        self.commits: int | None = None  # this process's commit count at this loop turn's check, or None

    def fresh(self, commits: int) -> bool:
        """Whether this loop turn's check still holds (no commit by this process since)."""
        return self.commits == commits

    def expire(self) -> None:
        self.commits = None

    def __del__(self) -> None:
        self.dbapi.close()


class _ThreadLookups:
    """Each thread's own lookup connection, made by the engine (so with its PRAGMAs), then detached
    from the pool: a pool slot held for a thread's life would starve the requests that need one."""

    def __init__(self) -> None:
        self._local = threading.local()
        self._every: weakref.WeakSet[_LookupConnection] = weakref.WeakSet()  # for close_all()
        self._generation = 0  # close_all() moves it on: a thread's older connection is closed, not reused

    def held(self) -> _LookupConnection | None:
        held = getattr(self._local, "held", None)
        return None if held is None or held.generation != self._generation else held

    def open(self, engine: Engine) -> _LookupConnection:
        raw = engine.raw_connection()
        raw.detach()
        held = self._local.held = _LookupConnection(raw.dbapi_connection, self._generation)
        self._every.add(held)
        return held

    def drop(self) -> None:
        self._local.held = None

    def close_all(self) -> None:
        """Close every thread's connection; a thread's next lookup opens a new one (as after
        Engine.dispose, the store stays usable)."""
        self._generation += 1
        for held in list(self._every):
            held.dbapi.close()


class PreparedLookup:
    """A SELECT compiled once for one dialect, for `Database.fetch_one`.

    On the verification hot paths SQLAlchemy's per-call machinery (connection wrapper, execution
    context, Row) costs about ten times the indexed lookup itself (bench/, issue 6). Compiling
    once keeps SQLAlchemy's SQL, its parameter order and its type conversions (JSON, datetimes,
    booleans), and leaves only the driver call per request.
    """

    def __init__(self, stmt: sa.Select, dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = compiled.string
        # constants in the statement (e.g. status = 'active'); the caller supplies the rest
        self._defaults = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        self._order = compiled.positiontup  # None for named paramstyles (psycopg's pyformat)
        self._binds = {
            name: processor
            for name, bind in compiled.binds.items()
            if (processor := bind.type._cached_bind_processor(dialect)) is not None
        }
        columns = list(stmt.selected_columns)
        self._row = namedtuple("Row", [column.key for column in columns])
        self._processors = [(i, p) for i, c in enumerate(columns) if (p := c.type._cached_result_processor(dialect, None))]

    def arguments(self, params: Mapping[str, object]):
        values = {**self._defaults, **params}
        for name, processor in self._binds.items():
            values[name] = processor(values[name])
        return values if self._order is None else [values[name] for name in self._order]

    def row(self, found):
        if not self._processors:
            return self._row(*found)
        values = list(found)
        for i, processor in self._processors:
            values[i] = processor(values[i])
        return self._row(*values)


@contextmanager
def _foreign_keys_off(conn: Connection) -> Iterator[None]:
    """SQLite rebuilds a table to change it (batch mode): dropping the old one with foreign keys on
    would cascade to the rows that reference it (a members rebuild would delete every member token).
    The switch works outside a transaction only, so it is flipped on the driver's connection."""
    if conn.dialect.name != "sqlite":
        yield
        return
    raw = conn.connection.dbapi_connection
    raw.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        raw.execute("PRAGMA foreign_keys=ON")


def _store_error(err: sa.exc.SQLAlchemyError) -> Exception | None:
    """The store error a driver error means to the user, or None for one that is a bug."""
    if isinstance(err, IntegrityError):
        return Conflict("That change collides with another record; reload and try again.")
    if isinstance(err, OperationalError):
        text = str(err.orig).lower()
        if "locked" in text or "busy" in text:
            return Unavailable("The credential store is busy with other changes. Try again in a moment.")
        if _is_read_only(err):
            return Unavailable("The credential store is read-only right now; no change was made. Try again later.")
        return Unavailable("The credential store cannot be reached. Try again in a moment.")
    if isinstance(err, DBAPIError):
        if getattr(err.orig, "sqlstate", None) == PG_READ_ONLY_SQLSTATE:  # a primary turned standby
            return Unavailable("The credential store is read-only right now; no change was made. Try again later.")
        if err.connection_invalidated or isinstance(err.orig, (ConnectionError, OSError)):
            return Unavailable("The credential store connection was lost. Try again in a moment.")
        return None
    if isinstance(err, sa.exc.TimeoutError):  # every pooled connection in use for pool_timeout
        return Unavailable("The credential store is busy. Try again in a moment.")
    return None


def _is_read_only(err: OperationalError) -> bool:
    text = str(err.orig).lower()
    return "readonly" in text or "read-only" in text


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite store URL, or None (in-memory, URI form, another database)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None
    return Path(parsed.database).expanduser()


def _private_file(path: Path) -> list[str]:
    """Make a new store's folder 0700 and its file 0600 before SQLite opens it (SQLite gives the
    -wal and -shm files the database file's mode); for an existing one, say if others can read it."""
    folder = path.parent
    try:
        if not folder.exists():
            folder.mkdir(mode=0o700, parents=True)
    except OSError as err:
        raise Unavailable(f"Cannot create the store's folder {folder}: {err.strerror or err}.") from err
    try:
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as err:
        raise Unavailable(f"Cannot create the store's file {path}: {err.strerror or err}.") from err
    warnings = []
    for item in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))):
        try:
            mode = item.stat().st_mode & 0o777
        except OSError:
            continue
        if mode & 0o077:
            warnings.append(f"The store file {item} can be read by other users (mode {mode:04o}); "
                            f"make it private: chmod 600 {item}*")
            break
    return warnings


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        # A file database keeps a connection per worker thread (anyio's default is 40): under load, an
        # undersized pool opens and closes a connection (and its PRAGMAs) for every request.
        file_db = parsed.get_dialect().get_pool_class(parsed) is sa.pool.QueuePool  # not an in-memory one
        pool = {"pool_size": SQLITE_POOL_SIZE, "max_overflow": 10} if file_db else {}
        engine = sa.create_engine(
            parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}, **pool
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("turris_immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
    return sa.create_engine(parsed, pool_pre_ping=True, pool_size=10, max_overflow=20, pool_timeout=5,
                            connect_args=connect_args)
