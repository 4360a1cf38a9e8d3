"""The snapfleet lab: real snapd hosts in qemu, built offline from Debian packages.

Run it from the repository root as ``python3 -m tests.lab VERB`` (see tests/lab/README.md).
"""


class LabError(Exception):
    """An expected failure of the lab: the CLI prints it as one line, never a traceback."""
