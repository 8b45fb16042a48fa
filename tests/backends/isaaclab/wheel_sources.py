"""Real ``isaaclab`` wheels from PyPI, read as source text and parsed with ``ast`` (Isaac Sim is never imported).

PyPI serves each Isaac Lab generation for one Python only (2.0.0-2.1.0: 3.10, 2.2.0-2.3.2.post1: 3.11,
3.0.0: 3.12), so every wheel is downloaded with ``pip download --no-deps --only-binary=:all:
--python-version X`` for its own Python, and cached in ``.cache/isaaclab-wheels/`` (git-ignored), so
reruns need no network. Two layouts: up to 2.3 the packages sit under ``isaaclab/source/<pkg>/<pkg>/``,
3.0 ships them at the top of the wheel.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

from packaging.version import Version

from mimicforge.backends.isaaclab.api import Signature, signature_of_source

REPO = Path(__file__).resolve().parents[3]
CACHE = REPO / ".cache" / "isaaclab-wheels"
PYTHONS = ("3.10", "3.11", "3.12")
# Every release PyPI served when this was written, with the Python its wheel is for. test_contract checks
# each of them and also asks PyPI (when reachable) whether a release appeared that is missing here.
KNOWN_RELEASES = {
    "2.0.0": "3.10", "2.0.1": "3.10", "2.0.2": "3.10", "2.1.0": "3.10",
    "2.2.0": "3.11", "2.3.0": "3.11", "2.3.1": "3.11", "2.3.2": "3.11", "2.3.2.post1": "3.11",
    "3.0.0": "3.12",
}


def target(python: str) -> list[str]:
    return ["--python-version", python, "--only-binary=:all:"]


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, env=env, timeout=600)


def cached_versions() -> list[Version]:
    found = []
    for whl in CACHE.glob("isaaclab-*.whl"):
        m = re.match(r"isaaclab-([^-]+)-", whl.name)
        if m:
            found.append(Version(m.group(1)))
    return sorted(found)


def pypi_versions() -> dict[str, str] | None:
    """{version: python} for every isaaclab release PyPI serves for Python 3.10-3.12 (None: PyPI unreachable)."""
    out: dict[str, str] = {}
    for python in PYTHONS:
        r = _pip("index", "versions", "isaaclab", *target(python))
        m = re.search(r"Available versions:\s*(.+)", r.stdout)
        if m is None:
            if "No matching distribution" in r.stderr:
                continue
            return None
        out.update((v.strip(), python) for v in m.group(1).split(","))
    return out


def wheel(version: str, python: str) -> Path:
    for whl in CACHE.glob(f"isaaclab-{version}-*.whl"):
        return whl
    CACHE.mkdir(parents=True, exist_ok=True)
    r = _pip("download", "--no-deps", "-q", "-d", str(CACHE), f"isaaclab=={version}", *target(python))
    for whl in CACHE.glob(f"isaaclab-{version}-*.whl"):
        return whl
    raise RuntimeError(f"pip download isaaclab=={version} (Python {python}) failed: {r.stderr.strip()[-500:]}")


def extracted(path: Path) -> Path:
    """The wheel unpacked once beside the cache (the launcher probe imports from it)."""
    root = CACHE / "extracted" / path.stem
    if not (root / ".complete").exists():
        with zipfile.ZipFile(path) as z:
            z.extractall(root)
        (root / ".complete").touch()
    return root


class WheelSources:
    """Python sources of one isaaclab wheel, by module name (``isaaclab/source/<pkg>/<pkg>/...`` or ``<pkg>/...``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip = zipfile.ZipFile(path)
        self._names = set(self._zip.namelist())
        self._trees: dict[str, ast.Module] = {}
        self.version = path.name.split("-")[1]
        self.layout = "top-level" if "isaaclab_mimic/__init__.py" in self._names else "source"

    def module_file(self, module: str) -> str | None:
        parts = module.split(".")
        base = "/".join(parts) if self.layout == "top-level" else f"isaaclab/source/{parts[0]}/" + "/".join(parts)
        for candidate in (base + ".py", base + "/__init__.py"):
            if candidate in self._names:
                return candidate
        return None

    def tree(self, module: str) -> ast.Module:
        if module not in self._trees:
            name = self.module_file(module)
            if name is None:
                raise LookupError(f"{self.path.name} has no module {module}")
            self._trees[module] = ast.parse(self._zip.read(name).decode("utf-8"), filename=name)
        return self._trees[module]

    def source(self, module: str) -> str | None:
        """A module's source text (None: not in this wheel); the ``source_of`` the driver's pre-Kit check takes."""
        name = self.module_file(module)
        return self.text(name) if name is not None else None

    def text(self, name: str) -> str:
        return self._zip.read(name).decode("utf-8")

    # ------------------------------------------------------------------------------------------ lookups
    def function(self, module: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        for node in self.tree(module).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                return node
        return None

    def klass(self, module: str, name: str) -> ast.ClassDef | None:
        for node in self.tree(module).body:
            if isinstance(node, ast.ClassDef) and node.name == name:
                return node
        return None

    def method(self, module: str, cls: str, name: str) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        c = self.klass(module, cls)
        for node in c.body if c is not None else ():
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                return node
        return None

    def module_globals(self, module: str) -> set[str]:
        out = set()
        for node in self.tree(module).body:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
                node, (ast.AnnAssign, ast.AugAssign)) else []
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        out.add(n.id)
        return out

    def class_fields(self, module: str, cls: str) -> set[str]:
        c = self.klass(module, cls)
        out = set()
        for node in c.body if c is not None else ():
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                out.add(node.target.id)
            elif isinstance(node, ast.Assign):
                out.update(t.id for t in node.targets if isinstance(t, ast.Name))
        return out

    def extension_version(self, package: str) -> str | None:
        """The package's own version (2.x: ``config/extension.toml``; 3.0: ``pyproject.toml``)."""
        for name in (f"isaaclab/source/{package}/config/extension.toml", f"isaaclab/source/{package}/pyproject.toml"):
            if name in self._names:
                m = re.search(r'^version\s*=\s*"([^"]+)"', self.text(name), re.M)
                if m:
                    return m.group(1)
        return None


def signature(node: ast.FunctionDef | ast.AsyncFunctionDef, *, skip_self: bool = False) -> Signature:
    return signature_of_source(node, skip_self=skip_self)


def returned_dict_keys(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """String keys of the dict literals a function returns."""
    keys: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Return) and isinstance(n.value, ast.Dict):
            keys.update(k.value for k in n.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return keys


def attributes_read(node: ast.AST) -> set[str]:
    return {n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)}


def string_constants(node: ast.AST) -> set[str]:
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def imported_names(tree: ast.Module) -> set[str]:
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom):
            out.update(a.asname or a.name for a in n.names)
    return out


def call_keyword_dict_keys(cls: ast.ClassDef, field: str, keyword: str, *nested: str) -> set[str]:
    """Keys of the dict literal passed as ``keyword=`` in the call assigned to class field ``field``
    (``nested`` descends into dict values by key), e.g. an EventTerm's ``params``."""
    for stmt in cls.body:
        target = stmt.targets[0] if isinstance(stmt, ast.Assign) else getattr(stmt, "target", None)
        if isinstance(target, ast.Name) and target.id == field and isinstance(stmt.value, ast.Call):
            for kw in stmt.value.keywords:
                if kw.arg == keyword and isinstance(kw.value, ast.Dict):
                    node: ast.AST = kw.value
                    for key in nested:
                        assert isinstance(node, ast.Dict)
                        node = next(v for k, v in zip(node.keys, node.values)
                                    if isinstance(k, ast.Constant) and k.value == key)
                    assert isinstance(node, ast.Dict)
                    return {k.value for k in node.keys if isinstance(k, ast.Constant)}
    return set()
