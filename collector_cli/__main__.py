"""Entry point for ``python -m collector_cli``."""

from collector_cli.cli.app import main

if __name__ == "__main__":
    main()
