"""`python -m arkos.cli`: the same command line as the `arkos` script."""

from arkos.cli import main

main()
