"""mimicforge: MimicGen data generation for Isaac Lab Mimic, with a MuJoCo twin that runs anywhere."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mimicforge")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+unknown"
