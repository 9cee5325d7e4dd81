"""The 3D viewer at /viewer/: a pydeck page, its JavaScript, and its routes in the WSGI layer
(twin/viewer/routes.py)."""
