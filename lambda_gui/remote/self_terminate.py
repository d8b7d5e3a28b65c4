"""Opt-in self-termination: the cloud-init script that arms a watchdog on the instance.

Only an API call stops Lambda's billing, so an instance can end itself only when the API key
is on it. When the user opts in, the launch's `user_data` is `build_user_data(...)`: a bash
script that cloud-init runs once at first boot. It writes, under the login home,
``.lambda-gui-watchdog/``: ``key`` (mode 0600, written with printf, a bash builtin, under
umask 077, so the key is in no process's argv and never echoed), ``config.json`` and
``watchdog.py`` (bundle_files/watchdog.py), starts the watchdog detached
(``setsid nohup python3 watchdog.py DIR >> watchdog.log``) and deletes itself. The watchdog
terminates the instance once the job has ended (exit_code, or the run-time cap passed) and the
app's heartbeat (HEARTBEAT_COMMAND, run over SSH) has been silent longer than the grace period.

Which home: on a real Lambda instance cloud-init runs the script as root, with HOME unset, "/"
or root's home; then the login user's home /home/ubuntu is used when it exists and is the
ubuntu user's home in the passwd database. Otherwise $HOME (the simulator runs the script as
the login user with HOME = the sandbox home). Run as root, the watchdog dir and the key stay
root-owned, so the training process (user ubuntu) cannot read the key; the app reads the log
with sudo. What stays on the machine: cloud-init keeps its own root-only copy of the user data
(/var/lib/cloud/instance/user-data.txt), which holds the key until the instance is gone.

Without the opt-in no user_data is sent, and nothing of the key reaches the instance.
"""

from __future__ import annotations

import base64
import json
import math
import shlex
import time
from importlib import resources

from lambda_gui.remote.bundle import check_job_id

#: Lambda accepts at most 1 MB of user data; stay under the decimal reading of that.
USER_DATA_LIMIT = 1_000_000
#: The watchdog's dir, relative to the login home, and its files.
WATCHDOG_DIR = ".lambda-gui-watchdog"
KEY_FILE = "key"
CONFIG_FILE = "config.json"
WATCHDOG_FILE = "watchdog.py"
WATCHDOG_LOG = "watchdog.log"
WATCHDOG_PID = "watchdog.pid"
#: Relative to the login home: the app's heartbeat, and the file that disarms the watchdog.
HEARTBEAT_FILE = "lambda-gui/heartbeat"
DISARM_FILE = "lambda-gui/watchdog-disarmed"
#: Fixed remote commands (no user text), run from the login home over SSH. The app runs
#: HEARTBEAT_COMMAND every minute or so while it watches the job; the rename keeps a reader
#: from seeing a half-written file.
HEARTBEAT_COMMAND = (
    "mkdir -p lambda-gui && date +%s > lambda-gui/heartbeat.tmp "
    "&& mv -f lambda-gui/heartbeat.tmp lambda-gui/heartbeat"
)
#: Keep the instance after all (the user chose to): the watchdog exits without terminating.
DISARM_COMMAND = "mkdir -p lambda-gui && : > lambda-gui/watchdog-disarmed"

_HEREDOC_END = "LGUI_WATCHDOG_PY"
_NAME_MAX = 64


def watchdog_source() -> bytes:
    """The watchdog script shipped in bundle_files/."""
    return resources.files("lambda_gui.remote").joinpath("bundle_files", WATCHDOG_FILE).read_bytes()


def build_user_data(
    *,
    api_key: str,
    base_url: str,
    instance_name: str,
    job_id: str,
    max_runtime_s: float | None,
    grace_s: float,
    poll_s: float = 30,
) -> str:
    """The cloud-init bash script that arms the self-termination watchdog (see the module doc)."""
    _check_key(api_key)
    check_job_id(job_id)
    if not base_url.startswith(("https://", "http://")):
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
    if not instance_name or len(instance_name) > _NAME_MAX:
        raise ValueError(f"instance_name must be 1-{_NAME_MAX} characters")
    _check_seconds("grace_s", grace_s)
    _check_seconds("poll_s", poll_s)
    if max_runtime_s is not None:
        _check_seconds("max_runtime_s", max_runtime_s)
    config = {
        "base_url": base_url.rstrip("/"),
        "instance_name": instance_name,
        "job_id": job_id,
        "max_runtime_s": None if max_runtime_s is None else float(max_runtime_s),
        "grace_s": float(grace_s),
        "poll_s": float(poll_s),
    }
    # armed_at is the boot's clock, so the script appends it: the prefix ends after its key.
    config_prefix = json.dumps(config, ensure_ascii=True)[:-1] + ', "armed_at": '
    encoded = base64.encodebytes(watchdog_source()).decode("ascii")
    script = _TEMPLATE.format(
        generated=time.strftime("%Y-%m-%d", time.gmtime()),
        watchdog_dir=WATCHDOG_DIR,
        key_file=KEY_FILE,
        key=shlex.quote(api_key),
        config_file=CONFIG_FILE,
        config_prefix=shlex.quote(config_prefix),
        watchdog_file=WATCHDOG_FILE,
        watchdog_log=WATCHDOG_LOG,
        watchdog_pid=WATCHDOG_PID,
        heredoc_end=_HEREDOC_END,
        watchdog_b64=encoded.rstrip("\n"),
    )
    size = len(script.encode("utf-8"))
    assert size < USER_DATA_LIMIT, f"user_data is {size} bytes; Lambda allows 1 MB"
    return script


def _check_seconds(label: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{label} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{label} must be a positive number, got {value!r}")


def _check_key(api_key: str) -> None:
    # The key goes into a header and a one-line file: no whitespace or control characters.
    if not isinstance(api_key, str) or not api_key:
        raise ValueError("the API key is empty")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in api_key):
        raise ValueError("the API key contains whitespace or control characters")


# Doubled braces are literal; {key} is shell-quoted and sits only in a printf (a bash builtin:
# no new process, so no argv) redirected to a 0600 file. No `set -x`: nothing is traced.
_TEMPLATE = """\
#!/bin/bash
# lambda-gui: opt-in self-termination watchdog (generated {generated}).
# Writes ~/{watchdog_dir}/ (key 0600, config, watchdog.py), starts the watchdog, deletes itself.
set -u
umask 077

home_dir=${{HOME:-}}
if [ "$(id -u)" = 0 ]; then
    ubuntu_home=$(getent passwd ubuntu | cut -d: -f6)
    root_home=$(getent passwd root | cut -d: -f6)
    if [ "$ubuntu_home" = /home/ubuntu ] && [ -d /home/ubuntu ] \\
        && {{ [ -z "$home_dir" ] || [ "$home_dir" = / ] || [ "$home_dir" = "$root_home" ]; }}; then
        home_dir=/home/ubuntu
    fi
fi
if [ -z "$home_dir" ] || [ ! -d "$home_dir" ]; then
    echo "lambda-gui watchdog: no home directory; not armed" >&2
    rm -f -- "$0"
    exit 1
fi
dir=$home_dir/{watchdog_dir}
fail() {{
    echo "lambda-gui watchdog: $1; not armed" >&2
    rm -f -- "$0"
    exit 1
}}
mkdir -p "$dir" && chmod 700 "$dir" && cd "$dir" || fail "cannot create $dir"
rm -f {key_file}.tmp
printf '%s\\n' {key} > {key_file}.tmp || fail "cannot write the key file"
chmod 600 {key_file}.tmp && mv -f {key_file}.tmp {key_file} || fail "cannot write the key file"
armed_at=$(date +%s)
printf '%s%s}}\\n' {config_prefix} "$armed_at" > {config_file}.tmp \\
    && mv -f {config_file}.tmp {config_file} || fail "cannot write {config_file}"
base64 -d > {watchdog_file}.tmp <<'{heredoc_end}' || fail "cannot write {watchdog_file}"
{watchdog_b64}
{heredoc_end}
mv -f {watchdog_file}.tmp {watchdog_file} || fail "cannot write {watchdog_file}"
if [ -s {watchdog_pid} ] && kill -0 "$(cat {watchdog_pid})" 2> /dev/null; then
    echo "lambda-gui watchdog: already running"
else
    setsid nohup python3 "$dir/{watchdog_file}" "$dir" >> "$dir/{watchdog_log}" 2>&1 < /dev/null &
    echo "lambda-gui watchdog: armed in $dir"
fi
rm -f -- "$0"
"""
