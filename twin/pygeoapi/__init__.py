"""Everything that relies on pygeoapi beyond its documented plugin points, in one place.

pygeoapi's documented seams (a provider, a formatter and process plugins named in the
config, a process manager named in the config, a templates path) are used where they are:
``twin/provider.py``, ``twin/csv_format.py``, ``twin/processes.py``. What goes further lives
here, and :func:`twin.pygeoapi.compat.check` verifies at start-up that pygeoapi still has
it, so an upgrade that moves something fails loudly instead of serving wrong answers:

``app``          pygeoapi's Flask app built for us: environment, overrides, the check
``compat``       the start-up check: versions, module attributes, signatures, templates
``conformance``  our conformance lists, put in place of pygeoapi's module attributes
``context``      request context the WSGI layer hands the provider (context variables)
``manager``      the synchronous process manager (overrides ``DummyManager.execute_process``)
``wsgi``         the WSGI layer in front of pygeoapi's Flask app
``templates/``   the few pygeoapi templates we change (pygeoapi falls back to its own)

Importing this package imports nothing of pygeoapi, so :mod:`twin.pygeoapi.context` stays
cheap for the provider. Inside it, ``import pygeoapi`` means the library (absolute imports).
"""

from __future__ import annotations

from pathlib import Path

#: The templates we change (``server.templates.path``); pygeoapi falls back to its own.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
#: Flask's static folder (``server.templates.static``): pygeoapi's own static files, unchanged,
#: and the vendored assets of the pages.
STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
