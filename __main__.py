"""`python -m turris_api`: the same as the `turris-api` command."""

import sys

from turris_api.app.cli import main

sys.exit(main())
