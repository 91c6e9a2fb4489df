"""Headless Chromium for the page tests, driven over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: commands on the browser's fd 3, answers on fd 4, each a
JSON object ended by a NUL byte), so no port is opened.

:func:`find_chromium` finds ``chromium`` on PATH, or installs Debian's package when
running as root with apt available; else it says why there is none.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe", "--window-size=1400,1000")
INSTALL_TIMEOUT_S = 300


def find_chromium() -> tuple[str | None, str]:
    """(path of chromium, "") or (None, why there is none)."""
    found = shutil.which("chromium")
    if found:
        return found, ""
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or not shutil.which("apt-get"):
        return None, ("chromium is not on PATH, and it can only be installed here as root "
                      "with apt-get (apt-get install chromium)")
    install = "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium"
    command = ["bash", "-c", install]
    if shutil.which("flock"):  # the machine's lock for heavy work, where there is one
        command = ["flock", "/tmp/embedspec-heavy.lock", *command]
    try:
        proc = subprocess.run(command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                              check=False)
    except subprocess.TimeoutExpired:
        return None, f"installing chromium with apt-get took more than {INSTALL_TIMEOUT_S} s"
    found = shutil.which("chromium")
    if found:
        return found, ""
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return None, f"apt-get install chromium failed (exit {proc.returncode}): {' '.join(tail)}"


class Browser:
    """One headless Chromium with one page; ``events`` collects the page's events."""

    def __init__(self, executable: str, profile_dir: Path) -> None:
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()
        script = (f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w} '
                  f"{to_browser_r}<&- {from_browser_w}>&-")
        self.proc = subprocess.Popen(
            ["bash", "-c", script, executable, *FLAGS, f"--user-data-dir={profile_dir}"],
            pass_fds=(to_browser_r, from_browser_w), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._answers: dict[int, queue.Queue] = {}
        self.events: list[dict[str, Any]] = []
        self._next = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=self.session)

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._from_browser, "rb", buffering=0) as stream:
            while chunk := stream.read(65536):
                buffer += chunk
                while b"\0" in buffer:
                    raw, buffer = buffer.split(b"\0", 1)
                    message = json.loads(raw)
                    if "id" in message and message["id"] in self._answers:
                        self._answers[message["id"]].put(message)
                    else:
                        self.events.append(message)

    def call(self, method: str, session: str | None = None, timeout: float = 20.0,
             **params: Any) -> dict[str, Any]:
        with self._lock:
            self._next += 1
            number = self._next
        answer: queue.Queue = queue.Queue()
        self._answers[number] = answer
        message: dict[str, Any] = {"id": number, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        reply = answer.get(timeout=timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def open(self, url: str, timeout: float = 20.0) -> None:
        """Navigate the page to ``url`` and wait for its load event."""
        seen = len(self.events)
        self.call("Page.navigate", session=self.session, url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(e.get("method") == "Page.loadEventFired" for e in self.events[seen:]):
                return
            time.sleep(0.05)
        raise TimeoutError(f"{url} did not load in {timeout} s")

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (an exception raises)."""
        result = self.call("Runtime.evaluate", session=self.session, expression=expression,
                           returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session=self.session, format="png",
                         captureBeyondViewport=True)["data"]
        path.write_bytes(base64.b64decode(data))

    def errors(self) -> list[dict[str, Any]]:
        """The page's console errors and uncaught exceptions so far."""
        found = []
        for event in self.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.exceptionThrown" or (
                    method == "Runtime.consoleAPICalled" and params.get("type") == "error") or (
                    method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error"):
                found.append(event)
        return found

    def close(self) -> None:
        # the browser may already be gone; it is killed below anyway
        with contextlib.suppress(Exception):
            self.call("Browser.close", timeout=5)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
