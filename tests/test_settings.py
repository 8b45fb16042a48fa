"""Settings declared once: dataclass defaults, validation, environment names, TOML keys and flags agree."""

from __future__ import annotations

import dataclasses

import pytest

from mimicforge.cli import build_parser
from mimicforge.config import SECTIONS, SETTINGS, GenerationConfig, RunConfig, from_toml_text, load_config, to_toml
from mimicforge.errors import ConfigError


@pytest.mark.parametrize("kwargs, quoted", [
    ({"num_trials": -1}, "num_trials=-1"),
    ({"stop_on": "never"}, "stop_on='never'"),
    ({"action_noise": 2.0}, "action_noise=2.0"),
    ({"keep_failed": "perhaps"}, "keep_failed='perhaps'"),
])
def test_dataclasses_validate_themselves(kwargs, quoted):
    with pytest.raises(ConfigError, match="expected") as exc:
        GenerationConfig(**kwargs)
    assert quoted in str(exc.value)


def test_dataclasses_normalize_what_they_accept():
    g = GenerationConfig(num_trials="5", output_file="x/out.hdf5", engine="MuJoCo")  # type: ignore[arg-type]
    assert (g.num_trials, str(g.output_file), g.engine) == (5, "x/out.hdf5", "mujoco")


def test_every_setting_has_one_env_name_toml_key_and_default():
    envs = [s.env for s in SETTINGS]
    assert len(set(envs)) == len(envs) and None not in envs
    for s in SETTINGS:
        cls = SECTIONS[s.section]
        assert {f.name: f.default for f in dataclasses.fields(cls)}[s.key] == s.default
    # every setting except on_existing (--resume/--overwrite) and ray (--ray [ADDRESS]) has a generated flag
    parser = build_parser()
    gen = parser._subparsers._group_actions[0].choices["generate"]  # noqa: SLF001
    flags = {opt for a in gen._actions for opt in a.option_strings}  # noqa: SLF001
    for s in SETTINGS:
        if s.flag_name is not None:
            assert s.flag_name in flags, s.key
            if s.is_bool:
                assert "--no-" + s.flag_name[2:] in flags
    # the TOML round trip covers every section but the run's own on_existing
    back = from_toml_text(to_toml(RunConfig()), "saved")
    assert back == RunConfig()


def test_boolean_flags_switch_off_what_the_environment_set():
    parser = build_parser()
    args = parser.parse_args(["generate", "--no-keep-failed", "--no-isaac-parity"])
    from mimicforge.settings import flag_values

    cfg = load_config(env={"KEEP_FAILED": "1", "ISAAC_PARITY": "1"}, flags=flag_values(args, SETTINGS))
    assert cfg.generation.keep_failed is False and cfg.generation.isaac_parity is False
    args = parser.parse_args(["generate", "--keep-failed"])
    assert load_config(env={}, flags=flag_values(args, SETTINGS)).generation.keep_failed is True


def test_help_shows_declared_defaults(cli):
    r = cli("generate", "--help")
    text = " ".join(r.stdout.split())
    assert "(NUM_TRIALS; default 10)" in text and "(MAX_CONSECUTIVE_FAILURES; default 100)" in text
    assert "--keep-failed, --no-keep-failed" in text


def test_verbose_after_the_command(cli, tmp_path):
    r = cli("config", "--check", "-v")
    assert r.returncode == 0, r.stderr
    r = cli("-v", "config", "--check")
    assert r.returncode == 0, r.stderr
