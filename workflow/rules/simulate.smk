# One job per physically distinct point, every initial state in the same job.
# `run:` calls one function; with `force-use-threads` (profiles/default) the
# job runs in a thread of the snakemake process: no interpreter start-up,
# Snakefile parsing or qutip import per job.
#
# The trajectory is written atomically (unique .<name>.*.part file, then a
# rename); a job first deletes the .part files an interrupted run left next to
# its output, so `snakemake --rerun-incomplete` after a kill leaves none. Its
# params (every setting of the point, the qbsd version and a digest of the
# physics sources) are rerun triggers: editing the physics reruns the points.


rule simulate:
    output:
        "results/trajectories/{channel}/N{n_cells}/{geometry}/J{J}_g{gamma12}.nc",
    log:
        "results/logs/simulate/{channel}/N{n_cells}/{geometry}/J{J}_g{gamma12}.log",
    wildcard_constraints:
        channel=point_constraint("channel"),
        n_cells=r"\d+",
        geometry=point_constraint("geometry"),
        J=point_constraint("J"),
        gamma12=point_constraint("gamma12"),
    group:
        simulate_group
    threads: 1
    resources:
        mem_mb=simulate_mem_mb,
        runtime=simulate_runtime,
    params:
        settings=point_settings,
        point_id=point_identifier,
        code_version=qbsd_workflow.code_version(),
    run:
        qbsd_workflow.simulate_point(
            params.settings, output[0], log[0], point_id=params.point_id
        )
