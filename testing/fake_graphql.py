"""GitHub's GraphQL endpoint as the fake GitHub answers it: the two draft-state mutations.

Why a module of its own: REST and GraphQL fail differently (a GraphQL answer is HTTP 200
with an `errors` list), and the fake must hold macoder to GitHub's published GraphQL schema
(`@octokit/graphql-schema`, installed by scripts/npm-tools.sh) as it holds REST to the
OpenAPI description. When the schema is there, every document is validated against it
(graphql-core) and its variables coerced to the declared types, so a misspelt field or an
`ID!` passed as `String!` is refused here as GitHub would refuse it. Without the schema the
fake still answers: it parses the document and walks the selection set itself.

Answering is deliberately small: the fake knows a handful of root fields (the mutations the
caller registers, each a function of its `input`), and renders each answer by walking the
document's selection set over a plain dict — a field the dict lacks is an error, as an
unknown field is on GitHub. Error bodies carry GitHub's `type` (`NOT_FOUND`, `FORBIDDEN`,
`UNPROCESSABLE`) and `path`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
#: The introspection result `@octokit/graphql-schema` ships (loads ~5x faster than its SDL).
SCHEMA_JSON: Final = ROOT / ".tools/npm/node_modules/@octokit/graphql-schema/schema.json"
NO_SCHEMA: Final = "GitHub's GraphQL schema is not installed: run scripts/npm-tools.sh"
#: "Whatever schema is installed": what the fake GitHub loads at its first GraphQL request.
INSTALLED: Final = "installed"


class GraphQLFault(Exception):
    """A resolver's refusal, answered as one entry of `errors` (GitHub's `type` and text)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


#: A root field's resolver: its arguments (variables substituted) -> the object it returns.
Resolver = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@functools.cache
def load_schema(path: Path = SCHEMA_JSON) -> Any:
    """GitHub's schema as a graphql-core `GraphQLSchema`, or None when it (or graphql-core)
    is missing. `assume_valid`: the published schema breaks two of graphql-core's own SDL
    rules (a field defined twice, deprecated implementations of undeprecated interface
    fields); it is GitHub's, and re-checking GitHub's work is not this fake's job."""
    if not path.exists():
        return None
    try:
        from graphql import build_client_schema
    except ImportError:
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return build_client_schema(data.get("data", data), assume_valid=True)


def schema_errors(schema: Any, query: str, variables: Mapping[str, Any] | None) -> list[str]:
    """What GitHub's schema says is wrong with `query` and its `variables` (empty: nothing)."""
    from graphql import GraphQLError, parse, validate
    from graphql.execution.values import get_variable_values
    from graphql.language import OperationDefinitionNode

    try:
        document = parse(query)
    except GraphQLError as exc:
        return [exc.message]
    errors = [error.message for error in validate(schema, document)]
    if errors:
        return errors
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            coerced = get_variable_values(
                schema, definition.variable_definitions or (), dict(variables or {})
            )
            if isinstance(coerced, list):
                errors += [error.message for error in coerced]
    return errors


def answer(
    body: Any,
    *,
    schema: Any,
    mutations: Mapping[str, Resolver],
    queries: Mapping[str, Resolver] | None = None,
    can_write: bool = True,
) -> dict[str, Any]:
    """GitHub's answer (the JSON body, always HTTP 200) to a GraphQL request `body`."""
    from graphql import GraphQLError, parse
    from graphql.language import OperationDefinitionNode

    if not isinstance(body, Mapping) or not isinstance(body.get("query"), str):
        return {"errors": [{"message": "A query attribute must be specified and be a string."}]}
    query: str = body["query"]
    variables = body.get("variables") or {}
    if not isinstance(variables, Mapping):
        return {"errors": [{"message": "Variables are invalid JSON."}]}
    if schema is not None:
        problems = schema_errors(schema, query, variables)
        if problems:
            return {"errors": [{"message": text} for text in problems]}
    try:
        document = parse(query)
    except GraphQLError as exc:
        return {"errors": [{"message": exc.message}]}
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    wanted = body.get("operationName")
    chosen = [op for op in operations if wanted is None or (op.name and op.name.value == wanted)]
    if len(chosen) != 1:
        return {"errors": [{"message": "Exactly one operation must be chosen."}]}
    operation = chosen[0]
    is_mutation = operation.operation.value == "mutation"
    roots = mutations if is_mutation else (queries or {})
    data: dict[str, Any] = {}
    errors: list[dict[str, Any]] = []
    for selection in operation.selection_set.selections:
        name = selection.name.value  # type: ignore[attr-defined]
        key = selection.alias.value if selection.alias else name  # type: ignore[attr-defined]
        resolver = roots.get(name)
        try:
            if resolver is None:
                kind = "mutation" if is_mutation else "query"
                raise GraphQLFault("UNKNOWN", f"the fake GitHub answers no {kind} field {name!r}")
            if is_mutation and not can_write:
                raise GraphQLFault("FORBIDDEN", "Resource not accessible by integration")
            arguments = _arguments(selection, variables)
            data[key] = _select(resolver(arguments), selection.selection_set, [key])  # type: ignore[attr-defined]
        except GraphQLFault as fault:
            data[key] = None
            errors.append(
                {"type": fault.kind, "path": [key], "locations": [], "message": fault.message}
            )
    result: dict[str, Any] = {"data": data}
    if errors:
        result["errors"] = errors
    return result


def _arguments(selection: Any, variables: Mapping[str, Any]) -> dict[str, Any]:
    from graphql.utilities import value_from_ast_untyped

    return {
        argument.name.value: value_from_ast_untyped(argument.value, dict(variables))
        for argument in selection.arguments or ()
    }


def _select(value: Any, selection_set: Any, path: list[str]) -> Any:
    """`value` cut down to the fields `selection_set` asks for (aliases honoured)."""
    if selection_set is None or value is None:
        return value
    if isinstance(value, list):
        return [_select(item, selection_set, path) for item in value]
    out: dict[str, Any] = {}
    for field in selection_set.selections:
        name = field.name.value
        key = field.alias.value if field.alias else name
        if name not in value:
            raise GraphQLFault(
                "UNKNOWN", f"the fake GitHub cannot answer {'.'.join([*path, name])}"
            )
        out[key] = _select(value[name], field.selection_set, [*path, key])
    return out
