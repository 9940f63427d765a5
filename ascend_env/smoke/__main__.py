import sys

from ..smoke_cli import main

sys.exit(main())
