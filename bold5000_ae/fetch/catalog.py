"""Where each public part of BOLD5000 lives, listed as the files one fetch would write.

Each part is a class Hydra builds from ``conf/fetch_part/<part>.yaml`` (the public pages its
URLs come from are cited there). ``files(subjects, sessions)`` asks the host for the current
list (names, sizes and, where the host publishes one, a checksum) and returns
``RemoteFile``s: a URL, the path under the fetch root it goes to, its size, and its checksum
(``md5:...`` as figshare and S3 publish them, or None: then the first SHA-256 seen is kept in
the registry and checked on every later fetch). Base URLs are plain config values, so a test
(or a mirror) points them at another server.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote

import requests

from bold5000_ae.utils.errors import InputError

TIMEOUT_S = 60


@dataclass(frozen=True)
class RemoteFile:
    url: str
    path: str  # relative to the fetch root, '/'-separated
    size: int | None
    known_hash: str | None  # "md5:<hex>" where the host publishes one
    unpack: str | None = None  # unzip into this folder under the root (archives)


class OfflineError(InputError):
    """The host could not be reached: one line, naming it."""


def get(url: str, **params: str) -> requests.Response:
    """GET with one-line errors for no network and for HTTP errors."""
    try:
        response = requests.get(url, params=params or None, timeout=TIMEOUT_S)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise OfflineError(url, f"cannot reach the server (offline? {type(exc).__name__})"
                           ) from None
    if response.status_code != 200:
        raise InputError(url, f"HTTP {response.status_code} {response.reason}")
    return response


def _subject_names(subjects: Sequence[int]) -> list[str]:
    return [f"CSI{int(s)}" for s in subjects]


class FigshareArticle:
    """Files of one figshare article chosen by name patterns (``{subject}``, ``{session:02d}``
    filled in), with figshare's published MD5 and size, listed by its public API."""

    def __init__(self, api_base: str, article: int, names: Sequence[str] = (),
                 file_ids: Sequence[int] = (), dest: str = "",
                 unpack: str | None = None) -> None:
        self.api_base = api_base.rstrip("/")
        self.article = int(article)
        self.names = list(names)
        self.file_ids = [int(i) for i in file_ids]
        self.dest = dest.strip("/")
        self.unpack = unpack

    def wanted(self, subjects: Sequence[int], sessions: Sequence[int]) -> list[str]:
        out = []
        for pattern in self.names:
            if "{subject}" not in pattern:
                out.append(pattern)
                continue
            for subject in subjects:
                if "{session" in pattern:
                    out += [pattern.format(subject=subject, session=s) for s in sessions]
                else:
                    out.append(pattern.format(subject=subject))
        return list(dict.fromkeys(out))

    def listing(self) -> list[dict]:
        url = f"{self.api_base}/articles/{self.article}/files"
        found: list[dict] = []
        page = 1
        while True:
            batch = get(url, page=str(page), page_size="1000").json()
            found += batch
            if len(batch) < 1000:
                return found
            page += 1

    def files(self, subjects: Sequence[int], sessions: Sequence[int]) -> list[RemoteFile]:
        listing = self.listing()
        by_name = {entry["name"]: entry for entry in listing}
        by_id = {int(entry["id"]): entry for entry in listing}
        where = f"{self.api_base}/articles/{self.article}"
        chosen = []
        for file_id in self.file_ids:
            if file_id not in by_id:
                raise InputError(where, f"no file with id {file_id} in this figshare article")
            chosen.append(by_id[file_id])
        for name in self.wanted(subjects, sessions):
            if name not in by_name:
                raise InputError(where, f"no file named {name} in this figshare article")
            chosen.append(by_name[name])
        out = []
        for entry in chosen:
            name = entry["name"]
            md5 = entry.get("computed_md5") or entry.get("supplied_md5")
            out.append(RemoteFile(url=entry["download_url"],
                                  path=f"{self.dest}/{name}" if self.dest else name,
                                  size=entry.get("size"), known_hash=f"md5:{md5}" if md5
                                  else None, unpack=self.unpack))
        return out


class DirectFile:
    """One file at a fixed URL whose host publishes no checksum (its size from a HEAD)."""

    def __init__(self, url: str, name: str, unpack: str | None = None) -> None:
        self.url = url
        self.name = name
        self.unpack = unpack

    def files(self, subjects: Sequence[int], sessions: Sequence[int]) -> list[RemoteFile]:
        try:
            head = requests.head(self.url, allow_redirects=True, timeout=TIMEOUT_S)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise OfflineError(self.url, f"cannot reach the server (offline? "
                                         f"{type(exc).__name__})") from None
        size = head.headers.get("Content-Length")
        return [RemoteFile(url=self.url, path=self.name, size=int(size) if size else None,
                           known_hash=None, unpack=self.unpack)]


S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class OpenNeuroRuns:
    """The task runs (BOLD and events) of an OpenNeuro dataset in its public S3 bucket, listed
    per subject and session with S3's ListObjectsV2 (keys, sizes, ETags: an ETag without a
    '-' is the object's MD5)."""

    def __init__(self, base_url: str, dataset: str, task: str, suffixes: Sequence[str],
                 dest: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.dataset = dataset
        self.task = task
        self.suffixes = tuple(suffixes)
        self.dest = dest.strip("/")

    def _list(self, prefix: str) -> list[tuple[str, int, str]]:
        found, token = [], None
        while True:
            params = {"list-type": "2", "prefix": prefix}
            if token:
                params["continuation-token"] = token
            root = ET.fromstring(get(self.base_url, **params).content)
            for item in root.iter(f"{S3_NS}Contents"):
                found.append((item.findtext(f"{S3_NS}Key"), int(item.findtext(f"{S3_NS}Size")),
                              (item.findtext(f"{S3_NS}ETag") or "").strip('"')))
            if root.findtext(f"{S3_NS}IsTruncated") != "true":
                return found
            token = root.findtext(f"{S3_NS}NextContinuationToken")

    def files(self, subjects: Sequence[int], sessions: Sequence[int]) -> list[RemoteFile]:
        run = re.compile(rf"_task-{re.escape(self.task)}_run-\d+_(?:"
                         + "|".join(re.escape(s) for s in self.suffixes) + ")$")
        out = []
        for subject in _subject_names(subjects):
            for session in sessions:
                prefix = f"{self.dataset}/sub-{subject}/ses-{int(session):02d}/func/"
                listed = [e for e in self._list(prefix) if run.search(e[0])]
                if not listed:
                    raise InputError(f"{self.base_url}/{prefix}",
                                     f"no {self.task} runs listed for sub-{subject} "
                                     f"ses-{int(session):02d}")
                for key, size, etag in listed:
                    md5 = etag if re.fullmatch(r"[0-9a-f]{32}", etag) else None
                    out.append(RemoteFile(
                        url=f"{self.base_url}/{quote(key)}",
                        path=f"{self.dest}/{key[len(self.dataset) + 1:]}", size=size,
                        known_hash=f"md5:{md5}" if md5 else None))
        return out
