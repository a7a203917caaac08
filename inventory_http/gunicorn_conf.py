"""gunicorn configuration file for the reference API::

    gunicorn -c python:inventory_http.gunicorn_conf 'inventory_http.wsgi:create()'

``inventory serve`` does the same with the same options and hooks, taken directly from
:mod:`inventory_http.wsgi`. Only gunicorn should import this module: being a configuration file,
it reads the ``INVENTORY_*`` settings when loaded, which is when gunicorn starts. It sets:

* ``workers`` and ``threads`` from the settings, the ``gthread`` worker class, and ``bind``;
  the embedded in-memory default is forced to one worker, as its state lives in one process;
* no ``preload_app``: the app, its database pool and its Redis client are created in each worker
  after the fork (the ``post_fork`` hook) and closed when the worker exits (``worker_exit``), so
  no connection is ever shared between processes;
* no access log (the app writes one JSON line per request itself); gunicorn's own error log goes
  to stderr at the settings' log level;
* ``reuse_port`` (Linux, TCP binds): a listening socket per worker, so the kernel spreads
  connections evenly over the workers; the ``on_starting`` hook first makes sure no other server
  listens on the address (it exits with ``Error: ...`` and status 1 if one does);
* ``worker_tmp_dir`` on ``/dev/shm`` where it exists, and request size limits a little above the
  app's own, so the app answers most oversized requests with a problem document.
"""

from __future__ import annotations

from typing import Any

from inventory_http.settings import Settings
from inventory_http.wsgi import gunicorn_options, post_fork, worker_exit

__all__ = ["child_exit", "on_exit", "on_starting", "post_fork", "worker_exit"]


def _configure() -> dict[str, Any]:
    values = gunicorn_options(Settings.from_env())
    values["bind"] = values["bind"][0]
    return values


# Read by gunicorn when it loads this module as its configuration file.
_config = _configure()
bind: str = _config["bind"]
workers: int = _config["workers"]
threads: int = _config["threads"]
worker_class: str = _config["worker_class"]
preload_app: bool = _config["preload_app"]
accesslog: str | None = _config["accesslog"]
errorlog: str = _config["errorlog"]
loglevel: str = _config["loglevel"]
timeout: int = _config["timeout"]
graceful_timeout: int = _config["graceful_timeout"]
keepalive: int = _config["keepalive"]
proc_name: str = _config["proc_name"]
control_socket_disable: bool = _config["control_socket_disable"]
reuse_port: bool = _config["reuse_port"]
worker_tmp_dir: str | None = _config["worker_tmp_dir"]
limit_request_line: int = _config["limit_request_line"]
limit_request_fields: int = _config["limit_request_fields"]
limit_request_field_size: int = _config["limit_request_field_size"]
on_starting: Any = _config["on_starting"]
child_exit: Any = _config["child_exit"]
on_exit: Any = _config["on_exit"]
