"""Import machinery that runs Isaac Lab's own Python sources straight from the ``isaaclab`` wheel.

Two meta-path finders, installed together by ``harness.install``:

- ``WheelFinder`` serves the wheel's packages (``isaaclab``, ``isaaclab_mimic``, ``isaaclab_tasks`` ...) from
  ``isaaclab/source/<pkg>/<pkg>/...`` (2.x: the layout of a source checkout) or from the top of the wheel
  (3.0). Each file's bytes are checked against the wheel's ``RECORD`` sha256 before they are compiled (3.0's
  ``.pyi`` export stubs, which its ``lazy_export`` reads, too), so what runs is exactly what NVIDIA shipped.
  A 2.x package ``__init__`` that would pull in half of Isaac Sim (``isaaclab.envs`` imports the simulation
  context, ``isaaclab_tasks`` imports every task) is *registered without running*: its names are read from
  its own import statements and resolved on first use, loading only the submodule that defines them (3.0's
  own ``__init__``s already load lazily, and run). A few modules are replaced by stand-ins (``standins``);
  the finder records each with the upstream module whose import asked for it.
- ``KitFinder`` answers every import of Isaac Sim / Kit / USD (``omni``, ``carb``, ``pxr``, ``isaacsim``,
  ``warp`` ...) with an inert module whose attributes are inert objects, and records which upstream module
  imported what. Nothing of Kit is *called* on the generation path: the inert objects exist so that module
  bodies that merely mention Kit at import time (type hints, base classes of scene assets, decorators) load.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

UPSTREAM_TOPS = ("isaaclab", "isaaclab_mimic", "isaaclab_tasks", "isaaclab_assets")  # 2.x; 3.0: see Wheel.tops
KIT_TOPS = ("omni", "carb", "pxr", "isaacsim", "warp", "usdrt", "Semantics", "physx", "omni_isaac", "pinocchio",
            "nvidia", "isaaclab_contrib_kit")


class RecordMismatch(RuntimeError):
    """A file of the wheel does not match its RECORD hash."""


@dataclass
class LoadLog:
    """What the finders did: upstream files run (with their verified hash), lazily registered packages,
    stand-ins and Kit modules, each with the upstream module that imported it."""

    verified: dict[str, str] = field(default_factory=dict)  # wheel path -> sha256 (RECORD form)
    lazy_packages: list[str] = field(default_factory=list)
    standins: dict[str, str] = field(default_factory=dict)  # module -> first upstream importer
    kit: dict[str, str] = field(default_factory=dict)  # Kit module -> first upstream importer


def _importer() -> str:
    """The upstream module (or, failing that, any module) whose import statement is running."""
    frame = sys._getframe(2)
    fallback = "?"
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name.split(".")[0].startswith("isaaclab"):
            return name
        if fallback == "?" and not name.startswith(("importlib", "tests.backends.isaaclab.harness")):
            fallback = name
        frame = frame.f_back
    return fallback


class Wheel:
    """The files of one ``isaaclab`` wheel and their RECORD hashes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path)
        self.names = set(self.zip.namelist())
        # 2.x: isaaclab/source/<pkg>/<pkg>/...; 3.0: <pkg>/... at the top of the wheel.
        self.layout = "top-level" if "isaaclab_mimic/__init__.py" in self.names else "source"
        self.tops = UPSTREAM_TOPS if self.layout == "source" else tuple(sorted(
            n.split("/")[0] for n in self.names if n.count("/") == 1 and n.endswith("/__init__.py")))
        # Unpacked beside the wheel, so that upstream files have real paths (tracebacks, inspect, and
        # tools that read an installed package's sources find them); every load re-checks the hash.
        self.root = path.with_suffix("")
        if not (self.root / ".complete").is_file():
            keep = [n for n in self.names if n.startswith("isaaclab/source/")] if self.layout == "source" else [
                n for n in self.names if n.split("/")[0] in self.tops]
            self.zip.extractall(self.root, keep)
            (self.root / ".complete").write_text("ok\n")
        record = next(n for n in self.names if n.endswith(".dist-info/RECORD"))
        self.record: dict[str, str] = {}
        for line in self.zip.read(record).decode("utf-8").splitlines():
            parts = line.rsplit(",", 2)
            if len(parts) == 3 and parts[1].startswith("sha256="):
                self.record[parts[0]] = parts[1][len("sha256="):]

    def source(self, module: str) -> tuple[str, bool] | None:
        """(wheel path, is_package) of an upstream module, or None."""
        base = self.folder_name(module)
        if base + "/__init__.py" in self.names:
            return base + "/__init__.py", True
        if base + ".py" in self.names:
            return base + ".py", False
        if any(n.startswith(base + "/") for n in self.names):
            return "", True  # a namespace package (a folder without __init__.py)
        return None

    def folder_name(self, module: str) -> str:
        """A module's path in the wheel, without suffix."""
        parts = module.split(".")
        return "/".join(parts) if self.layout == "top-level" else f"isaaclab/source/{parts[0]}/" + "/".join(parts)

    def file(self, name: str) -> Path:
        return self.root / name

    def verified_bytes(self, name: str) -> tuple[bytes, str]:
        data = self.file(name).read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
        want = self.record.get(name)
        if want != digest:
            raise RecordMismatch(f"{self.path.name}: {name} has sha256={digest}, RECORD says {want}")
        return data, digest


# --------------------------------------------------------------------------------------- lazy packages
def _init_names(tree: ast.Module, package: str) -> tuple[dict[str, tuple[str, str]], list[str], list[str] | None]:
    """From a package ``__init__``: name -> (module, attribute) for ``from X import a``, the modules it
    star-imports, and its literal ``__all__`` (if any)."""
    names: dict[str, tuple[str, str]] = {}
    stars: list[str] = []
    all_: list[str] | None = None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level \
                else node.module or ""
            for alias in node.names:
                if alias.name == "*":
                    stars.append(base)
                elif node.module is None:  # from . import sub
                    names[alias.asname or alias.name] = (f"{base}.{alias.name}", "")
                else:
                    names[alias.asname or alias.name] = (base, alias.name)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            try:
                all_ = [str(v) for v in ast.literal_eval(node.value)]
            except ValueError:
                all_ = None
    return names, stars, all_


def imports_only(source: bytes, filename: str) -> bool:
    """True when a module body holds nothing but imports, a docstring and ``__all__``."""
    for node in ast.parse(source, filename).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            continue
        return False
    return True


def make_lazy(module: ModuleType, source: bytes, filename: str) -> None:
    """Give ``module`` (a package whose ``__init__`` is not run) a ``__getattr__`` that resolves the names
    its ``__init__`` would have imported, importing only the submodule each one comes from."""
    pkg = module.__name__
    names, stars, all_ = _init_names(ast.parse(source, filename), pkg)

    def public(mod: ModuleType) -> list[str]:
        explicit = getattr(mod, "__all__", None)
        return list(explicit) if explicit is not None else [n for n in vars(mod) if not n.startswith("_")]

    def resolve(name: str) -> Any:
        if name == "__all__":
            out = list(all_) if all_ is not None else [n for n in names if not n.startswith("_")]
            if all_ is None:
                for star in stars:
                    out += [n for n in public(importlib.import_module(star)) if n not in out]
            return out
        if name.startswith("__"):
            raise AttributeError(name)
        if name in names:
            target, attr = names[name]
            mod = importlib.import_module(target)
            value = getattr(mod, attr) if attr else mod
        else:
            value = None
            for star in stars:
                mod = importlib.import_module(star)
                if name in public(mod):
                    value = getattr(mod, name)
                    break
            if value is None:
                try:
                    value = importlib.import_module(f"{pkg}.{name}")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{pkg}.{name}":
                        raise
                    raise AttributeError(f"module {pkg!r} has no attribute {name!r}") from None
        setattr(module, name, value)
        return value

    module.__getattr__ = resolve  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------- finders
class _UpstreamLoader(importlib.abc.Loader):
    def __init__(self, finder: WheelFinder, path: str, lazy: bool) -> None:
        self.finder, self.path, self.lazy = finder, path, lazy

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        if not self.path:
            return
        data, digest = self.finder.wheel.verified_bytes(self.path)
        self.finder.log.verified[self.path] = digest
        stub = self.path[:-len(".py")] + ".pyi"  # 3.0: the export list its lazy_export() reads from disk
        if stub in self.finder.wheel.names:
            self.finder.log.verified[stub] = self.finder.wheel.verified_bytes(stub)[1]
        if self.lazy and (module.__name__ in self.finder.force_lazy or imports_only(data, self.path)):
            self.finder.log.lazy_packages.append(module.__name__)
            make_lazy(module, data, self.path)
            return
        filename = str(self.finder.wheel.file(self.path))
        module.__file__ = filename
        exec(compile(data, filename, "exec"), module.__dict__)


class _StandinLoader(importlib.abc.Loader):
    def __init__(self, build: Callable[[ModuleType], None]) -> None:
        self.build = build

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        self.build(module)


class WheelFinder(importlib.abc.MetaPathFinder):
    """Upstream modules from the wheel; ``standins`` (module -> builder) take precedence. A package
    ``__init__`` made only of imports is registered lazily (unless listed in ``run_inits``), as is every
    package in ``force_lazy`` (whose ``__init__`` runs code that reaches Kit or imports every task); any
    other ``__init__`` runs."""

    def __init__(self, wheel: Wheel, standins: dict[str, Callable[[ModuleType], None]], run_inits: Iterable[str],
                 force_lazy: Iterable[str], log: LoadLog) -> None:
        self.wheel, self.standins, self.run_inits, self.log = wheel, standins, set(run_inits), log
        self.force_lazy = set(force_lazy)

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname.split(".")[0] not in self.wheel.tops:
            return None
        if fullname in self.standins:
            self.log.standins.setdefault(fullname, _importer())
            found = self.wheel.source(fullname)
            spec = importlib.machinery.ModuleSpec(fullname, _StandinLoader(self.standins[fullname]),
                                                  is_package=bool(found and found[1]))
            if found and found[1]:
                spec.submodule_search_locations = []
            return spec
        found = self.wheel.source(fullname)
        if found is None:
            return None
        path_in_wheel, is_pkg = found
        loader = _UpstreamLoader(self, path_in_wheel, lazy=is_pkg and fullname not in self.run_inits)
        folder = self.wheel.file(self.wheel.folder_name(fullname))
        spec = importlib.machinery.ModuleSpec(fullname, loader, is_package=is_pkg,
                                              origin=str(self.wheel.file(path_in_wheel)) if path_in_wheel else None)
        spec.has_location = bool(path_in_wheel)
        if is_pkg:
            spec.submodule_search_locations = [str(folder)]
        return spec


class Inert:
    """Whatever Kit code is asked for at import time: callable, subscriptable, usable as a base class,
    iterable (empty) and false. It does nothing, so a Kit call that mattered would show up as wrong data."""

    def __init__(self, name: str = "kit") -> None:
        self._name = name

    @property
    def __name__(self) -> str:  # type: ignore[override]
        return self._name.rsplit(".", 1)[-1]

    def __getattr__(self, item: str) -> Inert:
        if item.startswith("__") and item.endswith("__"):
            raise AttributeError(item)
        return Inert(f"{self._name}.{item}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if len(args) == 1 and not kwargs and (callable(args[0]) or isinstance(args[0], type)):
            return args[0]  # used as a decorator: keep the decorated object
        return Inert(f"{self._name}()")

    def __getitem__(self, item: Any) -> Inert:
        return self

    def __or__(self, other: Any) -> Inert:
        return self

    __ror__ = __or__

    def __iter__(self) -> Any:
        return iter(())

    def __bool__(self) -> bool:
        return False

    def __mro_entries__(self, bases: tuple[Any, ...]) -> tuple[type, ...]:
        return (object,)

    def __repr__(self) -> str:
        return f"<inert {self._name}>"


class _KitModule(ModuleType):
    def __getattr__(self, item: str) -> Any:
        if item.startswith("__") and item.endswith("__"):
            raise AttributeError(item)
        return Inert(f"{self.__name__}.{item}")


class _KitLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return _KitModule(spec.name)

    def exec_module(self, module: ModuleType) -> None:
        module.__path__ = []  # type: ignore[attr-defined]


class KitFinder(importlib.abc.MetaPathFinder):
    """Kit, USD and Isaac Sim modules, and the Isaac Lab packages that are Kit UI (``kit_upstream``)."""

    def __init__(self, log: LoadLog, kit_upstream: Iterable[str] = (), real: Iterable[str] = ()) -> None:
        self.log = log
        self.kit_upstream = tuple(kit_upstream)
        self.tops = tuple(t for t in KIT_TOPS if t not in set(real))  # ``real``: installed and used as they are

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        upstream_ui = any(fullname == k or fullname.startswith(k + ".") for k in self.kit_upstream)
        if fullname.split(".")[0] not in self.tops and not upstream_ui:
            return None
        self.log.kit.setdefault(fullname, _importer())
        return importlib.machinery.ModuleSpec(fullname, _KitLoader(), is_package=True)
