"""The fifteen studies; each module registers itself with `@study`."""
