"""`python -m whistle.cli`: the console without the installed script."""

from whistle.cli import main

main()
