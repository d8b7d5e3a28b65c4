#!/usr/bin/env python3
"""`accelerate launch`'s arguments for a job, on one machine or over several, written down once
(docs/scale-out.md).

Shipped next to train.py (stdlib only, Python 3.8+); never imports lambda_gui. bootstrap.sh
asks it for one machine's arguments; a job over several machines runs the same launcher on
each with a rendezvous:

    python3 launcher.py --processes 8
    python3 launcher.py --processes 8 --machines 2 --machine-rank 1 --main-ip 10.0.0.2

print the arguments, one per line, that go between `python3 -m accelerate.commands.launch` and
`train.py JOB_DIR`. accelerate hands them to torchrun (torch.distributed.run): `--num_processes`
is the total over all machines, `--machine_rank` the node rank (0 hosts the rendezvous), and the
main process's address and port are where every node meets.
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
from dataclasses import dataclass

DEFAULT_PORT = 29500  # torchrun's and accelerate's default rendezvous port
# static: every node knows its rank and the main node's address (torchrun's default, what a
# fixed set of instances needs); c10d: torchrun's dynamic rendezvous on the main node.
RDZV_BACKENDS = ("static", "c10d")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


@dataclass(frozen=True)
class Rendezvous:
    """Where the machines of one job meet: how many, which one this is, the main one's address."""

    machines: int
    machine_rank: int
    main_ip: str
    main_port: int = DEFAULT_PORT
    backend: str = "static"

    def check(self) -> None:
        """ValueError naming the first setting that cannot work."""
        if self.machines < 1:
            raise ValueError(f"machines must be at least 1, got {self.machines}")
        if not 0 <= self.machine_rank < self.machines:
            raise ValueError(
                f"machine rank must be 0 to {self.machines - 1}, got {self.machine_rank}"
            )
        if not 1 <= self.main_port <= 65535:
            raise ValueError(f"main port must be 1 to 65535, got {self.main_port}")
        if self.backend not in RDZV_BACKENDS:
            raise ValueError(f"rendezvous backend must be one of {', '.join(RDZV_BACKENDS)}")
        try:
            ipaddress.ip_address(self.main_ip)
        except ValueError:
            if not _HOST_NAME.fullmatch(self.main_ip):
                raise ValueError(f"{self.main_ip!r} is not an IP address or host name") from None


def launch_arguments(processes_per_machine: int, rendezvous: Rendezvous | None = None) -> list[str]:
    """The arguments between `accelerate launch` and the script, for `processes_per_machine`
    processes (one per GPU) on this machine and, with `rendezvous`, on each of its machines."""
    if processes_per_machine < 1:
        raise ValueError(f"processes per machine must be at least 1, got {processes_per_machine}")
    if rendezvous is None or rendezvous.machines == 1:
        if processes_per_machine < 2:
            raise ValueError("one process on one machine needs no launcher: run train.py")
        return ["--multi_gpu", "--num_machines", "1", "--num_processes", str(processes_per_machine)]
    rendezvous.check()
    arguments = [
        "--multi_gpu",
        "--num_machines",
        str(rendezvous.machines),
        "--num_processes",
        str(processes_per_machine * rendezvous.machines),
        "--machine_rank",
        str(rendezvous.machine_rank),
        "--main_process_ip",
        rendezvous.main_ip,
        "--main_process_port",
        str(rendezvous.main_port),
        "--rdzv_backend",
        rendezvous.backend,
    ]
    if rendezvous.backend == "static":
        # The main node's address as torchrun's master address: every node is told its rank.
        arguments.append("--same_network")
    return arguments


def main(argv: list[str] | None = None) -> int:
    """Print the arguments, one per line; exit 2 with the reason when they cannot work."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, required=True, help="processes per machine")
    parser.add_argument("--machines", type=int, default=1)
    parser.add_argument("--machine-rank", type=int, default=0)
    parser.add_argument("--main-ip", default="")
    parser.add_argument("--main-port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--rdzv-backend", default="static", choices=RDZV_BACKENDS)
    args = parser.parse_args(argv)
    rendezvous = None
    if args.machines != 1:
        rendezvous = Rendezvous(
            args.machines, args.machine_rank, args.main_ip, args.main_port, args.rdzv_backend
        )
    try:
        arguments = launch_arguments(args.processes, rendezvous)
    except ValueError as exc:
        print(f"launcher.py: {exc}", file=sys.stderr)
        return 2
    print("\n".join(arguments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
