"""Choosing the isaaclab_mimic API variant by signature. The functions inspected here are the FAKE Isaac
Lab generation modules of ``fake_isaac`` (same signatures as the real releases; the real wheels are
checked by ``test_contract.py``)."""

from __future__ import annotations

import argparse

import pytest

from mimicforge.backends.isaaclab import api
from mimicforge.errors import BackendUnavailable
from tests.backends.isaaclab.fake_isaac import FakeIsaac


def signatures(module) -> dict[str, api.Signature]:
    return {f: api.signature_of(getattr(module, f)) for f in api.FUNCTIONS}


def test_reset_queue_api_gets_the_five_argument_env_loop():
    isaac = FakeIsaac("2.3")
    v = api.select_variant(signatures(isaac.generation), isaac.generate_signature())
    assert v.call("env_loop").keywords == ("env", "env_reset_queue", "env_action_queue", "shared_datagen_info_pool",
                                          "asyncio_event_loop")
    assert "reset_queue" in v.components


def test_legacy_api_gets_the_four_argument_env_loop():
    isaac = FakeIsaac("2.0")
    v = api.select_variant(signatures(isaac.generation), isaac.generate_signature())
    assert v.call("env_loop").keywords == ("env", "env_action_queue", "shared_datagen_info_pool", "asyncio_event_loop")
    assert "reset_queue" not in v.components


def test_mixed_install_is_refused_both_ways():
    for loop_api, gen_api in (("2.0", "2.3"), ("2.3", "2.0")):
        isaac = FakeIsaac(loop_api, generator_api=gen_api)
        with pytest.raises(BackendUnavailable, match="mixed isaaclab_mimic install"):
            api.select_variant(signatures(isaac.generation), isaac.generate_signature())


def test_an_unknown_api_is_reported_with_what_does_not_bind():
    sigs = signatures(FakeIsaac("2.3").generation)
    sigs["env_loop"] = (api.Param("env", True), api.Param("queues", True))
    with pytest.raises(BackendUnavailable) as info:
        api.select_variant(sigs)
    msg = str(info.value)
    assert "env_loop requires 'queues'" in msg and "env_loop has no parameter 'env_reset_queue'" in msg
    del sigs["env_loop"]
    with pytest.raises(BackendUnavailable, match="lacks env_loop"):
        api.select_variant(sigs)


def test_bind_problems():
    def f(a, b=1, *, c, **kw):  # noqa: ANN001, ANN003
        pass

    def g(a, /, b):  # noqa: ANN001
        pass

    sig = api.signature_of(f)
    assert api.bind_problems(sig, ["a", "c"]) == []
    assert api.bind_problems(sig, ["a", "c", "zzz"]) == []  # **kw takes it
    assert api.bind_problems(sig, ["b"]) == ["requires 'a', which mimicforge does not pass",
                                             "requires 'c', which mimicforge does not pass"]
    assert api.bind_problems(api.signature_of(g), ["a", "b"]) == ["takes 'a' only by position"]


class _Launcher23:
    """A launcher parser shaped like Isaac Lab 2.x's (the real ones run in test_contract)."""

    @staticmethod
    def add_app_launcher_args(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--headless", action="store_true")
        parser.add_argument("--enable_cameras", action="store_true")
        parser.add_argument("--device", default="cuda:0")


class _Launcher30:
    """Shaped like Isaac Lab 3.0's: no --headless, no --enable_cameras."""

    @staticmethod
    def add_app_launcher_args(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--device", default="cuda:0")
        parser.add_argument("--viz", "--visualizer", default=None)


def test_launcher_args_follow_what_the_parser_accepts():
    old = api.launcher_args(_Launcher23, enable_cameras=True, device="cuda:1")
    assert old.argv == ["--device", "cuda:1", "--headless", "--enable_cameras"] and old.kwargs == {}
    assert old.namespace.headless and old.namespace.enable_cameras
    new = api.launcher_args(_Launcher30, enable_cameras=True, device="cpu")
    assert new.argv == ["--device", "cpu"] and new.kwargs == {"enable_cameras": True}
    assert api.launcher_args(_Launcher30, enable_cameras=False, device="cpu").kwargs == {}


def test_a_refused_launcher_argument_is_one_line_not_a_usage_exit():
    class Strange:
        @staticmethod
        def add_app_launcher_args(parser: argparse.ArgumentParser) -> None:
            parser.add_argument("--device", type=int)

    with pytest.raises(BackendUnavailable, match="launcher refused mimicforge's arguments .*invalid int value"):
        api.launcher_args(Strange, enable_cameras=False, device="cuda:0")


def test_three_oh_api_passes_data_gen_tasks():
    isaac = FakeIsaac("3.0")
    v = api.select_variant(signatures(isaac.generation), isaac.generate_signature())
    assert v.name.startswith("data_gen_tasks") and v.kit_before_numpy
    assert v.call("env_loop").keywords[-1] == "data_gen_tasks"


def test_the_pre_kit_pick_from_sources_matches_the_pick_from_live_functions():
    for version in ("2.0", "2.3", "3.0"):
        isaac = FakeIsaac(version)
        live = api.select_variant(signatures(isaac.generation), isaac.generate_signature())
        sigs, generate = api.read_generation_api(isaac.source_of)
        assert api.select_variant(sigs, generate) == live


def test_no_generation_module_asks_for_2_1():
    with pytest.raises(BackendUnavailable, match="install Isaac Lab 2.1 or later"):
        api.select_variant(*api.read_generation_api(lambda module: None))
