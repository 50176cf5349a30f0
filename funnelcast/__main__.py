import sys

from funnelcast.cli import main

sys.exit(main())
