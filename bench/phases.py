"""Where a whole ``t4 fetch`` of W2 spends its CPU, phase by phase: ``python -m bench.phases
[ROUNDS]`` (docs/performance.md, "Issue 22").

Starts SeaweedFS on 127.0.0.1, writes W2 (4 x 64 MiB) with s5cmd, then runs each round in a
fresh process what the ``t4`` command runs (glibc's malloc set as ``console()`` sets it, then
``main()``), marking the process's CPU (user + sys) and minor page faults after the
interpreter's start, the CLI's imports, the S3 modules' imports, the listing and the fetch;
then the same fetch again in that process, warm. s5cmd's whole process is measured alongside.
Prints the median of each phase."""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.seaweed import seaweed
from bench.tools import env_for, make_w2

_CHILD = """
import os, resource, shutil, sys
def mark(name):
    r = resource.getrusage(resource.RUSAGE_SELF)
    print(name, r.ru_utime + r.ru_stime, r.ru_minflt, file=sys.stderr, flush=True)
mark("python start-up")
import t4.cli
mark("import t4.cli")
import t4.backends.s3, t4.backends.s3_list
mark("import the S3 modules")
from t4.backends import s3_list
listed = s3_list.Lister.objects
def objects(self, prefix=""):
    keys = list(listed(self, prefix))
    mark("Bucket() and the listing")
    yield from keys
s3_list.Lister.objects = objects
t4.cli._keep_freed_memory()
url, dest, endpoint = sys.argv[1:4]
args = ["--endpoint-url", endpoint, "--path-style", "-q", "fetch", url, dest]
assert t4.cli.main(args) == 0
mark("the fetch")
s3_list.Lister.objects = listed
shutil.rmtree(dest); os.makedirs(dest)
assert t4.cli.main(args) == 0
mark("the same fetch again, warm")
"""


#: CPU seconds and minor page faults.
Cost = tuple[float, int]


def _phases(env: dict[str, str], url: str, dest: Path, endpoint: str) -> dict[str, Cost]:
    dest.mkdir()
    done = subprocess.run([sys.executable, "-c", _CHILD, url, f"{dest}/", endpoint], env=env,
                          capture_output=True, text=True, check=True)  # fmt: skip
    shutil.rmtree(dest)
    marks: dict[str, Cost] = {}
    before: Cost = (0.0, 0)
    for line in done.stderr.splitlines():
        *words, cpu, faults = line.split()
        now = (float(cpu), int(faults))
        marks[" ".join(words)] = (now[0] - before[0], now[1] - before[1])
        before = now
    return marks


def main(rounds: int = 7) -> None:
    with tempfile.TemporaryDirectory() as tmp, seaweed() as server:
        work = Path(tmp)
        server.client().create_bucket(Bucket="phases")
        env = env_for(server)
        w2 = make_w2(work / "w2")
        s5cmd = [str(Path(sys.executable).parent / "s5cmd"), "--endpoint-url", server.endpoint]
        subprocess.run([*s5cmd, "cp", f"{w2}/*", "s3://phases/w2/"], env=env, check=True,
                       capture_output=True)  # fmt: skip
        rows: dict[str, list[Cost]] = {}
        for i in range(rounds):
            for name, value in _phases(
                env, "s3://phases/w2/", work / f"t{i}", server.endpoint
            ).items():
                rows.setdefault(name, []).append(value)
            dest = work / f"s{i}"
            dest.mkdir()
            argv = [*s5cmd, "cp", "s3://phases/w2/*", f"{dest}/"]
            proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)  # as bench.processes does
            if proc.returncode != 0:
                raise RuntimeError(f"s5cmd cp exited {proc.returncode}")
            rows.setdefault("s5cmd cp, whole process", []).append(
                (usage.ru_utime + usage.ru_stime, usage.ru_minflt)
            )
            shutil.rmtree(dest)
    print(f"median of {rounds} fresh processes: CPU ms (user + sys), minor page faults")
    for name, values in rows.items():
        cpu = 1000 * statistics.median(v[0] for v in values)
        faults = statistics.median(v[1] for v in values)
        print(f"  {name:32} {cpu:7.1f} ms {faults:9,.0f} faults")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 7)
