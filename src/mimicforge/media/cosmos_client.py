"""A client for the blueprint's Cosmos Transfer server (its ``app.py``, a small Flask app beside Cosmos-Transfer1).

The server's three endpoints:

- ``POST /canny/submit``: multipart form, the file ``video`` (.mp4) and the fields ``prompt``, ``sigma_max``,
  ``control_weight``, ``canny_strength``, ``seed``; answers ``{"job_id": ..., "status": "processing"}``;
- ``GET /canny/status/<id>``: ``{"status": "processing" | "completed" | "failed", "error"?: ...}``;
- ``GET /canny/result/<id>``: the augmented mp4 (the server deletes the job after sending it).

For each request file of a ``cosmos prepare --style blueprint`` folder this submits the video, polls until the job
ends, and saves ``<stem>.result.mp4`` beside the request (``<stem>.job.json`` records the job). Requests that already
have a result are skipped, and a job saved by an interrupted ``submit`` is polled and fetched before anything is
submitted anew, so ``submit`` can be run again. Network errors, timeouts and 5xx answers are retried with exponential
backoff; a 4xx answer is not. File names read from the manifest and requests must stay inside the folder; results
are streamed to disk and refused beyond ``max_result_mb``. Standard library only (urllib).
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
from mimicforge.media.cosmos import contained, read_manifest

log = logging.getLogger(__name__)

FIELDS = ("prompt", "sigma_max", "control_weight", "canny_strength", "seed")
CHUNK = 1 << 20  # bytes read at a time from a result
ANSWER_CAP = 1 << 20  # bytes a JSON answer (job id, status) may have


class CosmosServerError(MimicforgeError):
    """The Cosmos server cannot be reached, times out, or answers something unexpected (exit 2). ``status``: the
    HTTP status of a 4xx answer, else None."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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
    max_result_mb: float = 4096.0  # a result larger than this is refused (the server is not trusted with our disk)

    def __post_init__(self) -> None:
        for name in ("timeout", "poll_interval", "max_wait", "backoff", "max_result_mb"):
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
        def read(resp: Any) -> bytes:
            data = resp.read(ANSWER_CAP + 1)
            if len(data) > ANSWER_CAP:
                raise CosmosServerError(f"{self.server}{path} answered more than {ANSWER_CAP} bytes; is --server "
                                        "the blueprint's Cosmos server?")
            return bytes(data)

        return self._open(method, path, body, content_type, read)

    def _open(self, method: str, path: str, body: bytes | None, content_type: str | None,
              consume: Callable[[Any], Any]) -> Any:
        """``consume(response)`` for the first answer that is not an error, retrying as the module doc says."""
        url = f"{self.server}{path}"
        delay = self.settings.backoff
        for attempt in range(self.settings.retries + 1):
            req = urllib.request.Request(url, data=body, method=method)
            if content_type:
                req.add_header("Content-Type", content_type)
            try:
                with urllib.request.urlopen(req, timeout=self.settings.timeout) as resp:  # noqa: S310 (http(s) only)
                    return consume(resp)
            except urllib.error.HTTPError as exc:
                detail = _error_text(exc)
                if exc.code < 500:
                    raise CosmosServerError(f"{method} {url} answered HTTP {exc.code}: {detail}", exc.code) from None
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
            doc = self._json("GET", f"/canny/status/{quote_job(job)}")
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
        """Stream the job's result to ``dest`` (through a partial file, renamed when whole); returns its size."""
        cap = int(self.settings.max_result_mb * (1 << 20))
        tmp = dest.with_name(f".{dest.name}.partial")

        def save(resp: Any) -> int:
            too_big = CosmosServerError(f"the result of Cosmos job {job} is larger than --max-result-mb "
                                        f"{self.settings.max_result_mb:g}; raise it if that is expected")
            length = resp.headers.get("Content-Length")
            if length is not None and length.isdigit() and int(length) > cap:
                raise too_big
            size = 0
            with open(tmp, "wb") as f:
                while chunk := resp.read(CHUNK):
                    size += len(chunk)
                    if size > cap:
                        raise too_big
                    f.write(chunk)
            return size

        try:
            size = self._open("GET", f"/canny/result/{quote_job(job)}", None, None, save)
            tmp.replace(dest)
        finally:
            tmp.unlink(missing_ok=True)
        return int(size)


def quote_job(job: str) -> str:
    """A job id as one path segment: every reserved character quoted, ``/`` included."""
    return urllib.parse.quote(job, safe="")


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


def job_path(request: Path) -> Path:
    return request.with_name(request.stem + ".job.json")


def saved_job(request: Path, server: str) -> str | None:
    """The job id an earlier ``submit`` saved for ``request`` on ``server`` and did not see fail, else None."""
    path = job_path(request)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        log.warning("%s is not readable JSON (%s); submitting anew", path.name, exc)
        return None
    job = doc.get("job_id") if isinstance(doc, dict) else None
    if not isinstance(job, str) or not job or doc.get("status") not in ("processing", "completed"):
        return None
    if doc.get("server") != server:
        log.warning("%s: job %s was sent to %s, not %s; submitting anew", request.name, job, doc.get("server"), server)
        return None
    return job


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

    def record_job(request: Path, job: str, status: str, **extra: Any) -> None:
        doc = {"job_id": job, "server": client.server, "status": status, **extra}
        tmp = job_path(request).with_name(f".{job_path(request).name}.partial")
        tmp.write_text(json.dumps(doc) + "\n", encoding="utf-8")
        tmp.replace(job_path(request))

    plan = []
    for entry in manifest["videos"]:  # every name checked before anything is sent
        request = contained(d, entry.get("request"), d / "cosmos_inputs.json")
        req = _read_request(request)
        video = contained(d, req["video"], request)
        if not video.is_file():
            raise ConfigError(f"{request} names {req['video']}, which is missing; rerun cosmos prepare")
        plan.append((request, req, video))
    for request, req, video in plan:
        dest = result_path(request)
        if dest.exists() and not overwrite:
            emit({"event": "skipped", "request": request.name, "result": dest.name})
            records.append({"request": request.name, "result": dest.name, "status": "exists"})
            continue
        job = None if overwrite else saved_job(request, client.server)
        if job is not None:
            emit({"event": "resumed", "request": request.name, "job_id": job})
        try:
            job, size = _run_job(client, request, req, video, dest, job, record_job, emit)
        except CosmosServerError as exc:
            if job is None or exc.status != 404:
                raise
            log.warning("%s: the server no longer knows job %s; submitting anew", request.name, job)
            job, size = _run_job(client, request, req, video, dest, None, record_job, emit)
        records.append({"request": request.name, "result": dest.name, "status": "completed", "job_id": job,
                        "bytes": size})
    return records


def _run_job(client: CosmosClient, request: Path, req: dict[str, Any], video: Path, dest: Path, job: str | None,
             record_job: Callable[..., None], emit: Callable[[dict[str, Any]], None]) -> tuple[str, int]:
    """Submit ``video`` (unless ``job`` is a saved one), wait for the job, fetch its result to ``dest``."""
    if job is None:
        job = client.submit(video, req)
        record_job(request, job, "processing")
        emit({"event": "submitted", "request": request.name, "job_id": job})
    try:
        client.wait(job, lambda s, t: emit({"event": "status", "request": request.name, "status": s,
                                            "seconds": round(t, 1)}))
    except CosmosJobFailed as exc:
        record_job(request, job, "failed", error=str(exc))
        raise
    record_job(request, job, "completed")  # done on the server: a rerun fetches it if the download is cut
    size = client.fetch(job, dest)
    record_job(request, job, "completed", result=dest.name, bytes=size)
    emit({"event": "saved", "request": request.name, "result": dest.name, "bytes": size})
    return job, size
