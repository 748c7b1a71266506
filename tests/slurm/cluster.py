"""A throw-away single-node SLURM cluster on localhost, for the workflow tests.

The cluster is built from Debian's packages (SLURM 22.05 on Debian 12) and run
without systemd: every daemon is started here, in the foreground, as a child
process whose PID we hold, and :meth:`SlurmCluster.stop` ends exactly those
processes, by PID.  Configuration, state, sockets and logs live in one fresh
directory under ``/tmp``; nothing in ``/etc`` is touched.  Client commands
find the configuration through ``SLURM_CONF``; ``srun`` inside a job, which
does not get ``SLURM_CONF`` (see :data:`CONFIGLESS_DIR`), through a symlink
``/run/slurm/conf`` that exists only while the cluster runs.

Accounting runs for real (MariaDB + slurmdbd), so that the executor plugin can
use its defaults: job status through ``sacct`` and the account given with
``slurm_account`` validated through ``sacctmgr``.

Two partitions exist: ``debug`` (the cluster default) and :attr:`partition`
(not the default), and one account, :attr:`account`, besides ``root``.  Jobs
that show up in ``sacct`` with that partition and account therefore prove that
the site values given to snakemake reached ``sbatch``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PROFILE_DIR = REPO_ROOT / "profiles" / "slurm"

#: Debian 12 packages that provide the cluster (``--no-install-recommends``).
APT_PACKAGES = (
    "slurmctld",
    "slurmd",
    "slurm-client",
    "munge",
    "slurmdbd",
    "mariadb-server",
)

#: Programs the cluster needs; when all are present, nothing is installed.
REQUIRED_PROGRAMS = (
    "munged",
    "mariadbd",
    "mariadb-install-db",
    "slurmdbd",
    "slurmctld",
    "slurmd",
    "sbatch",
    "sacct",
    "sacctmgr",
    "scancel",
    "scontrol",
    "sinfo",
    "squeue",
)

#: Where SLURM clients look for slurm.conf when SLURM_CONF is unset, after
#: /etc/slurm/slurm.conf (the cache a configless slurmd keeps).  Jobs need it:
#: the plugin's job step (snakemake-executor-plugin-slurm-jobstep 0.6.1) runs
#: ``srun`` inside the job with every SLURM_* variable but a few removed, so
#: SLURM_CONF does not reach that srun.
CONFIGLESS_DIR = Path("/run/slurm/conf")
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")

#: Status-check settings that make a small workflow finish in seconds instead
#: of minutes (the plugin waits 40 s before its first check by default).  Too
#: aggressive for a production cluster; the profile keeps gentler values.
FAST_STATUS_ARGS = (
    "--slurm-init-seconds-before-status-checks",
    "1",
    "--seconds-between-status-checks",
    "1",
    "--latency-wait",
    "5",
)


class SlurmUnavailable(RuntimeError):
    """SLURM cannot be brought up on this machine (the message says why)."""


def missing_programs() -> list[str]:
    """Return the required programs that are not on ``PATH`` (or in sbin)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/bin"])
    return [p for p in REQUIRED_PROGRAMS if shutil.which(p, path=path) is None]


def ensure_packages() -> float:
    """Install the Debian packages if any program is missing.

    Returns
    -------
    float
        Seconds spent in ``apt-get`` (0 when everything was already there).

    Raises
    ------
    SlurmUnavailable
        Not root, no ``apt-get``, or the installation failed.
    """
    missing = missing_programs()
    if not missing:
        return 0.0
    if not sys.platform.startswith("linux"):
        raise SlurmUnavailable("a local SLURM cluster needs Linux")
    if os.geteuid() != 0:
        raise SlurmUnavailable(
            "needs root to install Debian's SLURM packages and to run slurmd "
            f"(missing: {', '.join(missing)})"
        )
    if shutil.which("apt-get") is None:
        raise SlurmUnavailable(
            f"apt-get is not available to install {' '.join(APT_PACKAGES)} "
            f"(missing: {', '.join(missing)})"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    start = time.monotonic()
    for cmd in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES],
    ):
        proc = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=300, check=False
        )
        if proc.returncode != 0:
            raise SlurmUnavailable(
                f"`{' '.join(cmd)}` failed ({proc.returncode}):\n"
                f"{(proc.stdout + proc.stderr)[-2000:]}"
            )
    if missing_programs():
        raise SlurmUnavailable(
            f"still missing after apt-get install: {', '.join(missing_programs())}"
        )
    return time.monotonic() - start


def profile_settings(profile: Path | str = PROFILE_DIR) -> dict:
    """The profile's ``config.yaml`` as plain YAML (YTE expressions left unevaluated)."""
    import yaml

    return yaml.safe_load((Path(profile) / "config.yaml").read_text())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 30) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return f"({path} not readable)"
    return "\n".join(lines[-n:])


def _stale_link(link: Path) -> bool:
    """Whether ``link`` points into a cluster dir of ours whose slurmctld is gone."""
    if not link.is_symlink():
        return False
    target = Path(os.readlink(link))
    if not target.name == "etc" or not target.parent.name.startswith("qbsd-slurm-"):
        return False
    try:
        pid = int((target.parent / "run" / "slurmctld.pid").read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return True
    return False


@dataclass
class SlurmCluster:
    """A single-node SLURM cluster with accounting, run from :attr:`root`.

    Use :meth:`start` and :meth:`stop` (or the ``slurm_cluster`` fixture).

    Attributes
    ----------
    root
        Directory with configuration, state, sockets and logs.
    partition, account
        The site values a test passes to snakemake (neither is a default).
    cluster_name
        ``ClusterName`` in slurm.conf.
    timings
        Seconds spent per start-up phase (``apt``, ``munge``, ...).
    """

    root: Path
    partition: str = "qbsd"
    account: str = "qbsd"
    cluster_name: str = "qbsdtest"
    cpus: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    _procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    _created: list[Path] = field(default_factory=list)

    # ------------------------------------------------------------------ paths
    @property
    def conf(self) -> Path:
        """Path of ``slurm.conf`` (``SLURM_CONF`` for every client command)."""
        return self.root / "etc" / "slurm.conf"

    @property
    def env(self) -> dict[str, str]:
        """Environment for SLURM clients and for snakemake.

        ``SLURM_CONF`` points at this cluster; the venv's ``bin`` is first on
        ``PATH`` (sbatch exports the environment, so jobs find the same
        snakemake and python); ``QBSD_SLURM_PARTITION`` and
        ``QBSD_SLURM_ACCOUNT`` carry the site values that the profile reads.
        """
        env = dict(os.environ)
        for key in list(env):
            # a test run inside a SLURM job must not leak that job's settings
            if key.startswith(("SLURM_", "SBATCH_", "SRUN_", "SALLOC_")):
                del env[key]
        venv_bin = str(Path(sys.executable).parent)
        path = [venv_bin, *env.get("PATH", "").split(os.pathsep)]
        path += [p for p in ("/usr/sbin", "/sbin") if p not in path]
        env.update(
            SLURM_CONF=str(self.conf),
            PATH=os.pathsep.join(dict.fromkeys(p for p in path if p)),
            QBSD_SLURM_PARTITION=self.partition,
            QBSD_SLURM_ACCOUNT=self.account,
        )
        return env

    @property
    def site_resource_args(self) -> list[str]:
        """The site values as ``--default-resources`` items (CLI route).

        On the command line ``--default-resources`` replaces the profile's
        whole list, so these items are to be appended after the profile's own
        defaults; see :meth:`default_resources_cli`.
        """
        return [f"slurm_partition={self.partition}", f"slurm_account={self.account}"]

    def default_resources_cli(self) -> list[str]:
        """``--default-resources`` with the profile's defaults plus site values."""
        profile = profile_settings()
        defaults = {
            k: v
            for k, v in profile.get("default-resources", {}).items()
            if not str(k).startswith("?")
        }
        items = [f"{k}={v}" for k, v in defaults.items()]
        return ["--default-resources", *items, *self.site_resource_args]

    # ------------------------------------------------------------ commands
    def run(self, *cmd: str, check: bool = True, timeout: float = 30):
        """Run a SLURM client command against this cluster."""
        proc = subprocess.run(
            list(cmd),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"`{' '.join(cmd)}` failed ({proc.returncode}): {proc.stdout}{proc.stderr}"
            )
        return proc

    def sacct(self, *job_ids: str) -> list[dict[str, str]]:
        """Allocation records (``sacct -X``) of all jobs, or of ``job_ids``."""
        # Comment last: it may hold "|"
        fields = (
            "JobIDRaw,JobName,State,ExitCode,Partition,Account,ReqMem,ReqCPUS,"
            "TimelimitRaw,ElapsedRaw,Comment"
        )
        cmd = ["sacct", "-X", "-a", "-P", "-n", f"--format={fields}"]
        cmd += ["--starttime", "now-1days"]
        if job_ids:
            cmd += ["-j", ",".join(job_ids)]
        out = self.run(*cmd).stdout
        keys = fields.split(",")
        rows = [line.split("|", len(keys) - 1) for line in out.splitlines() if line]
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def run_snakemake_on_slurm(
        self,
        workdir: Path | str,
        extra_args: Sequence[str] = (),
        timeout: int = 170,
        *,
        profile: Path | str = PROFILE_DIR,
        fast: bool = True,
        env_overrides: Mapping[str, str | None] | None = None,
    ) -> subprocess.CompletedProcess:
        """Run ``snakemake --profile profiles/slurm`` in ``workdir`` on this cluster.

        Parameters
        ----------
        workdir
            Directory snakemake runs in (holds the ``Snakefile`` unless
            ``extra_args`` name one).
        extra_args
            Further snakemake arguments (targets, ``--configfile``, ...).
        timeout
            Seconds before ``timeout -k 10`` ends snakemake: the plugin can
            wait forever on a status it never gets, and SIGTERM only makes
            snakemake wait for its running jobs, hence the SIGKILL 10 s later.
            A timed-out run returns code 124 (or 137).
        profile
            The profile directory (default: the repository's SLURM profile).
        fast
            Append :data:`FAST_STATUS_ARGS` (1 s status checks).
        env_overrides
            Changes to :attr:`env`; ``None`` removes a variable (e.g. the
            ``QBSD_SLURM_*`` site values, to pass them on the command line).

        ``--cores`` is the profile's value, lowered to the node's CPU count
        if the node has fewer (a job must fit on the one node); ``extra_args``
        come last, so they win.

        Returns
        -------
        subprocess.CompletedProcess
            With ``stdout`` holding snakemake's stdout and stderr together.
        """
        cmd = [
            "timeout",
            "-k",
            "10",
            str(timeout),
            sys.executable,
            "-m",
            "snakemake",
            "--profile",
            str(profile),
            # a job must fit on the one node
            "--cores",
            str(min(self.cpus, int(profile_settings(profile).get("cores", self.cpus)))),
            *(FAST_STATUS_ARGS if fast else ()),
            *extra_args,
        ]
        env = self.env
        for key, value in (env_overrides or {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return subprocess.run(
            cmd,
            cwd=workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )

    # ------------------------------------------------------------ start-up
    def start(self) -> None:
        """Configure and start munged, mariadbd, slurmdbd, slurmctld, slurmd."""
        try:
            self._phase("configure", self._configure)
            self._link_configless_dir()
            self._phase("munge", self._start_munge)
            self._phase("mariadb", self._start_mariadb)
            self._phase("slurmdbd", self._start_slurmdbd)
            self._phase("slurmctld", self._start_slurmctld)
            self._phase("slurmd", self._start_slurmd)
        except BaseException:
            self.stop()
            raise

    def _phase(self, name: str, fn: Callable[[], None]) -> None:
        start = time.monotonic()
        fn()
        self.timings[name] = time.monotonic() - start

    def _configure(self) -> None:
        self.node = socket.gethostname().split(".")[0]
        self.ports = {name: _free_port() for name in ("slurmctld", "slurmd", "slurmdbd", "mysql")}
        for sub in ("etc", "log", "run", "state", "spool", "db", "munge"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # munged, running as munge, must reach its dir
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.mysql_password = secrets.token_hex(12)

        # slurmd -C prints this machine's node line (CPUs, RealMemory, ...)
        hw = subprocess.run(
            ["slurmd", "-C"], capture_output=True, text=True, check=True
        ).stdout.splitlines()[0]
        self.cpus = int(next(w for w in hw.split() if w.startswith("CPUs=")).split("=")[1])
        node_line = " ".join(
            [f"NodeName={self.node}", "NodeAddr=127.0.0.1"]
            + [w for w in hw.split() if not w.startswith(("NodeName=", "UpTime="))]
            + ["State=UNKNOWN"]
        )
        log, run = self.root / "log", self.root / "run"
        auth = f"AuthInfo=socket={self.munge_socket}"
        self.conf.write_text(
            "\n".join(
                [
                    f"ClusterName={self.cluster_name}",
                    f"SlurmctldHost={self.node}(127.0.0.1)",
                    f"SlurmctldPort={self.ports['slurmctld']}",
                    f"SlurmdPort={self.ports['slurmd']}",
                    "SlurmUser=root",
                    "SlurmdUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    auth,
                    f"StateSaveLocation={self.root / 'state'}",
                    f"SlurmdSpoolDir={self.root / 'spool'}",
                    f"SlurmctldPidFile={run / 'slurmctld.pid'}",
                    f"SlurmdPidFile={run / 'slurmd.pid'}",
                    f"SlurmctldLogFile={log / 'slurmctld.log'}",
                    f"SlurmdLogFile={log / 'slurmd.log'}",
                    # no cgroups needed: plain process tracking, no task binding
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "JobAcctGatherType=jobacct_gather/linux",
                    "MpiDefault=none",
                    "SchedulerType=sched/backfill",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_Core_Memory",
                    "ReturnToService=2",
                    # finished jobs stay visible to squeue for 5 min
                    "MinJobAge=300",
                    "AccountingStorageType=accounting_storage/slurmdbd",
                    "AccountingStorageHost=127.0.0.1",
                    f"AccountingStoragePort={self.ports['slurmdbd']}",
                    # the munge socket for talking to slurmdbd (AuthInfo is
                    # not used for that connection)
                    f"AccountingStoragePass={self.munge_socket}",
                    "AccountingStorageEnforce=associations",
                    # keep sbatch --comment (the plugin writes rule_<name>...)
                    "AccountingStoreFlags=job_comment",
                    "JobCompType=jobcomp/none",
                    node_line,
                    f"PartitionName=debug Nodes={self.node} Default=YES MaxTime=INFINITE State=UP",
                    f"PartitionName={self.partition} Nodes={self.node} Default=NO "
                    "MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )
        dbd_conf = self.conf.with_name("slurmdbd.conf")
        dbd_conf.write_text(
            "\n".join(
                [
                    "AuthType=auth/munge",
                    auth,
                    f"DbdHost={self.node}",
                    "DbdAddr=127.0.0.1",
                    f"DbdPort={self.ports['slurmdbd']}",
                    "SlurmUser=root",
                    f"LogFile={log / 'slurmdbd.log'}",
                    f"PidFile={run / 'slurmdbd.pid'}",
                    "StorageType=accounting_storage/mysql",
                    "StorageHost=127.0.0.1",
                    f"StoragePort={self.ports['mysql']}",
                    "StorageUser=slurm",
                    f"StoragePass={self.mysql_password}",
                    "StorageLoc=slurm_acct_db",
                    "",
                ]
            )
        )
        dbd_conf.chmod(0o600)  # slurmdbd refuses a readable password file

    def _link_configless_dir(self) -> None:
        """Point /run/slurm/conf at our configuration, for srun inside jobs."""
        if SYSTEM_CONF.exists():
            raise SlurmUnavailable(
                f"{SYSTEM_CONF} exists: srun inside the test jobs would use that "
                "cluster's configuration (the jobstep plugin drops SLURM_CONF)"
            )
        if _stale_link(CONFIGLESS_DIR):
            CONFIGLESS_DIR.unlink()  # left by a killed test session
        if CONFIGLESS_DIR.exists() or CONFIGLESS_DIR.is_symlink():
            raise SlurmUnavailable(
                f"{CONFIGLESS_DIR} exists (a configless slurmd runs here?); not replacing it"
            )
        missing = [p for p in reversed(CONFIGLESS_DIR.parents) if not p.exists()]
        CONFIGLESS_DIR.parent.mkdir(parents=True, exist_ok=True)
        self._created.extend(reversed(missing))  # removed deepest first
        CONFIGLESS_DIR.symlink_to(self.conf.parent, target_is_directory=True)
        self._created.insert(0, CONFIGLESS_DIR)

    def _spawn(self, name: str, cmd: list[str], **kwargs) -> subprocess.Popen:
        logfile = open(self.root / "log" / f"{name}.out", "ab")
        env = dict(self.env)
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # Ctrl-C in pytest reaches only pytest
                **kwargs,
            )
        finally:
            logfile.close()
        self._procs.append((name, proc))
        return proc

    def _wait(
        self,
        what: str,
        ready: Callable[[], bool],
        proc: subprocess.Popen | None,
        logs: Iterable[Path],
        timeout: float = 60,
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                break
            if ready():
                return
            time.sleep(0.2)
        why = (
            f"exited with {proc.returncode}"
            if proc is not None and proc.poll() is not None
            else f"not ready after {timeout:.0f} s"
        )
        tails = "\n".join(f"--- {p}\n{_tail(p)}" for p in logs)
        raise RuntimeError(f"{what} {why}\n{tails}")

    def _start_munge(self) -> None:
        mdir = self.root / "munge"
        key = mdir / "munge.key"
        key.write_bytes(secrets.token_bytes(1024))
        key.chmod(0o400)
        for path in (mdir, key):
            shutil.chown(path, "munge", "munge")
        mdir.chmod(0o755)  # clients need to reach the socket; the key is 0400
        proc = self._spawn(
            "munged",
            [
                "munged",
                "--foreground",
                f"--key-file={key}",
                f"--socket={self.munge_socket}",
                f"--pid-file={mdir / 'munged.pid'}",
                f"--log-file={mdir / 'munged.log'}",
                f"--seed-file={mdir / 'munged.seed'}",
            ],
            user="munge",
            group="munge",
            extra_groups=[],
        )
        self._wait(
            "munged",
            self.munge_socket.exists,
            proc,
            [self.root / "log" / "munged.out", mdir / "munged.log"],
        )

    def _start_mariadb(self) -> None:
        datadir = self.root / "db" / "data"
        init = subprocess.run(
            [
                "mariadb-install-db",
                "--no-defaults",
                f"--datadir={datadir}",
                "--user=root",
                "--auth-root-authentication-method=socket",
                "--skip-test-db",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if init.returncode != 0:
            raise RuntimeError(f"mariadb-install-db failed:\n{init.stdout}{init.stderr}")
        sql = self.root / "db" / "init.sql"
        pw = self.mysql_password
        sql.write_text(
            f"CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '{pw}';\n"
            "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';\n"
            "FLUSH PRIVILEGES;\n"
        )
        port = self.ports["mysql"]
        proc = self._spawn(
            "mariadbd",
            [
                "mariadbd",
                "--no-defaults",
                f"--datadir={datadir}",
                f"--socket={self.root / 'db' / 'mysqld.sock'}",
                f"--pid-file={self.root / 'run' / 'mariadbd.pid'}",
                "--bind-address=127.0.0.1",
                f"--port={port}",
                "--skip-name-resolve",
                "--user=root",
                "--innodb-buffer-pool-size=64M",
                "--innodb-lock-wait-timeout=900",
                f"--init-file={sql}",
            ],
        )

        def accepting() -> bool:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", port), timeout=1),
            ):
                return True
            return False

        self._wait("mariadbd", accepting, proc, [self.root / "log" / "mariadbd.out"])

    def _start_slurmdbd(self) -> None:
        proc = self._spawn("slurmdbd", ["slurmdbd", "-D"])
        logs = [self.root / "log" / n for n in ("slurmdbd.out", "slurmdbd.log")]

        def answering() -> bool:
            return self.run("sacctmgr", "-n", "list", "cluster", check=False).returncode == 0

        self._wait("slurmdbd", answering, proc, logs)
        # The cluster, the site account, and root as a user of it.  The
        # default account of root stays `root`, so a job only runs under
        # `self.account` when snakemake passes it.
        for args in (
            ["add", "cluster", self.cluster_name],
            [
                "add",
                "account",
                self.account,
                f"Cluster={self.cluster_name}",
                "Description=qbsd tests",
                "Organization=qbsd",
            ],
            ["add", "user", "root", f"Account={self.account}", f"Cluster={self.cluster_name}"],
        ):
            self.run("sacctmgr", "-i", *args)

    def _start_slurmctld(self) -> None:
        proc = self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        logs = [self.root / "log" / n for n in ("slurmctld.out", "slurmctld.log")]
        self._wait(
            "slurmctld",
            lambda: self.run("scontrol", "ping", check=False).stdout.count("UP") > 0,
            proc,
            logs,
        )

    def _start_slurmd(self) -> None:
        proc = self._spawn("slurmd", ["slurmd", "-D", "-N", self.node, "-f", str(self.conf)])
        logs = [self.root / "log" / n for n in ("slurmd.out", "slurmd.log", "slurmctld.log")]

        def idle() -> bool:
            out = self.run(
                "sinfo", "-h", "-N", "-o", "%T", "-n", self.node, check=False
            ).stdout.split()
            return bool(out) and all(state == "idle" for state in out)

        self._wait("slurmd (node idle)", idle, proc, logs)

    # ------------------------------------------------------------ tear-down
    def stop(self) -> None:
        """Cancel leftover jobs, then end the daemons started here, by PID."""
        running = {name for name, p in self._procs if p.poll() is None}
        if {"slurmctld", "slurmd"} <= running:
            with contextlib.suppress(Exception):
                self.run("scancel", "--full", f"--partition={self.partition}", check=False)
                self.run("scancel", "--full", "--partition=debug", check=False)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline:
                    queue = self.run("squeue", "-h", "-t", "PD,R,CG", check=False)
                    if queue.returncode == 0 and not queue.stdout.strip():
                        break
                    time.sleep(0.5)
        for _name, proc in reversed(self._procs):
            if proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(timeout=5)
        self._procs.clear()
        for path in self._created:  # the /run/slurm/conf link and its parents
            with contextlib.suppress(OSError):
                if path.is_symlink():
                    path.unlink()
                else:
                    path.rmdir()
        self._created.clear()

    def logs(self) -> str:
        """The tails of all daemon logs, for failure messages."""
        files = sorted((self.root / "log").glob("*")) + sorted((self.root / "munge").glob("*.log"))
        return "\n".join(f"--- {p}\n{_tail(p, 15)}" for p in files)


def start_cluster() -> SlurmCluster:
    """Install what is missing, then start a cluster in a fresh ``/tmp`` dir.

    Raises
    ------
    SlurmUnavailable
        When the machine cannot host it (see :func:`ensure_packages`).
    """
    apt_seconds = ensure_packages()
    if os.geteuid() != 0:
        raise SlurmUnavailable("needs root to run slurmd and munged as user munge")
    # Not pytest's tmp dir: that one is 0700 and munged (user munge) must
    # traverse the path to its socket.
    root = Path(tempfile.mkdtemp(prefix="qbsd-slurm-"))
    cluster = SlurmCluster(root=root)
    cluster.timings["apt"] = apt_seconds
    cluster.start()
    return cluster
