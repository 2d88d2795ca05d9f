"""The live test stream server for the test-suite (see :mod:`livevault.testsrc`)."""

from livevault.testsrc import *  # noqa: F403
from livevault.testsrc import __all__ as __all__
