"""The one console every command prints through: human text on stdout, errors on stderr,
and with --json exactly one JSON object on the last line."""

from __future__ import annotations

import json
import sys
from typing import Any


class Console:
    def __init__(self, json_mode: bool = False, out=None, err=None):
        self.json_mode = json_mode
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def print(self, text: str = "") -> None:
        """Human-readable output; in JSON mode it goes to stderr so stdout stays one object."""
        print(text, file=self.err if self.json_mode else self.out, flush=True)

    def error(self, text: str) -> None:
        print(f"error: {text}", file=self.err, flush=True)

    def result(self, data: dict[str, Any], text: str | None = None) -> None:
        """The command's figures: one JSON object on the last line with --json, else `text`."""
        if self.json_mode:
            print(json.dumps(data, ensure_ascii=False, sort_keys=True), file=self.out, flush=True)
        elif text is not None:
            print(text, file=self.out, flush=True)
