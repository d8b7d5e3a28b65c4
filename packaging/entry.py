"""The frozen app's entry point (PyInstaller runs this file as __main__)."""

import sys

from lambda_gui.__main__ import main

sys.exit(main())
