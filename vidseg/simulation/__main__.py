import sys

from vidseg.simulation.cli import main

sys.exit(main())
