"""The pieces of scripts/bench.py (its entry point): measure (the launcher, steps, the
Bench), projects (generated trees), scenarios (the ML project's steps), scale (issue 7's
modes), report (tables and targets)."""
