"""Where the PostgreSQL programs are: the server's (initdb, postgres) for a throwaway cluster, and
the client's (pg_dump, pg_restore) that backup uses."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["find_bindir", "DEFAULT_BINDIR"]

DEFAULT_BINDIR = "/usr/lib/postgresql/15/bin"


def find_bindir() -> Path:
    """The directory holding initdb and postgres: $GRIDTWIN_PG_BINDIR, pg_config --bindir, or PATH."""
    candidates = [os.environ.get("GRIDTWIN_PG_BINDIR"), DEFAULT_BINDIR]
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(out.stdout.strip())
        except (OSError, subprocess.CalledProcessError):
            pass
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
            return Path(candidate)
    raise FileNotFoundError(
        "PostgreSQL server binaries (initdb, postgres) not found; install postgresql-15 "
        "or set GRIDTWIN_PG_BINDIR"
    )
