"""Giving freed memory back to the system between the phases of a long command.

CPython frees a million small objects into its own arenas and glibc's heap, which keep
the pages: after a clone's fetch has dropped its object maps (hundreds of MB), the
process would carry them as resident memory through the checkout that follows, on top
of its worker processes. ``malloc_trim`` returns the free pages; elsewhere a no-op.
"""

from __future__ import annotations

import gc


def trim_heap() -> None:
    """Collect garbage, then return free heap pages to the system (glibc only)."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass  # not glibc: nothing to do
