import sys

from ..cli.smoke import main

sys.exit(main())
