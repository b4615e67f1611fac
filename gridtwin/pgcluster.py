"""A throwaway PostgreSQL + PostGIS cluster: initdb into a temporary directory, start it on a
free port, hand out fresh databases cloned from a PostGIS template, and remove it all on exit.

Used by the test fixtures (tests/fixtures/postgres.py) and the benchmarks:

    with ThrowawayCluster() as cluster:
        url = cluster.create_database()     # postgresql://postgres@127.0.0.1:PORT/gt_...
        ...
        cluster.drop_database(url)

PostgreSQL refuses to run as root; when the caller is root, initdb and the server run as the
`postgres` system user (subprocess switches user before exec) and the temporary directory is
handed to that user.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg

from gridtwin.ports import free_port
from twin.store.pgbin import find_bindir

log = logging.getLogger(__name__)

TEMPLATE_DB = "gridtwin_template"


def _die_with_parent() -> None:
    """In the child before exec (after its user switch, which would clear it): get SIGTERM when
    the process that started the server dies, so a test run killed without teardown does not
    leave a server behind (Linux only)."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


class ThrowawayCluster:
    """A private PostgreSQL server for tests and benchmarks; a context manager.

    `extensions` are created in the template database that `create_database()` clones.
    Durability is off (fsync, synchronous_commit, full_page_writes): the cluster is
    disposable and speed matters more than crash safety.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        extensions: tuple[str, ...] = ("postgis",),
        bindir: str | Path | None = None,
        settings: dict[str, str] | None = None,
    ):
        self.host = host
        self.port = port or free_port(host)
        self.extensions = extensions
        self.bindir = Path(bindir) if bindir else find_bindir()
        self.settings = {
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "shared_buffers": "64MB",
            **(settings or {}),
        }
        self.dir: Path | None = None
        self.proc: subprocess.Popen | None = None
        # Keyword arguments that make a subprocess run as the postgres user when we are root.
        self._user = {"user": "postgres", "group": "postgres", "extra_groups": []} if os.geteuid() == 0 else {}

    # -- paths and URLs -----------------------------------------------------
    @property
    def data_dir(self) -> Path:
        assert self.dir is not None, "cluster not started"
        return self.dir / "data"

    @property
    def socket_dir(self) -> Path:
        assert self.dir is not None, "cluster not started"
        return self.dir / "sock"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{dbname}"

    # -- lifetime -----------------------------------------------------------
    def start(self) -> "ThrowawayCluster":
        self.dir = Path(tempfile.mkdtemp(prefix="gridtwin-pg-"))
        try:
            self._initdb()
            self._start_server()
            self._create_template()
        except BaseException:
            self.stop()
            raise
        log.info("throwaway PostgreSQL listening on %s:%d (%s)", self.host, self.port, self.dir)
        return self

    def _initdb(self) -> None:
        self.socket_dir.mkdir()
        if self._user:
            owner = pwd.getpwnam("postgres")
            for path in (self.dir, self.socket_dir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        args = [
            str(self.bindir / "initdb"),
            "-D", str(self.data_dir),
            "-U", "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
            "--no-instructions",
        ]  # fmt: skip
        result = subprocess.run(args, capture_output=True, text=True, cwd=self.dir, **self._user)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed ({result.returncode}): {result.stderr.strip()}")
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write(f"\nlisten_addresses = '{self.host}'\n")
            conf.write(f"port = {self.port}\n")
            conf.write(f"unix_socket_directories = '{self.socket_dir}'\n")
            for key, value in self.settings.items():
                conf.write(f"{key} = '{value}'\n")

    def _start_server(self) -> None:
        log_path = self.dir / "postgres.log"
        log_file = open(log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                [str(self.bindir / "postgres"), "-D", str(self.data_dir)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.dir,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
                **self._user,
            )
        finally:
            log_file.close()
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited with code {self.proc.returncode}: {self.log_text()[-2000:]}")
            try:
                with psycopg.connect(self.url(), connect_timeout=2, autocommit=True):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"postgres did not accept connections within 30 s: {self.log_text()[-2000:]}")
                time.sleep(0.05)

    def _create_template(self) -> None:
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{TEMPLATE_DB}"')
        with psycopg.connect(self.url(TEMPLATE_DB), autocommit=True) as conn:
            for ext in self.extensions:
                conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{ext}"')
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{TEMPLATE_DB}" WITH IS_TEMPLATE true')

    def stop_server(self) -> None:
        """Stop the server with `pg_ctl stop -m fast` and keep its data: `start_server()` brings it
        back on the same port (fault tests take the database away and give it back)."""
        assert self.proc is not None and self.dir is not None, "cluster not started"
        result = subprocess.run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "stop", "-m", "fast", "-w"],
                                capture_output=True, text=True, cwd=self.dir, **self._user)
        if result.returncode != 0:
            raise RuntimeError(f"pg_ctl stop failed ({result.returncode}): {result.stderr.strip()}")
        self.proc.wait(30)
        self.proc = None

    def start_server(self) -> None:
        """Start the server again after `stop_server()`, on the same port and data."""
        assert self.proc is None and self.dir is not None, "cluster not stopped"
        self._start_server()

    def stop(self) -> None:
        """Fast shutdown (killed after 10 s) and remove the directory; safe to call twice."""
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGINT)  # fast shutdown: end sessions, checkpoint, exit
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def log_text(self) -> str:
        path = self.dir / "postgres.log" if self.dir else None
        return path.read_text(errors="replace") if path and path.exists() else ""

    def __enter__(self) -> "ThrowawayCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- databases ----------------------------------------------------------
    def create_database(self, name: str | None = None, template: str = TEMPLATE_DB) -> str:
        """Create a database cloned from `template` (PostGIS ready); return its URL."""
        name = name or f"gt_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY file_copy')
        return self.url(name)

    def drop_database(self, name_or_url: str) -> None:
        """Drop a database, closing any connection still open to it."""
        name = name_or_url.rsplit("/", 1)[-1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def mark_template(self, name_or_url: str) -> None:
        """Let `name_or_url` be cloned by create_database(template=...)."""
        name = name_or_url.rsplit("/", 1)[-1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true')
