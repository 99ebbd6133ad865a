"""A function app with no queue trigger (tests/devhost/test_queue_transport.py): a devhost serving it consumes
no queue the session's other devhosts serve."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="api/ping", methods=["GET"])
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")
