"""In a real Jupyter kernel (ipykernel via jupyter_client): Isaac Lab's asyncio pattern fails without
nest_asyncio and works after the driver's ``prepare_event_loop``; the whole driver then runs inside the
kernel (against the FAKE Isaac boundary of ``fake_isaac``: no Isaac Sim here), and a dead generator task
is reported without hurting the kernel."""

from __future__ import annotations

import queue
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("ipykernel")
jupyter_client = pytest.importorskip("jupyter_client")

pytestmark = [pytest.mark.notebook, pytest.mark.timeout(180)]
REPO = Path(__file__).resolve().parents[3]

# What Isaac Lab does: setup_async_generation schedules generator tasks on asyncio.get_event_loop(), then
# env_loop pumps that loop synchronously with run_until_complete, from ordinary (non-async) code.
ISAAC_PATTERN = textwrap.dedent("""
    import asyncio
    loop = asyncio.get_event_loop()
    action_queue = asyncio.Queue()

    async def generator():
        for step in range(3):
            await action_queue.put(("env0", step))
            await action_queue.join()

    task = loop.create_task(generator())
    try:
        steps = []
        for _ in range(3):
            while action_queue.qsize() != 1:
                loop.run_until_complete(asyncio.sleep(0))
            steps.append(loop.run_until_complete(action_queue.get())[1])
            action_queue.task_done()
        print("RESULT completed", steps)
    except RuntimeError as exc:
        print("RESULT", exc)
""")


class Kernel:
    def __init__(self) -> None:
        self.km, self.kc = jupyter_client.manager.start_new_kernel(kernel_name="python3", cwd=str(REPO))

    def run(self, code: str, timeout: float = 120) -> str:
        msg_id = self.kc.execute(code)
        out = []
        while True:
            try:
                msg = self.kc.get_iopub_msg(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"kernel gave no output for {timeout} s; so far: {''.join(out)}") from None
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                out.append(content["text"])
            elif kind == "error":
                out.append("ERROR " + content["ename"] + ": " + content["evalue"])
            elif kind == "status" and content["execution_state"] == "idle":
                return "".join(out)

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


@pytest.fixture
def kernel():
    k = Kernel()
    yield k
    k.close()


def test_isaac_pattern_fails_in_a_kernel_without_nest_asyncio(kernel):
    out = kernel.run(ISAAC_PATTERN)
    assert "RESULT This event loop is already running" in out


def test_isaac_pattern_completes_after_the_drivers_setup(kernel):
    out = kernel.run("from mimicforge.backends.isaaclab import prepare_event_loop\n"
                     "print('applied', prepare_event_loop())\n" + ISAAC_PATTERN)
    assert "applied True" in out
    assert "RESULT completed [0, 1, 2]" in out


def test_driver_runs_in_a_kernel_and_survives_a_dead_task(kernel, real_dataset, tmp_path):
    out = kernel.run(textwrap.dedent(f"""
        from mimicforge.backends.isaaclab import launch, generate
        from mimicforge.config import load_config
        from mimicforge.errors import GenerationStalled
        from tests.backends.isaaclab.fake_isaac import Attempt, FakeIsaac

        cfg = load_config(env={{}}, flags={{"input_file": {str(real_dataset)!r},
                                           "output_file": {str(tmp_path / 'gen.hdf5')!r}, "num_trials": 2}})
        sim = launch(cfg, isaac=FakeIsaac("2.3", [Attempt(success=False), Attempt(), Attempt()]), device="cpu")
        summary = generate(cfg, sim, device="cpu")
        print("SUMMARY", summary.successes, summary.attempts, sim.nested_loop)

        broken = load_config(env={{}}, flags={{"input_file": {str(real_dataset)!r},
                                              "output_file": {str(tmp_path / 'broken.hdf5')!r}, "num_trials": 2}})
        sim2 = launch(broken, isaac=FakeIsaac("2.3", [Attempt(error="got empty subtasks!")]), device="cpu")
        try:
            generate(broken, sim2, device="cpu")
        except GenerationStalled as exc:
            print("STALLED", exc)
    """))
    assert "SUMMARY 2 3 True" in out, out
    assert "STALLED Isaac Lab's data generator for env 0 died with RuntimeError: got empty subtasks!" in out, out
    assert kernel.run("print('alive', 6 * 7)").strip().endswith("alive 42")  # the kernel's loop still serves cells
