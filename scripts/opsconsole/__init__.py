"""The operator console (``scripts/console.py``): the platform's state in a browser.

Its data comes from the same functions the API and ``ops.py`` use
(chalicelib.entrypoints.roots.api with an admin caller, scripts/operations); this
package only arranges it into pages.
"""
