"""Runs a moto server for one test process.

    moto_server.py                      plain (no IAM checks)
    moto_server.py --iam-audit PATH     IAM enforcement prepared (see moto_iam_audit.py); it
                                        starts when the client posts /moto-api/reset-auth

Starts moto's server on 127.0.0.1 on a free port, prints the port on stdout as one line, then
blocks reading stdin and stops when stdin reaches end-of-file, i.e. when the process that spawned
it (and holds the other end of the pipe) exits, however it exits.

Install: python3 -m venv .venv && .venv/bin/pip install "moto[server]"
"""

import logging
import sys


def main() -> int:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as error:  # pragma: no cover - reported to the Rust side
        print(
            f"moto is not installed for {sys.executable}: {error}. "
            'Install it: python3 -m venv .venv && .venv/bin/pip install "moto[server]"',
            file=sys.stderr,
        )
        return 2

    if len(sys.argv) == 3 and sys.argv[1] == "--iam-audit":
        import moto_iam_audit

        moto_iam_audit.install(sys.argv[2])
    elif len(sys.argv) != 1:
        print(f"usage: {sys.argv[0]} [--iam-audit PATH]", file=sys.stderr)
        return 2

    # Request logs would drown the test output; keep warnings and errors.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    _, port = server.get_host_and_port()
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()

    try:
        # Returns at end-of-file: the parent closed its end of the pipe (or died).
        while sys.stdin.buffer.read(4096):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
