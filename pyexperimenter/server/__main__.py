"""`python -m pyexperimenter.server DIR [--host H] [--port P]`: the body of the SLURM job of
`pyexp db start --slurm` (server/embedded.py `serve`). No password on this command line."""

from __future__ import annotations

import argparse
import sys

from ..errors import PyexpError
from .embedded import serve


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m pyexperimenter.server")
    parser.add_argument("folder")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args()
    try:
        return serve(args.folder, args.host, args.port)
    except PyexpError as e:
        print(f"pyexp db: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
