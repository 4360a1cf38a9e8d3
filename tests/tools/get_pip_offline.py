"""Offline stand-in for ansible-test's get-pip-<version>.py bootstrap script.

ansible-test (sanity/units with --venv or --local) sets up pip in each of its virtualenvs by
running ~/.ansible/test/cache/get_pip_<major>_<minor>.py, which it otherwise downloads from a
host that is not PyPI. run-in-collection.sh copies this file there under that name and puts
pip's wheel, fetched from PyPI, next to it; this script then installs pip from that wheel.

ansible-test runs it as `python quiet_pip.py <pip options> <packages...>` with GET_PIP naming
this file; the options it passes are those of get-pip.py, which pip itself does not know.
"""

import os
import re
import sys

GET_PIP_ONLY_OPTIONS = ("--no-setuptools", "--no-wheel")


def wheel_path():
    """The pip wheel next to this file, matching the version in this file's name."""
    here = os.path.dirname(os.path.abspath(__file__))
    found = re.match(r"get_pip_(\d+)_(\d+)\.py$", os.path.basename(__file__))
    if not found:
        sys.exit("%s: cannot tell the pip version from the file name" % __file__)
    wheel = os.path.join(here, "pip-%s.%s-py3-none-any.whl" % found.groups())
    if not os.path.isfile(wheel):
        sys.exit("%s: %s is missing; run tests/tools/run-in-collection.sh to fetch it" % (__file__, wheel))
    return wheel


def main():
    wheel = wheel_path()
    # pip runs from inside its own wheel: that is what get-pip.py does too.
    sys.path.insert(0, wheel)
    from pip._internal.cli.main import main as pip_main  # pylint: disable=import-outside-toplevel

    # "pip==X.Y" in the package list is satisfied by the local wheel instead of an index.
    args = [wheel if re.match(r"pip([=<>!~]|$)", arg) else arg
            for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_OPTIONS]
    return pip_main(["install", "--upgrade", "--force-reinstall"] + args)


if __name__ == "__main__":
    sys.exit(main())
