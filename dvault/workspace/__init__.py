"""The working tree: tracked roots, the staging index with its stat data, and checkout."""
