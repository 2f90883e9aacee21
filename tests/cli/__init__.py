"""End-to-end tests of the ``dvault`` command line, run through the real entry point."""
