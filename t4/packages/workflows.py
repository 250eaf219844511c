"""quilt3's workflows: ``.quilt/workflows/config.yml`` in a registry says what a push must
carry, and ``push``/``build`` check it as quilt3 8 does (its ``quilt3.workflows``).

The config (YAML, checked against quilt3's own config schema, version 1.x) names
``workflows`` by id, each with optional ``is_message_required``, ``handle_pattern`` (a
regular expression the package name must match), ``metadata_schema`` and ``entries_schema``
(ids in ``schemas``, each a ``url`` of a JSON Schema in S3 or, for a local registry, a file);
``default_workflow`` is used when none is given, and ``is_workflow_required`` (default true)
refuses a push with no workflow (``workflow=None``). With no config, a push without
``workflow=`` is not checked, and one naming a workflow is refused. Package metadata is
validated against ``metadata_schema``; the list of ``{logical_key, size, meta}`` of every
entry against ``entries_schema``. A push that fails raises ``WorkflowValidationError``
listing every failure; one that passes records ``{"id", "config", "schemas"}`` as the
manifest's ``workflow``, so the top hash is the one quilt3 computes for the same push.

``workflows-config-1.schema.json`` is quilt3 8.0.0's ``config-1.schema.json`` (Apache-2.0).
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

from t4.errors import KeyNotFoundError, LocalPathError, WorkflowValidationError
from t4.packages.manifest import PhysicalKey

if TYPE_CHECKING:
    from t4.packages.manifest import Manifest
    from t4.packages.registry import Registry
    from t4.packages.stores import Stores

__all__ = ["CONFIG_KEY", "validate"]

CONFIG_KEY = ".quilt/workflows/config.yml"
_DRAFT7 = "http://json-schema.org/draft-07/schema#"
_SUPPORTED = (1, 1, 0)


def validate(
    reg: Registry, stores: Stores, workflow: Any, name: str, pkg: Manifest, message: str | None
) -> dict[str, Any] | None:
    """What the manifest records as ``workflow`` (None: no workflows config, nothing to
    record); raises ``WorkflowValidationError`` naming each failure. ``workflow`` is ``...``
    (not given: the default), None (no workflow) or a workflow id."""
    if not (workflow is None or workflow is ... or isinstance(workflow, str)):
        raise WorkflowValidationError(
            f"workflow must be a workflow id, None or omitted: {workflow!r}"
        )
    config, where = _config(reg)
    if config is None:
        if workflow is ...:
            return None
        raise _error(reg, f"workflow {workflow!r} was given, but there is no {CONFIG_KEY}")
    if workflow is ...:
        workflow = config.get("default_workflow")
    spec = _workflow(reg, config, workflow)
    schemas: dict[str, str] = {}
    failures = []
    if spec.get("is_message_required", False) and not message:
        failures.append("a message is required by the workflow, but none was given")
    pattern = spec.get("handle_pattern")
    if pattern and not re.search(pattern, name):
        failures.append(f"package name {name!r} does not match {pattern!r}")
    for field, value in (
        ("metadata_schema", pkg.header.get("user_meta", {})),
        (
            "entries_schema",
            [
                {"logical_key": lk, "size": r.size, "meta": r.meta.get("user_meta", {})}
                for lk, r in pkg.records()
            ],
        ),
    ):
        if spec.get(field):
            schema, stored = _schema(reg, stores, config, where, spec[field])
            schemas[spec[field]] = stored
            what = "metadata" if field == "metadata_schema" else "entries"
            failures += [f"{what}: {_where(e)}{e.message}" for e in schema.iter_errors(value)]
    if failures:
        raise _error(reg, f"workflow {workflow!r} refuses this push: " + "; ".join(failures))
    stored_as: dict[str, Any] = {"id": workflow, "config": where}
    if schemas:
        stored_as["schemas"] = schemas
    return stored_as


def _config(reg: Registry) -> tuple[dict[str, Any] | None, str]:
    import jsonschema
    import yaml

    try:
        data = reg.bucket.get_bytes(CONFIG_KEY)
    except KeyNotFoundError:
        return None, ""
    info = reg.bucket.backend.lookup(CONFIG_KEY)
    where = _url(reg, CONFIG_KEY, info.version_id if info else None)
    try:
        config = yaml.safe_load(data.decode())
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise _error(reg, f"{CONFIG_KEY} is not YAML: {err}") from err
    try:
        _config_schema().validate(config)
    except jsonschema.ValidationError as err:
        raise _error(reg, f"{CONFIG_KEY} failed validation: {err.message}") from err
    version = config["version"] if isinstance(config["version"], str) else config["version"]["base"]
    if (*map(int, version.split(".")), 0, 0)[:3] > _SUPPORTED:
        raise _error(reg, f"{CONFIG_KEY} version {version} is not supported (1.1 at most)")
    return config, where


def _workflow(reg: Registry, config: dict[str, Any], workflow: str | None) -> dict[str, Any]:
    if workflow is None:
        if config.get("is_workflow_required", True):
            raise _error(reg, "a workflow is required by the config, but none was given")
        return {}
    if workflow not in config["workflows"]:
        known = ", ".join(sorted(config["workflows"]))
        raise _error(reg, f"there is no workflow {workflow!r} in the config (it has {known})")
    return dict(config["workflows"][workflow])


def _schema(
    reg: Registry, stores: Stores, config: dict[str, Any], where: str, schema_id: str
) -> tuple[Any, str]:
    """The validator of ``schema_id`` and the URL (pinned to its version) quilt3 records."""
    import jsonschema

    url = config.get("schemas", {}).get(schema_id, {}).get("url")
    if url is None:
        raise _error(reg, f"there is no schema {schema_id!r} in the config's schemas")
    pk = PhysicalKey.from_url(url)
    if pk.bucket is None and where.startswith("s3://"):
        raise _error(reg, f"local schema {url!r} can't be used on the remote registry")
    try:
        schema = json.loads(stores.read(pk), object_hook=_no_refs)
        version = stores.size_and_version(pk)[1] if pk.bucket and not pk.version_id else None
    except (KeyNotFoundError, LocalPathError, ValueError) as err:
        raise _error(reg, f"schema {schema_id!r} at {url} cannot be read: {err}") from err
    meta = schema.get("$schema", _DRAFT7) if isinstance(schema, dict) else _DRAFT7
    if meta != _DRAFT7:
        raise _error(reg, f"schema {schema_id!r}: unsupported meta-schema {meta!r}")
    try:
        jsonschema.Draft7Validator.check_schema(schema)
    except jsonschema.SchemaError as err:
        raise _error(reg, f"schema {schema_id!r} is not valid: {err.message}") from err
    stored = str(PhysicalKey(pk.bucket, pk.path, version)) if version else str(pk)
    return jsonschema.Draft7Validator(schema), stored


def _no_refs(obj: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in obj:
        raise ValueError("$ref in a workflow schema is not supported (as in quilt3)")
    return obj


def _url(reg: Registry, key: str, version: str | None) -> str:
    if reg.uri.startswith("s3://"):
        return str(PhysicalKey(reg.uri[5:], key, version))
    return str(PhysicalKey.from_path(PhysicalKey.from_url(reg.uri).path + "/" + key))


def _where(err: Any) -> str:
    return "".join(f"[{p!r}]" for p in err.absolute_path) + " " if err.absolute_path else ""


def _error(reg: Registry, text: str) -> WorkflowValidationError:
    return WorkflowValidationError(
        f"{reg.uri}: {text} (see {CONFIG_KEY}; choose a workflow with workflow=, "
        "--workflow on the command line)",
        bucket=reg.uri,
        key=CONFIG_KEY,
    )


@functools.cache
def _config_schema() -> Any:
    import jsonschema

    text = resources.files("t4.packages").joinpath("workflows-config-1.schema.json").read_text()
    return jsonschema.Draft7Validator(json.loads(text))
