# The simulations: one rule per batch of distinct points (qbsd.batches), each
# point still with its own trajectory file. Small points share a batch of
# about 20 s of work; a large point is a batch of its own. The layout depends
# only on the study, never on --cores. Longer batches have higher priority, so
# the large points start first and the small ones fill the cores around them.
#
# A batch job runs qbsd.jobs.simulate_batch: in a local run the points go to
# a pool of worker processes (one per core) started once by the snakemake
# process; in a cluster job they run in the job's own process. Outputs are
# marked update(): snakemake does not delete them before the job, and the job
# keeps every trajectory that is already up to date (same settings, same code
# version), so growing a grid, moving points between batches or resuming an
# interrupted batch computes only what is missing. The params (a digest of the
# batch's settings and the code version) are the rerun trigger.


for batch in BATCHES:

    rule:
        name:
            batch.name
        output:
            [update(path) for path in batch.paths],
        log:
            batch_log(batch),
        priority: batch.priority
        threads: 1
        resources:
            mem_mb=batch_mem_mb(batch),
            runtime=batch_runtime(batch),
        params:
            digest=batch_digest(batch),
        run:
            qbsd_jobs.simulate_batch(
                **batch_job(rule),
                outputs=list(output),
                log=log[0],
                processes=worker_processes(),
            )
