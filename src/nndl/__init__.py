"""nndl: fifteen classic deep-learning studies, each one command that trains, measures and reports.

Importing the package is cheap: heavy libraries (torch, keras, sklearn) are imported where used.
"""

__version__ = "0.1.0"
