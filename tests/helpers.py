"""Second routes several test modules share: QuTiP's own operators and ``qutip.piqs``."""

from __future__ import annotations

import numpy as np
import pytest
import qutip

from qbsd.dynamics.dicke import DickeBasis, DickeRates, dissipator_matrix


def assert_dicke_generator_is_piqs(n_cells: int, rates: DickeRates) -> None:
    """The Dicke-basis dissipator of ``rates`` equals ``qutip.piqs``' Lindbladian on its rows."""
    from qutip.piqs._piqs import jmm1_dictionary
    from qutip.piqs.piqs import Dicke

    basis = DickeBasis(n_cells)
    mine = dissipator_matrix(basis, rates).toarray()
    theirs = Dicke(n_cells, **rates.as_dict()).lindbladian().full()
    flat_inverse = jmm1_dictionary(n_cells)[3]
    index = [flat_inverse[(basis.j[e], basis.m[e], basis.m1[e])] for e in range(basis.size)]
    block = theirs[np.ix_(index, index)]
    # every source of a stored row is stored (q is conserved) ...
    np.testing.assert_allclose(np.abs(theirs[index]).sum(1), np.abs(block).sum(1), atol=1e-12)
    # ... and the coefficients agree to piqs' single precision
    np.testing.assert_allclose(mine, block.real, rtol=0, atol=2e-7 * np.abs(block).max())
    # trace preservation: piqs numbers carry the block degeneracy (plain sum = trace)
    np.testing.assert_allclose(mine[:, : basis.n0].sum(0), 0.0, atol=1e-12)


def qutip_model(geometry, J: float, gamma12: float, channel: str):
    """H, c_ops and the lowering operators of a paper channel, with QuTiP's operators.

    |e> = basis(2, 0) there; the rates are those of ``docs/model.md``.
    """
    n = geometry.n_cells
    eye = qutip.qeye(2)

    def on(op, k):
        return qutip.tensor([op if c == k else eye for c in range(n)])

    sm = [on(qutip.sigmam(), k) for k in range(n)]
    sz = [on(qutip.sigmaz(), k) for k in range(n)]
    h = 0 * on(eye, 0)
    for a, b in geometry.edges:
        h += J * (sm[a].dag() * sm[b] + sm[a] * sm[b].dag())
    rate, jump = {
        "relaxation": (0.5, sm),
        "amplitude_damping": (1.0, sm),
        "phase_damping": (0.5, sz),
    }[channel]
    k = rate * (np.eye(n) + gamma12 * geometry.adjacency)
    lam, vec = np.linalg.eigh(k)
    c_ops = [
        np.sqrt(lam[i]) * sum(vec[c, i] * jump[c] for c in range(n))
        for i in range(n)
        if lam[i] > 1e-14
    ]
    if channel == "relaxation":
        c_ops += [np.sqrt(1 / 8) * s for s in sz]
    return h, c_ops, sm


def assert_observables_match(ours, energy, ergotropy, coherence, concurrence, population):
    """One time and state of a qbsd trajectory against observables computed elsewhere."""
    assert float(ours.energy) == pytest.approx(energy, abs=1e-8)
    assert float(ours.ergotropy) == pytest.approx(ergotropy, abs=1e-8)
    assert float(ours.coherence) == pytest.approx(coherence, abs=1e-8)
    np.testing.assert_allclose(ours.concurrence, concurrence, atol=1e-8)
    np.testing.assert_allclose(ours.population, population, atol=1e-8)
