"""template.yaml as the single source of truth for the local stack, read by SAM CLI's template providers.

SAM CLI reads the template the way ``sam local start-api`` does, minus Docker: it merges Globals, adds the
implicit API and resolves Parameters, Conditions, !If, !Sub, !Ref and !GetAtt. Parameters take the local
config value of the same name in UPPER_SNAKE (``PaymeMerchantId`` ← ``PAYME_MERCHANT_ID``) and fall back to
the parameter's Default, which makes ``Environment`` ``dev`` unless local.env says otherwise.

What stays here is what SAM has no Docker-free form for: resources as moto has them (every one named by its
logical id; a queue's !Ref is its URL, !GetAtt X.Arn an ARN of X's service), provision(), which creates
the template's tables, secrets and queues (with their visibility timeouts and redrive policies) in moto, and
the SQS event sources of the functions for the in-process poller (local.sqs).

Nothing here names a table, secret, function or route: adding one to template.yaml needs no change here.
"""

import copy
import functools
import json
import re
import secrets
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast

import boto3
from botocore.exceptions import ClientError
from samcli.lib.providers.api_collector import ApiCollector
from samcli.lib.providers.provider import Function, Stack
from samcli.lib.providers.sam_api_provider import SamApiProvider
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_layer_provider import SamLayerProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.apigw.route import Route
from samcli.yamlhelper import yaml_parse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "template.yaml"
DEFAULT_CONFIG = ROOT / "local" / "local.env"

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
LOCAL_STACK_NAME = "tolov-local"

Config = Mapping[str, str]

# create_table takes these table properties as CloudFormation spells them; the rest (PITR, SSE with
# CloudFormation's key names, TTL, tags, policies) is either spelled differently or irrelevant locally.
_TABLE_KEYS = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "LocalSecondaryIndexes",
    "GlobalSecondaryIndexes",
)
# create_queue takes these queue properties under the same names; FIFO queues are not served locally (a
# local queue is named by its logical id, which cannot end in .fifo).
_QUEUE_KEYS = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
)
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")

# SAM's defaults name the stack "local" and the URL suffix "localhost"; moto and the handlers expect AWS's.
_PSEUDO_PARAMETERS = {
    "AWS::Region": LOCAL_REGION,
    "AWS::AccountId": LOCAL_ACCOUNT_ID,
    "AWS::StackName": LOCAL_STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stack/{LOCAL_STACK_NAME}/0",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}

# ARNs for !GetAtt X.Arn of the resource types the local stack knows how to name, and their other attributes.
# SAM's resolver would give any other resource's Arn the shape of a Lambda function's.
_ARN_FORMATS = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::Events::EventBus": "arn:aws:events:{region}:{account}:event-bus/{name}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}",
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
    "AWS::KMS::Key": "arn:aws:kms:{region}:{account}:alias/{name}",
    "AWS::S3::Bucket": "arn:aws:s3:::{name}",
}


# ---------------------------------------------------------------------------------------------- config


def load_config(path: str | Path = DEFAULT_CONFIG) -> dict[str, str]:
    """KEY=VALUE lines; blank lines and ``#`` comment lines are skipped, surrounding quotes removed.

    Inline comments are not recognised because a value (a key, a secret) may contain ``#``.
    """
    config: dict[str, str] = {}
    for number, raw in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{path}:{number}: expected KEY=VALUE, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        config[key.strip()] = value
    return config


def upper_snake(name: str) -> str:
    """PaymeMerchantId → PAYME_MERCHANT_ID; ApiURLPrefix → API_URL_PREFIX."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).upper()


# ---------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ApiRoute:
    """One ``Type: Api`` event of a function."""

    method: str  # upper case; ANY matches every method
    path: str  # resource path template, e.g. /invoices/{invoice_id}
    function: str  # logical id of the function
    api_key_required: bool
    handler_file: str  # relative to the code root, e.g. functions/billing_api/app.py
    handler_attr: str  # e.g. lambda_handler
    event: str  # the event's name in the template, e.g. GetInvoice
    rest_api: str | None  # logical id of the AWS::Serverless::Api, None for SAM's implicit API


@dataclass(frozen=True)
class SqsEventSource:
    """One ``Type: SQS`` event of a function: Lambda's event source mapping from a queue to it."""

    function: str  # logical id of the consumer
    event: str  # the event's name in the template, e.g. Reversals
    queue: str  # the queue's logical id, which is its name locally
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool  # FunctionResponseTypes: [ReportBatchItemFailures]
    maximum_concurrency: int | None  # ScalingConfig.MaximumConcurrency
    enabled: bool


@dataclass(frozen=True)
class StreamEventSource:
    """One ``Type: DynamoDB`` event of a function: Lambda's event source mapping from a table's stream."""

    function: str
    event: str
    table: str  # the table's logical id, which is its name locally
    batch_size: int
    starting_position: str  # TRIM_HORIZON | LATEST
    report_batch_item_failures: bool
    bisect_on_error: bool  # BisectBatchOnFunctionError
    maximum_retry_attempts: int  # -1: until the record expires (Lambda's default)
    on_failure_queue: str | None  # DestinationConfig.OnFailure, an SQS queue's name
    enabled: bool


@dataclass(frozen=True)
class FunctionSettings:
    """What the local runtime needs of a function, Globals applied."""

    logical_id: str
    handler_file: str
    handler_attr: str
    memory_mb: int
    timeout_s: int


@dataclass(frozen=True)
class _SamView:
    """The template as SAM CLI's providers give it for one set of parameter values."""

    stacks: list[Stack]
    resources: dict[str, dict[str, Any]]  # resolved, Globals merged, by logical id
    functions: dict[str, Function]  # by logical id, in template order


# ---------------------------------------------------------------------------------------------- template


class SamTemplate:
    """template.yaml as written (``data``, ``resources``) and as SAM CLI reads it, with the local names."""

    def __init__(self, data: dict[str, Any], path: Path | None = None) -> None:
        self.data = data
        self.path = path
        self._views: dict[tuple[tuple[str, str], ...], _SamView] = {}

    @classmethod
    def load(cls, path: str | Path = DEFAULT_TEMPLATE) -> "SamTemplate":
        path = Path(path)
        return cls(parse_template(path.read_text(encoding="utf-8")), path)

    # ------------------------------------------------------------------ the template as written

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.data.get("Resources") or {}
        return resources

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res.get("Type") == resource_type}

    # ------------------------------------------------------------------ the template as SAM reads it

    def _sam(self, config: Config | None) -> _SamView:
        config, parameters = config or {}, {}
        for name, parameter in (self.data.get("Parameters") or {}).items():
            if upper_snake(name) in config:
                parameters[name] = config[upper_snake(name)]
            elif "Default" not in parameter:  # SAM would resolve its !Ref to the parameter's name
                raise ValueError(f"parameter {name}: no Default and no {upper_snake(name)} in the config")
        key = tuple(sorted(parameters.items()))
        if key not in self._views:
            self._views[key] = self._read(parameters)
        return self._views[key]

    def _read(self, parameters: Mapping[str, str]) -> _SamView:
        # SAM's resolver looks up what a logical id resolves to among its parameter values (the
        # logical_id_translator of IntrinsicsSymbolTable), so the resources' local names go in with them.
        symbols = {
            name: _local_symbol(name, str(resource.get("Type")))
            for name, resource in self.resources.items()
            if resource.get("Type") in _ARN_FORMATS
        }
        with warnings.catch_warnings():
            # SAM CLI validates through samtranslator's deprecated validator: its warnings, not ours.
            warnings.filterwarnings("ignore", category=DeprecationWarning, module="samcli|samtranslator")
            stacks, _ = SamLocalStackProvider.get_stacks(
                template_dictionary=copy.deepcopy(self.data),
                parameter_overrides={**_PSEUDO_PARAMETERS, **symbols, **parameters},
            )
            root = SamLocalStackProvider.find_root_stack(stacks)
            resources = root.resources
            functions = SamFunctionProvider(
                stacks, use_raw_codeuri=True, ignore_code_extraction_warnings=True
            )
        # The resolver also renames a resource by its !Ref (a queue by its URL): back to logical ids.
        logical_ids = {str(symbol["Ref"]): name for name, symbol in symbols.items()}
        return _SamView(
            stacks=stacks,
            resources={logical_ids.get(key, key): resource for key, resource in resources.items()},
            functions={function.name: function for function in functions.get_all()},
        )

    def _resolved_of_type(self, resource_type: str, config: Config | None) -> dict[str, dict[str, Any]]:
        resources = self._sam(config).resources
        return {name: res for name, res in resources.items() if res.get("Type") == resource_type}

    def function_ids(self, config: Config | None = None) -> list[str]:
        return list(self._sam(config).functions)

    def function_properties(self, logical_id: str, config: Config | None = None) -> dict[str, Any]:
        """The function's Properties as SAM reads them: Globals merged, intrinsics resolved."""
        self._function(logical_id, config)  # a KeyError naming it when there is no such function
        properties: dict[str, Any] = self._sam(config).resources[logical_id]["Properties"]
        return properties

    def function_settings(self, logical_id: str, config: Config | None = None) -> FunctionSettings:
        return _settings(self._function(logical_id, config))

    def _function(self, logical_id: str, config: Config | None) -> Function:
        function = self._sam(config).functions.get(logical_id)
        if function is None:
            raise KeyError(f"no AWS::Serverless::Function {logical_id!r} in the template")
        return function

    def layer_dirs(self, config: Config | None = None) -> list[str]:
        """ContentUri of every local layer, relative to the code root (e.g. layers/common)."""
        layers = SamLayerProvider(self._sam(config).stacks, use_raw_codeuri=True).get_all()
        return [layer.codeuri.strip("/") for layer in layers if isinstance(layer.codeuri, str)]

    # ------------------------------------------------------------------ tables and secrets

    def table_specs(self, config: Config | None = None) -> list[dict[str, Any]]:
        """create_table kwargs for every AWS::DynamoDB::Table, TableName = logical id."""
        specs = []
        for name, resource in self._resolved_of_type("AWS::DynamoDB::Table", config).items():
            props = resource.get("Properties") or {}
            spec: dict[str, Any] = {"TableName": name, **{k: props[k] for k in _TABLE_KEYS if k in props}}
            for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                if key in spec:
                    spec[key] = [{k: v for k, v in index.items() if k in _INDEX_KEYS} for index in spec[key]]
            stream = props.get("StreamSpecification")
            if stream:
                # CloudFormation implies StreamEnabled by the presence of the specification.
                view_type = stream["StreamViewType"]
                spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
            specs.append(spec)
        return specs

    def table_ttls(self, config: Config | None = None) -> dict[str, dict[str, Any]]:
        """TimeToLiveSpecification of every table that has one enabled, by table name (logical id)."""
        ttls = {}
        for name, resource in self._resolved_of_type("AWS::DynamoDB::Table", config).items():
            ttl = (resource.get("Properties") or {}).get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                ttls[name] = {"AttributeName": ttl["AttributeName"], "Enabled": True}
        return ttls

    def secret_specs(self, config: Config) -> list[dict[str, str]]:
        """create_secret kwargs (Name, SecretString) for every AWS::SecretsManager::Secret.

        The value comes from the config key named in ``Metadata.LocalValueFrom``; without it, from a
        literal ``SecretString`` property; otherwise a random value, as GenerateSecretString would.
        """
        specs = []
        for name, resource in self._resolved_of_type("AWS::SecretsManager::Secret", config).items():
            source = (resource.get("Metadata") or {}).get("LocalValueFrom")
            literal = (resource.get("Properties") or {}).get("SecretString")
            if source is not None:
                if source not in config:
                    raise ValueError(f"{name}: Metadata.LocalValueFrom {source!r} is missing from the config")
                value = config[source]
            elif literal is not None:
                value = str(literal)
            else:
                value = secrets.token_hex(16)
            specs.append({"Name": name, "SecretString": value})
        return specs

    # ------------------------------------------------------------------ API

    def api_routes(self, config: Config | None = None) -> list[ApiRoute]:
        """The routes SAM's Api provider finds, with what its Route does not carry: the API key and event."""
        view = self._sam(config)
        collector = ApiCollector()
        SamApiProvider().extract_resources(view.stacks, collector, disable_authorizer=True)
        routes = []
        for rest_api, sam_routes in collector:
            api_auth = (view.resources.get(rest_api, {}).get("Properties") or {}).get("Auth") or {}
            for sam_route in (r for r in sam_routes if r.event_type == Route.API):  # REST, not HttpApi
                function = view.functions[str(sam_route.function_name)]
                any_method = sorted(sam_route.methods) == sorted(Route.ANY_HTTP_METHODS)
                method = "ANY" if any_method else sam_route.methods[0]
                event, props = _api_event(function, rest_api, sam_route.path, method)
                # The event's Auth overrides its API's, into which SAM has merged Globals.Api.Auth.
                auth = {**api_auth, **(props.get("Auth") or {})}
                settings = _settings(function)
                routes.append(
                    ApiRoute(
                        method=method,
                        path=sam_route.path,
                        function=function.name,
                        api_key_required=bool(auth.get("ApiKeyRequired", False)),
                        handler_file=settings.handler_file,
                        handler_attr=settings.handler_attr,
                        event=event,
                        rest_api=None if rest_api == SamApiProvider.IMPLICIT_API_RESOURCE_ID else rest_api,
                    )
                )
        return routes

    def stage_name(self, rest_api: str | None, config: Config | None = None) -> str:
        api = self._sam(config).resources.get(rest_api or SamApiProvider.IMPLICIT_API_RESOURCE_ID, {})
        return str((api.get("Properties") or {}).get("StageName", "Prod"))  # SAM's implicit API: Prod

    # ------------------------------------------------------------------ SQS event sources

    def sqs_event_sources(self, config: Config | None = None) -> list[SqsEventSource]:
        """Every ``Type: SQS`` event of every function, as SAM resolved it (the queue an ARN by then)."""
        sources = []
        for function in self._sam(config).functions.values():
            events = cast(dict[str, Any], function.events or {})  # a mapping, whatever SAM's annotation says
            for name, event in events.items():
                if event.get("Type") != "SQS":
                    continue
                props = event.get("Properties") or {}
                arn = props.get("Queue")
                if not isinstance(arn, str) or not arn.startswith("arn:aws:sqs:"):
                    raise ValueError(f"{function.name}.{name}: Queue {arn!r} is not a queue of this template")
                concurrency = (props.get("ScalingConfig") or {}).get("MaximumConcurrency")
                sources.append(
                    SqsEventSource(
                        function=function.name,
                        event=name,
                        queue=arn.rsplit(":", 1)[1],
                        queue_arn=arn,
                        batch_size=int(props.get("BatchSize", 10)),  # Lambda's default for a standard queue
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                        maximum_concurrency=None if concurrency is None else int(concurrency),
                        enabled=props.get("Enabled", True) not in (False, "false", "False"),
                    )
                )
        return sources

    def stream_event_sources(self, config: Config | None = None) -> list[StreamEventSource]:
        """Every ``Type: DynamoDB`` event of every function, as SAM resolved it (the stream an ARN)."""
        sources = []
        for function in self._sam(config).functions.values():
            events = cast(dict[str, Any], function.events or {})
            for name, event in events.items():
                if event.get("Type") != "DynamoDB":
                    continue
                props = event.get("Properties") or {}
                arn = props.get("Stream")
                if not isinstance(arn, str) or ":table/" not in arn or "/stream/" not in arn:
                    raise ValueError(f"{function.name}.{name}: {arn!r} is no table stream of the template")
                on_failure = (props.get("DestinationConfig") or {}).get("OnFailure") or {}
                destination = on_failure.get("Destination")
                sources.append(
                    StreamEventSource(
                        function=function.name,
                        event=name,
                        table=arn.split(":table/", 1)[1].split("/", 1)[0],
                        batch_size=int(props.get("BatchSize", 100)),  # Lambda's default for a stream
                        starting_position=str(props.get("StartingPosition", "TRIM_HORIZON")),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (props.get("FunctionResponseTypes") or []),
                        bisect_on_error=props.get("BisectBatchOnFunctionError")
                        in (True, "true", "True"),
                        maximum_retry_attempts=int(props.get("MaximumRetryAttempts", -1)),
                        on_failure_queue=(
                            destination.rsplit(":", 1)[1] if isinstance(destination, str) else None
                        ),
                        enabled=props.get("Enabled", True) not in (False, "false", "False"),
                    )
                )
        return sources

    def queue_attributes(self, config: Config | None = None) -> dict[str, dict[str, str]]:
        """create_queue Attributes of every AWS::SQS::Queue: what the local poller and moto's redrive need."""
        queues = {}
        for name, resource in self._resolved_of_type("AWS::SQS::Queue", config).items():
            props = resource.get("Properties") or {}
            attributes = {key: _env_string(props[key]) for key in _QUEUE_KEYS if key in props}
            if "RedrivePolicy" in props:
                attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
            queues[name] = attributes
        return queues

    # ------------------------------------------------------------------ environment

    def function_environment(self, logical_id: str, config: Config) -> dict[str, str]:
        """The function's environment as Lambda sets it: Globals then the function's own, resolved."""
        function = self._function(logical_id, config)
        variables = (function.environment or {}).get("Variables") or {}
        environment = {}
        for key, value in variables.items():
            if value is None:  # AWS::NoValue: the variable is removed
                continue
            if isinstance(value, dict | list):
                raise ValueError(f"{logical_id}: {key} is {value!r}, which the local stack cannot resolve")
            environment[key] = _env_string(value)
        return environment

    # ------------------------------------------------------------------ provisioning

    def provision(self, config: Config, endpoint_url: str | None = None) -> dict[str, list[str]]:
        """Create every table (with its TTL), secret, queue, KMS key (under the alias alias/<logical id>),
        event bus and S3 bucket (named by the lower-cased logical id); existing ones are left alone."""
        # Fixed fake credentials: against moto (server or mock_aws) any key works, and a call that
        # escapes to real AWS by mistake fails authentication instead of creating resources.
        session = boto3.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            aws_session_token="testing",
            region_name=LOCAL_REGION,
        )
        dynamodb = session.client("dynamodb", endpoint_url=endpoint_url)
        secretsmanager = session.client("secretsmanager", endpoint_url=endpoint_url)
        sqs = session.client("sqs", endpoint_url=endpoint_url)
        created: dict[str, list[str]] = {
            "tables": [],
            "secrets": [],
            "queues": [],
            "keys": [],
            "buses": [],
            "buckets": [],
        }
        for spec in self.table_specs(config):
            if _create_unless_exists(dynamodb.create_table, spec, "ResourceInUseException"):
                created["tables"].append(spec["TableName"])
        for name, ttl in self.table_ttls(config).items():  # rows' expiry attribute, as DynamoDB keeps it
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        for secret in self.secret_specs(config):
            if _create_unless_exists(secretsmanager.create_secret, secret, "ResourceExistsException"):
                created["secrets"].append(secret["Name"])
        # Visibility timeouts and redrive policies as the template has them: the local poller (local.sqs)
        # redelivers by the first, moto moves a message to its dead-letter queue by the second. A queue's
        # dead-letter queue must exist before the policy names it, so the policies come last.
        redrives = {}
        for name, attributes in self.queue_attributes(config).items():
            if name not in sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [""])[0]:
                redrive = attributes.pop("RedrivePolicy", None)
                url = sqs.create_queue(QueueName=name, Attributes=cast(Any, attributes))["QueueUrl"]
                if redrive is not None:
                    redrives[url] = redrive
                created["queues"].append(name)
        for url, redrive in redrives.items():
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": redrive})
        kms = session.client("kms", endpoint_url=endpoint_url)
        aliases = {a["AliasName"] for a in kms.list_aliases().get("Aliases", [])}
        for name in self._resolved_of_type("AWS::KMS::Key", config):
            if f"alias/{name}" not in aliases:
                key_id = kms.create_key(Description=name)["KeyMetadata"]["KeyId"]
                kms.create_alias(AliasName=f"alias/{name}", TargetKeyId=key_id)
                created["keys"].append(name)
        events = session.client("events", endpoint_url=endpoint_url)
        for bus in self._resolved_of_type("AWS::Events::EventBus", config):  # named by logical id, as !Ref is
            exists = "ResourceAlreadyExistsException"
            if _create_unless_exists(events.create_event_bus, {"Name": bus}, exists):
                created["buses"].append(bus)
        s3 = session.client("s3", endpoint_url=endpoint_url)
        existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for bucket in self._resolved_of_type("AWS::S3::Bucket", config):
            if bucket_name(bucket) not in existing:
                s3.create_bucket(Bucket=bucket_name(bucket))
                created["buckets"].append(bucket_name(bucket))
        return created


def parse_template(text: str) -> dict[str, Any]:
    """The template as written, short tags in long form (``!Ref X`` → ``{"Ref": "X"}``), as SAM reads it."""
    data = yaml_parse(text)
    if not isinstance(data, dict):
        raise ValueError("template is not a YAML mapping")
    return data


def bucket_name(logical_id: str) -> str:
    """A bucket's local name: S3 names are lower-case (the logical id, lower-cased)."""
    return logical_id.lower()


def _local_symbol(name: str, resource_type: str) -> dict[str, str]:
    """What !Ref and !GetAtt of a resource give locally, in the form of SAM's logical_id_translator."""
    arn = _ARN_FORMATS[resource_type].format(region=LOCAL_REGION, account=LOCAL_ACCOUNT_ID, name=name)
    symbol = {"Ref": name, "Arn": arn, "Name": name}
    if resource_type == "AWS::SQS::Queue":
        # !Ref of a queue is its URL; moto accepts AWS's URL form and finds the queue by its name.
        url = f"https://sqs.{LOCAL_REGION}.amazonaws.com/{LOCAL_ACCOUNT_ID}/{name}"
        symbol.update(Ref=url, QueueName=name)
    elif resource_type == "AWS::SNS::Topic":
        symbol["TopicName"] = name
    elif resource_type == "AWS::DynamoDB::Table":
        symbol["StreamArn"] = f"{arn}/stream/local"
    elif resource_type == "AWS::S3::Bucket":
        symbol.update(Ref=bucket_name(name), Arn=f"arn:aws:s3:::{bucket_name(name)}")
    elif resource_type == "AWS::KMS::Key":
        # moto draws a key's id itself; an alias named after the logical id is a KeyId KMS accepts.
        symbol.update(Ref=f"alias/{name}", KeyId=f"alias/{name}")
    return symbol


def _settings(function: Function) -> FunctionSettings:
    if not isinstance(function.codeuri, str) or not isinstance(function.handler, str):
        raise ValueError(f"{function.name}: the local stack needs a local CodeUri and a Handler")
    module, _, attr = function.handler.rpartition(".")
    if not module:
        raise ValueError(f"{function.name}: Handler {function.handler!r} is not module.function")
    handler_file = PurePosixPath(function.codeuri.strip("/")) / (module.replace(".", "/") + ".py")
    return FunctionSettings(
        logical_id=function.name,
        handler_file=str(handler_file),
        handler_attr=attr,
        memory_mb=int(function.memory or 128),
        timeout_s=int(function.timeout or 3),
    )


def _api_event(function: Function, rest_api: str, path: str, method: str) -> tuple[str, dict[str, Any]]:
    """The name and properties of the function's Api event behind a route; none for a route from OpenAPI."""
    events = cast(dict[str, Any], function.events or {})  # a mapping, whatever SAM's annotation says
    for name, event in events.items():
        props = event.get("Properties") or {}
        found = (props.get("RestApiId"), props.get("Path"), str(props.get("Method", "")).upper())
        if event.get("Type") == "Api" and found == (rest_api, path, method):
            return name, props
    return "", {}


def _create_unless_exists(create: Callable[..., Any], kwargs: Mapping[str, Any], exists_code: str) -> bool:
    """create(**kwargs); False when the resource already existed."""
    try:
        create(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == exists_code:
            return False
        raise
    return True


def _env_string(value: Any) -> str:
    """Lambda environment values are strings; CloudFormation writes booleans in lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------------- shortcuts


@functools.cache
def _default_template() -> SamTemplate:
    """template.yaml, read once: SAM takes tens of milliseconds a read, and test fixtures read it often."""
    return SamTemplate.load()


def table_specs(template: SamTemplate | None = None) -> list[dict[str, Any]]:
    return (template or _default_template()).table_specs()


def secret_specs(config: Config, template: SamTemplate | None = None) -> list[dict[str, str]]:
    return (template or _default_template()).secret_specs(config)


def api_routes(template: SamTemplate | None = None) -> list[ApiRoute]:
    return (template or _default_template()).api_routes()


def function_environment(
    logical_id: str, config: Config, template: SamTemplate | None = None
) -> dict[str, str]:
    return (template or _default_template()).function_environment(logical_id, config)


def provision(
    config: Config, endpoint_url: str | None = None, template: SamTemplate | None = None
) -> dict[str, list[str]]:
    return (template or _default_template()).provision(config, endpoint_url)
