"""One :class:`ObjectStore` per store directory and process, shared by every handle on it.

LMDB refuses to open one index twice in a process, and a library user may well hold a
``Repo`` while ``dvault.open`` or ``dvault://`` read the same project, so handles acquire
the store here and release it when they close. A forked child closes the parent's
indexes (LMDB handles must not be used across a fork).
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dvault.store.objectstore import ObjectStore

_STORES: dict[tuple[int, Path], tuple[ObjectStore, int]] = {}
_STORES_LOCK = threading.Lock()


def acquire(dvault_dir: Path) -> ObjectStore:
    """The shared store of ``dvault_dir``, opened on first use; pair with :func:`release`."""
    key = (os.getpid(), dvault_dir.resolve())
    with _STORES_LOCK:
        slot = _STORES.get(key)
        if slot is None:
            # deferred: opening a store imports lmdb and zstandard, which not every command needs
            from dvault.store.objectstore import ObjectStore

            slot = (ObjectStore(key[1]), 0)
        _STORES[key] = (slot[0], slot[1] + 1)
        return slot[0]


def release(store: ObjectStore) -> None:
    """Drop one use of ``store``; the last one closes it."""
    with _STORES_LOCK:
        for key, (shared, uses) in list(_STORES.items()):
            if shared is store:
                if uses <= 1:
                    del _STORES[key]
                    store.close()
                else:
                    _STORES[key] = (shared, uses - 1)
                return
    store.close()  # not shared (replaced by repair): ours alone


def in_use(dvault_dir: Path) -> bool:
    """Whether some handle in this process still holds the store (repair must not rebuild
    an index that another reader has open)."""
    with _STORES_LOCK:
        return (os.getpid(), dvault_dir.resolve()) in _STORES


def _close_inherited() -> None:
    """In a forked child: close the parent's object indexes. py-lmdb refuses to open an
    index again while the inherited handle is open; closing it in the child leaves the
    parent's untouched."""
    with contextlib.suppress(Exception):  # never fail a fork over a cleanup
        for key, (store, _uses) in list(_STORES.items()):
            if key[0] != os.getpid():
                del _STORES[key]
                with contextlib.suppress(Exception):
                    store.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited)
