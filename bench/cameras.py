"""Generation throughput with the Blueprint's camera outputs on the embedded twin. Prints one JSON object.

The Blueprint's modalities: two cameras (``table_cam``, ``table_high_cam``) x surface normals + semantic
segmentation at 320 x 176, written as PNG folders. For 1 and 2 workers it runs a real ``mimicforge generate``
(the CLI's code path, outputs in a temporary folder) until N demos succeeded and reports successful demos
per minute of wall time.

Each run also reports its CPU seconds (this process and its workers, all threads), which a loaded machine
disturbs far less than wall time. The time split, in CPU seconds: ``generation`` is a 1-worker run with the
same seed (so the same attempts) and the cameras off; ``rendering``, ``encoding`` and ``writing`` re-make
the frames of its successful demos in this process, stage by stage, with the frame sink's own functions
(states set and drawn; frames turned into PNG bytes; bytes written to files).

    python bench/cameras.py [--successes 6] [--workers 1,2] [--no-split] [--input PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

from mimicforge.backends import make_env_factory
from mimicforge.backends.base import state_at
from mimicforge.config import load_config
from mimicforge.datasets import DatasetReader
from mimicforge.run.dispatch import generate
from mimicforge.tasks import FRANKA_STACK

REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "franka_stack_annotated_10.hdf5"
CAMERAS = "table_cam,table_high_cam"
MODALITIES = "normals,semantic_segmentation"


def settings(src: Path, out: Path, successes: int, workers: int, cameras: bool) -> dict[str, str]:
    env = {"INPUT_FILE": str(src), "OUTPUT_FILE": str(out), "NUM_TRIALS": str(successes), "SEED": "1",
           "KEEP_FAILED": "0", "WORKERS": str(workers), "RAY": "0", "ON_EXISTING": "overwrite"}
    if cameras:
        env.update({"CAMERAS": CAMERAS, "MODALITIES": MODALITIES, "CAMERA_WIDTH": "320", "CAMERA_HEIGHT": "176",
                    "OUTPUT_DIR": str(out.parent / f"{out.stem}_images")})
    return env


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (workers), all threads (the GL rasteriser's too)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(src: Path, out: Path, successes: int, workers: int, cameras: bool) -> dict:
    cfg = load_config(env=settings(src, out, successes, workers, cameras))
    t0, c0 = time.perf_counter(), cpu_seconds()
    summary = generate(cfg)  # the CLI's dispatch: WORKERS=2 runs supervised workers
    wall, cpu = time.perf_counter() - t0, cpu_seconds() - c0
    n = max(summary.new_successes, 1)
    return {"workers": workers, "successes": summary.new_successes, "attempts": summary.new_attempts,
            "wall_s": round(wall, 2), "successes_per_min": round(summary.new_successes / wall * 60, 2),
            "cpu_s": round(cpu, 2), "cpu_s_per_success": round(cpu / n, 2)}


def stage_split(dataset: Path, cfg_env: dict[str, str]) -> dict[str, float]:
    """Seconds spent drawing, encoding and writing the frames of every demo in ``dataset``."""
    from mimicforge.run import images

    cfg = load_config(env=cfg_env)
    env = make_env_factory("mujoco")(FRANKA_STACK, cfg)
    cams, mods = CAMERAS.split(","), MODALITIES.split(",")
    split = {"rendering": 0.0, "encoding": 0.0, "writing": 0.0}  # CPU seconds (all threads), robust to load
    # The hasattr fallbacks below let this bench measure the previous renderer too (PYTHONPATH=<its src>),
    # which had neither images.draw nor media.png_bytes: its "before" figures in BENCHMARKS.md.
    frames = 0
    with tempfile.TemporaryDirectory() as tmp, DatasetReader(dataset) as r:
        try:
            for name in r.demo_names:
                d = r.demo(name, parts=("actions", "initial_state", "states"))
                for t in range(1 + len(d.actions)):
                    t0 = time.process_time()
                    env.reset_to(state_at(d.initial_state, 0) if t == 0 else state_at(d.states, t - 1))
                    drawn = images.draw(env, cams, mods) if hasattr(images, "draw") else {
                        (c, m): env.render(c, m) for c in cams for m in mods}
                    t1 = time.process_time()
                    encoded = {k: encode(k[1], v) for k, v in drawn.items()}
                    t2 = time.process_time()
                    for (c, m), data in encoded.items():
                        Path(tmp, f"{c}_{m}_{t}.png").write_bytes(data)
                    t3 = time.process_time()
                    split["rendering"] += t1 - t0
                    split["encoding"] += t2 - t1
                    split["writing"] += t3 - t2
                    frames += len(drawn)
        finally:
            env.close()
    return {**{k: round(v, 2) for k, v in split.items()}, "frames": frames}


def encode(modality: str, frame) -> bytes:
    from mimicforge.media import images as media

    if hasattr(media, "png_bytes"):
        return media.png_bytes(modality, frame)
    import io

    import imageio.v3 as iio

    buf = io.BytesIO()
    iio.imwrite(buf, media.to_png_array(modality, frame), extension=".png")
    return buf.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", type=Path, default=REAL)
    ap.add_argument("--successes", type=int, default=6)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--no-split", action="store_true", help="skip the 1-worker time split")
    args = ap.parse_args()
    result: dict = {
        "benchmark": "cameras",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": sys.platform,
                    "loadavg_start": [round(x, 2) for x in os.getloadavg()]},
        "cameras": CAMERAS, "modalities": MODALITIES, "size": "320x176", "successes": args.successes,
    }
    with tempfile.TemporaryDirectory() as tmp:
        for w in [int(x) for x in args.workers.split(",") if x]:
            out = Path(tmp) / f"w{w}.hdf5"
            result[f"workers_{w}"] = run(args.input, out, args.successes, w, True)
        if not args.no_split:
            plain = run(args.input, Path(tmp) / "plain.hdf5", args.successes, 1, False)
            split = stage_split(Path(tmp) / "plain.hdf5", settings(args.input, Path(tmp) / "x.hdf5", 1, 1, True))
            result["split_cpu_s"] = {"generation": plain["cpu_s"], **split}
    result["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
