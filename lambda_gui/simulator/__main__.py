"""`python -m lambda_gui.simulator`: run a local Lambda Cloud until Ctrl-C or SIGTERM."""

from lambda_gui.simulator.cli import main

raise SystemExit(main())
