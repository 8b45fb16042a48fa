"""Real ``isaaclab`` wheels from PyPI, read as source text and parsed with ``ast`` (Isaac Sim is never imported).

Wheels are downloaded with ``pip download --no-deps`` for Isaac Sim 5's Python (3.11, manylinux) and
cached in ``.cache/isaaclab-wheels/`` (git-ignored), so reruns need no network.
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

from mimicforge.backends.isaaclab.api import Param, Signature

REPO = Path(__file__).resolve().parents[3]
CACHE = REPO / ".cache" / "isaaclab-wheels"
TARGET = ["--python-version", "3.11", "--only-binary=:all:", "--platform", "manylinux_2_35_x86_64"]


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


def available_versions() -> list[Version]:
    """Versions on PyPI with a wheel for Isaac Sim's Python, oldest first (the cache's, when offline)."""
    r = _pip("index", "versions", "isaaclab", *TARGET)
    m = re.search(r"Available versions:\s*(.+)", r.stdout)
    if r.returncode != 0 or m is None:
        return cached_versions()
    return sorted(Version(v.strip()) for v in m.group(1).split(","))


def pick_versions(versions: list[Version]) -> list[Version]:
    """The newest 2.3.x and the oldest 2.x."""
    twos = [v for v in versions if v.major == 2]
    newest_23 = [v for v in twos if v.minor == 3]
    picked = ([max(newest_23)] if newest_23 else []) + ([min(twos)] if twos else [])
    return list(dict.fromkeys(picked))


def wheel(version: Version) -> Path:
    for whl in CACHE.glob(f"isaaclab-{version}-*.whl"):
        return whl
    CACHE.mkdir(parents=True, exist_ok=True)
    r = _pip("download", "--no-deps", "-q", "-d", str(CACHE), f"isaaclab=={version}", *TARGET)
    for whl in CACHE.glob(f"isaaclab-{version}-*.whl"):
        return whl
    raise RuntimeError(f"pip download isaaclab=={version} failed: {r.stderr.strip()[-500:]}")


class WheelSources:
    """Python sources of one isaaclab wheel, by module name (``isaaclab/source/<pkg>/<pkg>/...``)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip = zipfile.ZipFile(path)
        self._names = set(self._zip.namelist())
        self._trees: dict[str, ast.Module] = {}

    def module_file(self, module: str) -> str | None:
        parts = module.split(".")
        base = f"isaaclab/source/{parts[0]}/" + "/".join(parts)
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
        name = f"isaaclab/source/{package}/config/extension.toml"
        if name not in self._names:
            return None
        m = re.search(r'^version\s*=\s*"([^"]+)"', self.text(name), re.M)
        return m.group(1) if m else None


def signature(node: ast.FunctionDef | ast.AsyncFunctionDef, *, skip_self: bool = False) -> Signature:
    a = node.args
    positional = a.posonlyargs + a.args
    first_default = len(positional) - len(a.defaults)
    params = [Param(p.arg, i < first_default,
                    "positional_only" if i < len(a.posonlyargs) else "normal") for i, p in enumerate(positional)]
    if a.vararg:
        params.append(Param(a.vararg.arg, False, "var_positional"))
    params += [Param(p.arg, d is None, "keyword_only") for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    if a.kwarg:
        params.append(Param(a.kwarg.arg, False, "var_keyword"))
    if skip_self and params and params[0].name in ("self", "cls"):
        params = params[1:]
    return tuple(params)


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
