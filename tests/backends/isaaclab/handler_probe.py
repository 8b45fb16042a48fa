"""Read dataset files with Isaac Lab 3.0's own ``HDF5DatasetFileHandler`` (a subprocess helper, no Isaac Sim).

    python handler_probe.py <extracted 3.0 wheel> <json: {"read": [file, ...], "write": file}>

The handler module and ``isaaclab.utils.math`` are the wheel's real code, run on real numpy, h5py and torch;
only the Isaac Sim / Kit imports around them are stand-ins (``launcher_probe.install``). For each file in
``read`` it prints the handler's format version and, for ``demo_0``, the ``root_pose`` rows it loads
(``load_episode``, which converts legacy WXYZ files). With ``write`` it creates a file with the handler and
writes ``demo_0`` of the first read file into it, as Isaac Lab 3.0's recorder would.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from launcher_probe import install  # noqa: E402


def poses(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in tree.items():
        if isinstance(v, dict):
            out.update(poses(v, f"{prefix}{k}/"))
        elif k == "root_pose":
            out[f"{prefix}{k}"] = v.tolist()
    return out


def main() -> None:
    install(Path(sys.argv[1]), also_real=("numpy", "h5py", "torch"))
    request = json.loads(sys.argv[2])
    handler_mod = importlib.import_module("isaaclab.utils.datasets.hdf5_dataset_file_handler")
    episodes = []
    for path in request["read"]:
        h = handler_mod.HDF5DatasetFileHandler()
        h.open(path, "r")
        episode = h.load_episode("demo_0", "cpu")
        episodes.append(episode)
        print(json.dumps({"file": path, "format_version": h.get_format_version(),
                          "legacy": h.is_legacy_quaternion_format(),
                          "root_pose": poses({k: episode.data[k] for k in ("states", "initial_state")})}))
        h.close()
    if request.get("write"):
        h = handler_mod.HDF5DatasetFileHandler()
        h.create(request["write"], env_name="Isaac-Stack-Cube-Franka-IK-Rel-Mimic-v0")
        h.write_episode(episodes[0])
        h.flush()
        h.close()
        print(json.dumps({"written": request["write"]}))


if __name__ == "__main__":
    main()
