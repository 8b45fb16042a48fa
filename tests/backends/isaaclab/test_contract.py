"""Contract: every Isaac Lab function, keyword, field and launcher flag the driver uses, in every release on PyPI.

Each ``isaaclab`` wheel PyPI serves for Python 3.10, 3.11 and 3.12 (``wheel_sources.KNOWN_RELEASES``; a
test asks PyPI whether a new one appeared) is downloaded ``--no-deps`` for its own Python and read without
Isaac Sim:

- the generation API is picked from the wheel's sources by the same ``kit.installed_variant`` the driver runs
  before Kit starts, and each call of that variant is bound against the parsed signatures;
- the fields the driver writes (``api.DATAGEN_FIELDS`` ... , the very tables ``driver.configure_env_cfg``
  iterates) must exist in the wheel's config classes;
- the wheel's real launcher argument parser is built from its sources (``launcher_probe``: the ``isaaclab``
  packages are real, Isaac Sim / Kit / torch imports are stand-ins) and parses the exact argv that
  ``api.launcher_args`` builds, with and without cameras;
- the registry's image terms (``tasks.REGISTRY``) must match the image terms of the wheel's task configs.

The checked calls and launcher argv per version are printed (``pytest -s``) and written to
``.cache/isaaclab-wheels/contract-report.txt``.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mimicforge.backends.isaaclab import api, kit
from mimicforge.backends.isaaclab.cameras import CAMERA_TASKS, TASK_CONFIG_PACKAGES
from mimicforge.errors import BackendUnavailable
from mimicforge.tasks import REGISTRY
from tests.backends.isaaclab import wheel_sources as ws

pytestmark = pytest.mark.timeout(900)
MIMIC_CFG = "isaaclab.envs.mimic_env_cfg"
ENV_CFG = ("isaaclab.envs.manager_based_env_cfg", "ManagerBasedEnvCfg")
RELEASES = list(ws.KNOWN_RELEASES)
PROBE = Path(__file__).with_name("launcher_probe.py")
REPORT: dict[str, list[str]] = {}


def _sources(version: str) -> ws.WheelSources:
    try:
        return ws.WheelSources(ws.wheel(version, ws.KNOWN_RELEASES[version]))
    except RuntimeError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"isaaclab {version} is neither cached in .cache/isaaclab-wheels nor downloadable: {exc}")


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    text = "\n".join(line for v in RELEASES for line in REPORT.get(v, []))
    ws.CACHE.mkdir(parents=True, exist_ok=True)
    (ws.CACHE / "contract-report.txt").write_text(text + "\n", encoding="utf-8")
    print("\n" + text)


def check_wheel(src: ws.WheelSources) -> list[str]:
    """Check one wheel against the driver's tables; returns the report lines (asserts on any mismatch)."""
    lines = [f"isaaclab {src.version} ({src.layout} layout, isaaclab_mimic "
             f"{src.extension_version('isaaclab_mimic')}, Python {ws.KNOWN_RELEASES.get(src.version, '?')})"]
    gen = api.GENERATION_MODULE
    if src.module_file(gen) is None:
        with pytest.raises(BackendUnavailable, match="install Isaac Lab 2.1 or later") as refused:
            kit.installed_variant(src.source)
        lines.append(f"  no {gen}: refused before Kit starts: {refused.value}")
        return lines
    variant = kit.installed_variant(src.source)
    assert variant is not None
    lines.append(f"  API variant: {variant.name}")
    sigs, generate_sig = api.read_generation_api(src.source)
    for call in variant.calls:
        assert api.bind_problems(sigs[call.function], call.keywords) == []
        optional = [p.name for p in sigs[call.function] if not p.required and p.name not in call.keywords]
        lines.append(f"  {gen}.{call.describe()}" + (f"  [left at default: {', '.join(optional)}]" if optional else ""))
    gmod, gcls, gmeth = api.DATA_GENERATOR_GENERATE
    assert generate_sig is not None, f"{gmod}.{gcls}.{gmeth} is missing"
    reset_param = "env_reset_queue" in api.names(generate_sig)
    assert reset_param == variant.generator_resets_via_queue
    lines.append(f"  {gmod}.{gcls}.{gmeth}: env_reset_queue {'present' if reset_param else 'absent'}")

    nodes = {f: src.function(gen, f) for f in api.FUNCTIONS}
    counters = src.module_globals(gen)
    assert set(api.COUNTERS) <= counters, f"module counters missing: {set(api.COUNTERS) - counters}"
    lines.append(f"  {gen} globals reset before a run: {', '.join(api.COUNTERS)}")
    keys = ws.returned_dict_keys(nodes["setup_async_generation"])
    assert set(variant.components) <= keys, f"setup_async_generation returns {sorted(keys)}"
    lines.append(f"  setup_async_generation() keys read: {', '.join(variant.components)}")
    reads = ws.attributes_read(nodes["env_loop"])
    assert set(api.ENV_LOOP_READS) <= reads, "env_loop no longer re-reads the stop settings (graceful stop)"
    lines.append(f"  env_loop re-reads datagen_config.{', datagen_config.'.join(api.ENV_LOOP_READS)}; closes the env "
                 f"itself: {'yes' if 'close' in reads else 'no (the driver does, on every release)'}")

    dg = src.class_fields(MIMIC_CFG, "DataGenConfig")
    assert set(api.DATAGEN_FIELDS) | {"generation_num_trials"} <= dg, f"DataGenConfig lacks {set(api.DATAGEN_FIELDS) - dg}"
    optional_present = [f for f in api.DATAGEN_OPTIONAL_FIELDS if f in dg]
    lines.append(f"  DataGenConfig fields written: {', '.join(api.DATAGEN_FIELDS)}"
                 + (f" (+ {', '.join(optional_present)})" if optional_present else ""))
    st = src.class_fields(MIMIC_CFG, "SubTaskConfig")
    assert set(api.SUBTASK_FIELDS) <= st, f"SubTaskConfig lacks {set(api.SUBTASK_FIELDS) - st}"
    lines.append(f"  SubTaskConfig fields written: {', '.join(api.SUBTASK_FIELDS)}")
    env_fields = src.class_fields(*ENV_CFG)
    rerender = api.RERENDERS_FIELD if api.RERENDERS_FIELD in env_fields else api.RERENDER_FLAG_FIELD
    assert rerender in env_fields
    lines.append(f"  {ENV_CFG[1]}.{rerender} = {'max(1, n)' if rerender == api.RERENDERS_FIELD else 'True'} "
                 "when images are saved")

    mode_mod, mode_cls, member = api.EXPORT_MODE
    assert member in src.class_fields(mode_mod, mode_cls)
    assert set(api.RECORDER_CFG_FIELDS) <= src.class_fields(mode_mod, "RecorderManagerBaseCfg")
    lines.append(f"  {mode_mod}.{mode_cls}.{member}; RecorderManagerBaseCfg.{', '.join(api.RECORDER_CFG_FIELDS)}")

    ev_mod, ev_cls, ev_term = next(e for e in (api.CUBE_EVENT, api.CUBE_EVENT_3) if src.module_file(e[0]))
    ev_node = src.klass(ev_mod, ev_cls)
    assert ev_node is not None, f"{ev_mod}.{ev_cls} is missing"
    params = ws.call_keyword_dict_keys(ev_node, ev_term, "params")
    assert set(api.CUBE_EVENT_PARAMS) <= params, f"{ev_term} params are {sorted(params)}"
    pose_keys = ws.call_keyword_dict_keys(ev_node, ev_term, "params", api.CUBE_EVENT_PARAMS[0])
    assert set(api.CUBE_POSE_RANGE_KEYS) <= pose_keys, f"pose_range keys are {sorted(pose_keys)}"
    lines.append(f"  {ev_cls}.{ev_term}.params[{', '.join(api.CUBE_EVENT_PARAMS)}], "
                 f"pose_range[{', '.join(api.CUBE_POSE_RANGE_KEYS)}]")

    for module in api.REGISTRATION_MODULES:
        assert src.module_file(module) is not None, f"{module} is missing"
    registered = ws.string_constants(src.tree("isaaclab_mimic.envs"))
    twins = {name for name, e in REGISTRY.items() if e.twin is not None}  # the camera variants: see below
    assert twins <= registered, f"gym ids not registered: {twins - registered}"
    lines.append(f"  imported for registration: {', '.join(api.REGISTRATION_MODULES)}; gym ids {', '.join(sorted(twins))}")
    return lines


@pytest.mark.parametrize("version", RELEASES, ids=RELEASES)
def test_driver_calls_exist_in_the_release(version):
    REPORT.setdefault(version, [])[:0] = check_wheel(_sources(version))


def probe(src: ws.WheelSources, requests: list[dict]) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ws.REPO / "src"), str(ws.REPO)])}
    r = subprocess.run([sys.executable, str(PROBE), str(ws.extracted(src.path)), json.dumps(requests)],
                       capture_output=True, text=True, env=env, timeout=120)
    answers = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert len(answers) == len(requests), r.stdout[-2000:] + r.stderr[-3000:]
    return answers


@pytest.mark.parametrize("version", RELEASES, ids=RELEASES)
def test_the_release_launcher_parses_the_driver_argv(version):
    src = _sources(version)
    requests = [{"enable_cameras": False, "device": "cuda:0"}, {"enable_cameras": True, "device": "cuda:0"},
                {"raw_argv": ["--device", "cuda:0", "--headless", "--enable_cameras"]}]
    plain, cams, legacy = probe(src, requests)
    assert "error" not in plain and "error" not in cams, (plain, cams)
    assert plain["namespace"]["device"] == "cuda:0" and cams["namespace"]["device"] == "cuda:0"
    if "--headless" in plain["options"]:  # up to 2.3
        assert plain["namespace"]["headless"] is True and plain["namespace"]["enable_cameras"] is False
        assert cams["namespace"]["enable_cameras"] is True and cams["kwargs"] == {}
        assert "error" not in legacy
    else:  # 3.0: headless by default, cameras as AppLauncher's keyword; the old flags are refused
        assert "--enable_cameras" not in plain["options"] and plain["kwargs"] == {}
        assert cams["kwargs"] == {"enable_cameras": True}
        assert "unrecognized arguments: --headless --enable_cameras" in legacy["error"]
    REPORT.setdefault(version, []).append(
        f"  launcher argv: {' '.join(plain['argv'])}; with cameras: {' '.join(cams['argv'])}"
        + (f" + AppLauncher(..., {', '.join(f'{k}={v}' for k, v in cams['kwargs'].items())})" if cams["kwargs"] else ""))


_IMAGE_FUNCS = {"image_rgb": "rgb", "image_segmentation": "semantic_segmentation", "image_normals": "normals",
                "image_depth": "distance_to_image_plane"}


def image_terms(tree: ast.Module) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """(files, recorded): the (camera, modality) of every ObsTerm reading a camera, split by ``image_path``."""
    files, recorded = set(), set()
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "ObsTerm"):
            continue
        kw = {k.arg: k.value for k in node.keywords}
        params = kw.get("params")
        if not isinstance(params, ast.Dict):
            continue
        d = {k.value: v for k, v in zip(params.keys, params.values) if isinstance(k, ast.Constant)}
        sensor = d.get("sensor_cfg")
        if not (isinstance(sensor, ast.Call) and sensor.args and isinstance(sensor.args[0], ast.Constant)):
            continue
        func = ast.unparse(kw["func"]).split(".")[-1]
        modality = d["data_type"].value if "data_type" in d else _IMAGE_FUNCS[func]
        (files if "image_path" in d else recorded).add((sensor.args[0].value, modality))
    return files, recorded


def semantic_mapping(tree: ast.Module) -> dict[str, tuple[int, ...]] | None:
    """The config's semantic colour mapping (a dict literal keyed ``class:<label>``), by label; None if none."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict) and node.keys and all(
                isinstance(k, ast.Constant) and str(k.value).startswith("class:") for k in node.keys):
            return {k.value.removeprefix("class:"): ast.literal_eval(v) for k, v in zip(node.keys, node.values)}
    return None


@pytest.mark.parametrize("version", RELEASES, ids=RELEASES)
def test_the_camera_task_table_matches_the_release(version):
    src = _sources(version)
    mimic_envs = src.module_file("isaaclab_mimic.envs")
    registered = ws.string_constants(src.tree("isaaclab_mimic.envs")) if mimic_envs else set()
    lines = []
    for gym_id, task in CAMERA_TASKS.items():
        if gym_id not in registered:
            lines.append(f"  camera task {gym_id}: not in this release")
            continue
        module = next(m for m in (f"{p}.{task.isaac_config}" for p in TASK_CONFIG_PACKAGES) if src.module_file(m))
        files, recorded = image_terms(src.tree(module))
        assert (files, recorded) == (set(task.image_files), set(task.image_obs)), module
        colours = semantic_mapping(src.tree(module))
        if colours is not None:  # the twin draws segmentation in these colours
            assert colours == dict(task.segmentation_colors), module
        lines.append(f"  camera task {gym_id}: files {sorted(files)} recorded {sorted(recorded)}")
    REPORT.setdefault(version, []).extend(lines)


def test_pypi_serves_no_release_the_contract_skips():
    served = ws.pypi_versions()
    if served is None:
        if os.environ.get("CI"):
            pytest.fail("PyPI is unreachable; cannot tell whether a new isaaclab release appeared")
        pytest.skip("PyPI is unreachable")
    assert served == ws.KNOWN_RELEASES, f"PyPI serves {served}; add new releases to wheel_sources.KNOWN_RELEASES"


def test_contract_check_catches_a_renamed_keyword():
    """The check is not vacuous: a wheel whose env_loop lost a parameter the driver passes fails it."""
    src = _sources("2.3.2.post1")
    text = src.source(api.GENERATION_MODULE)
    assert text is not None and "env_action_queue" in text
    edited = text.replace("env_action_queue", "action_queue")
    with pytest.raises(BackendUnavailable, match="env_action_queue"):
        kit.installed_variant(lambda m: edited if m == api.GENERATION_MODULE else src.source(m))
