"""Plan a run in a child process: ``python -m mimicforge.backends.isaaclab.plan < settings.toml``.

Used by ``kit.launch`` on Isaac Lab 3.0, so that the input file is read (numpy, h5py) before Kit starts
without loading either into the process that starts Kit. Prints one JSON line: ``{"env_name": ...}`` or
``{"error": <one line>, "exit_code": <int>}``.
"""

from __future__ import annotations

import json
import sys

from mimicforge.config import from_toml_text
from mimicforge.errors import MimicforgeError


def main() -> int:
    from mimicforge.backends.isaaclab.driver import plan_run

    try:
        plan = plan_run(from_toml_text(sys.stdin.read(), "the run's settings"))
    except MimicforgeError as exc:
        print(json.dumps({"error": " ".join(str(exc).split()), "exit_code": exc.exit_code}))
        return 0
    print(json.dumps({"env_name": plan.env_name}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
