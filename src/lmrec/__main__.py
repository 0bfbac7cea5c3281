"""``python -m lmrec``: the same command line as the ``lmrec`` script."""

from lmrec.cli import main

if __name__ == "__main__":
    main()
