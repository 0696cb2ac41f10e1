"""A fake ``helm`` binary: a real executable (a Python script) that the Helm executor runs
through its real subprocess runner, keeping its releases in a JSON file beside it.

It imitates three Helm 3 commands, as the Helm source defines them (helm/helm, v3 and v4):
``helm history RELEASE -o json`` prints the release's revisions as a JSON list of ``revision``,
``updated``, ``status``, ``chart``, ``app_version`` and ``description`` (the ``releaseInfo`` of
``pkg/cmd/history.go``); ``helm status RELEASE -o json`` prints the highest revision as
``{"name", "version", "namespace", "info": {"status", "description"}}``; ``helm rollback RELEASE
REVISION`` does what ``pkg/action/rollback.go`` does: the current release is the *highest*
revision of any status (``Releases.Last``), the rollback is refused only when the revision does
not exist (no check of the current status, which is why rollback is the way out of a release stuck
in ``pending-upgrade``: helm/helm#7476, #11863), and on success it records a new revision (the
highest plus one) ``deployed`` with the target's chart and app version and the description
``Rollback to <REVISION>``, every earlier ``deployed`` revision ``superseded``, and prints
``Rollback was a success! Happy Helming!``. Other flags (``--namespace`` selects the namespace;
``--wait``, ``--timeout``, ``--kube-context``, ``--kubeconfig``) are accepted and otherwise
ignored. ``helm rollback`` without a revision (the previous one, in real Helm) is not supported.

Histories are set up as upgrades leave them: a failed upgrade is a ``failed`` revision above a
still ``deployed`` one (``failRelease`` in ``pkg/action/upgrade.go`` never supersedes the release
it started from), a helm killed during ``--wait`` leaves ``pending-upgrade``.

Failure states, each printed on stderr with exit code 1 as Helm prints them: ``Error: release:
not found`` (``driver.ErrReleaseNotFound``), ``Error: release has no <N> version``
(``rollback.go``), an unknown command; :meth:`FakeHelm.fail_next_rollback` makes the next
rollback fail as ``rollback.go`` records it (a new ``failed`` revision with the target's chart;
after a failed update of the objects the revision that was current becomes ``superseded``)
with helm 3's ``timed out waiting for the condition`` or helm 4's ``context deadline
exceeded``; and whatever a test queues with :meth:`FakeHelm.fail_next`
(any stderr and exit code, after an optional sleep that outlasts the executor's command timeout;
the script exits 143 on SIGTERM and records it, so tests see which signal stopped it), e.g. "another
operation (install/upgrade/rollback) is in progress" or "Kubernetes cluster unreachable".
Injected failures change nothing, like a command that failed before it reached the cluster.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path
from typing import Any

__all__ = ["FakeHelm"]

_HELM_SCRIPT = r"""
import json, os, signal, sys, time

STATE = sys.argv[0] + ".json"


def on_term(signum, frame):
    state = load()
    state["terminated"] += 1
    save(state)
    sys.exit(143)


signal.signal(signal.SIGTERM, on_term)


def load():
    with open(STATE) as handle:
        return json.load(handle)


def save(state):
    tmp = STATE + ".tmp"
    with open(tmp, "w") as handle:
        json.dump(state, handle)
    os.replace(tmp, STATE)


def fail(message, code=1):
    print(message, file=sys.stderr)
    sys.exit(code)


def main(argv):
    state = load()
    state["calls"].append(argv)
    faults = state["faults"]
    fault = faults.pop(0) if faults else None
    save(state)
    if fault:
        time.sleep(fault["sleep"])
        fail(fault["stderr"], fault["code"])
    command, rest = argv[0], argv[1:]
    namespace = "default"
    if "--namespace" in rest:
        namespace = rest[rest.index("--namespace") + 1]
    release = state["releases"].get(rest[0]) if rest else None
    if release is None or release["namespace"] != namespace:
        fail("Error: release: not found")
    history = release["history"]
    if command == "history":
        print(json.dumps(history))
        return
    if command == "status":
        last = max(history, key=lambda e: e["revision"])
        info = {"status": last["status"], "description": last["description"]}
        print(json.dumps({"name": rest[0], "version": last["revision"],
                          "namespace": namespace, "info": info}))
        return
    if command == "rollback":
        wanted = int(rest[1])
        target = next((e for e in history if e["revision"] == wanted), None)
        if target is None:
            fail(f"Error: release has no {wanted} version")
        failure = state["wait_failures"].pop(0) if state["wait_failures"] else None
        if failure is not None:
            current = max(history, key=lambda e: e["revision"])
            if failure["stage"] == "apply":
                current["status"] = "superseded"
                description = f"Rollback \"{rest[0]}\" failed: {failure['message']}"
                printed = failure["message"]
            else:
                description = f"Release \"{rest[0]}\" failed: {failure['message']}"
                printed = f"release {rest[0]} failed: {failure['message']}"
            history.append({
                "revision": current["revision"] + 1,
                "updated": "2026-11-27T10:20:00Z",
                "status": "failed",
                "chart": target["chart"],
                "app_version": target["app_version"],
                "description": description,
            })
            save(state)
            fail(f"Error: {printed}")
        for entry in history:
            if entry["status"] == "deployed":
                entry["status"] = "superseded"
        history.append({
            "revision": max(e["revision"] for e in history) + 1,
            "updated": "2026-11-27T10:20:00Z",
            "status": "deployed",
            "chart": target["chart"],
            "app_version": target["app_version"],
            "description": f"Rollback to {wanted}",
        })
        save(state)
        print("Rollback was a success! Happy Helming!")
        return
    fail(f"Error: unknown command {command!r} for \"helm\"")


main(sys.argv[1:])
"""


class FakeHelm:
    """A ``helm`` executable in ``directory``: ``history -o json`` and ``rollback``."""

    def __init__(self, directory: Path) -> None:
        self.binary = str(directory / "helm")
        Path(self.binary).write_text(f"#!{sys.executable}\n{_HELM_SCRIPT}")
        os.chmod(self.binary, os.stat(self.binary).st_mode | stat.S_IXUSR)
        self._state_path = Path(self.binary + ".json")
        self._write(
            {"releases": {}, "faults": [], "calls": [], "wait_failures": [], "terminated": 0}
        )

    def add_release(
        self,
        name: str,
        *,
        app_versions: list[str],
        namespace: str = "default",
        statuses: list[str] | None = None,
        descriptions: dict[int, str] | None = None,
    ) -> None:
        """A release whose revisions 1..n ran ``app_versions``; the last one is deployed unless
        ``statuses`` gives each revision's status; ``descriptions`` replaces the description of
        the revisions it names (e.g. ``{3: "Rollback to 1"}``)."""
        statuses = statuses or ["superseded"] * (len(app_versions) - 1) + ["deployed"]
        descriptions = descriptions or {}
        history = [
            {
                "revision": i,
                "updated": f"2026-11-27T10:0{i % 10}:00Z",
                "status": statuses[i - 1],
                "chart": f"{name}-0.{i}.0",
                "app_version": version,
                "description": descriptions.get(
                    i, "Install complete" if i == 1 else "Upgrade complete"
                ),
            }
            for i, version in enumerate(app_versions, start=1)
        ]
        state = self.state()
        state["releases"][name] = {"namespace": namespace, "history": history}
        self._write(state)

    def fail_next(self, stderr: str, *, code: int = 1, sleep: float = 0.0) -> None:
        """Make the next invocation print ``stderr`` and exit ``code`` after ``sleep`` seconds."""
        state = self.state()
        state["faults"].append({"stderr": stderr, "code": code, "sleep": sleep})
        self._write(state)

    def fail_next_rollback(
        self, message: str = "timed out waiting for the condition", *, stage: str = "wait"
    ) -> None:
        """Make the next rollback fail as ``rollback.go`` records it: a new ``failed`` revision
        with the target's chart. ``stage="wait"``: ``--wait`` ran out (description ``Release "R"
        failed: …``; helm 4 says "context deadline exceeded"); ``stage="apply"``: the update of
        the objects failed, and the revision that was current becomes ``superseded``
        (description ``Rollback "R" failed: …``)."""
        state = self.state()
        state["wait_failures"].append({"message": message, "stage": stage})
        self._write(state)

    def history(self, name: str) -> list[dict[str, Any]]:
        """The release's revisions, oldest first."""
        return list(self.state()["releases"][name]["history"])

    def state(self) -> dict[str, Any]:
        """The script's whole state: releases, pending faults, the argv of every call."""
        result: dict[str, Any] = json.loads(self._state_path.read_text())
        return result

    def deployed(self, name: str) -> dict[str, Any]:
        """The release's history entry with status ``deployed``."""
        history = self.state()["releases"][name]["history"]
        return next(e for e in reversed(history) if e["status"] == "deployed")

    def calls(self) -> list[list[str]]:
        """The argv (without the binary) of every invocation so far."""
        return list(self.state()["calls"])

    def _write(self, state: dict[str, Any]) -> None:
        self._state_path.write_text(json.dumps(state))
