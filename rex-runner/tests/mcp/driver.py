"""Drives `rex-runner mcp` with the official Python MCP client (`mcp` >= 2.3).

Run by rex-runner/tests/it/mcp.rs: `python driver.py CONFIG.json`. CONFIG names the transport
(`stdio` or `http`), the protocol mode (`legacy` or `2026-07-28`), the server (a command for
stdio, a URL and tokens for HTTP) and the host paths the checks use. Every check asserts;
the process exits non-zero on the first failure. It prints one `ok: <check>` line per check.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client


def ok(name):
    print(f"ok: {name}", flush=True)


def dump(result):
    """Everything the client received, as one string (to look for leaked secrets)."""
    parts = [json.dumps(result.structured_content)]
    parts += [getattr(c, "text", "") for c in result.content]
    return "\n".join(parts)


def client(cfg, token=None):
    mode = cfg["mode"]
    if cfg["transport"] == "stdio":
        params = StdioServerParameters(command=cfg["command"][0], args=cfg["command"][1:])
        return Client(params, mode=mode, read_timeout_seconds=120)
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    transport = streamable_http_client(
        cfg["url"], http_client=httpx2.AsyncClient(headers=headers, timeout=120)
    )
    return Client(transport, mode=mode, read_timeout_seconds=120)


async def core_checks(c, cfg):
    tools = {t.name: t for t in (await c.list_tools()).tools}
    assert set(tools) == {"run_script", "check_script", "list_functions", "show_policy"}, tools
    run = tools["run_script"]
    assert run.input_schema["required"] == ["script"], run.input_schema
    assert run.output_schema is not None and "denials" in run.output_schema["properties"]
    assert run.annotations.read_only_hint is False and run.annotations.idempotent_hint is False
    ok("tools listed with schemas and honest annotations")

    allowed = cfg["allowed_file"]
    r = await c.call_tool("run_script", {"script": f'cat("{allowed}")', "policy": "readonly"})
    assert r.is_error is False, dump(r)
    sc = r.structured_content
    assert sc["status"] == "SUCCESS" and sc["output"] == cfg["allowed_text"], sc
    assert sc["denials"] == [] and len(sc["script_sha256"]) == 64 and sc["policy_sha256"], sc
    assert cfg["allowed_text"].strip() in r.content[0].text
    ok("allowed run")

    r = await c.call_tool(
        "run_script",
        {"script": "let n = count; n * 2 + extra.len()", "args": {"count": 20, "extra": [1, 2]}},
    )
    assert r.is_error is False and r.structured_content["output"] == "42", dump(r)
    ok("plain JSON args are bound as script variables")

    secret, target = cfg["secret_file"], cfg["allowed_file"]
    script = (
        f'let s = ""; try {{ s = cat("{secret}"); }} catch (e) {{ }}\n'
        f'write("{target}", "overwritten: " + s);\n'
    )
    r = await c.call_tool("run_script", {"script": script, "policy": "readonly"})
    assert r.is_error is True, dump(r)
    sc = r.structured_content
    assert sc["status"] == "ERROR" and sc["error"]["error_type"] == "ACCESS_DENIED_EXCEPTION", sc
    assert cfg["secret_text"] not in dump(r), dump(r)
    actions = [d["action"] for d in sc["denials"]]
    resources = " ".join(d["resource"] for d in sc["denials"])
    assert secret in resources and target in resources, sc["denials"]
    assert any("write" in a or "open" in a for a in actions), actions
    for d in sc["denials"]:
        assert set(d) == {"action", "resource", "principal", "reason",
                          "determining_policies", "hint"}, d
        assert "permits" in d["reason"], d
        assert d["determining_policies"] == [], d
        # issue 16: the hint is the permits' resource scopes for the same action
        assert all(h.startswith("resource") for h in d["hint"]), d
    assert cfg["allowed_dir"] in " ".join(d["reason"] for d in sc["denials"]), sc["denials"]
    assert any(cfg["allowed_dir"] in h for d in sc["denials"] for h in d["hint"]), sc["denials"]
    assert "denied:" in r.content[0].text
    ok("denied run: typed denials, a hint of what is allowed, no secret")

    r = await c.call_tool("check_script", {"script": "let x = 1;\nlet y = ;"})
    assert r.is_error is True and r.structured_content["error"]["line"] == 2, dump(r)
    r = await c.call_tool("check_script", {"script": "40 + 2"})
    assert r.is_error is False and r.structured_content["ok"] is True, dump(r)
    ok("check_script reports line and column")

    r = await c.call_tool("list_functions", {"module": "io"})
    fns = {f["name"]: f for f in r.structured_content["functions"]}
    assert 'file_system::Action::"read"' in fns["cat"]["actions"], fns["cat"]
    assert fns["cat"]["doc"] and fns["cat"]["signature"].startswith("cat(")
    ok("list_functions")

    r = await c.call_tool("show_policy", {"policy": "readonly"})
    assert r.is_error is False and "permit" in r.structured_content["text"], dump(r)
    assert any(cfg["allowed_dir"] in p for p in r.structured_content["permits"])
    ok("show_policy")

    res = {x.uri for x in (await c.list_resources()).resources}
    assert "rex://functions" in res and "rex://policy/readonly" in res, res
    body = await c.read_resource("rex://policy/readonly")
    assert "permit" in body.contents[0].text
    ok("policies and catalog as resources")

    r = await c.call_tool("run_script", {"script": "1", "policy": "no-such-set"})
    assert r.is_error is True and "readonly" in r.content[0].text, dump(r)
    assert r.structured_content is None
    ok("unknown policy is a tool error listing the usable sets")


async def limit_checks(c, cfg):
    # The server runs with --max-timeout 2, so the call's 600 s is capped (the loop ends at
    # that timeout or at the operations limit, whichever comes first on this machine).
    r = await c.call_tool("run_script", {"script": "loop { }", "timeout_seconds": 600})
    assert r.is_error is True and r.structured_content["status"] == "ERROR", dump(r)
    r = await c.call_tool("run_script", {"script": "6 * 7"})
    assert r.is_error is False and r.structured_content["output"] == "42", dump(r)
    ok("runaway run ends; the server answers the next call")

    # 300 separate values of 15 MB (each within the engine's string limit; 4.5 GB in all):
    # only the child's address-space cap stops it.
    hog = "\n".join(
        f'let s{i} = "xxxxxxxxxxxxxxx"; while s{i}.len() < 15000000 {{ s{i} += s{i}; }}'
        for i in range(300)
    ) + "\n42"
    r = await c.call_tool("run_script", {"script": hog, "timeout_seconds": 60})
    assert r.is_error is True and r.structured_content["status"] == "ERROR", dump(r)
    assert "memory limit" in r.content[0].text, dump(r)
    r = await c.call_tool("run_script", {"script": "6 * 7"})
    assert r.is_error is False and r.structured_content["output"] == "42", dump(r)
    ok("memory hog ends as an error; the server answers the next call")

    async def one(i):
        r = await c.call_tool(
            "run_script", {"script": 'info("run " + i); i * 1000 + 7', "args": {"i": i}}
        )
        assert r.is_error is False, dump(r)
        assert r.structured_content["output"] == str(i * 1000 + 7), (i, dump(r))
        logs = [l["attributes"]["message"] for l in r.structured_content["logs"]]
        assert logs == [f"run {i}"], (i, logs)

    await asyncio.gather(*(one(i) for i in range(8)))
    ok("8 concurrent calls, no cross-talk")


async def http_auth_checks(cfg):
    url = cfg["url"]
    init = {
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {},
                   "clientInfo": {"name": "t", "version": "1"}},
    }
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    async with httpx2.AsyncClient() as h:
        r = await h.post(url, json=init, headers=headers)
        assert r.status_code == 401, r.status_code
        r = await h.post(url, json=init, headers={**headers, "Authorization": "Bearer wrong"})
        assert r.status_code == 401, r.status_code
        r = await h.post(
            url, json=init,
            headers={**headers, "Authorization": f"Bearer {cfg['token']}", "Origin": "https://evil.example"},
        )
        assert r.status_code == 403, r.status_code
    ok("missing and wrong tokens get 401; a foreign Origin is refused")

    try:
        async with client(cfg, token="not-a-token") as c:
            await c.list_tools()
        raise AssertionError("a client with a wrong token connected")
    except AssertionError:
        raise
    except BaseException:
        pass
    ok("the MCP client with a wrong token cannot connect")

    async with client(cfg, token=cfg["other_token"]) as c:
        r = await c.call_tool("run_script", {"script": "1", "policy": "readonly"})
        assert r.is_error is True and r.structured_content is None, dump(r)
        assert "not available" in r.content[0].text and "compute" in r.content[0].text, dump(r)
        res = {x.uri for x in (await c.list_resources()).resources}
        assert "rex://policy/readonly" not in res, res
        r = await c.call_tool("run_script", {"script": "40 + 2"})
        assert r.is_error is False and r.structured_content["output"] == "42", dump(r)
    ok("an agent cannot use a policy set it was not given")


async def main():
    cfg = json.load(open(sys.argv[1]))
    if cfg["transport"] == "http":
        await http_auth_checks(cfg)
    async with client(cfg, token=cfg.get("token")) as c:
        await core_checks(c, cfg)
        if cfg.get("limits"):
            await limit_checks(c, cfg)
    print("all checks passed", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
