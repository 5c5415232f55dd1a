"""Stand-in for the get-pip.py that ansible-test downloads to bootstrap pip.

ansible-test creates each sanity test's virtual environment without pip and then fetches
get-pip.py from ci-files.testing.ansible.com, a host this project's machines cannot reach
(only PyPI). ansible-test runs a cached copy when there is one, with the same command line
it gives get-pip.py: pip install options followed by the packages (``pip==X``). This script
does what get-pip.py does with what the interpreter already has: ensurepip installs the
bundled pip, which then installs the requested version from the configured index.
"""

import subprocess
import sys


def main():
    # In a child: ensurepip points PIP_CONFIG_FILE at /dev/null in its own process, and the
    # install below needs the machine's pip configuration (index, certificates).
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
    args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
    sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))


if __name__ == "__main__":
    main()
