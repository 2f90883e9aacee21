"""Where objects live: append-only pack files and the LMDB index that locates them."""
