"""Remotes: append-only copies of a repository on a directory (NAS) or S3-compatible store.

``backend`` is the one storage interface (named files, create-only, range reads);
``directory`` and ``s3`` implement it; ``reflog`` is the hash-chained ref log; ``catalog``
knows which objects a remote holds; ``sync`` moves objects (push, fetch, clone, verify).
"""
