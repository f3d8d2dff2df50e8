"""Image validation and processing (pure functions + a worker limiter) and the file store.

- ``media.pipeline``: ``process``/``render`` an upload into stripped variants.
- ``media.filters``: the named filters and the user's adjustments.
- ``media.sniff``: magic-byte types and polyglot refusal.
- ``media.store``: content-addressed storage behind the ``MediaStore`` protocol.
- ``media.workers``: ``MediaWorkers``, the pipeline in bounded worker threads.
- ``media.errors``: ``Unsupported``, ``TooLarge``, ``Corrupt``.

Imports only ``config``.
"""
