"""Fetch one file over HTTP(S) with urllib: resumable, verified, never half-written.

The bytes go to ``<name>.part``; only when their SHA-256 matches is the part renamed to the
final name (``os.replace`` is atomic), so a file under its final name is always complete and
verified.  An interrupted transfer leaves the part behind and the next try asks the server for
the rest with a Range request; a server that ignores Range answers with the whole file and the
part is simply rewritten from the start.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

__all__ = ["BACKOFF", "Progress", "DownloadError", "download", "sha256_of"]

Progress = Callable[[int, int | None], None]  # (bytes done, total bytes or None)

BACKOFF = 1.0  # seconds before the first retry; doubled for each further one
_CHUNK = 1 << 16
_AGENT = "Layerloom/0.1 (+dataset download)"
_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


class DownloadError(RuntimeError):
    """A download failed for good: the message says which URL and why."""


class _Retry(Exception):
    """A failure worth another try (network trouble, short transfer, bad range reply)."""


def sha256_of(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def download(
    url: str,
    dest: str | Path,
    sha256: str,
    *,
    size: int | None = None,
    progress: Progress | None = None,
    retries: int = 3,
    backoff: float | None = None,
    timeout: float = 60.0,
) -> Path:
    """Download ``url`` to ``dest`` unless it is already there; returns ``dest``.

    ``size`` (bytes), when known, gives progress a total even before the server answers.
    Network failures are retried ``retries`` times, waiting ``backoff`` seconds (default
    ``BACKOFF``), then twice that, and so on.  A hash mismatch after resuming an old part is
    retried once from scratch (the old part may have come from another version of the file);
    a mismatch on a fresh transfer is final.  Raises ``DownloadError``.
    """
    dest = Path(dest)
    if dest.exists():
        return dest  # only verified files ever get the final name
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    failures = 0
    fresh_retry_used = False
    while True:
        try:
            resumed = _transfer(url, part, size, progress, timeout)
        except _Retry as e:
            failures += 1
            if failures > retries:
                raise DownloadError(f"could not download {url} after {failures} "
                                    f"{'try' if failures == 1 else 'tries'}: {e}."
                                    + _kept(part)) from None
            time.sleep((BACKOFF if backoff is None else backoff) * 2 ** (failures - 1))
            continue
        digest = sha256_of(part)
        if digest == sha256.lower():
            os.replace(part, dest)
            return dest
        part.unlink(missing_ok=True)
        if resumed and not fresh_retry_used:
            fresh_retry_used = True
            continue
        raise DownloadError(
            f"{url} is corrupt: its SHA-256 is {digest}, expected {sha256}. "
            "The file was discarded; check the mirror or try again later."
        )


def _kept(part: Path) -> str:
    """What a failed download leaves behind, in words (an empty part is removed)."""
    size = part.stat().st_size if part.exists() else 0
    if not size:
        part.unlink(missing_ok=True)
        return ""
    return f" The {size:,} bytes received are kept in {part.name}; the next try resumes there."


def _transfer(
    url: str, part: Path, size: int | None, progress: Progress | None, timeout: float
) -> bool:
    """Bring ``part`` up to the whole file; True when it kept bytes from an earlier try."""
    have = part.stat().st_size if part.exists() else 0
    if size is not None and have > size:
        part.unlink()
        have = 0
    headers = {"User-Agent": _AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:
            return True  # nothing past our end: the part may be whole; the hash decides
        if 400 <= e.code < 500 and e.code not in (408, 429):
            raise DownloadError(f"{url}: the server answered {e.code} {e.reason}") from None
        raise _Retry(f"server error {e.code} {e.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
        raise _Retry(str(getattr(e, "reason", e))) from None
    except ValueError as e:
        raise DownloadError(f"{url!r} is not a URL Layerloom can fetch: {e}") from None
    with resp:
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        status = getattr(resp, "status", None)
        if have and status == 206:
            match = _RANGE.match(resp.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != have:
                part.unlink()  # a reply for some other range: start over on the next try
                raise _Retry("the server answered a different byte range than asked")
            mode, start = "ab", have
        else:
            mode, start = "wb", 0  # the server sent the whole file
        expected = start + length if length is not None else size
        done = start
        if progress:
            progress(done, expected)
        try:
            with open(part, mode) as f:
                while chunk := resp.read(_CHUNK):
                    f.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, expected)
                f.flush()
                os.fsync(f.fileno())
        except (http.client.HTTPException, OSError) as e:
            if isinstance(e, OSError) and not _is_network(e):
                raise DownloadError(f"cannot write {part}: {e}") from None
            raise _Retry(f"transfer interrupted after {done} bytes: {e}") from None
    if expected is not None and done < expected:
        raise _Retry(f"transfer interrupted after {done} of {expected} bytes")
    return start > 0


def _is_network(e: OSError) -> bool:
    return isinstance(e, (ConnectionError, TimeoutError)) or "timed out" in str(e)
