"""shared/graph/errors.py hands out msgraph's ODataError when an error is handled, not at import."""

from __future__ import annotations

import pytest
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from shared.graph.errors import error_map, is_odata_error, odata_error


def test_odata_error_is_the_sdks_class_and_catches_what_graph_raises():
    assert odata_error() is ODataError
    with pytest.raises(ODataError):
        try:
            raise ODataError(response_status_code=404)
        except odata_error() as exc:
            assert exc.response_status_code == 404
            raise


def test_is_odata_error_tells_graph_errors_from_others():
    assert is_odata_error(ODataError(response_status_code=403))
    assert not is_odata_error(ValueError("not Graph"))


def test_error_map_raises_odata_error_for_every_status():
    assert error_map() == {"XXX": ODataError}
