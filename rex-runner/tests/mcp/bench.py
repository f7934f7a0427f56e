"""Round trip of a trivial `run_script` through the official Python MCP client, against the
plain CLI's whole-process start-up for the same script.

    python rex-runner/tests/mcp/bench.py path/to/rex-runner [N]

Prints the median, p10 and p90 of N calls (default 50) over stdio (legacy handshake and
2026-07-28), then of N runs of `rex-runner -s script -p policy`. Build the binary with
`--release` for shipped numbers.
"""

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time

from mcp import Client, StdioServerParameters


def report(label, samples):
    s = sorted(samples)
    pick = lambda q: s[min(len(s) - 1, int(q * len(s)))] * 1000
    print(f"{label:<38} median {statistics.median(s) * 1000:7.2f} ms   p10 {pick(0.1):7.2f}   p90 {pick(0.9):7.2f}")


async def mcp_round_trips(exe, policy, n, mode):
    params = StdioServerParameters(command=exe, args=["mcp", "--policy", f"p={policy}"])
    async with Client(params, mode=mode) as c:
        await c.call_tool("run_script", {"script": "1"})  # warm-up
        samples = []
        for _ in range(n):
            t = time.perf_counter()
            r = await c.call_tool("run_script", {"script": "1"})
            samples.append(time.perf_counter() - t)
            assert r.is_error is False, r
    return samples


def cli_runs(exe, policy, script, n):
    samples = []
    env = dict(os.environ, SYSLOG_ENABLE="0")
    for _ in range(n + 1):
        t = time.perf_counter()
        subprocess.run([exe, "-s", script, "-p", policy], check=True, stdout=subprocess.DEVNULL, env=env)
        samples.append(time.perf_counter() - t)
    return samples[1:]


def main():
    exe = os.path.abspath(sys.argv[1])
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    with tempfile.TemporaryDirectory() as d:
        policy = os.path.join(d, "p.cedar")
        script = os.path.join(d, "s.rhai")
        with open(policy, "w") as f:
            f.write('permit(principal, action == sysinfo::Action::"list", resource);\n')
        with open(script, "w") as f:
            f.write("1\n")
        os.chmod(policy, 0o644)
        for mode in ("legacy", "2026-07-28"):
            report(f"mcp run_script over stdio ({mode})", asyncio.run(mcp_round_trips(exe, policy, n, mode)))
        report("plain CLI run (whole process)", cli_runs(exe, policy, script, n))


if __name__ == "__main__":
    main()
