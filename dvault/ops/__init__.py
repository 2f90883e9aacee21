"""The operations: one function per command, over a :class:`~dvault.repository.Repository`."""
