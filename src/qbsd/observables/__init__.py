"""What is measured on a trajectory: the measures, their observers and the events.

- ``measures``: every stored time series, declared once (``MEASURES``), and
  the formulas shared by every backend (ergotropies, capacity, local
  ergotropy, the one concurrence).
- ``density``: the observer of full density matrices (full-space backend).
- ``sector``: the observer of symmetry-reduced coordinates (sector backend).
  The Dicke backend's observer lives with its basis (``dynamics.dicke``).
- ``events``: half-lives, sudden death and birth of entanglement, located on
  the solution rather than on the grid.
"""

from .density import Observer, l1_coherence, spectrum, two_cell_states
from .events import EVENTS, EventTracker
from .measures import MEASURES, concurrence
from .sector import SectorObserver

__all__ = [
    "EVENTS",
    "MEASURES",
    "EventTracker",
    "Observer",
    "SectorObserver",
    "concurrence",
    "l1_coherence",
    "spectrum",
    "two_cell_states",
]
