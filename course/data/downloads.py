"""Download a file once into the course's cache, checked by SHA-256; fail fast when offline.

Introduced in lesson 00 (getting-started).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

CACHE_ENV_VAR = "COURSE_DATA_DIR"
MIRROR_ENV_VAR = "COURSE_DATA_MIRROR"
_CHUNK = 1 << 16

OFFLINE_ALTERNATIVES = (
    "Offline alternatives: data.load('digits') (bundled handwritten digits), "
    "data.load('shapes') (generated colour shapes), or a folder of your own images "
    "laid out root/<class>/<image>: data.load('path/to/folder')."
)


class DatasetUnavailableError(RuntimeError):
    """A dataset could not be downloaded (offline, server down, or a damaged file).

    Introduced in lesson 00 (getting-started). The message names the offline alternatives.

    Example::

        try:
            ds = data.load("cifar10")
        except data.DatasetUnavailableError:
            ds = data.load("shapes")
    """


class ChecksumError(DatasetUnavailableError):
    """A downloaded file's SHA-256 is not the expected one; the file was discarded.

    Introduced in lesson 00 (getting-started).

    Example: ``except data.ChecksumError as e: print(e)``
    """


def cache_dir() -> Path:
    """Where downloads are kept: ``$COURSE_DATA_DIR`` if set, else ``~/.cache/image-course``.

    Introduced in lesson 00 (getting-started).

    Example: ``data.cache_dir()`` -> ``PosixPath('/home/me/.cache/image-course')``
    """
    env = os.environ.get(CACHE_ENV_VAR, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "image-course"


_default_cache_dir = cache_dir  # `download` has a parameter of the same name


def sha256_of(path: str | os.PathLike) -> str:
    """The SHA-256 of a file, as 64 hex digits. Introduced in lesson 00 (getting-started).

    Example: ``data.sha256_of(data.cache_dir() / "mnist.npz")``
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_sha256(sha256: str | None) -> str | None:
    if sha256 is None:
        return None
    value = str(sha256).strip().lower()
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError(
            f"sha256 must be 64 hex digits (a SHA-256 checksum); got {sha256!r}. "
            "Compute one with data.sha256_of(path) or `sha256sum FILE`"
        )
    return value


def _source_url(url: str, filename: str) -> tuple[str, str]:
    """The URL to fetch (the mirror's when $COURSE_DATA_MIRROR is set) and a note about it."""
    mirror = os.environ.get(MIRROR_ENV_VAR, "").strip()
    if not mirror:
        return url, ""
    return (
        f"{mirror.rstrip('/')}/{urllib.parse.quote(filename)}",
        f" (mirror from ${MIRROR_ENV_VAR})",
    )


def _fetch(source: str, part: Path, timeout: float, progress: bool, filename: str) -> str:
    """Stream ``source`` into ``part``; return the SHA-256 of what arrived."""
    request = urllib.request.Request(source, headers={"User-Agent": "image-course"})
    digest = hashlib.sha256()
    received = 0
    with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
        length = response.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(
                total=expected,
                unit="B",
                unit_scale=True,
                desc=filename,
                file=sys.stdout,
                leave=False,
            )
        try:
            while True:
                block = response.read(_CHUNK)
                if not block:
                    break
                out.write(block)
                digest.update(block)
                received += len(block)
                if bar is not None:
                    bar.update(len(block))
        finally:
            if bar is not None:
                bar.close()
    if expected is not None and received != expected:
        raise http.client.IncompleteRead(b"", expected - received)
    return digest.hexdigest()


def download(
    url: str,
    sha256: str | None,
    *,
    filename: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    timeout: float = 10.0,
    progress: bool = True,
) -> Path:
    """Download ``url`` into the cache once, check its SHA-256, and return its path.

    Introduced in lesson 00 (getting-started).

    A cached file with the right checksum is returned without touching the network; one with
    a wrong checksum is downloaded again. The download goes to a temporary ``*.part`` file
    that is checked and then moved into place, so the cache never holds half a file. When
    ``$COURSE_DATA_MIRROR`` is set (a classroom server), the file is fetched from
    ``MIRROR/<filename>`` instead, with the same check. Network problems raise
    :class:`DatasetUnavailableError` after at most ``timeout`` seconds without data; a wrong
    checksum raises :class:`ChecksumError`. ``sha256=None`` skips the check (with a note).

    Example::

        path = data.download(
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
            "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
        )
    """
    expected = _check_sha256(sha256)
    filename = filename or Path(urllib.parse.urlparse(url).path).name
    if not filename or filename in (".", "..") or "/" in filename or "\\" in filename:
        raise ValueError(f"cannot name the downloaded file from {url!r}: pass filename='...'")
    folder = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename

    if target.is_file():
        if expected is None:
            return target
        if sha256_of(target) == expected:
            return target
        print(f"{target} is damaged or out of date (wrong SHA-256); downloading it again")
        target.unlink()

    source, note = _source_url(url, filename)
    fd, part_name = tempfile.mkstemp(dir=folder, prefix=f".{filename}.", suffix=".part")
    os.close(fd)
    part = Path(part_name)
    try:
        try:
            got = _fetch(source, part, timeout, progress, filename)
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as error:
            reason = getattr(error, "reason", None) or error
            if isinstance(error, urllib.error.HTTPError):
                reason = f"HTTP {error.code} {error.reason}"
            elif isinstance(error, socket.timeout | TimeoutError):
                reason = f"no answer within {timeout:g} s"
            elif isinstance(error, http.client.IncompleteRead):
                reason = "the connection closed before the whole file arrived"
            raise DatasetUnavailableError(
                f"could not download {filename} from {source}{note}: {reason}. "
                "You may be offline, or the server may be down. " + OFFLINE_ALTERNATIVES
            ) from error
        if expected is not None and got != expected:
            raise ChecksumError(
                f"the download of {filename} from {source}{note} is not the expected file: "
                f"expected SHA-256 {expected}, got {got}. The file was discarded; try again "
                "later, or check the mirror. " + OFFLINE_ALTERNATIVES
            )
        if expected is None:
            print(f"note: {filename} has no known checksum; it was downloaded unverified")
        os.replace(part, target)
    finally:
        # On any failure, KeyboardInterrupt included, no partial file stays behind.
        part.unlink(missing_ok=True)
    return target
