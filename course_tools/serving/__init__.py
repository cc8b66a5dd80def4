"""The course's TF-Serving-compatible development server.

Start it with ``course serve`` or ``python -m course_tools.serving.server``.

- ``protocol``: the REST protocol's JSON requests to arrays and arrays to JSON responses;
- ``repository``: model versions on disk, loaded, polled and swapped while serving;
- ``batching``: server-side batching of concurrent requests;
- ``server``: the tornado application and its command line (TF Serving's flags).
"""
