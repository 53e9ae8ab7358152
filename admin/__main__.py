"""`python -m admin` is the `straja` command, for environments without the console script."""

from admin.cli import main

main()
