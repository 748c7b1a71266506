"""The Dicke-basis backend: permutation-invariant batteries in the Dicke basis.

For the complete graph (geometry ``symmetric``) with identical cells, every
Kossakowski matrix of a channel's ladder form (``model.channels.ladder_form``:
``sum_a M^a D[E^a_n, E^a_m]`` with ``E`` in ``sm, sp, sz``) is
``M = alpha I + beta A = (alpha - beta) I + beta 11^T`` (``A = 11^T - I``), so
each term splits into a local part at rate ``alpha - beta`` on each cell and
a collective part at rate ``beta`` on ``sum_n E_n``: emission, pumping and
dephasing, local and collective (``basis.DickeRates.of``). ``thermal`` gives
emission ``(n_th + 1)`` and pumping ``n_th`` times ``Gamma (1 - g)`` locally
and ``Gamma g`` collectively (``g = gamma12``); ``depolarizing``, whose
``D[sx] + D[sy]`` is ``2 (D[sm] + D[sp])``, gives emission and pumping at
``(Gamma/2)(1 - g)`` and ``(Gamma/2) g`` and dephasing at ``(Gamma/4)(1 - g)``
and ``(Gamma/4) g``. A channel with a q-changing part, or a matrix that is
not the same on every cell and pair, has no such rates and is refused
(``basis.channel_refusal``). The exchange Hamiltonian is a function of the
collective spin,

    H_int = J sum_{n<m} (sp_n sm_m + h.c.) = J (J+ J- - Jz - N/2)
          = J (j (j + 1) - m^2 - N/2)   on |j, m>,

diagonal in the Dicke basis. Such dynamics maps permutation-invariant states
onto permutation-invariant states, ``rho = (+)_j rho_j (x) 1_{d_j}`` with
``d_j`` the number of copies of spin ``j`` (Schur-Weyl duality), and only the
``sum_j (2j + 1)^2 = C(N+3, 3)`` numbers ``<j, m| rho_j |j, m1>`` evolve
(Shammah et al., Phys. Rev. A 98, 063815 (2018), ``qutip.piqs``).

Rates in the normalisation of ``qutip.piqs.Dicke`` (checked against the full
density-matrix solver in the tests):

========================  =========================================
piqs keyword               ladder term (local ``l``, collective ``c``)
========================  =========================================
``emission``               ``l sum_n D[sm_n]``
``collective_emission``    ``c D[J-]``, ``J- = sum_n sm_n``
``pumping``                ``l sum_n D[sp_n]``
``collective_pumping``     ``c D[J+]``, ``J+ = sum_n sp_n``
``dephasing``              ``(dephasing / 4) sum_n D[sz_n]`` (piqs uses
                           ``sz / 2``): ``4 l``
``collective_dephasing``   ``(c' / 4) D[sum_n sz_n]``: ``4 c``
========================  =========================================

The generator is built here from the coefficient formulas of
``qutip.piqs`` (``_piqs.pyx``: ``gamma1`` ... ``gamma9``) evaluated in double
precision and vectorised: the compiled ``piqs.Dicke.lindbladian`` stores its
coefficients as C ``float`` (single precision, ~1e-7 relative), too coarse for
the 1e-7 agreement this backend promises, and its dictionary-driven assembly
grows with ``N^3`` Python objects. The tests compare both element by element.

Representation. The stored numbers are ``w_{j m m1} = d_j <j m| rho_j |j m1>``
(the weight of all copies: ``sum_{j,m} w_{jmm} = tr rho``; the numbers
``qutip.piqs`` stores in its Dicke-basis density matrices) for
``q = m - m1 >= 0`` only (``q < 0`` follows from Hermiticity). The generator
conserves ``q`` (phase covariance), so it is block diagonal in ``q``; the
``q = 0`` block is real. States that are diagonal in the Dicke basis
(``full``, ``classical``) live in the ``q = 0`` block and are propagated as
real vectors of that block only ("compact" states).

Propagation. ``exp(L dt)`` is applied on the uniform grid by the truncated
Taylor method of ``dynamics.taylor`` (Al-Mohy and Higham, SIAM J. Sci.
Comput. 33, 488 (2011)), per group of ``q`` blocks with its own shift and
scaling, in the frame that costs fewer operations (``propagator.TaylorExp``:
the lab frame, or the interaction picture of the diagonal Hamiltonian); it
is exact to double precision whatever the stiffness (collective rates grow
like N^2; checked against dense ``expm`` in the tests), needs no storage of
states beyond one chunk, and ``evolve`` reuses it for any duration. The cost
grows like (number of stored numbers) x (largest rate, ~N^2) per unit time:
~N^5 for the ``quantum`` state, ~N^4 for the compact ones.

Observables, exact for any permutation-invariant state:

- ``U = <Jz> + N/2``; per-cell population ``U / N``.
- Ergotropy: the spectrum of rho is the spectrum of each ``rho_j`` repeated
  ``d_j`` times; against H0's levels ``k`` repeated ``C(N, k)`` times, the
  passive energy is ``sum_{k=1}^{N} (tr rho - F(B_k))`` with ``F(x)`` the
  weight of the ``x`` largest eigenvalues (piecewise linear, evaluated by
  interpolation on cumulative multiplicities) and ``B_k = sum_{k'<k} C(N, k')``.
  No 2^N-long array is formed.
- Concurrence: every pair has the same two-cell state, built from
  ``<Nop>, <Nop^2>, <J+J->, <J->, <Nop J->, <J-^2>`` (``Nop = Jz + N/2``):
  ``<A_1 B_2> = (<(sum A)(sum B)> - <sum A B>) / (N (N - 1))``; Wootters'
  formula is evaluated through singular values (``observables.measures.concurrence``), stable
  near pure product states.
- Coherence: the computational-basis elements of a permutation-invariant
  operator depend only on the orbit of the pair of bit strings ``(x, y)``
  under permutations, labelled by ``(k, k1, a)`` with ``a`` the number of
  cells excited in both; the orbit has ``N!/(a! (k-a)! (k1-a)! (N-k-k1+a)!)``
  members. The orthonormal orbit operators and the operators
  ``|j m><j m1| (x) 1_{d_j}`` span the same space for each ``(k, k1)``; the
  orthogonal matrix between them is generated by the exact action of ``J-``
  from the left and right (bidiagonal in ``a``), re-orthonormalised at every
  step (QR, descending ``j``), starting from the identity of each excitation
  sector. Then ``sum_{x != y} |rho_xy| = sum_orbits mult |rho_orbit|`` exactly
  (an orbit value below the rounding error of its terms counts as zero, so a
  state diagonal in the computational basis has exactly zero coherence).
- Health: ``trace_error`` from the diagonal weights; ``min_eigenvalue`` the
  smallest eigenvalue of any ``rho_j``; ``hermiticity_error`` is zero by
  construction (``q < 0`` is never stored, the ``q = 0`` block is real).

Modules: ``basis`` (which points, the rates, the basis and the generator),
``states`` (initial states, and the bridge to the full space for checks),
``propagator`` (the exponential), ``observer`` (the observables) and
``solver`` (``PermutationalSolver``, the backend ``method="piqs"`` names).
"""

from .basis import DickeBasis, DickeRates, channel_refusal, dissipator_matrix
from .observer import DickeObserver, orbit_vectors
from .solver import FULL_SPACE_MAX_CELLS, MAX_CELLS, PermutationalSolver
from .states import accepts_state, initial_state, to_full_space

__all__ = [
    "FULL_SPACE_MAX_CELLS",
    "MAX_CELLS",
    "DickeBasis",
    "DickeObserver",
    "DickeRates",
    "PermutationalSolver",
    "accepts_state",
    "channel_refusal",
    "dissipator_matrix",
    "initial_state",
    "orbit_vectors",
    "to_full_space",
]
