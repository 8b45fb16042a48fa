"""``mimicforge config [--check]``: the settings launch.sh validates before anything slow."""

from __future__ import annotations

import toml


def test_check_passes_silently_on_good_settings(cli):
    r = cli("config", "--check", env={"NUM_TRIALS": "5", "CAMERAS": "table_cam", "MODALITIES": "normals"})
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")


def test_check_fails_with_one_line(cli):
    r = cli("config", "--check", env={"NUM_TRIALS": "5", "KEEP_FAILED": "perhaps"})
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip() == ("mimicforge: error: KEEP_FAILED='perhaps': expected a boolean (1/0, true/false, "
                                "yes/no), e.g. KEEP_FAILED=1")
    r = cli("config", "--check", env={"OUTPUT_FILE": "datasets/out.csv"})
    assert r.returncode == 2 and "must end in .hdf5" in r.stderr


def test_config_prints_the_resolved_settings(cli, tmp_path):
    f = tmp_path / "run.toml"
    f.write_text("[generation]\nnum_trials = 3\nseed = 9\n")
    r = cli("config", "--config", str(f), env={"SEED": "11"})
    doc = toml.loads(r.stdout)
    assert (doc["generation"]["num_trials"], doc["generation"]["seed"]) == (3, 11)  # environment beats file
