#!/usr/bin/env python3
"""Terminate this instance through the Lambda Cloud API once its job is over and the app is gone.

Runs on the instance (stdlib only, Python 3.8+, never imports lambda_gui), armed by the opt-in
cloud-init script that lambda_gui/remote/self_terminate.py builds:
`python3 watchdog.py WATCHDOG_DIR`, where WATCHDOG_DIR (= <login home>/.lambda-gui-watchdog)
holds `key` (the API key, mode 0600), `config.json` and this file.

Every poll_s it asks two questions:
- ended: the job dir has exit_code, or max_runtime_s has passed since armed_at;
- silent: the app's heartbeat file is missing or older than grace_s (counted from armed_at
  when it was never written).
When both hold it finds its own instance by name (GET /instances), terminates it
(POST /instance-operations/terminate) and exits; errors (429, 5xx, network) are retried with
backoff, the conditions re-checked before each try. `lambda-gui/watchdog-disarmed` under the
login home disarms it for good. Log lines go to stdout (watchdog.log); the key never does.
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

CONFIG_FILE = "config.json"
KEY_FILE = "key"
PID_FILE = "watchdog.pid"
# Relative to the login home (the parent of the watchdog dir); match lambda_gui.remote.
JOBS_ROOT = "lambda-gui/jobs"
EXIT_CODE_FILE = "exit_code"
HEARTBEAT_FILE = "lambda-gui/heartbeat"
DISARM_FILE = "lambda-gui/watchdog-disarmed"

LIVE_STATUSES = ("booting", "active", "unhealthy")
GONE_STATUSES = ("terminating", "terminated", "preempted")
MAX_BACKOFF_S = 300.0
HTTP_TIMEOUT_S = 30.0
USER_AGENT = "lambda-gui-watchdog/1"


class ApiError(Exception):
    """An API call that did not succeed: HTTP status (None: no reply), error code, message."""

    def __init__(
        self, status: int | None, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(f"{status or 'no reply'} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Config:
    """What config.json says, checked."""

    base_url: str
    instance_name: str
    job_id: str
    max_runtime_s: float | None
    grace_s: float
    poll_s: float
    armed_at: float


def load_config(path: str) -> Config:
    """Read and check config.json; ValueError when a field is missing or wrong."""
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    if not isinstance(raw, dict):
        raise ValueError("config.json is not an object")

    def text(name: str) -> str:
        value = raw.get(name)
        if not isinstance(value, str) or not value:
            raise ValueError(f"config.json: {name} must be a non-empty string")
        return value

    def number(name: str, optional: bool = False) -> float | None:
        value = raw.get(name)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f"config.json: {name} must be a positive number")
        return float(value)

    job_id = text("job_id")
    if "/" in job_id or job_id.startswith("."):
        raise ValueError("config.json: job_id is not a plain name")
    return Config(
        base_url=text("base_url").rstrip("/"),
        instance_name=text("instance_name"),
        job_id=job_id,
        max_runtime_s=number("max_runtime_s", optional=True),
        grace_s=number("grace_s") or 0.0,
        poll_s=number("poll_s") or 0.0,
        armed_at=number("armed_at") or 0.0,
    )


def read_key(watchdog_dir: str) -> str:
    """The API key from the 0600 key file (tightening its mode if someone loosened it)."""
    path = os.path.join(watchdog_dir, KEY_FILE)
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o600)
    with open(path, encoding="utf-8") as handle:
        key = handle.read().strip()
    if not key:
        raise ValueError("the key file is empty")
    return key


class Watchdog:
    """The loop: check the job and the heartbeat, terminate when both say so."""

    def __init__(self, watchdog_dir: str, config: Config, key: str) -> None:
        self.dir = watchdog_dir
        self.home = os.path.dirname(os.path.abspath(watchdog_dir))
        self.config = config
        self._key = key
        self._last_state = ""

    # --- logging -------------------------------------------------------------------------

    def log(self, message: str) -> None:
        """One timestamped line on stdout, with the key (should anything echo it) blanked."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        print(f"{stamp} {message.replace(self._key, '[api key]')}", flush=True)

    def _note(self, state: str) -> None:
        # Log a state only when it changes, so a quiet week leaves a short log.
        if state != self._last_state:
            self._last_state = state
            self.log(state)

    # --- conditions ----------------------------------------------------------------------

    def ended_reason(self, now: float) -> str | None:
        """Why the job counts as over (exit_code written, run-time cap passed), or None."""
        exit_code = os.path.join(self.home, JOBS_ROOT, self.config.job_id, EXIT_CODE_FILE)
        if os.path.exists(exit_code):
            return "the job wrote exit_code"
        cap = self.config.max_runtime_s
        if cap is not None and now - self.config.armed_at > cap:
            return f"the run-time cap of {cap:.0f} s has passed"
        return None

    def silent_for(self, now: float) -> float:
        """Seconds since the app's last heartbeat (since arming when there was none)."""
        last = self.config.armed_at
        try:
            last = max(last, os.stat(os.path.join(self.home, HEARTBEAT_FILE)).st_mtime)
        except OSError:
            pass
        return now - last

    def disarmed(self) -> bool:
        """Whether the disarm file exists under the login home."""
        return os.path.exists(os.path.join(self.home, DISARM_FILE))

    # --- the API -------------------------------------------------------------------------

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """One API request; returns the reply's `data`, raises ApiError on any failure."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.config.base_url + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + self._key)
        request.add_header("Accept", "application/json")
        request.add_header("User-Agent", USER_AGENT)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as reply:
                payload = json.loads(reply.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            raise http_error(exc.code, exc.read(), exc.headers.get("Retry-After")) from None
        except (urllib.error.URLError, OSError) as exc:
            raise ApiError(None, "network", str(getattr(exc, "reason", exc))) from None
        except ValueError:
            raise ApiError(200, "bad-reply", "the reply is not JSON") from None
        if not isinstance(payload, dict) or "data" not in payload:
            raise ApiError(200, "bad-reply", "the reply has no 'data'")
        return payload["data"]

    def terminate_self(self) -> bool:
        """Find this instance by name and terminate it; True once it is terminated or going."""
        instances = self.call("GET", "/instances")
        if not isinstance(instances, list):
            raise ApiError(200, "bad-reply", "GET /instances did not return a list")
        mine = [
            item
            for item in instances
            if isinstance(item, dict) and item.get("name") == self.config.instance_name
        ]
        live = [item for item in mine if item.get("status") in LIVE_STATUSES]
        if len(live) > 1:
            ids = ", ".join(str(item.get("id")) for item in live)
            raise ApiError(
                200,
                "ambiguous",
                f"{len(live)} live instances are named "
                f"{self.config.instance_name!r} ({ids}); terminating none of them",
            )
        if not live:
            if any(item.get("status") in GONE_STATUSES for item in mine):
                self.log("the instance is already terminating or gone")
                return True
            raise ApiError(
                200, "not-found", f"no instance named {self.config.instance_name!r} in the list"
            )
        instance_id = str(live[0].get("id"))
        self.log(f"terminating instance {instance_id} ({self.config.instance_name})")
        reply = self.call("POST", "/instance-operations/terminate", {"instance_ids": [instance_id]})
        terminated = reply.get("terminated_instances", []) if isinstance(reply, dict) else []
        listed = [item.get("id") for item in terminated if isinstance(item, dict)]
        if instance_id not in listed:
            raise ApiError(200, "bad-reply", f"the terminate reply does not list {instance_id}")
        self.log(f"terminate accepted for instance {instance_id}")
        return True

    # --- the loop ------------------------------------------------------------------------

    def backoff(self, attempt: int, error: ApiError) -> float:
        """Seconds before the next try: Retry-After when given, else doubling with jitter."""
        if error.retry_after is not None:
            return min(MAX_BACKOFF_S, max(error.retry_after, 0.1))
        base = min(MAX_BACKOFF_S, max(self.config.poll_s, 0.1) * 2.0 ** min(attempt, 20))
        return base * random.uniform(0.8, 1.2)

    def run(self) -> int:
        """Poll until the instance is terminated (0) or the watchdog is disarmed (0)."""
        cfg = self.config
        self.log(
            f"armed for instance {cfg.instance_name!r}, job {cfg.job_id}: grace {cfg.grace_s:g} s, "
            f"poll {cfg.poll_s:g} s, run-time cap "
            + ("none" if cfg.max_runtime_s is None else f"{cfg.max_runtime_s:g} s")
        )
        attempt = 0
        while True:
            if self.disarmed():
                self.log("disarmed by " + DISARM_FILE + "; exiting without terminating")
                return 0
            now = time.time()
            reason = self.ended_reason(now)
            silence = self.silent_for(now)
            if reason is None:
                self._note("waiting: the job has not ended")
            elif silence <= cfg.grace_s:
                self._note(f"{reason}; the app's heartbeat is fresh, so the app decides")
            else:
                self._note(f"{reason} and the app has been silent {silence:.0f} s")
                try:
                    if self.terminate_self():
                        return 0
                except ApiError as error:
                    delay = self.backoff(attempt, error)
                    attempt += 1
                    self.log(
                        f"terminate attempt {attempt} failed ({error}); retry in {delay:.1f} s"
                    )
                    time.sleep(delay)
                    continue
            attempt = 0
            time.sleep(cfg.poll_s)


def http_error(status: int, body: bytes, retry_after: str | None) -> ApiError:
    """An ApiError from an HTTP error reply: the {"error": {"code", "message"}} envelope when
    there is one (a 429 or a proxy's page may not be JSON)."""
    code, message = f"http-{status}", body[:200].decode("utf-8", "replace").strip()
    try:
        envelope = json.loads(body.decode("utf-8"))
    except ValueError:
        envelope = None
    if isinstance(envelope, dict) and isinstance(envelope.get("error"), dict):
        error = envelope["error"]
        code = str(error.get("code") or code)
        message = str(error.get("message") or message)
    wait: float | None = None
    if retry_after:
        try:
            wait = float(retry_after)
        except ValueError:
            wait = None
    return ApiError(status, code, message, wait)


def main(argv: list[str]) -> int:
    """Entry point: `watchdog.py WATCHDOG_DIR`."""
    if len(argv) != 2:
        print("usage: watchdog.py WATCHDOG_DIR", file=sys.stderr)
        return 2
    watchdog_dir = os.path.abspath(argv[1])
    with open(os.path.join(watchdog_dir, PID_FILE), "w", encoding="ascii") as handle:
        handle.write(f"{os.getpid()}\n")
    try:
        config = load_config(os.path.join(watchdog_dir, CONFIG_FILE))
        key = read_key(watchdog_dir)
    except (OSError, ValueError) as exc:
        print(f"watchdog not armed: {exc}", flush=True)
        return 1
    return Watchdog(watchdog_dir, config, key).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
