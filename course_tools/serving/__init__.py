"""The course's TF-Serving-compatible development server (REST and gRPC).

Start it with ``course serve`` or ``python -m course_tools.serving.server``.

- ``protocol``: the REST protocol's JSON requests to arrays and arrays to JSON responses;
- ``deep_json``: JSON nested deeper than Python's recursion limit (rapidjson reads it);
- ``examples``: tf.Example inputs and the Classify and Regress APIs;
- ``repository``: model versions on disk, loaded, polled and swapped while serving;
- ``batching``: server-side batching of concurrent requests;
- ``metrics``: Prometheus metrics under TF Serving's names;
- ``status``: model status and metadata answers (JSON and protos);
- ``grpc_service``: PredictionService and ModelService on ``--port``;
- ``server``: the Tornado application and its command line (TF Serving's flags).
"""
