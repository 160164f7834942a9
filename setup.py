"""Builds the optional compiled slow-log parser; everything else is in pyproject.toml.

The extension only speeds up batch ingest of MySQL/MariaDB slow logs, so it is optional: with no
C compiler (or no Cython) the install goes on without it and perftui uses the pure-Python parser
(``perftui.ingest.mysql_slow.make_fast`` checks at run time).
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # a --no-build-isolation install without Cython: pure Python
    ext_modules = []
else:
    ext_modules = cythonize(
        [Extension("perftui.ingest._mysql_slow_fast", ["perftui/ingest/_mysql_slow_fast.pyx"])],
        compiler_directives={"language_level": "3"},
    )
    for ext in ext_modules:
        # A failed compile is a warning, not a failed install. Set here because cythonize()
        # returns new Extension objects without the flag.
        ext.optional = True

setup(ext_modules=ext_modules)
