"""`python -m facecluster.cli`: the same as the `facecluster` command."""

from . import main

main(prog_name="facecluster")
