"""Methods shared by the studies: hand-written algorithms and training step functions."""
