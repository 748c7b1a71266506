"""qbsd: self-discharging of N-cell quantum batteries.

The physics is in ``MODEL.md`` terms: N two-level cells on a network
geometry, exchange coupling J, collective dissipation gamma12, three
dissipative channels; observables U, E, xi, l1 coherence, concurrence.
"""

from .dataset import write_netcdf
from .geometry import Geometry, canonical_geometry
from .model import CHANNELS, Point, UnphysicalPointError
from .simulate import simulate, time_grid
from .states import SINGLE_CELL_STATES
from .summaries import summarize

__all__ = [
    "CHANNELS",
    "Geometry",
    "Point",
    "SINGLE_CELL_STATES",
    "UnphysicalPointError",
    "canonical_geometry",
    "simulate",
    "summarize",
    "time_grid",
    "write_netcdf",
]
__version__ = "0.1.0"
