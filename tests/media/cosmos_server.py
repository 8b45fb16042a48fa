"""A stand-in for the blueprint's Cosmos server (its app.py): the same three endpoints and answers, over real HTTP
on 127.0.0.1, with the model replaced by returning the uploaded video (the Isaac Sim/Cosmos boundary: the real
Cosmos-Transfer1 needs an 80 GB GPU). It records every request so tests can check what the client sent."""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
import uuid
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class FakeCosmos:
    def __init__(self, *, polls_before_done: int = 2, fail_submits: int = 0, delay: float = 0.0,
                 job_fails: bool = False, job_prefix: str = "") -> None:
        self.polls_before_done = polls_before_done
        self.fail_submits = fail_submits  # answer 500 to this many submits first
        self.delay = delay  # seconds to stall every answer (timeouts)
        self.job_fails = job_fails
        self.job_prefix = job_prefix  # job ids are prefix + uuid4 (the blueprint's are bare uuid4s)
        self.submits: list[dict[str, Any]] = []
        self.jobs: dict[str, dict[str, Any]] = {}
        self.log: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _json(self, code: int, doc: dict[str, Any]) -> None:
                self._send(code, json.dumps(doc).encode())

            def do_POST(self) -> None:
                fake.log.append(f"POST {self.path}")
                time.sleep(fake.delay)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path != "/canny/submit":
                    return self._json(404, {"error": "not found"})
                if fake.fail_submits > 0:
                    fake.fail_submits -= 1
                    return self._json(500, {"error": "Error starting job: busy"})
                msg = BytesParser(policy=HTTP).parsebytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
                fields, files = {}, {}
                for part in msg.iter_parts():
                    name = part.get_param("name", header="content-disposition")
                    if part.get_filename():
                        files[name] = (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
                    else:
                        fields[name] = part.get_payload(decode=True).decode()
                if "video" not in files or not files["video"][0].endswith(".mp4"):
                    return self._json(400, {"error": "Invalid file type. Only MP4 files are allowed"})
                missing = [p for p in ("prompt", "sigma_max", "control_weight", "canny_strength", "seed")
                           if p not in fields]
                if missing:
                    return self._json(400, {"error": f"Missing required parameters: {', '.join(missing)}"})
                job = f"{fake.job_prefix}{uuid.uuid4()}"
                fake.submits.append({"fields": fields, "video": files["video"],
                                     "content_type": self.headers["Content-Type"]})
                fake.jobs[job] = {"polls": 0, "video": files["video"][2]}
                return self._json(200, {"job_id": job, "status": "processing", "message": "Job submitted successfully"})

            def do_GET(self) -> None:
                fake.log.append(f"GET {self.path}")
                time.sleep(fake.delay)
                parts = self.path.strip("/").split("/")  # the job id must arrive as one path segment
                if len(parts) != 3 or parts[0] != "canny" or urllib.parse.unquote(parts[2]) not in fake.jobs:
                    return self._json(404, {"error": "Job not found"})
                job = fake.jobs[urllib.parse.unquote(parts[2])]
                done = job["polls"] >= fake.polls_before_done
                if parts[1] == "status":
                    job["polls"] += 1
                    if fake.job_fails and done:
                        return self._json(200, {"status": "failed", "error": "Command failed: CUDA out of memory"})
                    return self._json(200, {"status": "completed" if done else "processing"})
                if parts[1] == "result":
                    if not done:
                        return self._json(400, {"error": "Job not completed"})
                    return self._send(200, job["video"], "video/mp4")
                return self._json(404, {"error": "not found"})

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client that timed out and hung up: expected in the timeout tests

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeCosmos:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
