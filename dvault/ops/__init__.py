"""The operations floor: each command of the command line as a function over a
:class:`~dvault.repository.Repository` (its first parameter, ``repo``).

It sits above the subsystems (``workspace/``, ``remote/``, ``maintenance/``, verify,
signing, lineage, review) and below the public API: a module here may import the
subsystems, the handle and everything under them, and other ``ops`` modules, but never
``dvault.repo``, ``reader``, ``fs`` or the CLI. :class:`dvault.repo.Repo` is the handle
with one method per operation, each a call into this package; the CLI and the library
reach the same code.

* ``tracking`` — add, rm, status, ``.gitignore`` upkeep;
* ``commits`` — commit (with its lineage and the ``dvault.lock`` pin), tag, branch;
* ``log`` — the log walk, ref decorations, diff;
* ``switch`` — checkout, fast-forward, a clone's first checkout;
* ``remotes`` — adding and removing remotes (config editing);
* ``sync`` — push, fetch, pull, clone;
* ``hooks`` and ``runs`` — the git hooks, ``dvault run`` and ``rerun``.
"""
