"""Download ``RemoteFile``s with pooch: checksummed, resumed after an interruption, unpacked.

pooch does the bookkeeping (skip a file already present with the right hash, check the hash of
a new download before it takes the real name, unzip archives); its downloader is replaced by
one that resumes: bytes arrive in ``<file>.part`` beside the target and a rerun asks the
server only for the rest (an HTTP ``Range`` request), so an interrupted multi-GB file is not
fetched again from its first byte. A server that ignores ``Range`` gets a fresh download.

Checksums: the host's MD5 where it publishes one (figshare, S3 ETags). Where it publishes none,
the SHA-256 of the first download is written to ``registry.json`` in the fetch root and every
later fetch (and a file already present) must match it. A mismatch is refused in one line and
the bad bytes are removed, never kept under the real name.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pooch
import requests
import urllib3
from tqdm.auto import tqdm

from bold5000_ae.fetch.catalog import TIMEOUT_S, OfflineError, RemoteFile
from bold5000_ae.utils.atomic_io import atomic_path
from bold5000_ae.utils.errors import InputError

REGISTRY = "registry.json"
CHUNK = 1 << 20
pooch.get_logger().setLevel("WARNING")  # this module says what it fetches, on stdout


class ResumingDownloader:
    """A pooch downloader (``downloader(url, output_file, pooch)``) that continues
    ``<target>.part`` with a Range request and moves it to pooch's temporary output when
    complete (pooch then checks the hash and renames it)."""

    def __init__(self, part: Path, size: int | None, progressbar: bool = True) -> None:
        self.part = part
        self.size = size
        self.progressbar = progressbar

    def __call__(self, url: str, output_file: str, _pooch: object) -> None:
        have = self.part.stat().st_size if self.part.is_file() else 0
        if self.size is not None and have > self.size:
            self.part.unlink()  # longer than the file: not a prefix of it
            have = 0
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            response = requests.get(url, headers=headers, stream=True, timeout=TIMEOUT_S)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise OfflineError(url, f"cannot reach the server (offline? "
                                    f"{type(exc).__name__})") from None
        if have and response.status_code == 416:  # nothing left to send
            response.close()
        else:
            if response.status_code not in (200, 206):
                raise InputError(url, f"HTTP {response.status_code} {response.reason}")
            mode = "ab" if response.status_code == 206 else "wb"
            start = have if mode == "ab" else 0
            total = self.size or (start + int(response.headers.get("Content-Length", 0))) or None
            with open(self.part, mode) as handle, tqdm(
                    total=total, initial=start, unit="B", unit_scale=True, leave=False,
                    desc=Path(self.part.name).stem, disable=not self.progressbar) as bar:
                try:
                    # read1: whatever has arrived, so a dropped connection loses no bytes
                    while block := response.raw.read1(CHUNK):
                        handle.write(block)
                        bar.update(len(block))
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                        urllib3.exceptions.HTTPError, OSError) as exc:
                    raise InputError(url, f"connection lost after {handle.tell():,} bytes "
                                          f"({type(exc).__name__}); the partial file "
                                          f"{self.part} is kept and the same command resumes "
                                          "it") from None
        got = self.part.stat().st_size
        if self.size is not None and got != self.size:
            raise InputError(url, f"server sent {got:,} of {self.size:,} bytes; the partial "
                                  f"file {self.part} is kept and the same command resumes it")
        os.replace(self.part, output_file)


def load_registry(root: Path) -> dict[str, str]:
    path = root / REGISTRY
    if not path.is_file():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise InputError(path, f"not a readable checksum registry ({exc})") from None


def save_registry(root: Path, registry: dict[str, str]) -> None:
    with atomic_path(root / REGISTRY) as tmp:
        tmp.write_text(json.dumps(registry, indent=1, sort_keys=True) + "\n")


def _refuse(target: Path, expected: str, got: str, where: str) -> InputError:
    target.unlink(missing_ok=True)
    return InputError(target, f"checksum mismatch ({where} {expected}, downloaded "
                              f"{got}); the file was removed: the server or the connection "
                              "corrupted it, fetch again later")


def fetch_file(remote: RemoteFile, root: Path, registry: dict[str, str],
               progressbar: bool = True) -> Path:
    """Download one file (or find it present and valid) and unpack it if it is an archive."""
    target = root / remote.path
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    downloader = ResumingDownloader(part, remote.size, progressbar)
    print(f"fetching {remote.path}", flush=True)
    processor = pooch.Unzip(extract_dir=str(root / remote.unpack)) if remote.unpack else None
    try:
        pooch.retrieve(remote.url, known_hash=remote.known_hash, fname=target.name,
                       path=target.parent, downloader=downloader, processor=processor,
                       progressbar=False)
    except ValueError as exc:  # pooch: the hash of the new download does not match
        found = re.search(r"expected (\S+) but got (\S+?)\.", str(exc))
        if found is None:
            raise
        raise _refuse(target, found.group(1), found.group(2), "published") from None
    if remote.known_hash is None:
        digest = pooch.file_hash(str(target), alg="sha256")
        seen = registry.get(remote.path)
        if seen is None:
            registry[remote.path] = f"sha256:{digest}"
            save_registry(root, registry)
        elif seen != f"sha256:{digest}":
            raise _refuse(target, seen, f"sha256:{digest}", "first seen")
    return target


def fetch_all(files: Sequence[RemoteFile], root: Path, progressbar: bool = True,
              done: Callable[[RemoteFile, Path], None] | None = None) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    registry = load_registry(root)
    out = []
    for remote in files:
        path = fetch_file(remote, root, registry, progressbar)
        out.append(path)
        if done:
            done(remote, path)
    return out
