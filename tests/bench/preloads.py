#!/usr/bin/python3
"""Which modules the warm interpreter should preload: measured (issue 16, item 2).

    /usr/bin/python3 tests/bench/preloads.py --prefix build/stage            # ~5 min
    /usr/bin/python3 tests/bench/preloads.py --prefix build/stage --smoke    # ~30 s, two modules

Run as root.  For every module of compose/sandbox-packages.txt that imports
here (plus scipy.special and scipy.integrate, which course code imports by
name and which `import scipy` does not bring), in one run, interleaved:

- cold: `python3 -I -S -c "import M"` (the site directories on sys.path, as
  the service gives its interpreter) minus the same without the import;
- warm, one service with nothing preloaded and one per module with that
  module alone preloaded (plus one with the candidate list together): a
  check that imports it (`import M`), with and without the preload (what a
  preload saves), and a trivial check on each (does the preload slow every
  clone?), one request at a time;
- the trivial check back to back at 2 clients on each service, and the CPU
  the server and the warm interpreter (with the clones it reaped) spend per
  execution (a clone is made per execution: a bigger warm interpreter costs
  more to clone);
- the warm interpreter's memory (the `warm_zygote.py` process below the
  server: RSS and PSS) and a waiting clone's (its interpreter: PSS and
  private pages).

It prints a Markdown table and the recommended list, and writes
results/preloads.md (nothing with --smoke, which only checks that it runs).  A module is recommended when
course code imports it (CANDIDATES: what issue 16 saw real course code
import) and its preload pays: the share of checks that must import it for
the time saved to outweigh the per-clone cost is below the share that does
(every check for random2 and six, which the LMS prolog imports; PAYS_SHARE
for the others).  Nothing
is asserted; the exit status is non-zero only when the run is not sane.
"""

import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench  # noqa: E402  (its helpers: services, clients, interleaving, statistics)
import cjtest  # noqa: E402  (put on sys.path by bench)
import course_workload  # noqa: E402

PACKAGES_TXT = os.path.join(bench.REPO, "compose", "sandbox-packages.txt")
EXTRA = ["scipy.special", "scipy.integrate"]
# What real course code imports, from issue 16's measurement on problem code
# of public course repositories (its preloads "with numpy, random2, six,
# scipy, scipy.special, scipy.integrate and pyparsing"; nothing there
# imported sympy), with the share of checks known to import it: the LMS's
# own prolog imports random2 and six in every check; for the others the
# share is not known, so PAYS_SHARE stands for it.
CANDIDATES = {"random2": 1.0, "six": 1.0, "numpy": None, "scipy": None, "scipy.special": None,
              "scipy.integrate": None, "pyparsing": None}
# A preload of a module some course code imports pays when its break-even
# share is below this (one check in twenty importing it).
PAYS_SHARE = 0.05
FULL = dict(rounds=25, duration=4.0)
SMOKE = dict(rounds=3, duration=1.0)


def modules():
    """The modules that prove each sandbox package (third column), in order."""
    out = []
    with open(PACKAGES_TXT) as f:
        for line in f:
            fields = line.split()
            if line.startswith("#") or len(fields) < 3 or fields[2] == "-":
                continue
            out.append(fields[2])
    for m in EXTRA:
        if m.split(".")[0] in out and m not in out:
            out.insert(out.index(m.split(".")[0]) + 1, m)
    return out


def implied(names):
    """names without those another one imports anyway (scipy by scipy.special)."""
    return [n for n in names if not any(o != n and o.startswith(n + ".") for o in names)]


def memory(svc):
    """(warm interpreter RSS kB, its PSS kB, a waiting clone's PSS kB, its
    private kB): the zygote is the server's child running warm_zygote.py;
    a clone's interpreter is a process below it with no child (its init
    shares the zygote's memory, so it is not counted again)."""
    procs = bench.live_procs()
    below = cjtest.descendants(svc.server_pid, procs)
    zyg = [p for p in below if procs[p].ppid == svc.server_pid and "warm_zygote" in cjtest.proc_cmdline(p)]
    if not zyg:
        return None
    z = zyg[0]
    parents = {st.ppid for st in procs.values()}
    clones = [p for p in cjtest.descendants(z, procs) if p not in parents]
    field = lambda p, name: cjtest.proc_field(p, name, "smaps_rollup") or 0  # noqa: E731
    cpss = [field(p, "Pss") for p in clones]
    cpriv = [field(p, "Private_Clean") + field(p, "Private_Dirty") for p in clones]
    return (field(z, "Rss"), field(z, "Pss"), max(cpss) if cpss else None, max(cpriv) if cpriv else None)


def tree_cpu(svc):
    """CPU seconds of the server and its warm interpreter so far, with what
    they reaped: a clone's work (its making, its faults, its run) is the
    warm interpreter's own or its reaped children's."""
    tick = os.sysconf("SC_CLK_TCK")
    procs = bench.live_procs()
    total = 0
    for p in [svc.server_pid] + [p for p, st in procs.items() if st.ppid == svc.server_pid
                                 and "warm_zygote" in cjtest.proc_cmdline(p)]:
        with open(f"/proc/{p}/stat") as f:
            data = f.read()
        total += sum(int(x) for x in data[data.rindex(")") + 2:].split()[11:15])  # utime stime cutime cstime
    return total / tick


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prefix", default=os.path.join(bench.REPO, "build", "stage"))
    ap.add_argument("--python", default="/usr/bin/python3")
    ap.add_argument("--smoke", action="store_true", help="two modules, few samples; writes no file")
    ap.add_argument("--out", help="where to write preloads.md (default tests/bench/results)")
    ap.add_argument("--rounds", type=int)
    args = ap.parse_args()
    plan = dict(SMOKE if args.smoke else FULL)
    if args.rounds:
        plan["rounds"] = args.rounds
    prefix = os.path.abspath(args.prefix)
    if os.geteuid() != 0:
        bench.log("preloads: run as root")
        return 2

    dirs = course_workload.site_dirs(args.python)
    head = f"import sys; sys.path.extend({dirs!r})"
    mods, missing = [], []
    for m in (["numpy", "sympy"] if args.smoke else modules()):
        ok = subprocess.run([args.python, "-I", "-S", "-c", f"{head}; import {m}"], capture_output=True).returncode == 0
        (mods if ok else missing).append(m)
    combo = implied([m for m in CANDIDATES if m in mods])

    scratch = tempfile.mkdtemp(prefix="cj-preloads-")
    os.chmod(scratch, 0o711)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = bench.loadavg()
    base = {"python_bin": args.python, "apparmor": "if-available", "max_queue": 256, "cold": {"pool": 0}}

    def warm(name, preload):
        return bench.Service(name, prefix, scratch, dict(base, warm={"enabled": True, "pool": 4, "preload": preload}))

    services = {"none": warm("none", [])}
    for i, m in enumerate(mods):
        services[m] = warm(f"p{i}", [m])
    services["candidates"] = warm("combo", combo)
    problems = []
    triv = bench.urlencoded({"code": "x = x + 1", "globals_dict": {"x": 1}})
    try:
        for name, svc in services.items():
            bench.log(f"preloads: starting the service preloading {name}")
            if not svc.start():
                raise SystemExit(f"preloads: the service preloading {name} did not start: {svc.error or svc.unavailable}")
        time.sleep(2.0)  # the pools fill
        mem = {name: memory(svc) for name, svc in services.items()}
        subjects = [bench.spawn_subject("bare", "bare", "-", "spawn", [args.python, "-I", "-S", "-c", head])]
        for name, svc in services.items():
            subjects.append(bench.http_subject(f"trivial {name}", name, "trivial", name, svc, "POST", bench.EXEC_PATH,
                                               *triv, bench.check_x(2)))
        for m in mods:
            body = bench.urlencoded({"code": f"import {m}\nx = 1", "globals_dict": {}})
            subjects.append(bench.spawn_subject(f"cold {m}", m, "cold", "spawn",
                                                [args.python, "-I", "-S", "-c", f"{head}; import {m}"]))
            for name in ("none", m):
                subjects.append(bench.http_subject(f"import {m} on {name}", m, "import", name, services[name], "POST",
                                                   bench.EXEC_PATH, *body, bench.check_x(1)))
        bench.log("preloads: latency")
        bench.interleave(subjects, plan["rounds"], 1, 2, "preloads")

        bench.log("preloads: back to back")
        rate = {}
        names = list(services)
        for rnd in range(2):
            for name in (names if rnd == 0 else names[::-1]):
                svc = services[name]

                def job(cl, body=triv):
                    ns, status, data, err = cl.request("POST", bench.EXEC_PATH, *body)
                    return ns, err or (f"HTTP {status}" if status != 200 else bench.check_x(2)(data))
                cpu0 = tree_cpu(svc)
                r = bench.throughput(job, 2, plan["duration"] / 2, lambda svc=svc: bench.Client(svc.port))
                time.sleep(0.3)  # the last clones reaped
                r["tree_cpu"] = tree_cpu(svc) - cpu0
                rate.setdefault(name, []).append(r)
        cpu = {n: 1000.0 * sum(r["tree_cpu"] for r in rs) / max(1, sum(r["ok"] for r in rs)) for n, rs in rate.items()}
        rate = {n: bench.merge_throughput(rs) for n, rs in rate.items()}
        paths = {name: svc.paths() for name, svc in services.items()}
    finally:
        for svc in services.values():
            svc.stop()

    by = {s.key: s for s in subjects}
    for s in subjects:
        if s.errors:
            problems.append(f"{s.key}: {len(s.errors)} failed samples, first: {s.errors[0]}")
        if not s.samples:
            problems.append(f"{s.key}: no sample")
    for n, r in rate.items():
        if r["errors"] or not r["ok"]:
            problems.append(f"back to back on {n}: {r['errors']} errors, {r['ok']} executions ({r['first_error']})")
    # A request that finds no clone ready runs cold (cold.pool 0 here): how
    # many did is told, as the main benchmark tells it.
    cold_runs = {n: (p.get("cold", 0), sum(p.values())) for n, p in paths.items() if p.get("cold")}

    ms = lambda s: s.p(50) * 1000  # noqa: E731
    floor = ms(by["bare"])
    triv0, rate0, cpu0 = ms(by["trivial none"]), rate["none"]["rate"], cpu["none"]
    rows, chosen = [], []
    for m in mods + ["candidates"]:
        rss, pss, cpss, cpriv = mem[m] or (None, None, None, None)
        dt = ms(by[f"trivial {m}"]) - triv0
        dcpu = cpu[m] - cpu0
        sat = f"{rate[m]['rate']:.0f} / {cpu[m]:.1f} ({dcpu:+.2f})"
        if m == "candidates":
            rows.append([f"**together: {', '.join(combo)}**", "", "", "", f"{dt:+.2f}", sat,
                         "", bench.fmt_kib(rss), bench.fmt_kib(pss), bench.fmt_kib(cpss), bench.fmt_kib(cpriv), ""])
            continue
        cold = ms(by[f"cold {m}"]) - floor
        unloaded, loaded = ms(by[f"import {m} on none"]), ms(by[f"import {m} on {m}"])
        saved = unloaded - loaded
        cost = max(dt, dcpu, 0.0)
        share = cost / saved if saved > 0 else float("inf")
        used = m in CANDIDATES
        pays = used and share < (CANDIDATES[m] or PAYS_SHARE)
        verdict = ("preload" if used and pays else
                   "no: course code does not import it" if not used else "no: does not pay")
        if used and pays:
            chosen.append(m)
        rows.append([f"`{m}`", f"{cold:.1f}", f"{unloaded:.1f}", f"{loaded:.2f}", f"{dt:+.2f}", sat, f"{share * 100:.1f}%" if share != float("inf") else "∞",
                     bench.fmt_kib(rss), bench.fmt_kib(pss), bench.fmt_kib(cpss), bench.fmt_kib(cpriv), verdict])
    none_mem = mem["none"] or (None,) * 4
    rows.insert(0, ["nothing preloaded", "", "", "", f"p50 {triv0:.2f} ms", f"{rate0:.0f} / {cpu0:.1f}", "",
                    bench.fmt_kib(none_mem[0]), bench.fmt_kib(none_mem[1]), bench.fmt_kib(none_mem[2]),
                    bench.fmt_kib(none_mem[3]), ""])
    chosen = implied(chosen)

    L = [f"# Warm preloads, measured{' (smoke)' if args.smoke else ''}", "",
         f"- date: {started.strftime('%Y-%m-%d %H:%M UTC')}, commit {bench.commit()}, "
         f"load average at start {load_start}, at end {bench.loadavg()}",
         f"- command: `/usr/bin/python3 tests/bench/preloads.py --prefix <installed tree>"
         f"{' --smoke' if args.smoke else ''}`; {plan['rounds']} interleaved rounds, "
         f"back to back {plan['duration']:g} s per service in 2 rounds at 2 clients",
         f"- bare `python3 -I -S` (site directories on sys.path) p50 {floor:.1f} ms", ""]
    if problems:
        L += ["**This run is not sane:**", ""] + [f"- {p}" for p in problems] + [""]
    L.append(bench.table(
        ["preload", "cold import (ms, p50 − bare)", "warm `import` unloaded (ms)", "warm `import` preloaded (ms)",
         "trivial check Δ p50 (ms)", "at 2 clients: trivial /s / CPU ms per execution (Δ)", "break-even share of checks",
         "warm interpreter RSS", "its PSS", "a waiting clone's PSS", "its private", "verdict"], rows,
        ["---"] + ["---:"] * 10 + ["---"]))
    L.append("")
    L.append(f"The break-even share is how many checks must import the module for its preload to pay: the "
             f"per-clone cost (the larger of the trivial check's extra p50 and the extra CPU per execution "
             f"back to back, of the server and the warm interpreter with the clones it reaped, against nothing "
             f"preloaded) over the time the preload saves a check that imports it. Recommended: what course "
             f"code imports (issue 16's real-code measurement: {', '.join(CANDIDATES)}) with a break-even share "
             f"under the share of checks that import it (every check, for random2 and six: the LMS prolog "
             f"imports them; {PAYS_SHARE:.0%} assumed for the others), without what another entry imports anyway. The Δ columns "
             f"are differences of noisy figures (a row preloading the same as another shows how noisy): a "
             f"negative or small one means no cost this run could tell.")
    if missing:
        L.append(f"Not importable here, not measured: {', '.join(missing)}.")
    if cold_runs:
        L.append("Executions that found no clone ready and ran cold (warm.pool 4, cold.pool 0): "
                 + ", ".join(f"{n} {c} of {t}" for n, (c, t) in cold_runs.items()) + ".")
    L += ["", f"Recommended `warm.preload`: `[{', '.join(chosen)}]`", ""]
    report = "\n".join(L)
    print(report)
    out = args.out or (None if args.smoke else os.path.join(HERE, "results"))
    if problems and not args.out:
        out = scratch  # never commit a broken run by accident
    if out is not None:
        os.makedirs(out, exist_ok=True)
        with open(os.path.join(out, "preloads.md"), "w") as f:
            f.write(report)
        bench.log(f"preloads: wrote {out}/preloads.md")
    if problems:
        bench.log(f"preloads: NOT SANE (server logs in {scratch}):\n  " + "\n  ".join(problems))
        return 1
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
