"""Everything that relies on pygeoapi beyond its documented plugin points.

Nothing is imported here, so that :mod:`twin.pygeoapi.context` stays cheap for the provider.
Inside this package ``import pygeoapi`` means the library (absolute imports), never this
package.
"""
