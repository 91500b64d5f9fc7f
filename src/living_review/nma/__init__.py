"""Network meta-analysis: network data, a fast frequentist estimate, Bayesian fits (PyMC).

Importing this package is light on purpose: it never imports PyMC, PyTensor or ArviZ.
:mod:`living_review.nma.bayes` imports them inside its functions, so ``lsr status`` and
the TUI start fast and the frequentist estimate appears at once.
"""

from living_review.nma.data import Network, NMADataError, read_network
from living_review.nma.result import NMAResult

__all__ = ["NMADataError", "NMAResult", "Network", "read_network"]
