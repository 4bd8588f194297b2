#!/usr/bin/env python
"""Django's command-line utility; same as the ``siyu`` console script."""

from siyu.cli import main

if __name__ == "__main__":
    main()
