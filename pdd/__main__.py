"""``python -m pdd``: same as the ``pdd`` console script."""

from pdd.cli import main

if __name__ == "__main__":
    main()
