"""moto server with the deploy-path patches of ``local_aws.moto_patches`` applied.

    python -m local_aws.moto_server [-H 127.0.0.1] [-p 5000]   # moto.server's arguments
"""

from __future__ import annotations

import sys

from moto import server

from local_aws.moto_patches import apply_all

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Patch moto's models in this process, then run moto's server with ``argv``."""
    apply_all()
    server.main(argv if argv is not None else sys.argv[1:])


if __name__ == "__main__":
    main()
