"""Benchmark of one parameter point: qbsd against two QuTiP anchors.

Point: linear chain, relaxation, J = 2, gamma12 = 0.5, |+>^N (``quantum``),
t in [0, 10], 1001 points, every stored observable.

Variants, each run in its own subprocess (peak RSS = that process's ru_maxrss):

``naive``
    how a typical physicist writes it: ``qutip.mesolve(H, rho0, tlist, c_ops)``
    with default options, storing every state, then a Python loop over the
    states calling ``rho.eigenenergies()``, ``qutip.expect``, ``rho.ptrace`` and
    ``qutip.concurrence``.
``well``
    QuTiP used well: ``qutip.liouvillian(H, c_ops)`` built once, ``MESolver``
    with ``bdf`` at rtol 1e-8 / atol 1e-10, states fetched in chunks with
    ``solver.step``, observables from one batched ``numpy.linalg.eigvalsh`` per
    chunk (and vectorised diagonals, l1 sums, partial traces, Wootters).
``qbsd``
    ``qbsd.simulate`` with its defaults.
``exact``
    the accuracy reference: qbsd's symmetry-reduced generator propagated with
    Taylor steps truncated at unit round-off (2^-53), ergotropy only.

Usage::

    python benchmarks/bench_full.py            # N = 4..8 side by side, qbsd N = 9, 10, small N
    python benchmarks/bench_full.py --quick    # smoke run (about a minute)
    python benchmarks/bench_full.py --n 8 --variants well,qbsd --repeats 3 --no-large --no-small

Timings are wall-clock seconds without the ``import``; compare ratios from one
run (the machine may be shared). ``uptime`` is printed before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

POINT = dict(geometry="linear", J=2.0, gamma12=0.5, channel="relaxation")
T_MAX = 10.0
N_POINTS = 1001


# ---- workers (run in a subprocess each) ------------------------------------------


def _gamma12(n, geometry):
    """gamma12 of the point, capped below the complete-positivity bound (central N >= 6)."""
    from qbsd.model.geometry import Geometry

    bound = Geometry.make(geometry, n).gamma12_bound()
    return POINT["gamma12"] if POINT["gamma12"] <= bound + 1e-12 else round(0.99 * bound, 3)


def _point(n, geometry):
    from qbsd.model import Point
    from qbsd.model.geometry import Geometry

    g12 = _gamma12(n, geometry)
    return Point(Geometry.make(geometry, n), POINT["J"], g12, POINT["channel"])


def _sparse_operators(qutip, operators):
    """H and collapse operators in QuTiP's sparse (CSR) format, as ``qutip.tensor`` builds them."""
    h, c_ops = operators
    return h.to("CSR"), [c.to("CSR") for c in c_ops]


def _levels(n):
    return np.sort([bin(i).count("1") for i in range(2**n)]).astype(float)


def worker_naive(n, geometry, states, n_points):
    t0 = time.perf_counter()
    import qutip

    from qbsd.model.liouvillian import qutip_operators
    from qbsd.model.states import product_state

    imported = time.perf_counter() - t0
    point = _point(n, geometry)
    tick = time.perf_counter()
    h, c_ops = _sparse_operators(qutip, qutip_operators(point))
    dims = [[2] * n, [2] * n]
    n_ops = [
        qutip.tensor([qutip.num(2) if k == c else qutip.qeye(2) for k in range(n)])
        for c in range(n)
    ]
    h0 = sum(n_ops)
    levels = np.sort(h0.eigenenergies())
    build = time.perf_counter() - tick
    tlist = np.linspace(0, T_MAX, n_points)
    out = {"import": imported, "build": build, "solve": 0.0, "observe": 0.0}
    for label in states:
        rho0 = qutip.Qobj(product_state(label, n), dims=dims)
        tick = time.perf_counter()
        result = qutip.mesolve(h, rho0, tlist, c_ops)
        out["solve"] += time.perf_counter() - tick
        tick = time.perf_counter()
        ergotropy = []
        for rho in result.states:
            energy = qutip.expect(h0, rho)
            r = rho.eigenenergies()[::-1]
            ergotropy.append(energy - float(np.dot(r, levels)))
            full = rho.full()
            _ = (np.abs(full).sum() - np.abs(np.diag(full)).sum()) / (2**n - 1)
            _ = [qutip.expect(op, rho) for op in n_ops]
            _ = [qutip.concurrence(rho.ptrace([a, b])) for a, b in point.geometry.edges]
        out["observe"] += time.perf_counter() - tick
        out[f"ergotropy_{label}"] = ergotropy
    return out


def _two_cell(rho, n, edges):
    b = rho.shape[0]
    t = rho.reshape((b,) + (2,) * (2 * n))
    letters = "bcdefghijklmnopqrstuvwxyz"
    out = []
    for p, q in edges:
        ket = list(letters[:n])
        bra = list(ket)
        bra[p], bra[q] = "Y", "Z"
        spec = "a" + "".join(ket) + "".join(bra) + "->a" + ket[p] + ket[q] + "YZ"
        out.append(np.einsum(spec, t).reshape(b, 4, 4))
    return np.stack(out, axis=1)


def _wootters(rho2):
    sy = np.array([[0, -1j], [1j, 0]])
    yy = np.kron(sy, sy)
    m = rho2 @ yy @ np.conj(rho2) @ yy
    lam = np.sqrt(np.clip(np.sort(np.linalg.eigvals(m).real, axis=-1)[..., ::-1], 0, None))
    return np.clip(lam[..., 0] - lam[..., 1] - lam[..., 2] - lam[..., 3], 0, None)


def worker_well(n, geometry, states, n_points):
    t0 = time.perf_counter()
    import qutip

    from qbsd.model.liouvillian import qutip_operators
    from qbsd.model.states import product_state

    imported = time.perf_counter() - t0
    point = _point(n, geometry)
    tick = time.perf_counter()
    h, c_ops = _sparse_operators(qutip, qutip_operators(point))
    lv = qutip.liouvillian(h, c_ops)
    build = time.perf_counter() - tick
    options = {
        "method": "bdf",
        "rtol": 1e-8,
        "atol": 1e-10,
        "nsteps": 10**6,
        "store_states": False,
        "progress_bar": "",
    }
    solver = qutip.MESolver(lv, options=options)
    dims = [[2] * n, [2] * n]
    levels = _levels(n)
    bits = np.array([[(i >> (n - 1 - c)) & 1 for i in range(2**n)] for c in range(n)], float)
    tlist = np.linspace(0, T_MAX, n_points)
    chunk = max(1, min(256, 2**27 // (16 * 4**n)))
    out = {"import": imported, "build": build, "solve": 0.0, "observe": 0.0}
    for label in states:
        rho0 = qutip.Qobj(product_state(label, n), dims=dims)
        solver.start(rho0, 0.0)
        ergotropy = []
        for first in range(0, n_points, chunk):
            tick = time.perf_counter()
            block = np.stack(
                [
                    rho0.full() if k == 0 else solver.step(tlist[k]).full()
                    for k in range(first, min(first + chunk, n_points))
                ]
            )
            out["solve"] += time.perf_counter() - tick
            tick = time.perf_counter()
            diag = np.real(np.diagonal(block, axis1=1, axis2=2))
            population = diag @ bits.T
            energy = population.sum(axis=1)
            ev = np.linalg.eigvalsh(block)
            ergotropy.extend(energy - ev[:, ::-1] @ levels)
            _ = (np.abs(block).sum(axis=(1, 2)) - np.abs(diag).sum(axis=1)) / (2**n - 1)
            if point.geometry.edges:
                _ = _wootters(_two_cell(block, n, point.geometry.edges))
            out["observe"] += time.perf_counter() - tick
        out[f"ergotropy_{label}"] = ergotropy
    return out


def worker_qbsd(n, geometry, states, n_points):
    t0 = time.perf_counter()
    import qbsd

    imported = time.perf_counter() - t0
    tick = time.perf_counter()
    ds = qbsd.simulate(
        n,
        geometry,
        POINT["J"],
        _gamma12(n, geometry),
        POINT["channel"],
        states=states,
        t_max=T_MAX,
        n_points=n_points,
    )
    total = time.perf_counter() - tick
    stats = json.loads(ds.attrs["solver_stats"])
    observe = sum(v for k, v in stats.items() if k.startswith("observe_"))
    out = {
        "import": imported,
        "total": total,
        "build": stats.get("build_seconds", np.nan),
        "solve": stats.get("integrate_seconds", stats.get("solve_seconds", np.nan)),
        "observe": observe,
        "method": ds.attrs.get("solver_method", ""),
        "integrator": stats.get("integrator", ""),
        "reduced_dimension": stats.get("reduced_dimension", ""),
        "spectral_blocks": stats.get("spectral_blocks", ""),
        "gamma12": _gamma12(n, geometry),
    }
    for label in states:
        out[f"ergotropy_{label}"] = ds.ergotropy.sel(state=label).values.tolist()
    return out


def worker_exact(n, geometry, states, n_points):
    from qbsd.dynamics import SectorSolver

    tick = time.perf_counter()
    solver = SectorSolver(_point(n, geometry), integrator="exact")
    times = np.linspace(0, T_MAX, n_points)
    series = {label: [] for label in states}
    for s, _, chunk in solver.run(states, times):
        series[states[s]].extend(solver.observe(chunk)["ergotropy"])
    out = {"total": time.perf_counter() - tick}
    for label in states:
        out[f"ergotropy_{label}"] = series[label]
    return out


def worker_small(ns, repeats):
    t0 = time.perf_counter()
    import qbsd

    out = {"import": time.perf_counter() - t0}
    for n in ns:
        qbsd.simulate(n)  # warm-up (first call pays lazy imports, thread pool)
        runs = []
        for _ in range(repeats):
            tick = time.perf_counter()
            qbsd.simulate(n)
            runs.append(time.perf_counter() - tick)
        out[str(n)] = float(np.median(runs))
    return out


WORKERS = {
    "naive": worker_naive,
    "well": worker_well,
    "qbsd": worker_qbsd,
    "exact": worker_exact,
}


def _worker_main(args) -> None:
    if args.worker == "small":
        out = worker_small([int(x) for x in args.worker_n.split(",")], args.repeats)
    else:
        t0 = time.perf_counter()
        out = WORKERS[args.worker](
            int(args.worker_n), args.geometry, args.states.split(","), args.points
        )
        out.setdefault("total", time.perf_counter() - t0 - out.get("import", 0.0))
    out["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out).write_text(json.dumps(out))


# ---- driver -------------------------------------------------------------------------


def _run(variant, n, geometry, states, points, timeout, tmp, repeats=1):
    """Run a worker ``repeats`` times; medians of the timings, max of the RSS."""
    runs = []
    for r in range(repeats):
        path = Path(tmp) / f"{variant}_{n}_{r}.json"
        cmd = [
            sys.executable,
            __file__,
            "--worker",
            variant,
            "--worker-n",
            str(n),
            "--geometry",
            geometry,
            "--states",
            ",".join(states),
            "--points",
            str(points),
            "--out",
            str(path),
            "--repeats",
            "1",
        ]
        tick = time.perf_counter()
        try:
            subprocess.run(cmd, check=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timeout {timeout}s"}
        except subprocess.CalledProcessError as error:
            return {"error": f"exit {error.returncode}"}
        out = json.loads(path.read_text())
        out["process"] = time.perf_counter() - tick
        runs.append(out)
    merged = dict(runs[0])
    for key in ("import", "build", "solve", "observe", "total", "process"):
        if key in merged:
            merged[key] = float(np.median([r[key] for r in runs]))
    merged["rss_mb"] = max(r["rss_mb"] for r in runs)
    merged["runs"] = len(runs)
    return merged


def _uptime() -> str:
    try:
        return Path("/proc/loadavg").read_text().split(" ")[:3].__str__()
    except OSError:  # pragma: no cover
        return "?"


def _machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:  # pragma: no cover
        pass
    try:
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):  # pragma: no cover
        mem = float("nan")
    import numpy
    import scipy

    try:
        from importlib.metadata import version

        qv = version("qutip")
    except Exception:  # pragma: no cover
        qv = "?"
    return (
        f"{cpu}, {len(os.sched_getaffinity(0))} CPUs, {mem:.0f} GiB; python "
        f"{platform.python_version()}, numpy {numpy.__version__}, scipy {scipy.__version__}, "
        f"qutip {qv}"
    )


def _fmt(x, width=7, prec=2):
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "-".rjust(width)
    return f"{x:{width}.{prec}f}"


def _err(a, ref):
    if a is None or ref is None:
        return None
    return float(np.max(np.abs(np.asarray(a) - np.asarray(ref))))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n",
        type=int,
        nargs="*",
        default=[4, 5, 6, 7, 8],
        help="N of the side-by-side table (default 4..8)",
    )
    parser.add_argument(
        "--variants",
        default="naive,well,qbsd",
        help="comma list from naive,well,qbsd (default all)",
    )
    parser.add_argument(
        "--large",
        type=int,
        nargs="*",
        default=[9, 10],
        help="N of the qbsd-alone table, three states (default 9 10)",
    )
    parser.add_argument(
        "--large-geometries", default="linear", help="comma list of geometries for the large table"
    )
    parser.add_argument("--no-large", action="store_true")
    parser.add_argument(
        "--small",
        type=int,
        nargs="*",
        default=[1, 2, 3, 4, 5, 6],
        help="N of the small-point table (three states, default 1..6)",
    )
    parser.add_argument("--no-small", action="store_true")
    parser.add_argument("--repeats", type=int, default=1, help="runs per variant (median)")
    parser.add_argument("--points", type=int, default=N_POINTS)
    parser.add_argument("--timeout", type=float, default=1800.0, help="per subprocess (s)")
    parser.add_argument(
        "--no-accuracy", action="store_true", help="skip the full-precision reference"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 4, 5; 6; 1..3")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--worker-n", help=argparse.SUPPRESS)
    parser.add_argument("--geometry", default=POINT["geometry"], help=argparse.SUPPRESS)
    parser.add_argument("--states", default="quantum", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        _worker_main(args)
        return 0
    if args.quick:
        args.n, args.large, args.small = [4, 5], [6], [1, 2, 3]
    variants = [v for v in args.variants.split(",") if v]
    print(f"# qbsd benchmark, {time.strftime('%Y-%m-%d %H:%M')}")
    print(f"# machine: {_machine()}")
    print(f"# load average at start: {_uptime()}")
    print(
        f"# point: {POINT['geometry']}, {POINT['channel']}, J={POINT['J']}, "
        f"gamma12={POINT['gamma12']}, |+>^N, t in [0, {T_MAX}], {args.points} points"
    )
    with tempfile.TemporaryDirectory(prefix="qbsd-bench-") as tmp:
        if args.n:
            print("\n## one state (|+>^N): seconds (without import), peak RSS (MB)")
            print(
                "# solve and obs are each variant's own split; qbsd overlaps them in two "
                "threads, so solve + obs may exceed total"
            )
            head = " N |"
            for v in variants:
                head += f" {v:>5}: total   build   solve     obs     RSS |"
            ratios = [v for v in variants if v != "qbsd"] if "qbsd" in variants else []
            for v in ratios:
                head += f" {v}/qbsd tot/solv/obs |"
            if not args.no_accuracy:
                head += " max|dE| vs exact: " + " ".join(f"{v:>8}" for v in variants)
            print(head)
            for n in args.n:
                res = {
                    v: _run(
                        v,
                        n,
                        POINT["geometry"],
                        ["quantum"],
                        args.points,
                        args.timeout,
                        tmp,
                        args.repeats,
                    )
                    for v in variants
                }
                ref = None
                if not args.no_accuracy:
                    ref = _run(
                        "exact", n, POINT["geometry"], ["quantum"], args.points, args.timeout, tmp
                    ).get("ergotropy_quantum")
                line = f"{n:2d} |"
                for v in variants:
                    r = res[v]
                    if "error" in r:
                        line += f" {r['error']:>45} |"
                        continue
                    line += (
                        f"       {_fmt(r.get('total'))} {_fmt(r.get('build'))} "
                        f"{_fmt(r.get('solve'))} {_fmt(r.get('observe'))} "
                        f"{r['rss_mb']:7.0f} |"
                    )
                q = res.get("qbsd", {})
                for v in ratios:
                    r = res[v]
                    if "error" in r or "error" in q:
                        line += " " * 22 + "- |"
                        continue
                    line += (
                        f" {r['total'] / q['total']:6.1f} {r['solve'] / q['solve']:6.1f} "
                        f"{r['observe'] / q['observe']:6.1f}   |"
                    )
                if ref is not None:
                    line += "                   " + " ".join(
                        f"{e:8.1e}"
                        if (e := _err(res[v].get("ergotropy_quantum"), ref)) is not None
                        else "       -"
                        for v in variants
                    )
                print(line, flush=True)
        if not args.no_large and args.large:
            print("\n## qbsd alone, three states (full, classical, quantum): seconds, MB")
            print(
                "# geometry  N   g12 |  total   build   solve     obs     RSS | method / "
                "integrator / reduced dimension / spectral blocks (size, multiplicity)"
            )
            for geometry in args.large_geometries.split(","):
                for n in args.large:
                    r = _run(
                        "qbsd",
                        n,
                        geometry,
                        ["full", "classical", "quantum"],
                        args.points,
                        args.timeout,
                        tmp,
                        args.repeats,
                    )
                    if "error" in r:
                        print(f"{geometry:10s} {n:2d}       | {r['error']}")
                        continue
                    print(
                        f"{geometry:10s} {n:2d} {r['gamma12']:5.3g} | {_fmt(r['total'])} "
                        f"{_fmt(r['build'])} "
                        f"{_fmt(r['solve'])} {_fmt(r['observe'])} {r['rss_mb']:7.0f} | "
                        f"{r['method']} / {r['integrator']} / {r['reduced_dimension']} / "
                        f"{r['spectral_blocks']}",
                        flush=True,
                    )
        if not args.no_small and args.small:
            print(
                "\n## small points: qbsd.simulate(N) with three states, 1001 points, "
                "linear; seconds per point (median of 5 after a warm-up)"
            )
            path = Path(tmp) / "small.json"
            subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    "small",
                    "--worker-n",
                    ",".join(map(str, args.small)),
                    "--out",
                    str(path),
                    "--repeats",
                    "5",
                ],
                check=True,
                timeout=args.timeout,
            )
            small = json.loads(path.read_text())
            tick = time.perf_counter()
            subprocess.run([sys.executable, "-c", "import qbsd; qbsd.simulate(2)"], check=True)
            fresh = time.perf_counter() - tick
            print(" N | " + " ".join(f"{n:>6d}" for n in args.small))
            print("   | " + " ".join(f"{small[str(n)]:6.3f}" for n in args.small))
            print(
                f"# import qbsd: {small['import']:.2f} s; a fresh process running "
                f"'import qbsd; qbsd.simulate(2)': {fresh:.2f} s"
            )
    print(f"\n# load average at end: {_uptime()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
