# Summary tables (one row per requested label and initial state), the label
# manifest read by qbsd.open_results, and the list of skipped points.


rule summarise:
    input:
        trajectories=get_trajectories(),
    output:
        half_lives_csv=SUMMARY["half_lives_csv"],
        half_lives_nc=SUMMARY["half_lives_nc"],
        xi0_scaling_csv=SUMMARY["xi0_scaling_csv"],
        xi0_scaling_nc=SUMMARY["xi0_scaling_nc"],
        quantumness_csv=SUMMARY["quantumness_csv"],
        quantumness_nc=SUMMARY["quantumness_nc"],
        labels=SUMMARY["labels"],
        skipped=SUMMARY["skipped"],
    log:
        "results/logs/summarise.log",
    localrule: True
    params:
        labels=labels_digest(),
        qbsd_version=qbsd_workflow.qbsd_version(),
    run:
        qbsd_workflow.summarise(STUDY, input.trajectories, output, log[0])
