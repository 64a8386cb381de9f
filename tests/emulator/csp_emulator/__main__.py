"""``python -m csp_emulator serve --world demo``"""

from __future__ import annotations

import argparse
import sys

from .app import serve
from .world import WorldError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="csp_emulator", description="Local Microsoft cloud emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="run in the foreground and print the export lines")
    run.add_argument("--world", default="demo", help="world YAML path or a name under worlds/ (default demo)")
    run.add_argument("--state-file", help="also write the endpoints and control token as JSON here")
    run.add_argument("--state-dir", help="directory for the CA and generated certificates (default: temp)")
    run.add_argument("--port-login", type=int, default=0)
    run.add_argument("--port-graph", type=int, default=0)
    run.add_argument("--port-pc", type=int, default=0)
    run.add_argument("-v", "--verbose", action="store_true", help="print handler tracebacks to stderr")
    args = parser.parse_args(argv)
    ports = {"login": args.port_login, "graph": args.port_graph, "partner_center": args.port_pc}
    try:
        return serve(args.world, state_file=args.state_file, state_dir=args.state_dir, ports=ports,
                     verbose=args.verbose)
    except WorldError as exc:
        print(f"csp_emulator: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"csp_emulator: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
