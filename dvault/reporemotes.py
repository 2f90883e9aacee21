"""Repo's methods for remotes: configure them, push, fetch, pull, and clone from one.

:class:`~dvault.repo.Repo` inherits them from :class:`RemoteMethods`, so its public API is
one class as before; they are kept here because they are the largest group of ``Repo``'s
methods (repo.py stays under the house limit of ~600 lines). Like every ``Repo`` method,
each body is one call into ``dvault/ops/`` (``ops/remotes.py``, ``ops/sync.py``), whose
module is imported when the method is first called (``# deferred: start-up``, see
repo.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Self

from dvault.repository import Repository

if TYPE_CHECKING:
    from dvault.remote.backend import RemoteSpec
    from dvault.remote.fetch import FetchReport
    from dvault.remote.push import PushReport
    from dvault.workspace.checkout import CheckoutReport


class RemoteMethods(Repository):
    """The remote operations of :class:`~dvault.repo.Repo` (``remote add``, ``push``,
    ``fetch``, ``pull``, ``clone``, ...); use them through ``Repo``."""

    def add_remote(
        self,
        name: str,
        url: str,
        endpoint: str | None = None,
        region: str | None = None,
        retention_days: int | None = None,
        profile: str | None = None,
        protect: list[str] | None = None,
        encrypt: bool = False,
        kdf_cost: int | None = None,
        init: bool = False,
    ) -> RemoteSpec:
        """Record a remote in ``.dvault/config`` (never credentials). ``protect`` names
        branches (glob patterns) that only fast-forward on it, even when forced: they are
        written into the remote's create-only marker now, so they bind every client. With
        ``encrypt`` the remote is first set up for client-side encryption (or joined, when
        it already is): see dvault/remote/keys.py. A directory remote must already be a
        dvault remote unless ``init`` creates it (under an existing parent directory)."""
        from dvault.ops import remotes  # deferred: start-up

        return remotes.add_remote(
            self,
            name,
            url,
            endpoint,
            region,
            retention_days,
            profile,
            protect,
            encrypt,
            kdf_cost,
            init,
        )

    def init_remote(self, name: str) -> bool:
        """Create a configured remote's location (``dvault remote init``); False when it
        already was a dvault remote."""
        from dvault.ops import remotes  # deferred: start-up

        return remotes.init_remote(self, name)

    def remove_remote(self, name: str) -> None:
        """Forget a remote (config, tracking refs, caches); the remote itself is untouched."""
        from dvault.ops import remotes  # deferred: start-up

        remotes.remove_remote(self, name)

    def remotes(self) -> dict[str, RemoteSpec]:
        """Configured remotes by name (``RemoteSpec``: url, endpoint, encrypt, ...)."""
        from dvault.ops import remotes  # deferred: start-up

        return remotes.remotes(self)

    def default_remote(self) -> tuple[str, str]:
        """The remote used when none is named, and why (``dvault remote default``)."""
        from dvault.ops import remotes  # deferred: start-up

        return remotes.default(self)

    def set_default_remote(self, name: str) -> None:
        """Make ``name`` this clone's default remote (``.dvault/config.local``)."""
        from dvault.ops import remotes  # deferred: start-up

        remotes.set_default(self, name)

    def push(
        self,
        remote: str | None = None,
        refs: list[str] | None = None,
        force: bool = False,
        *,
        tags: bool = True,
        all_refs: bool = False,
        dry_run: bool = False,
    ) -> PushReport:
        """Send ``remote`` (default: :meth:`default_remote`) the packs it lacks and
        append the updates of ``refs`` (default: the current branch) to its ref log, with
        the tags that point into what is pushed unless ``tags`` is false; ``all_refs``:
        every branch and tag; ``dry_run``: report what would be sent, change nothing."""
        from dvault.ops import sync  # deferred: start-up

        return sync.push(self, remote, refs, force, tags=tags, all_refs=all_refs, dry_run=dry_run)

    def fetch(
        self, remote: str | None = None, refs: list[str] | None = None, all_history: bool = False
    ) -> FetchReport:
        """Bring in a remote's refs (default: all) and the objects they need, verified;
        ``all_history`` also the history behind commits fetched without it (the git
        hooks fetch only the pinned commit), so ``verify`` then checks all of it."""
        from dvault.ops import sync  # deferred: start-up

        return sync.fetch(self, remote, refs, all_history)

    def pull(
        self,
        remote: str | None = None,
        branch: str | None = None,
        accept_roots: bool = False,
        ff_only: bool | None = None,
    ) -> CheckoutReport | None:
        """Fetch ``branch`` (default: the current one) and fast-forward the workspace, or
        merge the fetched branch when the two diverged (``ff_only``, default the config's
        ``[pull] ff = "only"``, refuses instead); returns the checkout report, or None when
        already up to date. New tracked roots need ``accept_roots`` (see :meth:`checkout`)."""
        from dvault.ops import sync  # deferred: start-up
        from dvault.remote.session import pick_remote  # deferred: start-up

        return sync.pull(self, pick_remote(self, remote), branch, accept_roots, ff_only)[1]

    @classmethod
    def clone(
        cls,
        url: str,
        dest: Path | str,
        rev: str | None = None,
        paths: list[str] | None = None,
        endpoint: str | None = None,
        region: str | None = None,
        profile: str | None = None,
    ) -> Self:
        """Create ``dest`` from the remote at ``url`` and check out ``rev`` (default its
        main branch); with ``paths``, a partial clone holding only those paths' data."""
        from dvault.ops import sync  # deferred: start-up

        target = Path(dest).resolve()
        sync.clone(url, target, rev, paths, endpoint, region, profile)
        return cls(target)
