#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol (a pipe, no port) through a list of steps,
and reports what the page did: the values asked for, console errors, uncaught exceptions, and
every URL it requested. The dashboard's browser tests and its screenshots use it.

    python3 tools/browser.py STEPS.json [--chromium /usr/bin/chromium] > report.json

STEPS.json is a list of steps, run in order:
    {"open": URL}                              navigate and wait for the load event
    {"eval": JS, "name": NAME}                 the value of a JS expression (promises awaited)
    {"wait": JS, "timeout": SECONDS}           until the expression is truthy (else the step fails)
    {"screenshot": FILE}                       a PNG of the viewport (1280×800 unless "width"/"height")
    {"viewport": [WIDTH, HEIGHT]}              resize the page (e.g. a phone's width)
The report: {"values": {NAME: value}, "console_errors": [...], "exceptions": [...],
"requests": [URL, ...], "failed": null or "why"}. Standard library only.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time


class Browser:
    def __init__(self, chromium):
        self.profile = tempfile.TemporaryDirectory(prefix="sweep-browser-")
        to_browser_read, self.to_browser = os.pipe()
        self.from_browser, from_browser_write = os.pipe()


        def give_pipes():  # in the child: Chromium reads commands on fd 3 and writes replies on fd 4
            commands, replies = os.dup(to_browser_read), os.dup(from_browser_write)
            os.dup2(commands, 3)
            os.dup2(replies, 4)

        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--disable-sync", "--disable-component-update",
             "--disable-default-apps", "--mute-audio", f"--user-data-dir={self.profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=(3, 4), preexec_fn=give_pipes)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.buffer = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def send(self, method, params=None, session=True):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(message).encode() + b"\0")
        wanted = self.next_id
        while True:
            reply = self.read()
            if reply.get("id") == wanted:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error'].get('message')}")
                return reply.get("result", {})

    def read(self, timeout=60):
        deadline = time.time() + timeout
        while b"\0" not in self.buffer:
            if time.time() > deadline:
                raise RuntimeError("Chromium stopped answering")
            chunk = os.read(self.from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium exited")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        decoded = json.loads(message)
        if "method" in decoded:
            self.events.append(decoded)
        return decoded

    def drain_events(self):
        """Reads what Chromium has sent without blocking for long (a no-op round trip)."""
        self.send("Runtime.evaluate", {"expression": "0"})

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.profile.cleanup()


def evaluate(browser, expression):
    result = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True})
    if "exceptionDetails" in result:
        raise RuntimeError(f"{expression}: {result['exceptionDetails'].get('text')} "
                           f"{result['exceptionDetails'].get('exception', {}).get('description', '')}")
    return result.get("result", {}).get("value")


def run(steps, chromium):
    browser = Browser(chromium)
    report = {"values": {}, "console_errors": [], "exceptions": [], "requests": [], "failed": None}
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        browser.session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True}, session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.send(f"{domain}.enable")
        width, height = 1280, 800
        browser.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        for step in steps:
            if "open" in step:
                start = len(browser.events)
                browser.send("Page.navigate", {"url": step["open"]})
                deadline = time.time() + 60
                while not any(e.get("method") == "Page.loadEventFired" for e in browser.events[start:]):
                    if time.time() > deadline:
                        raise RuntimeError(f"{step['open']} did not load")
                    browser.read()
            elif "eval" in step:
                report["values"][step["name"]] = evaluate(browser, step["eval"])
            elif "wait" in step:
                deadline = time.time() + step.get("timeout", 30)
                while not evaluate(browser, step["wait"]):
                    if time.time() > deadline:
                        raise RuntimeError(f"timed out waiting for {step['wait']}")
                    time.sleep(0.1)
            elif "viewport" in step:
                width, height = step["viewport"]
                browser.send("Emulation.setDeviceMetricsOverride",
                             {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
            elif "screenshot" in step:
                shot = browser.send("Page.captureScreenshot", {"format": "png"})
                with open(step["screenshot"], "wb") as file:
                    file.write(base64.b64decode(shot["data"]))
            else:
                raise RuntimeError(f"unknown step {step}")
        browser.drain_events()
    except Exception as error:  # the report says what failed; the caller decides
        report["failed"] = str(error)
    finally:
        for event in browser.events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                report["requests"].append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                report["console_errors"].append(" ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                report["console_errors"].append(params["entry"].get("text", "") + " " + params["entry"].get("url", ""))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                report["exceptions"].append(details.get("exception", {}).get("description") or details.get("text", ""))
        browser.close()
    return report


def main():
    arguments = sys.argv[1:]
    chromium = "/usr/bin/chromium"
    if "--chromium" in arguments:
        index = arguments.index("--chromium")
        chromium = arguments[index + 1]
        del arguments[index:index + 2]
    if len(arguments) != 1:
        sys.exit(__doc__)
    with open(arguments[0]) as file:
        steps = json.load(file)
    json.dump(run(steps, chromium), sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
