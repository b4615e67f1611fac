"""Backup and restore of a whole store: every table, the migrations applied, the audit hash chain.

- SQLite: the online backup API copies a consistent snapshot while the gateway keeps writing;
  the backup is a SQLite file of its own (no WAL), which `restore` copies back page by page.
- PostgreSQL + PostGIS: `pg_dump --format=custom` (a consistent snapshot, too); `restore` feeds
  `pg_restore`'s script to `psql` in one transaction, into an empty database (PostGIS is created
  when missing) or one whose GridTwin tables it replaces: all of it or, on any error, nothing.

    backup("sqlite:///var/lib/gridtwin/twin.db", "/backups/twin-2026-11-29.db")
    restore("sqlite:///var/lib/gridtwin/new.db", "/backups/twin-2026-11-29.db")          # refuses a store with data
    restore("postgresql://gt@db/twin", "/backups/twin.pgdump", force=True)               # replaces its data

A restore refuses a file that is not a backup of a GridTwin store of the same backend, one made
by a newer GridTwin (migrations this one does not know), and a store that holds data unless
`force`. After the restore, migrations newer than the backup are applied.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from twin.errors import StoreError
from twin.store.codec import redact
from twin.store.migrations import postgres as pg_schema
from twin.store.migrations import sqlite as sqlite_schema
from twin.store.pgbin import find_bindir
from twin.store.sqlite import SqliteStore, sqlite_path

__all__ = ["BackupReport", "backup", "restore", "store_tables_with_rows"]

log = logging.getLogger(__name__)

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
# Tables that hold bookkeeping, not data: a store with rows only in these counts as empty.
_BOOKKEEPING = {"schema_migrations", "store_meta", "spatial_ref_sys"}


@dataclass(frozen=True)
class BackupReport:
    store: str  # the store URL, password redacted
    file: str
    bytes: int
    seconds: float
    readings: int
    migrations: int

    def to_dict(self) -> dict:
        return asdict(self)


def backup(url: str, path: str | Path) -> BackupReport:
    """Write a backup of the store at `url` to `path` (replaced when it exists, only once complete)."""
    path = Path(path)
    if path.is_dir():
        raise StoreError(f"backup file {path} is a directory; give a file name")
    path.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if url.startswith("sqlite:"):
        readings, migrations = _sqlite_backup(url, path)
    elif url.startswith(("postgresql:", "postgres:")):
        readings, migrations = _pg_backup(url, path)
    else:
        raise StoreError(f"cannot back up {redact(url)}: not a sqlite:// or postgresql:// store")
    return BackupReport(redact(url), str(path), path.stat().st_size, round(time.perf_counter() - started, 3),
                        readings, migrations)


def restore(url: str, path: str | Path, *, force: bool = False) -> BackupReport:
    """Restore the backup at `path` into the store at `url`, then apply newer migrations."""
    path = Path(path)
    kind = _file_kind(path)
    started = time.perf_counter()
    if url.startswith("sqlite:"):
        if kind != "sqlite":
            raise StoreError(f"{path} is {_KIND_TEXT[kind]}, not a backup of a SQLite store" + _hint(kind))
        readings, migrations = _sqlite_restore(url, path, force)
    elif url.startswith(("postgresql:", "postgres:")):
        if kind != "pgdump":
            raise StoreError(f"{path} is {_KIND_TEXT[kind]}, not a backup of a PostgreSQL store" + _hint(kind))
        readings, migrations = _pg_restore(url, path, force)
    else:
        raise StoreError(f"cannot restore into {redact(url)}: not a sqlite:// or postgresql:// store")
    return BackupReport(redact(url), str(path), path.stat().st_size, round(time.perf_counter() - started, 3),
                        readings, migrations)


_KIND_TEXT = {"sqlite": "a SQLite database", "pgdump": "a PostgreSQL dump (pg_dump custom format)",
              "other": "neither a SQLite database nor a PostgreSQL dump"}


def _hint(kind: str) -> str:
    return {"sqlite": "; restore it into a sqlite:/// store", "pgdump": "; restore it into a postgresql:// store",
            "other": ""}[kind]


def _file_kind(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except FileNotFoundError:
        raise StoreError(f"backup file {path} does not exist") from None
    except OSError as exc:
        raise StoreError(f"cannot read backup file {path}: {exc}") from exc
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "pgdump"
    return "other"


def _check_migrations(names: set[str], known: list[str], path: Path) -> None:
    if not names:
        raise StoreError(f"{path} is not a backup of a GridTwin store: it records no schema migrations")
    unknown = sorted(names - set(known))
    if unknown:
        raise StoreError(f"{path} was made by another or a newer GridTwin: its migrations {', '.join(unknown)} are "
                         f"unknown here (known: {', '.join(known)}); restore it with the version that made it")


def store_tables_with_rows(url: str) -> list[str]:
    """The store's data tables that hold at least one row (bookkeeping tables left out)."""
    if url.startswith("sqlite:"):
        file = sqlite_path(url)
        if file != ":memory:" and not Path(file).exists():
            return []
        with _sqlite_connect(file) as conn:
            return _sqlite_tables_with_rows(conn)
    return _pg_tables_with_rows(url)


# -- SQLite ---------------------------------------------------------------------
def _sqlite_connect(file: str, readonly: bool = False) -> sqlite3.Connection:
    try:
        if readonly:
            return sqlite3.connect(f"file:{file}?mode=ro", uri=True, isolation_level=None, timeout=30)
        return sqlite3.connect(file, isolation_level=None, timeout=30)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open {file}: {exc}") from exc


def _sqlite_tables_with_rows(conn: sqlite3.Connection) -> list[str]:
    tables = [name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    return [t for t in tables if t not in _BOOKKEEPING and conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()]


def _sqlite_facts(conn: sqlite3.Connection) -> tuple[int, set[str]]:
    names = {name for (name,) in conn.execute("SELECT name FROM schema_migrations")}
    return conn.execute("SELECT count(*) FROM readings").fetchone()[0], names


def _sqlite_backup(url: str, path: Path) -> tuple[int, int]:
    file = sqlite_path(url)
    if file == ":memory:" or not Path(file).exists():
        raise StoreError(f"there is no SQLite store at {url} to back up")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        src = _sqlite_connect(file, readonly=True)
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            # One step (pages=-1): a single read transaction, so the copy is one consistent
            # snapshot however much the gateway writes meanwhile (WAL lets it go on writing).
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            readings, names = _sqlite_facts(dst)
        except sqlite3.Error as exc:
            raise StoreError(f"backup of {url} failed: {exc}") from exc
        finally:
            src.close()
            dst.close()
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("backed up %s to %s: %d readings", url, path, readings)
    return readings, len(names)


def _sqlite_restore(url: str, path: Path, force: bool) -> tuple[int, int]:
    file = sqlite_path(url)
    if file == ":memory:":
        raise StoreError("cannot restore into an in-memory store")
    src = _sqlite_connect(str(path), readonly=True)
    try:
        try:
            check = src.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise StoreError(f"{path} is a damaged SQLite file: {check}")
            has_table = src.execute("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").fetchone()
            if not has_table:
                raise StoreError(f"{path} is a SQLite database but not a backup of a GridTwin store")
            readings, names = _sqlite_facts(src)
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{path} is not a readable backup: {exc}") from exc
        _check_migrations(names, [m.name for m in sqlite_schema.MIGRATIONS], path)
        busy = store_tables_with_rows(url)
        if busy and not force:
            raise StoreError(f"the store at {url} holds data ({', '.join(busy[:6])}{' ...' if len(busy) > 6 else ''}); "
                             f"restore into an empty store, or replace its data with --force")
        Path(file).parent.mkdir(parents=True, exist_ok=True)
        dst = _sqlite_connect(file)
        try:
            src.backup(dst)
        except sqlite3.Error as exc:
            raise StoreError(f"restore into {url} failed: {exc}") from exc
        finally:
            dst.close()
    finally:
        src.close()
    with SqliteStore(url) as store:
        applied = store.migrate()
    log.info("restored %s from %s: %d readings%s", url, path, readings,
             f"; applied newer migrations {', '.join(applied)}" if applied else "")
    return readings, len(names) + len(applied)


# -- PostgreSQL -----------------------------------------------------------------
def _pg_tool(name: str) -> str:
    """pg_dump or pg_restore: $GRIDTWIN_PG_BINDIR, PATH, or the server's bin directory."""
    bindir = os.environ.get("GRIDTWIN_PG_BINDIR")
    if bindir and (Path(bindir) / name).exists():
        return str(Path(bindir) / name)
    found = shutil.which(name)
    if found:
        return found
    try:
        candidate = find_bindir() / name
        if candidate.exists():
            return str(candidate)
    except Exception:  # noqa: BLE001 - reported below as a missing tool
        pass
    raise StoreError(f"{name} is not installed (Debian: apt-get install postgresql-client-15); it is needed to back up "
                     "and restore a PostgreSQL store")


def _pg_env(url: str) -> tuple[str, dict[str, str]]:
    """A connection string without the password, and an environment carrying it: the password
    never appears on a command line (visible to every user in `ps`)."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(url)
    env = dict(os.environ)
    password = params.pop("password", None)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return make_conninfo(**{k: str(v) for k, v in params.items()}), env


def _run(argv: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(argv, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise StoreError(f"{what} failed: {' / '.join(detail[-3:]) or f'exit code {result.returncode}'}")
    return result.stdout


def _pg_connect(url: str):
    import psycopg

    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to the store at {redact(url)}: {exc}".strip()) from exc


def _pg_tables_with_rows(url: str) -> list[str]:
    with _pg_connect(url) as conn:
        tables = [name for (name,) in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY c.relname")]
        return [t for t in tables
                if t not in _BOOKKEEPING and conn.execute(f'SELECT 1 FROM "{t}" LIMIT 1').fetchone()]


def _pg_layout(conn) -> str | None:
    exists = conn.execute("SELECT to_regclass('public.store_meta') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    row = conn.execute("SELECT value FROM store_meta WHERE key = 'readings_layout'").fetchone()
    return row[0] if row else None


def _pg_backup(url: str, path: Path) -> tuple[int, int]:
    with _pg_connect(url) as conn:
        layout = _pg_layout(conn)
        if layout is None:
            raise StoreError(f"the database at {redact(url)} is not a GridTwin store (run `gridtwin db migrate` first)")
        if layout == pg_schema.HYPERTABLE:
            raise StoreError("this store keeps readings in a TimescaleDB hypertable: back it up with TimescaleDB's own "
                             "procedure (pg_dump with timescaledb_pre_restore/post_restore), see docs/operations.md")
    conninfo, env = _pg_env(url)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        # pg_dump reads every table in one REPEATABLE READ snapshot: consistent while the gateway writes.
        _run([_pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges", "--file", tmp,
              "--dbname", conninfo], env, f"pg_dump of {redact(url)}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with _pg_connect(url) as conn:  # figures for the report (the dump itself is the snapshot)
        readings = conn.execute("SELECT count(*) FROM readings").fetchone()[0]
        migrations = conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0]
    log.info("backed up %s to %s", redact(url), path)
    return readings, migrations


def _pg_archive_migrations(path: Path, env: dict[str, str]) -> set[str]:
    """The migration names in a dump's schema_migrations data (COPY text: name first)."""
    out = _run([_pg_tool("pg_restore"), "--data-only", "--table", "schema_migrations", "--file", "-", str(path)],
               env, f"reading {path}")
    names, copying = set(), False
    for line in out.splitlines():
        if line.startswith("COPY ") and "schema_migrations" in line:
            copying = True
        elif copying and line == "\\.":
            copying = False
        elif copying and line:
            names.add(line.split("\t", 1)[0])
    return names


def _pg_restore(url: str, path: Path, force: bool) -> tuple[int, int]:
    from twin.store.postgres import PostgresStore  # psycopg is loaded only for a PostgreSQL store

    conninfo, env = _pg_env(url)
    listing = _run([_pg_tool("pg_restore"), "--list", str(path)], env, f"reading {path} (pg_restore --list)")
    if "TABLE DATA public readings" not in listing and " TABLE public readings " not in listing:
        raise StoreError(f"{path} is a PostgreSQL dump but not of a GridTwin store (it has no readings table)")
    names = _pg_archive_migrations(path, env)
    _check_migrations(names, [m.name for m in pg_schema.MIGRATIONS], path)
    busy = _pg_tables_with_rows(url)
    if busy and not force:
        raise StoreError(f"the store at {redact(url)} holds data ({', '.join(busy[:6])}{' ...' if len(busy) > 6 else ''}); "
                         f"restore into an empty store, or replace its data with --force")
    # The extension comes from the target's server, not from the dump: restoring its entries would
    # need ownership of it (COMMENT ON EXTENSION), and its version is the server's business.
    entries = [line for line in listing.splitlines()
               if line and not line.startswith(";") and " EXTENSION " not in line]
    list_file = Path(tempfile.mkstemp(prefix="gridtwin-restore-", suffix=".list")[1])
    try:
        list_file.write_text("\n".join(entries) + "\n")
        with _pg_connect(url) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS postgis")
            drops = _pg_drop_statements(conn)
        _pg_replace(conninfo, env, drops, path, list_file, redact(url))
    finally:
        list_file.unlink(missing_ok=True)
    with PostgresStore(url) as store:
        applied = store.migrate()
        readings = store.count_readings()
    log.info("restored %s from %s: %d readings%s", redact(url), path, readings,
             f"; applied newer migrations {', '.join(applied)}" if applied else "")
    return readings, len(names) + len(applied)


def _pg_replace(conninfo: str, env: dict[str, str], drops: list[str], path: Path, list_file: Path, where: str) -> None:
    """Drop the store's objects and restore the dump in one transaction (psql fed by pg_restore):
    COMMIT is sent only once pg_restore has written the whole script, so a dump cut short, or any
    failing statement, leaves the store as it was."""
    restore = subprocess.Popen([_pg_tool("pg_restore"), "--no-owner", "--no-privileges", "--use-list", str(list_file),
                                "--file", "-", str(path)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    psql = subprocess.Popen([_pg_tool("psql"), "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--dbname", conninfo],
                            env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            psql.stdin.write(("BEGIN;\n" + "".join(f"{d};\n" for d in drops)).encode())
            shutil.copyfileobj(restore.stdout, psql.stdin, 1 << 20)
            restored = restore.wait() == 0
            if restored:
                psql.stdin.write(b"COMMIT;\n")
            psql.stdin.close()  # without COMMIT, the session ends and the transaction rolls back
        except BrokenPipeError:  # psql stopped at an error: it says which below
            restored = restore.wait() == 0
        psql_err = psql.stderr.read().decode(errors="replace")
        psql.wait()
        restore_err = restore.stderr.read().decode(errors="replace")
    finally:
        for proc in (restore, psql):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if not restored:
        detail = restore_err.strip().splitlines()
        raise StoreError(f"{path} cannot be read to the end (pg_restore: {' / '.join(detail[-2:]) or 'failed'}); "
                         f"nothing was restored into {where}")
    if psql.returncode != 0:
        detail = psql_err.strip().splitlines()
        raise StoreError(f"restore into {where} failed, nothing was changed: {' / '.join(detail[-3:])}")


def _pg_drop_statements(conn) -> list[str]:
    """DROP statements for the tables, sequences, views and functions of schema public that no
    extension owns (PostGIS's stay), so that the dump's schema can be created again."""
    rows = conn.execute(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND NOT c.relispartition "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')").fetchall()
    drops = []
    for name, kind in sorted(rows, key=lambda r: r[1] not in ("r", "p")):  # tables (and what they own) first
        what = {"v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE", "f": "FOREIGN TABLE"}.get(kind, "TABLE")
        drops.append(f'DROP {what} IF EXISTS "{name}" CASCADE')
    functions = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
        "WHERE n.nspname = 'public' "
        "AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')").fetchall()
    drops += [f"DROP FUNCTION IF EXISTS {signature} CASCADE" for (signature,) in functions]
    return drops
