"""Benchmark of the permutation-invariant (Dicke-basis) solver: wall time and memory vs N.

Not a test. Each case runs ``qbsd.simulate`` (method ``piqs``) for the
``symmetric`` battery, relaxation channel, J = 2, gamma12 = 1/2, t_max = 10,
1001 time points, in a fresh subprocess so that its peak resident memory is
its own, and prints a Markdown table (also written to ``--out`` if given)::

    python benchmarks/bench_permutational.py                  # N = 10 20 50 100
    python benchmarks/bench_permutational.py --sizes 200 --states full classical
    python benchmarks/bench_permutational.py --sizes 200 --steps 50   # extrapolate

``--steps`` times only that many output steps (same step size) of the solver
itself, by part (one-time set-up, propagation, observables), and extrapolates
the per-step parts to 1000 steps; event location and the dataset are not
included there. The machine's load average is recorded before and
after each case, since shared machines make timings noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHILD = r"""
import json, resource, sys, time
import numpy as np
import qbsd
from qbsd.model.geometry import Geometry
from qbsd.model import Point
from qbsd.dynamics.dicke import PermutationalSolver

args = json.loads(sys.argv[1])
n, states, steps = args["n"], args["states"], args["steps"]
out = {}
if steps == 1000:  # the real thing: qbsd.simulate, events and dataset included
    start = time.perf_counter()
    ds = qbsd.simulate(
        n_cells=n, geometry="symmetric", J=2.0, gamma12=0.5, channel="relaxation",
        states=states, t_max=10.0, n_points=1001, method="piqs",
    )
    out["wall"] = time.perf_counter() - start
    stats = json.loads(ds.attrs["solver_stats"])
    out.update(
        matvecs=stats.get("matvecs", 0),
        elements=stats.get("dicke_elements", 0),
        half_life=[float(x) for x in ds.ergotropy_half_life.values],
        health_ok=int(ds.attrs["health_ok"]),
    )
else:  # a prefix of the run, timed by part and extrapolated to 1000 steps
    start = time.perf_counter()
    solver = PermutationalSolver(Point(Geometry.make("symmetric", n), 2.0, 0.5, "relaxation"))
    first = None
    observe = 0.0
    times = np.linspace(0.0, 0.01 * steps, steps + 1)
    clock = time.perf_counter()
    for _, _, chunk in solver.run(states, times):
        t0 = time.perf_counter()
        if first is None:  # one-time: the coherence transform, built on first use
            solver.observe(chunk[:1])
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
        solver.observe(chunk)
        observe += time.perf_counter() - t0
    total = time.perf_counter() - clock
    propagate = total - observe - first
    once = solver.stats["build_seconds"] + first
    out["wall"] = once + (propagate + observe) * 1000 / steps
    out.update(
        measured=time.perf_counter() - start,
        once=once,
        propagate_per_step=propagate / steps,
        observe_per_point=observe / (steps + 1) / len(states),
        matvecs=solver.stats["matvecs"] * 1000 // steps,
        elements=solver.basis.size,
        half_life=[float("nan")] * len(states),
        health_ok=-1,
    )
out["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps(out))
"""


def run_case(n: int, states: list[str], steps: int, timeout: float) -> dict:
    load_before = os.getloadavg()[0]
    env = dict(os.environ)
    payload = json.dumps({"n": n, "states": states, "steps": steps})
    start = time.perf_counter()
    try:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, payload],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=True,
        )
    except subprocess.TimeoutExpired:
        return {"n": n, "states": states, "error": f"timeout after {timeout:.0f} s"}
    except subprocess.CalledProcessError as exc:
        return {"n": n, "states": states, "error": exc.stderr.strip().splitlines()[-1]}
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result.update(
        n=n,
        states=states,
        steps=steps,
        elapsed=time.perf_counter() - start,
        load_before=load_before,
        load_after=os.getloadavg()[0],
    )
    return result


def table(results: list[dict]) -> str:
    lines = [
        "| N | states | Dicke elements | wall (s) | peak RSS (MiB) | Taylor orders | "
        "E half-life (1/Gamma) | load avg (before/after) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        label = "+".join(r["states"])
        if "error" in r:
            lines.append(f"| {r['n']} | {label} | | {r['error']} | | | | |")
            continue
        wall = f"{r['wall']:.1f}"
        if r["steps"] != 1000:
            wall = (
                f"~{r['wall']:.0f} (extrapolated from {r['steps']} steps: one-time "
                f"{r['once']:.0f} s + {r['propagate_per_step']:.2f} s/step propagation + "
                f"{r['observe_per_point']:.2f} s/point observables; events not included)"
            )
        lives = ", ".join("-" if h != h else f"{h:.4f}" for h in r["half_life"])
        lines.append(
            f"| {r['n']} | {label} | {r['elements']} | {wall} | {r['peak_rss'] / 2**20:.0f} | "
            f"{r['matvecs']} | {lives} | {r['load_before']:.1f} / {r['load_after']:.1f} |"
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 20, 50, 100])
    parser.add_argument(
        "--states", nargs="+", default=["full", "classical", "quantum"], help="solved together"
    )
    parser.add_argument("--steps", type=int, default=1000, help="output steps (1000 = full run)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per case")
    parser.add_argument("--out", help="also write the table (Markdown) here")
    args = parser.parse_args(argv)
    results = []
    print(f"# cores: {os.cpu_count()}, python {sys.version.split()[0]}", flush=True)
    for n in args.sizes:
        result = run_case(n, args.states, args.steps, args.timeout)
        results.append(result)
        print(json.dumps(result), flush=True)
    text = table(results)
    print(text)
    if args.out:
        with open(args.out, "w") as handle:
            handle.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
