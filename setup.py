"""Builds the optional compiled parsers; everything else is in pyproject.toml.

The extensions only speed up batch ingest of MySQL/MariaDB slow logs and PostgreSQL stderr logs,
so they are optional: with no C compiler (or no Cython) the install goes on without them and
perftui uses the pure-Python parsers (``make_fast`` in ``perftui.ingest.mysql_slow`` and
``perftui.ingest.postgres_stderr`` checks at run time).
"""

from setuptools import Extension, setup

try:
    from Cython.Build import cythonize
except ImportError:  # a --no-build-isolation install without Cython: pure Python
    ext_modules = []
else:
    ext_modules = cythonize(
        [
            # The column buffers both parsers cimport (declared in _columns.pxd).
            Extension("perftui.ingest._columns", ["perftui/ingest/_columns.pyx"]),
            Extension("perftui.ingest._mysql_slow_fast", ["perftui/ingest/_mysql_slow_fast.pyx"]),
            # Fingerprints of the texts without comments or other rare constructs (the SQL
            # chain in fingerprint.py does the rest).
            Extension("perftui._fingerprint_fast", ["perftui/_fingerprint_fast.pyx"]),
            Extension(
                "perftui.ingest._postgres_stderr_fast", ["perftui/ingest/_postgres_stderr_fast.pyx"]
            ),
        ],
        compiler_directives={"language_level": "3"},
    )
    for ext in ext_modules:
        # A failed compile is a warning, not a failed install. Set here because cythonize()
        # returns new Extension objects without the flag.
        ext.optional = True

setup(ext_modules=ext_modules)
