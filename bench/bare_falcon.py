"""The framework ceiling of DESIGN §8: a bare Falcon app returning a constant JSON body.

Served by bench/http_bench.py under the same gunicorn settings as ``inventory serve``.
"""

from __future__ import annotations

import falcon

BODY = b'{"item_id":"01900000-0000-7000-8000-000000000000","on_hand":0,"reserved":0}'


class Constant:
    def on_get(self, req: falcon.Request, resp: falcon.Response, **_: str) -> None:
        resp.content_type = "application/json"
        resp.data = BODY


app = falcon.App()
app.add_route("/v1/items/{item_id}/stock", Constant())
app.add_route("/readyz", Constant())
