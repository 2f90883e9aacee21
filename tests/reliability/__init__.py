"""Crash-safety tests: real ``dvault`` processes killed with SIGKILL, and a full disk."""
