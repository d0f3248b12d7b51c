"""``python -m gan_adapt.cli ...``: the same command line as ``gan-adapt ...``."""

from gan_adapt.cli.commands import main

if __name__ == "__main__":
    main()
