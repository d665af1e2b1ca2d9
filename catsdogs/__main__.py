"""`python -m catsdogs` runs the same CLI as the `catsdogs` console script."""

from catsdogs.cli import main

main()
