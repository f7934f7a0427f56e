#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Rex developers
# Apache License 2.0 (see the repository's license)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: rex_script
short_description: Run a Rhai script on the host under a Cedar policy with rex-runner
version_added: "0.1.0"
description:
  - Runs a Rhai script with the managed host's C(rex-runner). Every host operation the script
    makes is checked against a Cedar policy installed on the host (or shipped by the play);
    what the policy does not permit does not happen.
  - The script and its arguments are passed to C(rex-runner) through private files in the
    module's temporary directory, never through a shell.
  - The task result is Rex's JSON output document (C(status), C(output), C(error),
    C(metrics), C(logs)) plus the list of C(denials) of the run, read from its audit log.
  - The task fails when the status is not C(SUCCESS).
  - "C(changed) rule: a run is C(changed) only when it succeeded and the policy allowed at
    least one action that can modify the host (file system write, create, delete, move,
    chmod, chown, set_x_attr, unmount, execute; process kill and interrupt; systemd start,
    stop, restart, daemon_reload; sysctl load). A run under a read-only policy is therefore
    never C(changed). Use C(changed_when) on the task for a finer rule."
  - In check mode the script is only compiled (C(rex-runner check)); nothing runs.
options:
  script:
    description: The Rhai script's text. Exactly one of O(script) and O(script_file).
    type: str
  script_file:
    description: Path on the managed host of the Rhai script.
    type: path
  policy:
    description:
      - Name of a policy installed on the host as O(policy_dir)/NAME.cedar.
      - Exactly one of O(policy) and O(policy_file).
      - Letters, digits, C(_), C(.) and C(-) only; it cannot name a path.
    type: str
  policy_file:
    description: Path on the managed host of a Cedar policy file (for example one copied by the play).
    type: path
  policy_dir:
    description: Directory of the host's installed policies.
    type: path
    default: /etc/rex/policies
  args:
    description:
      - Script arguments as plain values, bound as script variables of the same names.
      - Strings, integers, floats, booleans, lists and dicts map to REX's tagged argument
        values (stringValue, longValue, doubleValue, booleanValue, listValue, mapValue).
      - These values are logged like any module parameter; put secrets in O(secret_args).
    type: dict
  secret_args:
    description:
      - More script arguments, like O(args), for values that must never be logged.
      - Ansible masks these values wherever they appear in the task's output (C(no_log)),
        so pass only real secrets here.
    type: dict
  timeout:
    description: Stop the script after this many seconds (rex-runner C(--timeout)).
    type: float
  max_memory:
    description: Memory budget of the run in bytes (rex-runner C(--max-memory), for example C(268435456)).
    type: str
  sandbox:
    description: Kernel sandbox mode (rex-runner C(--sandbox)); left to the runner's default when unset.
    type: str
    choices: [off, best-effort, require]
  runner_path:
    description: Path of C(rex-runner) on the host; by default it is looked up in PATH and /usr/local/bin.
    type: path
author:
  - Rex developers
"""

EXAMPLES = r"""
- name: Count errors in the application log under a read-only policy
  rex.runner.rex_script:
    script: "{{ lookup('ansible.builtin.file', 'scripts/inspect-logs.rhai') }}"
    policy: logs-readonly
    args:
      log_file: /var/log/app/app.log
      pattern: ERROR
    timeout: 30
  register: rex

- name: Show what each host returned
  ansible.builtin.debug:
    var: rex.output
"""

RETURN = r"""
status:
  description: The run's status, C(SUCCESS) or C(ERROR).
  returned: always
  type: str
output:
  description: The script's result as rex-runner renders it.
  returned: always
  type: str
error:
  description: The error (C(error_type), C(message), ...) of a failed run.
  returned: when the run failed
  type: dict
denials:
  description: Every request the policy denied during the run (C(action), C(resource), C(principal), C(reason)).
  returned: always
  type: list
  elements: dict
metrics:
  description: Rex's run metrics.
  returned: always
  type: list
  elements: dict
logs:
  description: The script's log records.
  returned: always
  type: list
  elements: dict
rc:
  description: rex-runner's exit code (0 success, 1 script error, 3 access denied, 4 limit, 5 invalid input).
  returned: always
  type: int
script_sha256:
  description: SHA-256 of the script that ran.
  returned: when the run started
  type: str
compiled:
  description: In check mode, whether the script compiles.
  returned: in check mode
  type: bool
"""

import json
import math
import os
import re

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

POLICY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_MEMORY = re.compile(r"^0*[1-9][0-9]*[KMGkmg]?$")

# Actions that can change the host; the `changed` rule of DOCUMENTATION.
MUTATING_ACTIONS = frozenset(
    'file_system::Action::"%s"' % a
    for a in ("write", "create", "delete", "move", "chmod", "chown", "set_x_attr", "unmount", "execute")
) | frozenset(
    'process_system::Action::"%s"' % a for a in ("kill", "interrupt")
) | frozenset(
    'systemd::Action::"%s"' % a for a in ("start", "stop", "restart", "daemon_reload")
) | frozenset(['sysctl::Action::"load"'])


def rex_value(value, path):
    """A plain value as REX's tagged script-argument value."""
    if isinstance(value, bool):
        return {"booleanValue": value}
    if isinstance(value, int):
        return {"longValue": value}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, (list, tuple)):
        return {"listValue": [rex_value(v, "%s[%d]" % (path, i)) for i, v in enumerate(value)]}
    if isinstance(value, dict):
        return {"mapValue": dict((str(k), rex_value(v, "%s.%s" % (path, k))) for k, v in value.items())}
    raise ValueError("argument %s has a type that Rex scripts cannot receive (%s)" % (path, type(value).__name__))


def write_private(path, text):
    """Writes `text` to a new file only the module's user can read."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(to_bytes(text, errors="surrogate_or_strict"))


def secret_forms(value):
    """The texts a secret argument may appear as in the runner's output."""
    forms = set()
    values = [value] if not isinstance(value, (list, dict)) else (value if isinstance(value, list) else list(value.values()))
    for v in values:
        t = to_native(v) if not isinstance(v, bool) else str(v).lower()
        if len(t) < 4:
            continue  # too short to mask without masking unrelated text
        forms.add(t)
        escaped = json.dumps(t)[1:-1]
        forms.add(escaped)
        forms.add(t.replace("\\", "\\\\").replace('"', '\\"'))
        if t.startswith("/"):
            normalised = re.sub("/+", "/", t)
            if len(normalised) > 1:
                normalised = normalised.rstrip("/")
            forms.add(normalised)
            forms.add(json.dumps(normalised)[1:-1])
    return forms


def read_denials(audit_path):
    """The denied decisions and whether a mutating action was allowed, from the audit log."""
    denials = []
    mutated = False
    try:
        with open(audit_path, "rb") as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(record, dict):
                    continue
                decision = record.get("decision")
                if decision == "allow" and record.get("action") in MUTATING_ACTIONS:
                    mutated = True
                elif decision in ("deny", "error") and record.get("enforced", True):
                    policies = record.get("policies") or []
                    reason = ("forbidden by " + ", ".join(policies)) if policies else "no permit matched"
                    if decision == "error":
                        reason = "evaluation error (fails closed)"
                    denials.append(
                        {
                            "action": record.get("action"),
                            "resource": record.get("resource"),
                            "principal": record.get("principal"),
                            "reason": reason,
                        }
                    )
    except (IOError, OSError):
        pass
    return denials, mutated


def main():
    module = AnsibleModule(
        argument_spec=dict(
            script=dict(type="str"),
            script_file=dict(type="path"),
            policy=dict(type="str"),
            policy_file=dict(type="path"),
            policy_dir=dict(type="path", default="/etc/rex/policies"),
            args=dict(type="dict"),
            secret_args=dict(type="dict", no_log=True),
            timeout=dict(type="float"),
            max_memory=dict(type="str"),
            sandbox=dict(type="str", choices=["off", "best-effort", "require"]),
            runner_path=dict(type="path"),
        ),
        mutually_exclusive=[("script", "script_file"), ("policy", "policy_file")],
        required_one_of=[("script", "script_file"), ("policy", "policy_file")],
        supports_check_mode=True,
    )
    p = module.params

    # Numbers are checked here as rex-runner checks them (issue 29): `timeout: .nan` meant
    # no timeout; NaN, infinities, zero, negatives and sizes that are not digits with an
    # optional K/M/G suffix are refused before anything runs.
    if p["timeout"] is not None and not (math.isfinite(p["timeout"]) and p["timeout"] > 0):
        module.fail_json(msg="timeout must be a positive, finite number of seconds, not %r" % p["timeout"])
    if p["max_memory"] is not None and not MAX_MEMORY.match(p["max_memory"].strip()):
        module.fail_json(msg="max_memory must be a positive size in bytes with an optional K, M or G suffix, not %r" % p["max_memory"])

    runner = p["runner_path"] or module.get_bin_path("rex-runner", required=True, opt_dirs=["/usr/local/bin"])

    if p["policy"] is not None:
        if not POLICY_NAME.match(p["policy"]):
            module.fail_json(msg="invalid policy name %r: use letters, digits, _, . and - only" % p["policy"])
        policy_path = os.path.join(p["policy_dir"], p["policy"] + ".cedar")
    else:
        policy_path = p["policy_file"]

    tmp = module.tmpdir
    if p["script"] is not None:
        script_path = os.path.join(tmp, "script.rhai")
        write_private(script_path, p["script"])
    else:
        script_path = p["script_file"]

    plain = dict(p["args"] or {})
    secret = p["secret_args"] or {}
    both = sorted(set(plain) & set(secret))
    if both:
        module.fail_json(msg="arguments given in both args and secret_args: %s" % ", ".join(both))
    plain.update(secret)
    # Mask each secret in every form the runner may print it: as given, JSON/Cedar-escaped
    # (a denial message quotes the resource), and as a normalised path.
    for v in secret.values():
        for form in secret_forms(v):
            module.no_log_values.add(form)
    try:
        tagged = dict((str(k), rex_value(v, str(k))) for k, v in plain.items())
    except ValueError as e:
        module.fail_json(msg=to_native(e))
    args_path = os.path.join(tmp, "args.json")
    write_private(args_path, json.dumps(tagged))

    if module.check_mode:
        rc, out, err = module.run_command([runner, "check", script_path, "-a", args_path])
        result = dict(changed=False, rc=rc, compiled=rc == 0, msg=(out or err).strip())
        if rc != 0:
            module.fail_json(**result)
        module.exit_json(**result)

    audit_path = os.path.join(tmp, "audit.jsonl")
    argv = [runner, "-s", script_path, "-p", policy_path, "-a", args_path, "-o", "json", "--audit-log", audit_path]
    if p["timeout"] is not None:
        argv += ["--timeout", repr(p["timeout"])]
    if p["max_memory"] is not None:
        argv += ["--max-memory", p["max_memory"]]
    if p["sandbox"] is not None:
        argv += ["--sandbox", p["sandbox"]]

    rc, out, err = module.run_command(argv)
    try:
        document = json.loads(out)
        if not isinstance(document, dict):
            raise ValueError("not an object")
    except ValueError:
        # What the run did before it failed still counts: a host change is reported.
        denials, mutated = read_denials(audit_path)
        module.fail_json(msg="rex-runner printed no output document (exit %d): %s" % (rc, (err or out).strip()[:2000]), rc=rc, changed=bool(mutated), denials=denials)

    denials, mutated = read_denials(audit_path)
    status = document.get("status")
    result = dict(
        # A host-modifying action was allowed: the host changed, whatever the final status.
        changed=bool(mutated),
        rc=rc,
        status=status,
        output=document.get("output"),
        error=document.get("error"),
        denials=denials,
        metrics=document.get("metrics", []),
        alarms=document.get("alarms", []),
        logs=document.get("logs", []),
        script_sha256=document.get("script_sha256"),
        policy_sha256=document.get("policy_sha256"),
    )
    if status != "SUCCESS":
        error = document.get("error") or {}
        result["msg"] = "rex script failed: %s: %s" % (error.get("error_type", "ERROR"), error.get("message", ""))
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
