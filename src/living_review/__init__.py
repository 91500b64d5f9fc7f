"""living-review: a terminal-first manager for living systematic reviews with NMA.

The package import is deliberately light: nothing here pulls in PyMC, scikit-learn
or Textual, so ``lsr status`` and TUI start-up stay fast. Import the submodule you need.
"""

__version__ = "0.1.0"
