"""``python -m dvault``; guarded so worker processes that import it run nothing."""

from dvault.cli import main

if __name__ == "__main__":
    main()
