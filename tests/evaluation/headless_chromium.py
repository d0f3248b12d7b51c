"""A minimal headless-Chromium driver for tests: the DevTools protocol over a pipe.

``chromium --remote-debugging-pipe`` reads protocol commands from file descriptor 3 and writes
replies and events to descriptor 4, as JSON messages ended by a NUL byte; no network port, no
websocket library, no browser-automation package. :func:`inspect_page` opens a page at a given
width and reports what the report test checks: the images (loaded or not), console errors and
uncaught exceptions, horizontal overflow, and a full-page screenshot.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Executables tried, in order (``GAN_ADAPT_CHROMIUM`` names another).
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str | None:
    """The browser executable, or None when none is installed."""
    override = os.environ.get("GAN_ADAPT_CHROMIUM")
    if override:
        return shutil.which(override)
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


@dataclass
class PageReport:
    """What a page looked like in the browser."""

    images: list[dict[str, Any]]  # {"alt", "complete", "naturalWidth"} of every <img>
    console_errors: list[str]  # console.error/assert calls, uncaught exceptions, error logs
    scroll_width: int  # the document's width: > viewport_width means horizontal overflow
    viewport_width: int
    screenshot: bytes = field(repr=False, default=b"")  # PNG of the whole page
    #: text of every header, first-column (name) and numeric table cell drawn on more than one
    #: line: a value or a metric name broken in two
    broken_cells: list[str] = field(default_factory=list)


class Chromium:
    """One headless browser process and one page (tab) in it."""

    def __init__(self, executable: str, timeout: float = 120.0) -> None:
        self.timeout = timeout
        self._next_id = 0
        self._buffer = b""
        self.events: list[dict[str, Any]] = []
        command_read, self._command_write = os.pipe()
        self._reply_read, reply_write = os.pipe()

        def wire_pipes() -> None:  # in the child: our pipes become descriptors 3 and 4
            high_in = fcntl.fcntl(command_read, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(reply_write, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        self._profile = tempfile.mkdtemp(prefix="gan-adapt-chromium-")
        self.process = subprocess.Popen(
            [executable, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
             "--disable-extensions", "--disable-background-networking", "--mute-audio",
             "--hide-scrollbars", f"--user-data-dir={self._profile}",
             "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=wire_pipes)
        os.close(command_read)
        os.close(reply_write)
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget",
                                 {"targetId": target, "flatten": True})["sessionId"]

    # -- protocol ---------------------------------------------------------------------------
    def send(self, method: str, params: dict[str, Any] | None = None, *,
             session: bool = False) -> dict[str, Any]:
        """Send a command and wait for its reply (events that arrive meanwhile are kept)."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method,
                                   "params": params or {}}
        if session:
            message["sessionId"] = self.session
        os.write(self._command_write, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for_event(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message()
            self.events.append(event)
            if event.get("method") == method:
                return event

    def _read_message(self) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._reply_read], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError(f"no reply from the browser within {self.timeout} s")
            chunk = os.read(self._reply_read, 1 << 16)
            if not chunk:
                raise RuntimeError("the browser closed its DevTools pipe (it exited)")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._command_write)
        os.close(self._reply_read)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_INSPECT = """(() => ({
  images: Array.from(document.images).map(i => (
    {alt: i.alt, complete: i.complete, naturalWidth: i.naturalWidth})),
  scrollWidth: document.documentElement.scrollWidth,
  viewportWidth: window.innerWidth,
  height: document.documentElement.scrollHeight,
  brokenCells: Array.from(document.querySelectorAll("th, td:first-child, td.num"))
    .filter(cell => {
      const range = document.createRange();
      range.selectNodeContents(cell);
      const tops = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
      return tops.size > 1;
    }).map(cell => cell.textContent),
}))()"""


def inspect_page(executable: str, url: str, width: int = 1280, height: int = 900
                 ) -> PageReport:
    """Open ``url`` in a ``width`` x ``height`` viewport and report on it (see PageReport)."""
    with Chromium(executable) as browser:
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable", session=True)
        browser.send("Emulation.setDeviceMetricsOverride",
                     {"width": width, "height": height, "deviceScaleFactor": 1,
                      "mobile": False}, session=True)
        browser.send("Page.navigate", {"url": url}, session=True)
        browser.wait_for_event("Page.loadEventFired")
        found = browser.send("Runtime.evaluate", {"expression": _INSPECT, "returnByValue": True,
                                                  "awaitPromise": True}, session=True)
        page = found["result"]["value"]
        shot = browser.send("Page.captureScreenshot",
                            {"format": "png", "captureBeyondViewport": True,
                             "clip": {"x": 0, "y": 0, "width": width,
                                      "height": max(height, page["height"]), "scale": 1}},
                            session=True)
        errors = _console_errors(browser.events)
    return PageReport(page["images"], errors, page["scrollWidth"], page["viewportWidth"],
                      base64.b64decode(shot["data"]), page["brokenCells"])


def _console_errors(events: list[dict[str, Any]]) -> list[str]:
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                   for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(details.get("exception", {}).get("description")
                          or details.get("text", "uncaught exception"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", ""))
    return errors


def file_url(path: Path) -> str:
    return Path(path).resolve().as_uri()
