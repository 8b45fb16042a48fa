"""``docker compose build | run --rm | up`` for one service, through the Docker SDK.

``run`` is ``MODE=standalone docker compose run --rm SERVICE ARGS``; ``jupyter`` is ``MODE=jupyter docker compose
up SERVICE`` (port published on 127.0.0.1 only); ``build`` is ``docker compose build SERVICE``. Settings are checked
on the host first, with the messages ``launch.sh`` and ``mimicforge config --check`` give inside, so a bad value
costs no container. Output streams live; the container's exit status is returned; SIGINT / SIGTERM / SIGHUP (a
closed terminal) are handed to the container (the generator finishes and saves the attempt in progress), SIGKILL
follows after the service's ``stop_grace_period``, and the container is removed.

A container cannot outlive its launcher: the launcher holds the container's stdin, which closes when the launcher
dies however it dies (SIGKILL too), and launch.sh then stops the run as on SIGTERM; and every container is labelled
with its launcher process, so the next ``run`` / ``jupyter`` / ``doctor`` stops and removes those whose launcher is
gone (``engine.reap_orphans``).
"""

from __future__ import annotations

import codecs
import logging
import os
import re
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from mimicforge.container import engine
from mimicforge.container.compose import ServiceSpec, read_dotenv, service_spec
from mimicforge.errors import BackendUnavailable, ConfigError, MimicforgeError

log = logging.getLogger(__name__)
_URL = re.compile(r"JupyterLab on (http://\S+)")
_PORT_FORMS = re.compile(r"^[0-9]{1,5}$")


class BuildFailed(MimicforgeError):
    """``docker build`` of a service's image stopped with an error."""

    exit_code = 1


# ------------------------------------------------------------------------------------------ settings
def check_launch_env(env: Mapping[str, str]) -> None:
    """The checks ``launch.sh`` makes before ``mimicforge config --check``, with its messages."""
    mode = env.get("MODE") or "jupyter"
    if mode not in ("standalone", "jupyter"):
        raise ConfigError(f"MODE='{mode}' is not valid; valid values: standalone, jupyter")
    port = env.get("JUPYTER_PORT") or "8888"
    if not _PORT_FORMS.match(port) or not 1 <= int(port) <= 65535:
        raise ConfigError(f"JUPYTER_PORT='{port}': expected a port number in [1, 65535], e.g. JUPYTER_PORT=8888")
    pw = env.get("JUPYTER_PASSWORD_HASH") or ""
    if pw and not re.match(r"^(argon2|sha1|sha256):", pw):
        raise ConfigError("JUPYTER_PASSWORD_HASH must be a hash from jupyter_server.auth.passwd() (argon2:...), "
                          "not a plain password")
    token = env.get("JUPYTER_TOKEN") or ""
    if token and len(token) < 16:
        raise ConfigError(f"JUPYTER_TOKEN is too short ({len(token)} characters); use at least 16, or leave it unset "
                          f"for a random one")


def prepare(service: str, mode: str, *, env: Mapping[str, str] | None = None, project_dir: str | os.PathLike[str] = ".",
            compose_file: str | os.PathLike[str] | None = None) -> ServiceSpec:
    """The service's spec for ``mode`` with every setting checked as the container would check it."""
    from mimicforge.config import check_engine, load_config

    full = {**read_dotenv(Path(project_dir) / ".env"), **(os.environ if env is None else env), "MODE": mode}
    check_launch_env(full)
    spec = service_spec(service, env=full, project_dir=project_dir, compose_file=compose_file)
    cfg = load_config(env=spec.environment)  # what 'mimicforge config --check' runs inside (output suffix included)
    # ... including the settings the service's engine cannot honour (ENGINE=auto: Isaac Lab in its image only)
    engine = cfg.generation.engine
    check_engine(cfg, engine if engine != "auto" else "isaaclab" if service == "isaac-lab" else "mujoco")
    return spec


# ------------------------------------------------------------------------------------------ build
def build(service: str = "mimicforge", *, env: Mapping[str, str] | None = None,
          project_dir: str | os.PathLike[str] = ".", compose_file: str | os.PathLike[str] | None = None,
          build_args: Mapping[str, str] | None = None, out: TextIO | None = None, client: Any = None) -> str:
    """Build the service's image (tagged as its ``image:``), streaming the builder's output; returns the tag."""
    spec = service_spec(service, env=os.environ if env is None else env, project_dir=project_dir,
                        compose_file=compose_file)
    return build_spec(spec, build_args=build_args, out=out, client=client)


def build_spec(spec: ServiceSpec, *, build_args: Mapping[str, str] | None = None, out: TextIO | None = None,
               client: Any = None) -> str:
    if spec.build is None:
        raise ConfigError(f"service {spec.service} has no build section; pull {spec.image} instead")
    out = out or sys.stdout
    client = client or engine.connect(timeout=3600)
    args = {**spec.build.args, **(build_args or {})}
    log.info("building %s from %s (%s)", spec.image, spec.build.context, spec.build.dockerfile)
    stream = client.api.build(path=str(spec.build.context), dockerfile=spec.build.dockerfile, tag=spec.image,
                              buildargs=args, rm=True, forcerm=True, decode=True)
    for chunk in stream:
        if "error" in chunk:
            detail = " ".join(str(chunk["error"]).split())
            raise BuildFailed(f"building {spec.image} failed: {detail:.300}")
        text = chunk.get("stream") or (chunk["status"] + "\n" if chunk.get("status") else "")
        if text:
            out.write(text)
            out.flush()
    return spec.image


# ------------------------------------------------------------------------------------------ run / jupyter
def run(service: str = "mimicforge", args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
        project_dir: str | os.PathLike[str] = ".", compose_file: str | os.PathLike[str] | None = None,
        out: TextIO | None = None, err: TextIO | None = None, client: Any = None) -> int:
    """``MODE=standalone docker compose run --rm SERVICE ARGS``: generate demos; returns the exit status."""
    spec = prepare(service, "standalone", env=env, project_dir=project_dir, compose_file=compose_file)
    client = client or engine.connect()
    _reap(client, err)
    _ensure_image(client, spec, out)
    name = f"{spec.project}-{spec.service}-run-{secrets.token_hex(6)}"
    with _Signals() as signals:  # from here on a signal stops the container instead of orphaning it
        cid = engine.create(client, spec, command=list(args), publish=False, name=name, oneoff=True)
        return _Session(client, cid, spec, out or sys.stdout, err or sys.stderr, signals).wait()


def jupyter(service: str = "mimicforge", args: Sequence[str] = (), *, env: Mapping[str, str] | None = None,
            project_dir: str | os.PathLike[str] = ".", compose_file: str | os.PathLike[str] | None = None,
            out: TextIO | None = None, err: TextIO | None = None, client: Any = None,
            on_ready: Callable[[str], None] | None = None) -> int:
    """``MODE=jupyter docker compose up SERVICE``: JupyterLab on 127.0.0.1; prints its URL with the token once
    the server answers, runs until stopped (SIGINT / SIGTERM / SIGHUP), removes the container; returns its status."""
    spec = prepare(service, "jupyter", env=env, project_dir=project_dir, compose_file=compose_file)
    client = client or engine.connect()
    _reap(client, err)
    _ensure_image(client, spec, out)
    name = f"{spec.project}-{spec.service}-jupyter-{secrets.token_hex(6)}"
    with _Signals() as signals:
        cid = engine.create(client, spec, command=list(args), publish=True, name=name, oneoff=False)
        return _Session(client, cid, spec, out or sys.stdout, err or sys.stderr, signals, on_ready=on_ready,
                        watch_url=True).wait()


def _reap(client: Any, err: TextIO | None) -> None:
    for name in engine.reap_orphans(client):
        print(f"mimicforge: removed container {name}, left running by a launcher that is gone", file=err or sys.stderr,
              flush=True)


def _ensure_image(client: Any, spec: ServiceSpec, out: TextIO | None) -> None:
    """Like Compose: build the image when it is missing and the service says how."""
    if engine.image_present(client, spec.image) is None:
        if spec.build is None:
            raise ConfigError(f"image {spec.image} is not present; docker pull {spec.image}")
        log.info("image %s is missing: building it first", spec.image)
        build_spec(spec, out=out, client=client)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # each stops the container cleanly


class _Signals:
    """Records STOP_SIGNALS while active (main thread only; elsewhere they keep their handlers)."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self._old: dict[int, Any] = {}

    def __enter__(self) -> list[int]:
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._record) for s in STOP_SIGNALS}
        return self.pending

    def __exit__(self, *exc: object) -> None:
        for s, h in self._old.items():
            signal.signal(s, h)

    def _record(self, signum: int, frame: Any) -> None:
        self.pending.append(signum)


class _Session:
    """A created container: start it, stream its output, forward signals, wait, remove."""

    def __init__(self, client: Any, cid: str, spec: ServiceSpec, out: TextIO, err: TextIO, signals: list[int],
                 on_ready: Callable[[str], None] | None = None, watch_url: bool = False) -> None:
        self.client, self.cid, self.spec, self.out, self.err = client, cid, spec, out, err
        self.on_ready, self.watch_url = on_ready, watch_url
        self.url: str | None = None
        self.status: int | None = None
        self.done = threading.Event()
        self.signals = signals
        self.failure: BaseException | None = None
        self.stdin: Any = None  # the container's stdin, held open for as long as this process lives

    def _pump(self, stdout: bool) -> None:
        sink = self.out if stdout else self.err
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        line = ""
        try:
            for chunk in self.client.api.logs(self.cid, stdout=stdout, stderr=not stdout, stream=True, follow=True):
                text = decoder.decode(chunk)
                sink.write(text)
                sink.flush()
                if self.watch_url and self.url is None:
                    line += text
                    match = _URL.search(line)
                    if match:
                        self.url = match.group(1)
                    line = line.rsplit("\n", 1)[-1]
        except Exception as exc:  # noqa: BLE001  # the stream may end with an error when the container goes
            log.debug("log stream ended: %s", exc)

    def _wait_exit(self) -> None:
        try:
            self.status = int(self.client.api.wait(self.cid, timeout=None)["StatusCode"])
        except BaseException as exc:  # noqa: BLE001  # re-raised in the main thread
            self.failure = exc
        finally:
            self.done.set()

    def _server_up(self) -> bool:
        import urllib.error
        import urllib.request

        port = self.spec.jupyter_port
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=1).close()
        except urllib.error.HTTPError:
            return True  # it answered (403 without the token)
        except OSError:
            return False
        return True

    def wait(self) -> int:
        pumps = [threading.Thread(target=self._pump, args=(s,), daemon=True) for s in (True, False)]
        docker = engine.require_docker()
        try:
            if self.signals:  # stopped before it started
                print(f"mimicforge: {signal.Signals(self.signals[0]).name} before the container started; "
                      f"removed it", file=self.err, flush=True)
                return 128 + self.signals[0]
            try:
                self.stdin = self.client.api.attach_socket(self.cid, params={"stdin": 1, "stream": 1})
            except docker.errors.APIError as exc:  # the run goes on; a leftover is still reaped by its label
                log.warning("could not attach to the container's stdin (%s); if this launcher is killed, the next "
                            "run removes the container", " ".join(str(exc).split())[:200])
            try:
                self.client.api.start(self.cid)
            except docker.errors.APIError as exc:
                detail = " ".join(str(exc.explanation or exc).split())
                hint = ""
                if self.spec.jupyter_port and ("address already in use" in detail or "already allocated" in detail):
                    hint = f"; choose a free JUPYTER_PORT, e.g. JUPYTER_PORT={self.spec.jupyter_port + 1}"
                raise BackendUnavailable(f"the engine could not start the container: {detail:.300}{hint}") from None
            for t in pumps:
                t.start()
            threading.Thread(target=self._wait_exit, daemon=True).start()
            self._loop()
            for t in pumps:
                t.join(timeout=10)
            if self.failure is not None:
                raise self.failure
            assert self.status is not None
            return self.status
        finally:
            self._remove()

    def _loop(self) -> None:
        deadline: float | None = None
        announced = False
        while not self.done.wait(0.2):
            while self.signals:
                signum = self.signals.pop(0)
                first = deadline is None
                if first:
                    deadline = time.monotonic() + self.spec.stop_grace_period
                    print(f"mimicforge: stopping the container ({signal.Signals(signum).name}; it has "
                          f"{self.spec.stop_grace_period:.0f} s to finish cleanly)", file=self.err, flush=True)
                # the generator saves on SIGINT / SIGTERM; a hang-up of this terminal means the same as SIGTERM
                self._kill(signal.SIGTERM if signum == signal.SIGHUP else signum)
            if deadline is not None and time.monotonic() > deadline:
                print("mimicforge: grace period over, killing the container", file=self.err, flush=True)
                self._kill(signal.SIGKILL)
                deadline = float("inf")
            if self.url and not announced and self._server_up():
                announced = True
                print(f"JupyterLab is up: {self.url}", file=self.out, flush=True)
                if self.on_ready is not None:
                    self.on_ready(self.url)

    def _kill(self, signum: int) -> None:
        docker = engine.require_docker()
        try:
            self.client.api.kill(self.cid, signal=int(signum))
        except docker.errors.APIError as exc:  # it may have exited in between
            log.debug("kill %s: %s", signum, exc)

    def _remove(self) -> None:
        docker = engine.require_docker()
        if self.stdin is not None:
            try:
                self.stdin.close()
            except OSError:
                pass
        try:
            self.client.api.remove_container(self.cid, force=True)
        except docker.errors.APIError as exc:
            log.warning("could not remove container %s: %s", self.cid[:12], exc)
