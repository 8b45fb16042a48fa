"""Crash-safe writer for generated datasets in Isaac Lab's layout, one demo per call.

Why not plain h5py appends: HDF5 updates its metadata (B-trees, heaps, the superblock) in place, so a
process killed in the middle of an append can leave a file that no longer opens. HDF5's own remedy
(SWMR) cannot create groups, which the layout needs for every demo. No library offers crash-safe group
appends, so the writer keeps two copies and commits by rename:

- ``name.hdf5`` (the committed file) is never modified, nor held open, while it has that name;
- ``.name.hdf5.shadow`` receives each new demo first; once flushed (and fsync'ed when ``durable``), a
  hard link plus two renames swap the names atomically, and the demo is then mirrored into the former
  committed file, now the shadow.

At every instant ``name.hdf5`` is a complete, flushed HDF5 file holding every demo whose ``write_demo``
call returned. A killed run leaves at most a stale shadow, which the next writer discards and rebuilds.
Each demo is written twice; that costs milliseconds, far less than copying the file per demo.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import h5py
import numpy as np
from h5py import h5d, h5p, h5s, h5t

from mimicforge.datasets import layout, lock, quaternions
from mimicforge.datasets.h5 import check_readable_file
from mimicforge.errors import DatasetFormatError, OutputExistsError

log = logging.getLogger(__name__)

Mode = Literal["create", "append", "overwrite"]


def companion(path: Path, tag: str) -> Path:
    """Hidden working files live beside the dataset: ``.name.hdf5.<tag>``."""
    return path.with_name(f".{path.name}.{tag}")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def normalize_episode(episode: Mapping[str, Any]) -> dict[str, Any]:
    """Convert an episode tree to what Isaac Lab stores (float32, bool, uint8 images) and check its lengths agree."""

    def conv(x: Any, where: str) -> Any:
        if isinstance(x, Mapping):
            return {k: conv(v, f"{where}/{k}") for k, v in x.items()}
        a = np.asarray(x)
        if a.dtype == np.bool_ or a.dtype == np.uint8:  # uint8: camera images, as Isaac Lab stores them
            return a
        if np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer):
            return a.astype(np.float32, copy=False)
        raise ValueError(f"episode entry {where} has unsupported dtype {a.dtype}")

    ep = conv(episode, "")
    actions = ep.get(layout.ACTIONS)
    if not isinstance(actions, np.ndarray) or actions.ndim != 2 or actions.shape[0] == 0:
        raise ValueError("an episode needs a non-empty 2-D 'actions' array")
    t = actions.shape[0]

    def check(tree: Any, where: str) -> None:
        if isinstance(tree, dict):
            for k, v in tree.items():
                check(v, f"{where}/{k}" if where else k)
            return
        rows = 1 if where.startswith(layout.INITIAL_STATE + "/") else t
        if tree.ndim == 0 or tree.shape[0] != rows:
            raise ValueError(f"episode entry {where} has shape {tree.shape}; expected {rows} rows")

    check(ep, "")
    return ep


def _write_tree(group: h5py.Group, tree: Mapping[str, Any], compression: str | None) -> None:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            if value:  # Isaac Lab writes nothing for empty dicts
                _write_tree(group.create_group(key), value, compression)
        else:
            _create_dataset(group, key, np.ascontiguousarray(value), compression)


_DCPL: dict[tuple[Any, ...], Any] = {}  # creation property lists by (shape, dtype, compression); h5d.create copies them


def _create_dataset(group: h5py.Group, name: str, value: np.ndarray, compression: str | None) -> None:
    """``group.create_dataset(name, data=value, compression=compression)`` through h5py's low-level calls: the
    same creation properties (``h5py.filters.fill_dcpl``, which ``create_dataset`` itself calls for the chunk
    guess and filters; no timestamps, no attribute order), the same stored bytes (a test compares them), without
    the high-level checks and ``Dataset`` a commit never uses: a demo's commit 10.3 -> 8.1 ms CPU."""
    key = (value.shape, value.dtype.str, compression)
    plist = _DCPL.get(key)
    if plist is None:  # a demo's 31 datasets have about 12 shapes, the initial state's the same in every demo
        if len(_DCPL) > 256:
            _DCPL.clear()
        plist = _DCPL[key] = h5py.filters.fill_dcpl(h5p.create(h5p.DATASET_CREATE), value.shape, value.dtype, None,
                                                    compression, None, None, None, None, None, None)
        plist.set_obj_track_times(False)
        plist.set_attr_creation_order(0)
    dataset = h5d.create(group.id, name.encode(), h5t.py_create(value.dtype, logical=1),
                         h5s.create_simple(value.shape), dcpl=plist)
    dataset.write(h5s.ALL, h5s.ALL, value)


def _env_args(data: h5py.Group, path: Path) -> dict[str, Any]:
    raw = data.attrs.get(layout.ATTR_ENV_ARGS, "{}")
    try:
        args = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except json.JSONDecodeError:
        args = None
    if not isinstance(args, dict):
        raise DatasetFormatError(f"{path}: data attribute env_args is not a JSON object; use --overwrite")
    return args


def check_appendable(path: Path, *, env_name: str, format_version: int) -> None:
    """Refuse, in one line, a file that a run of ``env_name`` in dataset format ``format_version`` cannot append to."""
    check_readable_file(path)
    try:
        f = h5py.File(path, "r", locking=False)
    except OSError as exc:
        raise DatasetFormatError(
            f"{path} exists but cannot be opened as HDF5 ({str(exc).splitlines()[0]}); "
            "move it away or pass --overwrite"
        ) from None
    with f:
        data = f.get(layout.DATA)
        if not isinstance(data, h5py.Group):
            raise DatasetFormatError(
                f"{path} exists but has no 'data' group; move it away or pass --overwrite"
            )
        found_format = quaternions.read_format_version(f.attrs, path)
        if found_format != format_version:
            raise DatasetFormatError(
                f"{path} is dataset format {quaternions.describe(found_format)}, this run writes format "
                f"{quaternions.describe(format_version)}; choose another output or pass --overwrite")
        found = str(_env_args(data, path).get("env_name", ""))
        if found and found != env_name:
            raise DatasetFormatError(
                f"{path} holds demos of {found!r}, this run writes {env_name!r}; "
                "choose another output or pass --overwrite"
            )


class DatasetWriter:
    """Append demos to ``path`` crash-safely. Use as a context manager.

    mode: ``create`` (the file must not exist), ``append`` (continue an existing file, numbering on from
    its highest ``demo_k``; create it if missing), ``overwrite`` (start a new file in place of any old one;
    the old one stays intact until the new, empty one replaces it).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        env_name: str,
        mode: Mode = "create",
        env_args: Mapping[str, Any] | None = None,
        data_attrs: Mapping[str, Any] | None = None,
        compression: str | None = "gzip",
        durable: bool = True,
        format_version: int = 0,
    ) -> None:
        self.path = Path(path)
        self.format_version = format_version  # root attribute; 1: quaternions stored XYZW (Isaac Lab 3.0)
        self.env_name = env_name
        self.compression = compression
        self.durable = durable
        self._shadow_path = companion(self.path, "shadow")
        self._swap_path = companion(self.path, "swap")
        self._lock_fd: int | None = None
        self._shadow: h5py.File | None = None
        self._links_ok = True
        if not self.path.parent.is_dir():
            raise DatasetFormatError(f"{self.path.parent}: output directory does not exist; create it first")
        self._lock()
        try:
            self._open(mode, dict(env_args or {}), dict(data_attrs or {}))
        except BaseException:
            self.close()
            raise

    # ----------------------------------------------------------------------------------------- opening
    def _lock(self) -> None:
        self._lock_key = lock.acquire(self.path, writer=True)
        self._lock_fd = 1  # held (re-entrant within this process: a run that holds it opens its writers)

    def _open(self, mode: Mode, env_args: dict[str, Any], data_attrs: dict[str, Any]) -> None:
        for stale in (self._shadow_path, self._swap_path, companion(self.path, "copy"), companion(self.path, "new")):
            stale.unlink(missing_ok=True)
        exists = self.path.exists()
        if exists and mode == "create":
            raise OutputExistsError(
                f"{self.path} already exists; pass --resume to continue it or --overwrite to replace it"
            )
        if not exists or mode == "overwrite":
            self._create_empty(env_args, data_attrs)
        else:
            self._check_appendable()
        self._rebuild_shadow()
        assert self._shadow is not None
        data = self._shadow[layout.DATA]
        indices = [layout.demo_index(k) for k in data.keys()]
        indices = [i for i in indices if i is not None]
        self.next_index = max(indices) + 1 if indices else 0
        self.num_demos = len(indices)
        self.total = sum(int(data[layout.demo_name(i)].attrs.get(layout.ATTR_NUM_SAMPLES, 0)) for i in indices)
        updates: dict[str, Any] = {}
        if int(data.attrs.get(layout.ATTR_TOTAL, -1)) != self.total:
            log.warning("%s: total attribute disagreed with its demos; set to %d", self.path, self.total)
            updates[layout.ATTR_TOTAL] = np.int64(self.total)
        if exists and mode == "append":
            args = self._read_env_args(data)
            merged = {**args, **env_args}
            if merged != args:
                updates[layout.ATTR_ENV_ARGS] = json.dumps(merged)
            updates.update(data_attrs)
        if updates:
            self._commit(lambda f: f[layout.DATA].attrs.update(updates))

    def _create_empty(self, env_args: dict[str, Any], data_attrs: dict[str, Any]) -> None:
        fresh = companion(self.path, "new")
        with h5py.File(fresh, "w", locking=False) as f:
            if self.format_version:
                f.attrs[quaternions.FORMAT_ATTR] = np.int64(self.format_version)
            data = f.create_group(layout.DATA, track_order=True)
            data.attrs[layout.ATTR_ENV_ARGS] = layout.env_args_json(self.env_name, env_args)
            data.attrs[layout.ATTR_TOTAL] = np.int64(0)
            for k, v in data_attrs.items():
                data.attrs[k] = v
        if self.durable:
            with open(fresh, "rb") as fh:
                os.fsync(fh.fileno())
        os.replace(fresh, self.path)
        if self.durable:
            fsync_dir(self.path.parent)

    def _read_env_args(self, data: h5py.Group) -> dict[str, Any]:
        return _env_args(data, self.path)

    def _check_appendable(self) -> None:
        check_appendable(self.path, env_name=self.env_name, format_version=self.format_version)

    # ----------------------------------------------------------------------------------------- writing
    def _commit(self, change: Callable[[h5py.File], None],
                mirror: Callable[[h5py.File, h5py.File], None] | None = None, *, last: bool = False) -> None:
        """Apply ``change`` to the shadow, swap it in as the committed file, then mirror the change onto the new
        shadow: ``mirror(shadow, committed)`` where given (copying from the committed file), else ``change``.
        ``last``: the writer's final change; no shadow is kept after it (the writer accepts no more demos)."""
        shadow = self._shadow
        assert shadow is not None
        try:
            change(shadow)
            shadow.flush()
            if self.durable:
                os.fsync(shadow.id.get_vfd_handle())
        except BaseException:
            self._rebuild_shadow()
            raise
        shadow.close()
        self._shadow = None
        linked = self._swap()
        if self.durable:
            fsync_dir(self.path.parent)
        if last:
            self._shadow_path.unlink(missing_ok=True)  # the former committed file, if hard links made it the shadow
            return
        if not linked:  # no former committed file to reuse: the next shadow is a copy of the committed one
            self._rebuild_shadow()
            return
        # The committed file now has the change; bring the new shadow (the former committed file) level.
        try:
            self._shadow = h5py.File(self._shadow_path, "r+", locking=False)
            if mirror is None:
                change(self._shadow)
            else:
                with h5py.File(self.path, "r", locking=False) as committed:
                    mirror(self._shadow, committed)
            self._shadow.flush()
        except BaseException:
            self._rebuild_shadow()
            raise

    def _swap(self) -> bool:
        """Make the shadow the committed file, atomically. With hard links the former committed file becomes
        the shadow (returns True); without them (many network shares and mounted buckets) it is simply
        replaced, and the caller copies the committed file to a fresh shadow (returns False)."""
        if self._links_ok:
            try:
                os.link(self.path, self._swap_path)
            except OSError as exc:
                log.warning("%s: hard links unsupported here (%s); committing by copy", self.path.parent, exc)
                self._links_ok = False
        os.replace(self._shadow_path, self.path)
        if self._links_ok:
            os.replace(self._swap_path, self._shadow_path)
        return self._links_ok

    def _rebuild_shadow(self) -> None:
        """A fresh shadow copied from the committed file (a new inode, so no reader of the old one is hurt)."""
        if self._shadow is not None:
            self._shadow.close()
            self._shadow = None
        fresh = companion(self.path, "copy")
        shutil.copyfile(self.path, fresh)
        os.replace(fresh, self._shadow_path)
        self._shadow = h5py.File(self._shadow_path, "r+", locking=False)

    def write_demo(self, episode: Mapping[str, Any], success: bool, attrs: Mapping[str, Any] | None = None) -> str:
        """Append one episode as ``demo_<k>``; returns its name once it is committed to ``path``.

        ``attrs`` are extra demo attributes (mimicforge records the attempt that produced the demo).
        Quaternions come in mimicforge's (w, x, y, z) and are stored in the file's format.
        """
        if self._shadow is None:
            raise ValueError(f"{self.path}: writer is closed")
        if self.format_version == quaternions.XYZW:
            episode = quaternions.convert_episode(episode, to_xyzw=True)
        ep = normalize_episode(episode)
        t = int(ep[layout.ACTIONS].shape[0])
        name = layout.demo_name(self.next_index)
        total = self.total + t

        def add(f: h5py.File) -> None:
            grp = f[layout.DATA].create_group(name)
            _write_tree(grp, ep, self.compression)
            grp.attrs[layout.ATTR_NUM_SAMPLES] = np.int64(t)
            grp.attrs[layout.ATTR_SUCCESS] = np.bool_(success)
            for k, v in (attrs or {}).items():
                grp.attrs[k] = v
            f[layout.DATA].attrs[layout.ATTR_TOTAL] = np.int64(total)

        def copy(shadow: h5py.File, committed: h5py.File) -> None:
            # HDF5's object copy moves the compressed chunks and attributes as they are: writing every dataset
            # again (``add``) would compress it a second time, about half of a demo's commit.
            committed.copy(committed[layout.DATA][name], shadow[layout.DATA], name=name)
            shadow[layout.DATA].attrs[layout.ATTR_TOTAL] = np.int64(total)

        self._commit(add, copy)
        self.next_index += 1
        self.num_demos += 1
        self.total = total
        return name

    def copy_demos(self, groups: Sequence[h5py.Group], *, last: bool = False) -> list[str]:
        """Append copies of other files' demo groups (HDF5's object copy: chunks and attributes as they are) as
        ``demo_<next>...``, in one commit; returns their names. ``last``: nothing is written after this commit, so
        the writer skips bringing a shadow level with it (the copy is made once, not twice)."""
        if self._shadow is None:
            raise ValueError(f"{self.path}: writer is closed")
        if not groups:
            return []
        names = [layout.demo_name(self.next_index + i) for i in range(len(groups))]
        total = self.total + sum(int(g[layout.ACTIONS].shape[0]) for g in groups)

        def add(f: h5py.File) -> None:
            for g, name in zip(groups, names):
                g.file.copy(g, f[layout.DATA], name=name)
            f[layout.DATA].attrs[layout.ATTR_TOTAL] = np.int64(total)

        def copy(shadow: h5py.File, committed: h5py.File) -> None:
            for name in names:
                committed.copy(committed[layout.DATA][name], shadow[layout.DATA], name=name)
            shadow[layout.DATA].attrs[layout.ATTR_TOTAL] = np.int64(total)

        self._commit(add, copy, last=last)
        self.next_index += len(names)
        self.num_demos += len(names)
        self.total = total
        return names

    def update_env_args(self, extra: Mapping[str, Any]) -> None:
        """Merge keys into the ``env_args`` JSON (as Isaac Lab's recorder does with ``sim_args``)."""
        assert self._shadow is not None
        text = json.dumps({**self._read_env_args(self._shadow[layout.DATA]), **extra})

        def change(f: h5py.File) -> None:
            f[layout.DATA].attrs[layout.ATTR_ENV_ARGS] = text

        self._commit(change)

    # ----------------------------------------------------------------------------------------- closing
    def close(self) -> None:
        if self._shadow is not None:
            self._shadow.close()
            self._shadow = None
        self._shadow_path.unlink(missing_ok=True)
        if self._lock_fd is not None:
            lock.release(self._lock_key, writer=True)
            self._lock_fd = None

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
