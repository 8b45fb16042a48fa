"""A client for the blueprint's Cosmos Transfer server (its ``app.py``, a small Flask app beside Cosmos-Transfer1).

The server's three endpoints:

- ``POST /canny/submit``: multipart form, the file ``video`` (.mp4) and the fields ``prompt``, ``sigma_max``,
  ``control_weight``, ``canny_strength``, ``seed``; answers ``{"job_id": ..., "status": "processing"}``;
- ``GET /canny/status/<id>``: ``{"status": "processing" | "completed" | "failed", "error"?: ...}``;
- ``GET /canny/result/<id>``: the augmented mp4 (the server deletes the job after sending it).

For each request file of a ``cosmos prepare --style blueprint`` folder this submits the video, polls until the job
ends, and saves ``<stem>.result.mp4`` beside the request (``<stem>.job.json`` records the job). Requests that already
have a result are skipped, so an interrupted ``submit`` can be run again. Network errors, timeouts and 5xx answers are
retried with exponential backoff; a 4xx answer is not. Standard library only (urllib).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimicforge.errors import ConfigError, MimicforgeError
from mimicforge.media.cosmos import read_manifest

log = logging.getLogger(__name__)

FIELDS = ("prompt", "sigma_max", "control_weight", "canny_strength", "seed")


class CosmosServerError(MimicforgeError):
    """The Cosmos server cannot be reached, times out, or answers something unexpected (exit 2)."""


class CosmosJobFailed(MimicforgeError):
    """The server ran a job and reports it failed (exit 1: the run happened, its result did not)."""

    exit_code = 1


@dataclass(frozen=True)
class ClientSettings:
    timeout: float = 90.0  # seconds per HTTP request
    poll_interval: float = 10.0  # seconds between status requests
    max_wait: float = 3600.0  # seconds a job may take before we give up on it
    retries: int = 3  # extra tries per request after a network error, timeout or 5xx
    backoff: float = 2.0  # seconds before the first retry, doubled each time

    def __post_init__(self) -> None:
        for name in ("timeout", "poll_interval", "max_wait", "backoff"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"--{name.replace('_', '-')} {getattr(self, name)!r} must be > 0 seconds")
        if self.retries < 0:
            raise ConfigError(f"--retries {self.retries} must be >= 0")


def check_server(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"--server {url!r} must be an http(s) URL like http://cosmos-host:5000")
    return url.rstrip("/")


def _multipart(fields: dict[str, str], video: Path) -> tuple[bytes, str]:
    boundary = f"mimicforge-{uuid.uuid4().hex}"
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + str(value).encode("utf-8") + b"\r\n")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="video"; filename="{video.name}"\r\n'
                 "Content-Type: video/mp4\r\n\r\n".encode() + video.read_bytes() + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class CosmosClient:
    def __init__(self, server: str, settings: ClientSettings | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.server = check_server(server)
        self.settings = settings or ClientSettings()
        self._sleep = sleep

    def _request(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None) -> bytes:
        url = f"{self.server}{path}"
        delay = self.settings.backoff
        for attempt in range(self.settings.retries + 1):
            req = urllib.request.Request(url, data=body, method=method)
            if content_type:
                req.add_header("Content-Type", content_type)
            try:
                with urllib.request.urlopen(req, timeout=self.settings.timeout) as resp:  # noqa: S310 (http(s) only)
                    return resp.read()
            except urllib.error.HTTPError as exc:
                detail = _error_text(exc)
                if exc.code < 500:
                    raise CosmosServerError(f"{method} {url} answered HTTP {exc.code}: {detail}") from None
                problem = f"HTTP {exc.code}: {detail}"
            except (urllib.error.URLError, TimeoutError, socket.timeout, ConnectionError,
                    http.client.HTTPException) as exc:
                reason = getattr(exc, "reason", exc)
                problem = "timed out" if isinstance(reason, (TimeoutError, socket.timeout)) else str(reason)
            if attempt < self.settings.retries:
                log.warning("%s %s: %s; retrying in %.1f s", method, url, problem, delay)
                self._sleep(delay)
                delay *= 2
        raise CosmosServerError(f"{method} {url} failed after {self.settings.retries + 1} tries: {problem}; check "
                                "--server and that the blueprint's app.py is running there (or raise --timeout)")

    def _json(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        raw = self._request(method, path, **kw)
        try:
            doc = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise CosmosServerError(f"{self.server}{path} did not answer JSON (got {raw[:60]!r}); is --server the "
                                    "blueprint's Cosmos server?") from None
        if not isinstance(doc, dict):
            raise CosmosServerError(f"{self.server}{path} answered {doc!r}, not a JSON object")
        return doc

    def submit(self, video: Path, fields: dict[str, Any]) -> str:
        body, ctype = _multipart({k: str(fields[k]) for k in FIELDS}, video)
        doc = self._json("POST", "/canny/submit", body=body, content_type=ctype)
        job = doc.get("job_id")
        if not isinstance(job, str) or not job:
            raise CosmosServerError(f"{self.server}/canny/submit answered without a job_id: {doc!r}")
        return job

    def wait(self, job: str, on_status: Callable[[str, float], None] | None = None) -> None:
        start = time.monotonic()
        while True:
            doc = self._json("GET", f"/canny/status/{urllib.parse.quote(job)}")
            status = doc.get("status")
            elapsed = time.monotonic() - start
            if on_status is not None:
                on_status(str(status), elapsed)
            if status == "completed":
                return
            if status == "failed":
                raise CosmosJobFailed(f"Cosmos job {job} failed on the server: {doc.get('error', 'no reason given')}")
            if status != "processing":
                raise CosmosServerError(f"{self.server}/canny/status/{job} answered an unknown status {status!r}")
            if elapsed + self.settings.poll_interval > self.settings.max_wait:
                raise CosmosServerError(f"Cosmos job {job} still processing after {elapsed:.0f} s (--max-wait "
                                        f"{self.settings.max_wait:g}); its result may still be fetched later")
            self._sleep(self.settings.poll_interval)

    def fetch(self, job: str, dest: Path) -> int:
        data = self._request("GET", f"/canny/result/{urllib.parse.quote(job)}")
        tmp = dest.with_name(f".{dest.name}.partial")
        tmp.write_bytes(data)
        tmp.replace(dest)
        return len(data)


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = exc.read()
        doc = json.loads(body)
        return str(doc.get("error", doc)) if isinstance(doc, dict) else str(doc)
    except Exception:  # noqa: BLE001 (any unreadable error body: fall back to the reason phrase)
        return str(exc.reason)


def _read_request(path: Path) -> dict[str, Any]:
    try:
        req = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"request {path} is not readable JSON ({exc}); rerun cosmos prepare") from None
    missing = [k for k in ("video", *FIELDS) if not isinstance(req, dict) or k not in req]
    if missing:
        raise ConfigError(f"request {path} lacks {', '.join(missing)}; rerun cosmos prepare")
    return req


def result_path(request: Path) -> Path:
    return request.with_name(request.stem + ".result.mp4")


def submit_dir(directory: str | os.PathLike[str], server: str, *, settings: ClientSettings | None = None,
               overwrite: bool = False, on_event: Callable[[dict[str, Any]], None] | None = None,
               sleep: Callable[[float], None] = time.sleep) -> list[dict[str, Any]]:
    """Send every request of a blueprint-style ``cosmos prepare`` folder; returns one record per request."""
    d = Path(directory)
    manifest = read_manifest(d)
    if manifest["style"] != "blueprint":
        raise ConfigError(f"{d} holds --style {manifest['style']} inputs (Cosmos-Transfer1 specs for transfer.py); "
                          "the blueprint's server takes --style blueprint requests only")
    client = CosmosClient(server, settings, sleep=sleep)
    records: list[dict[str, Any]] = []

    def emit(event: dict[str, Any]) -> None:
        if on_event is not None:
            on_event(event)

    for entry in manifest["videos"]:
        request = d / entry["request"]
        req = _read_request(request)
        video, dest = d / req["video"], result_path(request)
        if not video.is_file():
            raise ConfigError(f"{request} names {req['video']}, which is missing; rerun cosmos prepare")
        if dest.exists() and not overwrite:
            emit({"event": "skipped", "request": request.name, "result": dest.name})
            records.append({"request": request.name, "result": dest.name, "status": "exists"})
            continue
        job = client.submit(video, req)
        job_file = request.with_name(request.stem + ".job.json")
        job_file.write_text(json.dumps({"job_id": job, "server": client.server, "status": "processing"}) + "\n",
                            encoding="utf-8")
        emit({"event": "submitted", "request": request.name, "job_id": job})
        try:
            client.wait(job, lambda s, t: emit({"event": "status", "request": request.name, "status": s,
                                                "seconds": round(t, 1)}))
        except CosmosJobFailed as exc:
            job_file.write_text(json.dumps({"job_id": job, "server": client.server, "status": "failed",
                                            "error": str(exc)}) + "\n", encoding="utf-8")
            raise
        size = client.fetch(job, dest)
        job_file.write_text(json.dumps({"job_id": job, "server": client.server, "status": "completed",
                                        "result": dest.name, "bytes": size}) + "\n", encoding="utf-8")
        emit({"event": "saved", "request": request.name, "result": dest.name, "bytes": size})
        records.append({"request": request.name, "result": dest.name, "status": "completed", "job_id": job})
    return records
