"""`python -m trimtab`: the same as the `trimtab` command (editors start the language server
this way with the interpreter the user picked)."""

import sys

from trimtab.cli import main

sys.exit(main())
