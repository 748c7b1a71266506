"""The figure style under its earlier name: everything of :mod:`qbsd.plots.style`."""

from .plots.style import *  # noqa: F403
from .plots.style import __all__  # noqa: F401
