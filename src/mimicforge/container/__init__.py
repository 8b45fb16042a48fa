"""Build, run and check mimicforge's containers through the Docker SDK (the optional extra ``docker``).

The services are those of ``docker-compose.yml`` (read, interpolated and translated by ``compose``), so
``mimicforge container run`` starts the same container as ``MODE=standalone docker compose run --rm SERVICE``::

    from mimicforge.container import doctor, format_checks, run

    print(format_checks(doctor("mimicforge")))
    status = run("mimicforge", env={**os.environ, "NUM_TRIALS": "2"})   # 0: datasets/generated.hdf5 is done

Nothing here imports ``docker`` at import time; a call without it raises BackendUnavailable with the
``pip install`` line.
"""

from mimicforge.container.compose import SERVICES, ServiceSpec, service_spec
from mimicforge.container.doctor import Check, doctor, failed, format_checks
from mimicforge.container.launcher import BuildFailed, build, jupyter, prepare, run

__all__ = [
    "SERVICES",
    "BuildFailed",
    "Check",
    "ServiceSpec",
    "build",
    "doctor",
    "failed",
    "format_checks",
    "jupyter",
    "prepare",
    "run",
    "service_spec",
]
