"""Analyses over the published collections: SQL and pure functions, no HTTP.

The OGC API Processes plugins (twin/processes.py) and the derive steps (twin/derive.py) call
these; they never import the server.
"""
