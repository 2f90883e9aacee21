"""Remotes: append-only copies of a repository on a directory (NAS) or S3-compatible store.

``backend`` is the one storage interface (named files, create-only, range reads);
``directory`` and ``s3`` implement it and ``registry`` picks one for a URL; ``marker`` is
the create-only file that says what a remote is; ``reflog`` is the hash-chained ref log;
``catalog`` knows which objects a remote holds; ``keys`` and ``encrypted`` make a remote
encrypted; ``session`` opens one for a project, and ``push`` and ``fetch`` move objects.
"""
