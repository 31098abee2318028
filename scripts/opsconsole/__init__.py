"""The operator console (``scripts/console.py``): the platform's state in a browser.

Its data comes from the same functions the API and ``ops.py`` use
(the API's route groups in chalicelib.entrypoints.roots, with an admin caller, and
scripts/operations); this package only arranges it into pages.
"""
