# Summary tables (one row per requested label and initial state), the label
# manifest read by qbsd.open_results, and the list of skipped points. The
# trajectories are read in the pool of worker processes of the batch jobs.


rule summarise:
    input:
        trajectories=get_trajectories(),
    output:
        **SUMMARY,
    log:
        qbsd_paths.summarise_log(),
    localrule: True
    params:
        labels=labels_digest(),
        qbsd_version=qbsd_workflow.qbsd_version(),
    run:
        qbsd_workflow.summarise(
            STUDY, input.trajectories, output, log[0], processes=worker_processes()
        )
