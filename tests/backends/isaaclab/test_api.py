"""Choosing the isaaclab_mimic API variant by signature. The functions inspected here are the FAKE Isaac
Lab generation modules of ``fake_isaac`` (same signatures as the real releases; the real wheels are
checked by ``test_contract.py``)."""

from __future__ import annotations

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


def test_launcher_argv():
    assert api.launcher_argv(headless=True, enable_cameras=False, device="cuda:0") == ["--device", "cuda:0",
                                                                                      "--headless"]
    argv = api.launcher_argv(headless=True, enable_cameras=True, device="cpu")
    assert set(a for a in argv if a.startswith("--")) <= set(api.LAUNCHER_FLAGS) and "--enable_cameras" in argv
