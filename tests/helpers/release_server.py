"""A loopback HTTP server playing the three BOLD5000 hosts, for bold5000-ae-fetch tests.

It serves miniature files under their published names the way each host does: figshare's API
(``/api/articles/<id>/files``: JSON with name, id, size, computed_md5, download_url) and its
downloads (``/files/<id>``), a direct file (Dropbox's stimulus zip), and S3's ListObjectsV2 XML
for the OpenNeuro bucket (``/openneuro.org?list-type=2&prefix=...``) with the objects under it.
Downloads honour ``Range`` (as all three hosts do). Faults a test can switch on: ``drop[path]``
= n sends n bytes of that file and closes the connection; ``corrupt[path]`` sends other bytes
than the listing's MD5 says. ``requests`` records (method, path, Range header) of every request.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse
from xml.sax.saxutils import escape


@dataclass
class Release:
    """What the server holds: figshare articles {id: [(file id, name, bytes)]}, direct files
    {path: bytes}, S3 objects {key: bytes}."""

    articles: dict[int, list[tuple[int, str, bytes]]] = field(default_factory=dict)
    direct: dict[str, bytes] = field(default_factory=dict)
    objects: dict[str, bytes] = field(default_factory=dict)
    drop: dict[str, int] = field(default_factory=dict)
    corrupt: set[str] = field(default_factory=set)
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)

    def content(self, path: str) -> bytes | None:
        if path.startswith("/files/"):
            wanted = int(path.rsplit("/", 1)[1])
            for files in self.articles.values():
                for file_id, _name, data in files:
                    if file_id == wanted:
                        return data
        if path in self.direct:
            return self.direct[path]
        if path.startswith("/openneuro.org/"):
            return self.objects.get(path[len("/openneuro.org/"):])
        return None


def _handler(release: Release, base: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, code: int, body: bytes, kind: str, extra: dict | None = None,
                  length: int | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body) if length is None else length))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _api(self, article: int) -> None:
            entries = [{"id": fid, "name": name, "size": len(data),
                        "computed_md5": hashlib.md5(data).hexdigest(),
                        "download_url": f"{base[0]}/files/{fid}"}
                       for fid, name, data in release.articles.get(article, [])]
            self._send(200, json.dumps(entries).encode(), "application/json")

        def _listing(self, prefix: str) -> None:
            rows = "".join(
                f"<Contents><Key>{escape(key)}</Key><Size>{len(data)}</Size>"
                f"<ETag>&quot;{hashlib.md5(data).hexdigest()}&quot;</ETag></Contents>"
                for key, data in sorted(release.objects.items()) if key.startswith(prefix))
            xml = ('<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3'
                   f'.amazonaws.com/doc/2006-03-01/"><Name>openneuro.org</Name>{rows}'
                   "<IsTruncated>false</IsTruncated></ListBucketResult>")
            self._send(200, xml.encode(), "application/xml")

        def do_HEAD(self) -> None:  # noqa: N802 (http.server's name)
            self.do_GET()

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            release.requests.append((self.command, url.path, self.headers.get("Range")))
            if url.path.startswith("/api/articles/") and url.path.endswith("/files"):
                page = parse_qs(url.query).get("page", ["1"])[0]
                return self._api(int(url.path.split("/")[3]) if page == "1" else -1)
            if url.path == "/openneuro.org":
                return self._listing(parse_qs(url.query).get("prefix", [""])[0])
            data = release.content(url.path)
            if data is None:
                return self._send(404, b"not found", "text/plain")
            if url.path in release.corrupt:
                data = bytes(b ^ 0xFF for b in data[:8]) + data[8:]
            start = 0
            wanted = self.headers.get("Range")
            if wanted and wanted.startswith("bytes="):
                start = int(wanted[6:].split("-")[0])
                if start >= len(data):
                    return self._send(416, b"", "application/octet-stream")
            code = 206 if start else 200
            extra = {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"} if start \
                else {}
            body = data[start:]
            cut = release.drop.pop(url.path, None) if self.command == "GET" else None
            if cut is not None:  # announce the whole file, send a part, hang up
                self._send(code, body[:cut], "application/octet-stream", extra,
                           length=len(body))
                self.wfile.flush()
                self.close_connection = True
                return None
            return self._send(code, body, "application/octet-stream", extra)

    return Handler


class ReleaseServer:
    """``with ReleaseServer(release) as server:`` serves on 127.0.0.1; ``server.base`` is its
    URL; ``server.overrides()`` the fetch config values pointing every part at it."""

    def __init__(self, release: Release) -> None:
        self.release = release
        self._base: list[str] = [""]
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(release, self._base))
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._base[0] = self.base
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ReleaseServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def overrides(self) -> list[str]:
        return [f"catalog.rois.api_base={self.base}/api",
                f"catalog.betas.api_base={self.base}/api",
                f"catalog.stimuli.url={self.base}/s/stimuli/BOLD5000_Stimuli.zip",
                f"catalog.bids.base_url={self.base}/openneuro.org"]
