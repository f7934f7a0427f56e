"""Attacks on `rex-runner mcp` over HTTP (issue 29), with raw HTTP requests (httpx2) and the
official client where the protocol details do not matter.

Run by rex-runner/tests/it/mcp_abuse.rs: `python abuse.py SCENARIO CONFIG.json`. CONFIG gives
the server's URL and pid, the two agents' tokens and the host paths. Every check asserts; the
process exits non-zero on the first failure and prints `all checks passed` at the end. The
Rust side checks the host (audit log, processes, files).
"""

import asyncio
import json
import os
import sys
import time

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
LEGACY = "2025-11-25"


def ok(name):
    print(f"ok: {name}", flush=True)


def headers(token, sid=None):
    h = {**HEADERS, "Authorization": f"Bearer {token}"}
    if sid is not None:
        h["Mcp-Session-Id"] = sid
        h["MCP-Protocol-Version"] = LEGACY
    return h


def message_of(response, rid):
    """The JSON-RPC message answering `rid` in a JSON or SSE response body."""
    text = response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        return json.loads(text)
    for line in text.splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if not data:
                continue
            m = json.loads(data)
            if m.get("id") == rid:
                return m
    raise AssertionError(f"no answer to {rid} in {text[:500]!r}")


async def open_session(c, url, token):
    """Initializes a legacy session; returns the HTTP response and the session id."""
    init = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {},
                   "clientInfo": {"name": "abuse", "version": "1"}},
    }
    r = await c.post(url, json=init, headers=headers(token))
    sid = r.headers.get("mcp-session-id")
    if r.status_code == 200 and sid:
        n = await c.post(
            url, json={"jsonrpc": "2.0", "method": "notifications/initialized"},
            headers=headers(token, sid),
        )
        assert n.status_code in (200, 202), (n.status_code, n.text)
    return r, sid


async def request(c, url, token, sid, rid, method, params):
    """One request in a session; returns the HTTP response and the answer (or None)."""
    msg = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
    r = await c.post(url, json=msg, headers=headers(token, sid))
    return r, (message_of(r, rid) if r.status_code == 200 else None)


async def call(c, url, token, sid, rid, tool, arguments):
    """A tools/call; returns the result (asserting HTTP 200)."""
    r, m = await request(c, url, token, sid, rid, "tools/call",
                         {"name": tool, "arguments": arguments})
    assert r.status_code == 200, (r.status_code, r.text)
    assert "result" in m, m
    return m["result"]


def text_of(result):
    return " ".join(c.get("text", "") for c in result.get("content", []))


def sleeper(seconds):
    """A script that executes /usr/bin/sleep with `seconds` (a distinctive argument)."""
    return (
        'let bin = DirConfig().path("/usr/bin").build().open(OpenDirOptions().build());\n'
        'let f = bin.open_file("sleep", OpenFileOptions().read(true).build());\n'
        f'f.execute(ExecuteOptions().args(["{seconds}"]).build()).exit_code\n'
    )


def sleeps(arg):
    """Pids of the processes running `sleep ARG`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) >= 2 and argv[0].endswith(b"sleep") and argv[1] == arg.encode():
            found.append(int(pid))
    return found


async def wait_for_sleep(arg, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sleeps(arg):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"sleep {arg} never started")


async def sessions(cfg):
    """Item 1: a session belongs to the agent that opened it."""
    url, ta, tb = cfg["url"], cfg["token_a"], cfg["token_b"]
    async with httpx2.AsyncClient(timeout=60) as c:
        r, sid = await open_session(c, url, ta)
        assert r.status_code == 200 and sid, (r.status_code, r.text)
        probe = {"name": "run_script", "arguments": {"script": "40 + 2", "policy": "work"}}
        r, _ = await request(c, url, tb, sid, 2, "tools/call", probe)
        assert r.status_code == 404, (r.status_code, r.text)
        r = await c.delete(url, headers=headers(tb, sid))
        assert r.status_code == 404, (r.status_code, r.text)
        ok("another agent's token on a session is refused (tools/call and DELETE)")
        res = await call(c, url, ta, sid, 3, "run_script", {"script": "40 + 2", "policy": "work"})
        assert res.get("isError") is False and res["structuredContent"]["output"] == "42", res
        r = await c.delete(url, headers=headers(ta, sid))
        assert r.status_code in (200, 204), (r.status_code, r.text)
        r, _ = await request(c, url, ta, sid, 4, "tools/list", {})
        assert r.status_code == 404, (r.status_code, r.text)
        ok("the owner's session still works, and its owner can end it")


async def session_cap(cfg):
    """Item 3: a per-agent session cap, idle expiry, and no session on the stateless path."""
    url, ta, tb = cfg["url"], cfg["token_a"], cfg["token_b"]
    cap, idle = cfg["cap"], cfg["idle_seconds"]
    async with httpx2.AsyncClient(timeout=60) as c:
        held = []
        for _ in range(cap - 1):
            r, sid = await open_session(c, url, ta)
            assert r.status_code == 200 and sid, (r.status_code, r.text)
            held.append(sid)

        # The 2026-07-28 era has no sessions: calls there must not take one of the cap.
        seen = []

        async def hook(response):
            seen.append(response.headers.get("mcp-session-id"))

        http = httpx2.AsyncClient(
            headers={"Authorization": f"Bearer {ta}"}, timeout=60,
            event_hooks={"response": [hook]},
        )
        transport = streamable_http_client(url, http_client=http)
        async with Client(transport, mode="2026-07-28", read_timeout_seconds=60) as s:
            for i in range(3):
                r = await s.call_tool("run_script", {"script": f"{i} + 1", "policy": "work"})
                assert r.is_error is False, r
        assert seen and all(s is None for s in seen), seen
        ok("stateless (2026-07-28) calls are served without a session")

        r, sid = await open_session(c, url, ta)
        assert r.status_code == 200 and sid, (r.status_code, r.text)
        held.append(sid)
        r, sid = await open_session(c, url, ta)
        assert r.status_code == 429, (r.status_code, r.text)
        assert sid is None, sid
        assert "most sessions" in r.text and r.headers.get("retry-after"), (r.text, r.headers)
        ok(f"initializes past the cap of {cap} are refused with 429 and Retry-After")

        r, sid = await open_session(c, url, tb)
        assert r.status_code == 200 and sid, (r.status_code, r.text)
        ok("the cap is per agent")

        await asyncio.sleep(idle + 2)
        r, _ = await request(c, url, ta, held[0], 9, "tools/list", {})
        assert r.status_code == 404, (r.status_code, r.text)
        for _ in range(cap):
            r, sid = await open_session(c, url, ta)
            assert r.status_code == 200 and sid, (r.status_code, r.text)
        ok("idle sessions expire and free the agent's places")


async def queue(cfg):
    """Item 4: with the run slots busy, calls past the queue or its bytes are busy at once."""
    url, ta, tb = cfg["url"], cfg["token_a"], cfg["token_b"]
    async with httpx2.AsyncClient(timeout=120) as c:
        _, sa = await open_session(c, url, ta)
        _, sb = await open_session(c, url, tb)
        first = asyncio.create_task(
            call(c, url, ta, sa, 2, "run_script", {"script": sleeper("4.411"), "policy": "work"})
        )
        await wait_for_sleep("4.411")
        queued = asyncio.create_task(
            call(c, url, ta, sa, 3, "run_script", {"script": "1", "policy": "work"})
        )
        await asyncio.sleep(0.5)
        assert not queued.done(), "the queued call did not wait"
        res = await call(c, url, ta, sa, 4, "run_script", {"script": "2", "policy": "work"})
        assert res.get("isError") is True and "busy" in text_of(res), res
        assert "retry" in text_of(res), res
        assert not first.done(), "the busy answer waited for the running call"
        ok("a call past --max-queue is refused as busy while the slot is taken")

        big = "let x = 1;\n" + "// padding\n" * 1000 + "x"
        res = await call(c, url, tb, sb, 5, "run_script", {"script": big, "policy": "work"})
        assert res.get("isError") is True and "busy" in text_of(res), res
        assert not first.done(), "the busy answer waited for the running call"
        ok("a call past --max-queued-bytes is refused as busy")

        res = await first
        assert res.get("isError") is False, res
        res = await queued
        assert res.get("isError") is False and res["structuredContent"]["output"] == "1", res
        res = await call(c, url, tb, sb, 6, "run_script", {"script": "3", "policy": "work"})
        assert res.get("isError") is False and res["structuredContent"]["output"] == "3", res
        ok("the queued call runs once the slot is free; later calls are served")


async def fairness(cfg):
    """Item 5: agent a at its per-agent cap does not make agent b wait."""
    url, ta, tb = cfg["url"], cfg["token_a"], cfg["token_b"]
    async with httpx2.AsyncClient(timeout=120) as c:
        _, sa = await open_session(c, url, ta)
        _, sb = await open_session(c, url, tb)
        hogs = [
            asyncio.create_task(call(c, url, ta, sa, 10 + i, "run_script",
                                     {"script": sleeper("5.512"), "policy": "work"}))
            for i in range(3)
        ]
        await wait_for_sleep("5.512")
        res = await call(c, url, tb, sb, 2, "run_script", {"script": "6 * 7", "policy": "work"})
        assert res.get("isError") is False and res["structuredContent"]["output"] == "42", res
        assert not any(h.done() for h in hogs), "agent b waited for agent a's runs"
        assert len(sleeps("5.512")) == 1, sleeps("5.512")
        ok("agent b runs at once while agent a fills its own share")
        for h in hogs:
            res = await h
            assert res.get("isError") is False, res
        ok("agent a's calls all run, one after another")


async def audit(cfg):
    """Item 7: looks at policies are logged, also refused probes; a cancelled run's and an
    over-size run's decisions reach the log."""
    url, ta, tb = cfg["url"], cfg["token_a"], cfg["token_b"]
    async with httpx2.AsyncClient(timeout=120) as c:
        _, sa = await open_session(c, url, ta)
        _, sb = await open_session(c, url, tb)
        res = await call(c, url, ta, sa, 2, "show_policy", {"policy": "work"})
        assert res.get("isError") is False, res
        r, m = await request(c, url, ta, sa, 3, "resources/read", {"uri": "rex://policy/work"})
        assert "result" in m, m
        res = await call(c, url, tb, sb, 4, "show_policy", {"policy": "aonly"})
        assert res.get("isError") is True, res
        r, m = await request(c, url, tb, sb, 5, "resources/read", {"uri": "rex://policy/aonly"})
        assert r.status_code != 200 or "error" in m, m
        ok("show_policy and resources/read answered (allowed and refused)")

        doomed = cfg["cancelled_file"]
        script = f'rm("{doomed}");\n' + sleeper("317.734")
        run = asyncio.create_task(
            call(c, url, ta, sa, 6, "run_script", {"script": script, "policy": "work",
                                                   "timeout_seconds": 60})
        )
        await wait_for_sleep("317.734")
        assert not os.path.exists(doomed)
        note = {"jsonrpc": "2.0", "method": "notifications/cancelled",
                "params": {"requestId": 6, "reason": "test"}}
        r = await c.post(url, json=note, headers=headers(ta, sa))
        assert r.status_code in (200, 202), (r.status_code, r.text)
        try:
            await asyncio.wait_for(run, 20)
        except (asyncio.TimeoutError, Exception):
            pass
        deadline = time.monotonic() + 20
        while sleeps("317.734") and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not sleeps("317.734"), "the cancelled run's sleep is still running"
        ok("a cancelled run ends with everything it started")

        # 12 Mi control characters: each is 6 bytes in JSON, the answer is over the 16 MiB
        # document cap and is cut; the deletion before it must still be logged.
        huge = cfg["oversize_file"]
        script = (
            f'rm("{huge}");\n'
            'let s = "\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01\\x01";\n'
            'while s.len() < 12000000 { s += s; }\n'
            's'
        )
        res = await call(c, url, ta, sa, 7, "run_script", {"script": script, "policy": "work",
                                                           "timeout_seconds": 60})
        out = (res.get("structuredContent") or {}).get("output", "")
        assert len(out) < 12 * 1024 * 1024, (res.get("isError"), len(out), text_of(res)[:300])
        assert not os.path.exists(huge)
        ok("a run whose answer is over its size cap returns cut")


async def main():
    scenario, path = sys.argv[1], sys.argv[2]
    cfg = json.load(open(path))
    await {"sessions": sessions, "session_cap": session_cap, "queue": queue,
           "fairness": fairness, "audit": audit}[scenario](cfg)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
