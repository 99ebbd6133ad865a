import json

import azure.durable_functions as df
import azure.functions as func
import pytest

from devhost.function_index import (
    ACTIVITY_TRIGGER,
    HTTP_TRIGGER,
    ORCHESTRATION_TRIGGER,
    UnsupportedFunctionError,
    index_app,
    route_pattern,
)


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("health", "/health", {}),
        ("selftest/{instanceId}/ack", "/selftest/abc-1/ack", {"instanceId": "abc-1"}),
        ("playbooks/{id?}", "/playbooks", {"id": None}),
        ("playbooks/{id?}", "/playbooks/7", {"id": "7"}),
        ("files/{*rest}", "/files/a/b/c", {"rest": "a/b/c"}),
        ("items/{n:int}", "/items/5", {"n": "5"}),
    ],
)
def test_route_templates_match_like_the_host(template, path, expected):
    found = route_pattern(template).fullmatch(path)
    assert found is not None
    assert found.groupdict() == expected


@pytest.mark.parametrize(("template", "path"), [("selftest/{id}/ack", "/selftest/ack"), ("health", "/healthz"),
                                               ("a/{id}", "/a/b/c")])
def test_route_templates_reject_other_paths(template, path):
    assert route_pattern(template).fullmatch(path) is None


def test_mixed_literal_and_parameter_segment_is_refused():
    with pytest.raises(UnsupportedFunctionError):
        route_pattern("files/v{version}")


def _app_with_routes(*routes: str) -> df.DFApp:
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
    for i, route in enumerate(routes):
        def handler(req: func.HttpRequest) -> func.HttpResponse:
            return func.HttpResponse("x")
        handler.__name__ = f"f{i}"
        app.route(route=route, methods=["GET"])(handler)
    return app


def test_literal_routes_win_over_parameterised_ones_whatever_the_declaration_order():
    index = index_app(_app_with_routes("playbooks/{id}", "playbooks/simulate"))
    route, params = index.match_http("GET", "/playbooks/simulate")
    assert route.template == "playbooks/simulate"
    route, params = index.match_http("GET", "/playbooks/42")
    assert params == {"id": "42"}


def test_method_mismatch_is_not_a_match_but_the_path_exists():
    index = index_app(_app_with_routes("health"))
    assert index.match_http("POST", "/health") is None
    assert index.path_exists("/health")


def test_riposte_app_is_indexed_with_every_trigger_kind():
    import function_app  # lazy: function_app imports the whole app: only for the test that indexes it

    # A fresh DFApp: get_functions() may be called once per app object, and the devhost owns that call.
    app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
    for bp in (function_app.health_triggers, function_app.selftest_triggers,
               function_app.selftest_orchestrations, function_app.selftest_activities):
        app.register_functions(bp)
    index = index_app(app)
    kinds = {name: spec.trigger_type for name, spec in index.functions.items()}
    assert kinds["health"] == HTTP_TRIGGER
    assert kinds["selftest_orchestrator"] == ORCHESTRATION_TRIGGER
    assert kinds["selftest_probe"] == ACTIVITY_TRIGGER
    start = index.functions["start_selftest"]
    assert [b["type"] for b in start.input_bindings] == ["durableClient"]
    assert json.dumps(start.trigger["methods"]) == '["POST"]'


def test_unsupported_input_binding_is_refused_at_start_up():
    app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)

    @app.route(route="x")
    @app.blob_input(arg_name="blob", path="c/b", connection="Storage")
    def reads_blob(req: func.HttpRequest, blob: func.InputStream) -> func.HttpResponse:
        return func.HttpResponse("x")

    with pytest.raises(UnsupportedFunctionError, match="blob"):
        index_app(app)


def test_an_app_indexed_twice_gets_the_same_index():
    # get_functions() raises on a second call; a second devhost (another test module) on one app must not.
    app = _app_with_routes("health")
    assert index_app(app) is index_app(app)
