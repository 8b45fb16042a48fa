"""Arguments and handler of ``mimicforge container doctor | run | jupyter | build`` (wired in by ``cli``)."""

from __future__ import annotations

import argparse
import json

from mimicforge.container.compose import SERVICES
from mimicforge.errors import ConfigError

DEFAULT_SERVICE = "isaac-lab"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="container_command", metavar="ACTION")
    sub.required = True

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--service", choices=SERVICES, default=DEFAULT_SERVICE,
                       help=f"compose service (default {DEFAULT_SERVICE}; mimicforge: the CPU image)")
        p.add_argument("--file", help="compose file (default ./docker-compose.yml, else the checkout's)")
        p.add_argument("--project-directory", default=".",
                       help="folder holding datasets/ output/ notebook/ and .env (default: here)")
        return p

    p = action("doctor", "Check everything a container run needs; exit 1 if a check fails.")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--no-probe", action="store_true", help="skip the GPU probe container")
    p = action("run", "MODE=standalone docker compose run --rm SERVICE: generate demos, exit with their status.")
    p.add_argument("args", nargs=argparse.REMAINDER, help="after --: passed on to the generator, e.g. -- --json")
    p = action("jupyter", "MODE=jupyter docker compose up SERVICE: JupyterLab on 127.0.0.1 until stopped.")
    p.add_argument("args", nargs=argparse.REMAINDER, help="after --: passed on to jupyter lab")
    p = action("build", "docker compose build SERVICE, output streamed.")
    p.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE", help="extra build argument")


def main(args: argparse.Namespace) -> int:
    from mimicforge import container

    where = {"project_dir": args.project_directory, "compose_file": args.file}
    if args.container_command == "doctor":
        checks = container.doctor(args.service, probe=not args.no_probe, **where)
        if args.json:
            print(json.dumps({"service": args.service, "ok": not container.failed(checks),
                              "checks": [c.to_dict() for c in checks]}))
        else:
            print(container.format_checks(checks))
        return 1 if container.failed(checks) else 0
    if args.container_command == "build":
        pairs = {}
        for item in args.build_arg:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise ConfigError(f"--build-arg {item!r}: expected KEY=VALUE, e.g. --build-arg BASE_IMAGE=debian:12")
            pairs[key] = value
        tag = container.build(args.service, build_args=pairs, **where)
        print(f"built {tag}")
        return 0
    extra = args.args[1:] if args.args[:1] == ["--"] else list(args.args)
    if args.container_command == "run":
        return container.run(args.service, extra, **where)
    return container.jupyter(args.service, extra, **where)
