"""Base model for everything that crosses the API: camelCase on the wire, unknown fields refused."""

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationInfo
from pydantic.alias_generators import to_camel

# Validation context of a client saving something (`Model.model_validate(body, context=SAVING)`).
# Without it a model is being read back (from storage, or a run's input), and a validator may accept
# an old spelling the API no longer takes, so what was stored keeps working.
SAVING: dict[str, Any] = {"saving": True}


def is_saving(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("saving"))


class CamelModel(BaseModel):
    # defer_build: a model's validator is built when it is first used, not when its module is imported, so
    # `import function_app` does not build the ~100 models its functions may use (docs/benchmarks.md). Pydantic
    # 2.14+ builds a deferred model under a lock: threads that use it first at the same time are safe.
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", defer_build=True)
