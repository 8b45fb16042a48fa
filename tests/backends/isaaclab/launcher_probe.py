"""Run the real Isaac Lab launcher argument parser of one wheel, without Isaac Sim (a subprocess helper).

    python launcher_probe.py <extracted wheel root> <json: [{"enable_cameras": bool, "device": str}, ...]>

The wheel's own ``isaaclab`` packages are imported from the extracted wheel (both layouts: 2.x keeps them
under ``isaaclab/source/<pkg>/``, 3.0 at the top). Everything they import that is neither in the standard
library nor in the wheel (``isaacsim``, ``omni``, ``carb``, ``torch``, ``numpy``, ...) is a stand-in module
whose attributes are inert placeholders: this is the Isaac Sim boundary, faked only so the parser can be built.
``AppLauncher.add_app_launcher_args`` then fills a parser, and the driver's own ``api.launcher_args`` builds
and parses the argv, exactly as ``boundary.RealIsaac.launch_app`` does before it constructs ``AppLauncher``.
Prints one JSON object per request.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import json
import sys
import types
from pathlib import Path
from typing import Any


# Light, pure-Python packages Isaac Lab's import machinery relies on: used for real (3.0's lazy_export).
REAL_PACKAGES = ("mimicforge", "tests", "lazy_loader", "packaging")


class _StubMeta(type):
    def __getattr__(cls, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _stub_class(name)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]  # used as a decorator
        return _stub_class(cls.__name__)

    def __getitem__(cls, item: Any) -> Any:
        return cls

    def __or__(cls, other: Any) -> Any:
        return cls

    __ror__ = __or__

    def __iter__(cls) -> Any:
        return iter(())

    def __bool__(cls) -> bool:
        return False


def _stub_class(name: str) -> type:
    return _StubMeta(str(name), (), {})


class _StubModule(types.ModuleType):
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _stub_class(name)


class _StandIns(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stand-in modules for every import outside the standard library and the wheel."""

    def __init__(self, real: set[str]) -> None:
        self.real = real | set(REAL_PACKAGES)

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        top = fullname.split(".")[0]
        if top in self.real or top in sys.stdlib_module_names:
            return None
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module: types.ModuleType) -> None:
        pass


def package_roots(root: Path) -> list[Path]:
    """Folders holding the wheel's top-level packages (2.x: ``isaaclab/source/<pkg>/``; 3.0: the root)."""
    source = root / "isaaclab" / "source"
    if not (root / "isaaclab" / "app").is_dir() and source.is_dir():
        return sorted(p for p in source.iterdir() if (p / p.name / "__init__.py").is_file())
    return [root]


def install(root: Path, also_real: tuple[str, ...] = ()) -> None:
    """Make the extracted wheel's packages importable, with stand-ins for everything outside it."""
    roots = package_roots(root)
    real = {p.name for r in roots for p in r.iterdir() if (p / "__init__.py").is_file()}
    sys.path[:0] = [str(r) for r in roots]
    sys.meta_path.append(_StandIns(real | set(also_real)))


def main() -> None:
    root = Path(sys.argv[1])
    requests = json.loads(sys.argv[2])
    install(root)

    from mimicforge.backends.isaaclab import api

    module_name, cls_name, _ = api.LAUNCHER
    launcher = getattr(importlib.import_module(f"{module_name}.app_launcher"), cls_name)
    for request in requests:
        try:
            if "raw_argv" in request:  # an argv of our own choosing, parsed by the same strict parser
                parser = api._StrictParser(add_help=False)
                getattr(launcher, api.LAUNCHER[2])(parser)
                print(json.dumps({"namespace": sorted(vars(parser.parse_args(request["raw_argv"])))}))
                continue
            args = api.launcher_args(launcher, enable_cameras=request["enable_cameras"], device=request["device"])
            out = {"argv": args.argv, "kwargs": args.kwargs, "options": sorted(args.options),
                   "namespace": {k: v for k, v in vars(args.namespace).items() if isinstance(v, (str, bool, int))}}
        except Exception as exc:  # reported to the test, which shows it
            out = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(out))


if __name__ == "__main__":
    main()
