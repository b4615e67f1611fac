"""A tile server for benchmarks and browser tests: PNG tiles made on request, each with a thin border,
and a red square where a landmark lies, drawn in the tile server's own coordinate system (WGS-84, or
GCJ-02 as AMap-style tiles draw it). It answers XYZ paths (/xyz/{z}/{x}/{y}.png) and WMTS KVP
GetTile requests (/wmts?...&TILEMATRIX=z&TILEROW=y&TILECOL=x), and records what it was asked.

    with TileServer(landmark=(114.364889, 34.816667), crs="gcj02") as tiles:
        tiles.xyz_url    # "http://127.0.0.1:PORT/xyz/{z}/{x}/{y}.png"
        tiles.requests   # [(path, query), ...]
"""

from __future__ import annotations

import math
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import numpy as np

from twin.gcj02 import to_gcj02

__all__ = ["TileServer", "png", "read_png", "red_pixels", "tile_pixel", "MARK", "PAPER"]

SIZE = 256
PAPER = (236, 232, 222)
BORDER = (200, 196, 186)
MARK = (230, 20, 20)
MARK_HALF = 5  # the red square is 11 x 11 pixels


def png(width: int, height: int, rows: list[bytes]) -> bytes:
    """An 8-bit RGB PNG of `rows` (each width * 3 bytes)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + row for row in rows)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")


def read_png(data: bytes) -> np.ndarray:
    """The pixels of an 8-bit, non-interlaced RGB or RGBA PNG (a browser's screenshot) as a
    (height, width, channels) array."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    if depth != 8 or colour not in (2, 6) or interlace:
        raise ValueError(f"unsupported PNG: depth {depth}, colour type {colour}, interlace {interlace}")
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), dtype=np.int32)
    prior = np.zeros(width * channels, dtype=np.int32)
    for y in range(height):
        kind, row = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            line = row
        elif kind == 2:
            line = (row + prior) & 255
        else:  # Sub, Average and Paeth depend on the pixel to the left, already decoded: one at a time
            line = row.copy()
            for i in range(width * channels):
                a = line[i - channels] if i >= channels else 0
                b, c = prior[i], (prior[i - channels] if i >= channels else 0)
                if kind == 1:
                    line[i] = (row[i] + a) & 255
                elif kind == 3:
                    line[i] = (row[i] + (a + b) // 2) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    line[i] = (row[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out[y] = prior = line
    return out.reshape(height, width, channels).astype(np.uint8)


def red_pixels(pixels: np.ndarray) -> np.ndarray:
    """(x, y) of the pixels of the landmark's red square in an image: the mean of them is its centre."""
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    y, x = np.nonzero((r > 200) & (g < 60) & (b < 60))
    return np.stack([x, y], axis=1)


def tile_pixel(lon: float, lat: float, z: int) -> tuple[float, float]:
    """Web Mercator: the global pixel (x, y) of a point at zoom z (256-pixel tiles)."""
    scale = SIZE * 2**z
    x = (lon + 180.0) / 360.0 * scale
    phi = math.radians(lat)
    y = (1 - math.log(math.tan(phi) + 1 / math.cos(phi)) / math.pi) / 2 * scale
    return x, y


class TileServer:
    """A threaded HTTP tile server on a free port of 127.0.0.1, for the life of a `with` block."""

    def __init__(self, landmark: tuple[float, float] | None = None, crs: str = "wgs84"):
        self.requests: list[tuple[str, dict]] = []
        self.mark = None
        if landmark is not None:
            self.mark = tuple(float(v) for v in to_gcj02(*landmark)) if crs == "gcj02" else landmark
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802  (the http.server name)
                parts = urlsplit(self.path)
                query = {k.upper(): v[0] for k, v in parse_qs(parts.query).items()}
                server.requests.append((parts.path, query))
                tile = server._tile_of(parts.path, query)
                if tile is None:
                    self.send_error(404)
                    return
                body = server.tile(*tile)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.origin = f"http://127.0.0.1:{self.port}"
        self.xyz_url = f"{self.origin}/xyz/{{z}}/{{x}}/{{y}}.png"
        self.wmts_url = f"{self.origin}/wmts"
        self._thread = threading.Thread(target=self._server.serve_forever, name="tile-server", daemon=True)

    def __enter__(self) -> "TileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    @staticmethod
    def _tile_of(path: str, query: dict) -> tuple[int, int, int] | None:
        try:
            if path.startswith("/xyz/"):
                z, x, y = path[len("/xyz/"):].removesuffix(".png").split("/")
                return int(z), int(x), int(y)
            if path == "/wmts" and query.get("REQUEST") == "GetTile":
                return int(query["TILEMATRIX"].rsplit(":", 1)[-1]), int(query["TILECOL"]), int(query["TILEROW"])
        except (KeyError, ValueError):
            return None
        return None

    def tile(self, z: int, x: int, y: int) -> bytes:
        """The PNG of tile (z, x, y): paper, a border, and the landmark's square where it falls."""
        pixels = [bytearray(bytes(PAPER) * SIZE) for _ in range(SIZE)]
        for row in (0, SIZE - 1):
            pixels[row][:] = bytes(BORDER) * SIZE
        for row in pixels:
            row[0:3] = row[-3:] = bytes(BORDER)
        if self.mark is not None:
            gx, gy = tile_pixel(*self.mark, z)
            cx, cy = round(gx - x * SIZE), round(gy - y * SIZE)
            for row in range(max(0, cy - MARK_HALF), min(SIZE, cy + MARK_HALF + 1)):
                lo, hi = max(0, cx - MARK_HALF), min(SIZE, cx + MARK_HALF + 1)
                if lo < hi:
                    pixels[row][lo * 3:hi * 3] = bytes(MARK) * (hi - lo)
        return png(SIZE, SIZE, [bytes(row) for row in pixels])
