"""digest — 데일리 트렌드: the day's AI papers and posts on the reader's topics, one Korean line each."""

import sys

# Before any submodule is imported: on an older Python they fail with a SyntaxError or an ImportError
# that says nothing about the version. pip refuses to install on one (requires-python); this covers
# running from a source checkout.
if sys.version_info < (3, 10):  # noqa: UP036 - the point is to run on the versions ruff assumes away
    sys.exit(
        f"digest needs Python 3.10 or newer; this is Python {sys.version.split()[0]} ({sys.executable})."
    )
