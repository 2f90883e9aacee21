"""dvault: version control and append-only backups for machine-learning data.

The package is layered; each module's docstring says which layer it is:
``hashing``/``chunking`` → ``objects`` → ``store/`` (packs, LMDB index) → ``refs`` →
``workspace/`` (stat cache, staging, checkout) → ``repo`` (the library API) → ``cli``.
Imports stay lazy so ``dvault --help`` and ``dvault status`` start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from dvault.repo import Repo

__all__ = ["Repo", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "Repo":
        from dvault.repo import Repo

        return Repo
    raise AttributeError(name)
