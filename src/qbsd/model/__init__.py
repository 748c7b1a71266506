"""The model of ``docs/model.md``, declared once and read by every backend.

- ``geometry``: the cells' graph (named geometries, edge lists, isomorphism).
- ``channels``: the dissipative channels, one ``Channel`` declaration each
  (Kossakowski terms, parameters, ladder form).
- ``states``: the initial states, one ``StateDeclaration`` each.
- ``point``: one parameter point (``Point``) and its complete-positivity check.
- ``operators``: single-cell operators and Hamiltonians on the full space.
- ``liouvillian``: the generator of a point, full space or by rows.
- ``symmetry``: the exact symmetry reduction (excitation difference, graph
  automorphisms).
- ``spectral_blocks``: the blocks that reduction implies for the spectra.
"""

from .channels import CHANNELS, Channel, Parameter, Term, register_channel
from .geometry import Geometry, canonical_geometry
from .point import Point, UnphysicalPointError

__all__ = [
    "CHANNELS",
    "Channel",
    "Geometry",
    "Parameter",
    "Point",
    "Term",
    "UnphysicalPointError",
    "canonical_geometry",
    "register_channel",
]
