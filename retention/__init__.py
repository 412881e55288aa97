"""The records lifecycle: retention policies, legal holds, certified destruction.

Other packages call :mod:`retention.service` (its docstring lists every
function); Celery runs :mod:`retention.tasks`. This module imports nothing, so
that the catalog's migrations can import :mod:`retention.models` cheaply.
"""
