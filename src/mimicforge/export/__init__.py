"""Generated demos in other ecosystems' dataset formats, written through those ecosystems' own libraries.

- ``mapping``: what an Isaac Lab Mimic HDF5 demo becomes in a LeRobot v3.0 dataset (feature names, the
  quaternion convention, fps, task text, cameras), checked against the whole file before anything is written.
- ``lerobot``: the export itself, through ``LeRobotDataset.create`` / ``add_frame`` / ``save_episode`` /
  ``finalize`` (the optional extra ``lerobot``), into ``DIR.partial`` renamed to ``DIR`` when finished.
"""
