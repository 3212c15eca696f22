"""Plain helpers shared by the tests: classes and functions, imported as ``helpers.<module>``.

Fixtures live in ``tests/conftest.py`` (pytest finds them by name); everything a test calls
or builds lives here. A package of its own rather than ``from conftest import ...``: pytest
imports every conftest.py under the same module name, so such an import picks whichever
conftest was loaded last. ``tests/`` is on ``sys.path`` (pytest's rootdir conftest puts it
there), which is what makes ``import helpers`` work from any test folder.
"""
