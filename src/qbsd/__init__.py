"""qbsd: self-discharging of N-cell quantum batteries.

The physics is that of ``docs/model.md``: N two-level cells on a network
geometry, exchange coupling J, collective dissipation gamma12, the
dissipative channels of ``qbsd.model.channels``; observables U, E, xi, l1
coherence, concurrence.

Layout: ``qbsd.model`` (geometry, channels, states, the point, operators,
Liouvillian, symmetry), ``qbsd.dynamics`` (the solver backends behind one
interface), ``qbsd.observables`` (measures, observers, events),
``qbsd.simulate`` (one point) and ``qbsd.resources`` (what a point costs);
the study, its results and figures in the other modules.
"""

import os as _os

# HDF5 file locking fails on many network file systems (NFS, Lustre) where
# clusters keep results; trajectory files are written atomically (temporary
# file, then rename), so readers never need it. Set before netCDF4 loads HDF5;
# a value the user exported wins.
_os.environ.setdefault("HDF5_USE_FILE_LOCKING", "FALSE")

from .dataset import write_netcdf  # noqa: E402
from .model.channels import CHANNELS
from .model.geometry import Geometry, canonical_geometry
from .model.point import Point, UnphysicalPointError
from .model.states import SINGLE_CELL_STATES
from .results import open_results
from .simulate import simulate, time_grid
from .summaries import summarize

__all__ = [
    "CHANNELS",
    "Geometry",
    "Point",
    "SINGLE_CELL_STATES",
    "UnphysicalPointError",
    "canonical_geometry",
    "open_results",
    "simulate",
    "summarize",
    "time_grid",
    "write_netcdf",
]
__version__ = "0.1.0"
