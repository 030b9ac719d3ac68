"""template.yaml as the single source of truth for the local stack.

Locally every resource is named by its logical id (the table ``ApartmentsTable`` is called
``ApartmentsTable``), so ``!Ref`` of a resource resolves to its logical id. Parameters take the local
config value of the same name in UPPER_SNAKE (``PaymeMerchantId`` ← ``PAYME_MERCHANT_ID``) and fall back
to the parameter's Default, which makes ``Environment`` ``dev`` unless local.env says otherwise.

Nothing here names a table, secret, function or route: adding one to template.yaml needs no change here.
"""

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import boto3
import yaml
from botocore.exceptions import ClientError

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "template.yaml"
DEFAULT_CONFIG = ROOT / "local" / "local.env"

LOCAL_REGION = "us-east-1"
LOCAL_ACCOUNT_ID = "123456789012"  # moto's default account
LOCAL_STACK_NAME = "tolov-local"
# SAM names the stage of the implicit API (events without RestApiId) "Prod".
IMPLICIT_API_STAGE = "Prod"

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
_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput", "OnDemandThroughput")

_PSEUDO_PARAMETERS = {
    "AWS::Region": LOCAL_REGION,
    "AWS::AccountId": LOCAL_ACCOUNT_ID,
    "AWS::StackName": LOCAL_STACK_NAME,
    "AWS::StackId": f"arn:aws:cloudformation:{LOCAL_REGION}:{LOCAL_ACCOUNT_ID}:stack/{LOCAL_STACK_NAME}/0",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
}

# ARNs for !GetAtt X.Arn of the resource types the local stack knows how to name.
_ARN_FORMATS = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{region}:{account}:table/{name}",
    "AWS::SQS::Queue": "arn:aws:sqs:{region}:{account}:{name}",
    "AWS::SNS::Topic": "arn:aws:sns:{region}:{account}:{name}",
    "AWS::Events::EventBus": "arn:aws:events:{region}:{account}:event-bus/{name}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{region}:{account}:secret:{name}",
    "AWS::Serverless::Function": "arn:aws:lambda:{region}:{account}:function:{name}",
}


class _NoValue:
    """AWS::NoValue: the property is removed."""


NO_VALUE = _NoValue()


# ---------------------------------------------------------------------------------------------- YAML


class CfnLoader(yaml.SafeLoader):
    """A safe YAML loader that reads CloudFormation short tags as their long-form data.

    ``!Ref X`` becomes ``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}`` and any
    other ``!Name v`` becomes ``{"Fn::Name": v}``, which is what CloudFormation itself does.
    """


def _construct_short_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        raise yaml.constructor.ConstructorError(None, None, f"cannot read !{suffix}", node.start_mark)
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_short_tag)


def parse_template(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=CfnLoader)  # CfnLoader is a SafeLoader
    if not isinstance(data, dict):
        raise ValueError("template is not a YAML mapping")
    return data


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


# ---------------------------------------------------------------------------------------------- routes


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
class FunctionSettings:
    """What the local runtime needs of a function, Globals applied."""

    logical_id: str
    handler_file: str
    handler_attr: str
    memory_mb: int
    timeout_s: int


# ---------------------------------------------------------------------------------------------- template


class SamTemplate:
    """A parsed template.yaml with the local naming rules."""

    def __init__(self, data: dict[str, Any], path: Path | None = None) -> None:
        self.data = data
        self.path = path

    @classmethod
    def load(cls, path: str | Path = DEFAULT_TEMPLATE) -> "SamTemplate":
        path = Path(path)
        return cls(parse_template(path.read_text(encoding="utf-8")), path)

    # ------------------------------------------------------------------ lookups

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        resources: dict[str, dict[str, Any]] = self.data.get("Resources") or {}
        return resources

    def resources_of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {name: res for name, res in self.resources.items() if res.get("Type") == resource_type}

    def _globals(self, section: str) -> dict[str, Any]:
        value: dict[str, Any] = (self.data.get("Globals") or {}).get(section) or {}
        return value

    def function_settings(self, logical_id: str) -> FunctionSettings:
        resource = self.resources_of_type("AWS::Serverless::Function").get(logical_id)
        if resource is None:
            raise KeyError(f"no AWS::Serverless::Function {logical_id!r} in the template")
        merged = {**self._globals("Function"), **(resource.get("Properties") or {})}
        code_uri, handler = merged.get("CodeUri"), merged.get("Handler")
        if not isinstance(code_uri, str) or not isinstance(handler, str):
            raise ValueError(f"{logical_id}: the local stack needs a local CodeUri and a Handler")
        module, _, attr = handler.rpartition(".")
        if not module:
            raise ValueError(f"{logical_id}: Handler {handler!r} is not module.function")
        handler_file = PurePosixPath(code_uri.strip("/")) / (module.replace(".", "/") + ".py")
        return FunctionSettings(
            logical_id=logical_id,
            handler_file=str(handler_file),
            handler_attr=attr,
            memory_mb=int(merged.get("MemorySize", 128)),
            timeout_s=int(merged.get("Timeout", 3)),
        )

    # ------------------------------------------------------------------ tables and secrets

    def table_specs(self, config: Config | None = None) -> list[dict[str, Any]]:
        """create_table kwargs for every AWS::DynamoDB::Table, TableName = logical id."""
        resolver = _Resolver(self, config or {})
        specs = []
        for name, resource in self.resources_of_type("AWS::DynamoDB::Table").items():
            props = resource.get("Properties") or {}
            spec: dict[str, Any] = {"TableName": name}
            for key in _TABLE_KEYS:
                if key in props:
                    spec[key] = resolver.resolve(props[key])
            for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                if key in spec:
                    spec[key] = [{k: v for k, v in index.items() if k in _INDEX_KEYS} for index in spec[key]]
            stream = resolver.resolve(props.get("StreamSpecification"))
            if stream:
                # CloudFormation implies StreamEnabled by the presence of the specification.
                view_type = stream["StreamViewType"]
                spec["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": view_type}
            specs.append(spec)
        return specs

    def secret_specs(self, config: Config) -> list[dict[str, str]]:
        """create_secret kwargs (Name, SecretString) for every AWS::SecretsManager::Secret.

        The value comes from the config key named in ``Metadata.LocalValueFrom``; without it, from a
        literal ``SecretString`` property; otherwise a random value, as GenerateSecretString would.
        """
        resolver = _Resolver(self, config)
        specs = []
        for name, resource in self.resources_of_type("AWS::SecretsManager::Secret").items():
            source = (resource.get("Metadata") or {}).get("LocalValueFrom")
            literal = (resource.get("Properties") or {}).get("SecretString")
            if source is not None:
                if source not in config:
                    raise ValueError(f"{name}: Metadata.LocalValueFrom {source!r} is missing from the config")
                value = config[source]
            elif literal is not None:
                value = str(resolver.resolve(literal))
            else:
                value = secrets.token_hex(16)
            specs.append({"Name": name, "SecretString": value})
        return specs

    # ------------------------------------------------------------------ API

    def api_routes(self) -> list[ApiRoute]:
        routes = []
        for function, resource in self.resources_of_type("AWS::Serverless::Function").items():
            events = (resource.get("Properties") or {}).get("Events") or {}
            api_events = {k: v for k, v in events.items() if v.get("Type") == "Api"}
            if not api_events:
                continue
            settings = self.function_settings(function)
            for event_name, event in api_events.items():
                props = event.get("Properties") or {}
                rest_api = _ref_target(props.get("RestApiId"))
                routes.append(
                    ApiRoute(
                        method=str(props["Method"]).upper(),
                        path=str(props["Path"]),
                        function=function,
                        api_key_required=self._api_key_required(props, rest_api),
                        handler_file=settings.handler_file,
                        handler_attr=settings.handler_attr,
                        event=event_name,
                        rest_api=rest_api,
                    )
                )
        return routes

    def _api_key_required(self, event_props: Mapping[str, Any], rest_api: str | None) -> bool:
        """Event Auth overrides the Api's Auth, which overrides Globals.Api.Auth (SAM's precedence)."""
        candidates: list[Any] = [event_props.get("Auth")]
        if rest_api is not None:
            api = self.resources.get(rest_api) or {}
            candidates.append((api.get("Properties") or {}).get("Auth"))
        candidates.append(self._globals("Api").get("Auth"))
        for auth in candidates:
            if isinstance(auth, Mapping) and "ApiKeyRequired" in auth:
                return bool(auth["ApiKeyRequired"])
        return False

    def stage_name(self, rest_api: str | None, config: Config | None = None) -> str:
        if rest_api is None:
            return IMPLICIT_API_STAGE
        props = (self.resources.get(rest_api) or {}).get("Properties") or {}
        stage = props.get("StageName", self._globals("Api").get("StageName", IMPLICIT_API_STAGE))
        return str(_Resolver(self, config or {}).resolve(stage))

    # ------------------------------------------------------------------ environment

    def function_environment(self, logical_id: str, config: Config) -> dict[str, str]:
        """The function's environment as Lambda sets it: Globals then the function's own, resolved."""
        resource = self.resources_of_type("AWS::Serverless::Function").get(logical_id)
        if resource is None:
            raise KeyError(f"no AWS::Serverless::Function {logical_id!r} in the template")
        own = ((resource.get("Properties") or {}).get("Environment") or {}).get("Variables") or {}
        inherited = (self._globals("Function").get("Environment") or {}).get("Variables") or {}
        resolver = _Resolver(self, config)
        environment = {}
        for key, raw in {**inherited, **own}.items():
            value = resolver.resolve(raw)
            if value is not NO_VALUE:
                environment[key] = _env_string(value)
        return environment

    def function_ids(self) -> list[str]:
        return list(self.resources_of_type("AWS::Serverless::Function"))

    def layer_dirs(self) -> list[str]:
        """ContentUri of every local layer, relative to the code root (e.g. layers/common)."""
        dirs = []
        for resource in self.resources_of_type("AWS::Serverless::LayerVersion").values():
            content_uri = (resource.get("Properties") or {}).get("ContentUri")
            if isinstance(content_uri, str):
                dirs.append(content_uri.strip("/"))
        return dirs

    # ------------------------------------------------------------------ provisioning

    def provision(self, config: Config, endpoint_url: str | None = None) -> dict[str, list[str]]:
        """Create every table and secret; already existing ones are left alone."""
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
        created: dict[str, list[str]] = {"tables": [], "secrets": [], "queues": []}
        for spec in self.table_specs(config):
            if _create_unless_exists(dynamodb.create_table, spec, "ResourceInUseException"):
                created["tables"].append(spec["TableName"])
        for secret in self.secret_specs(config):
            if _create_unless_exists(secretsmanager.create_secret, secret, "ResourceExistsException"):
                created["secrets"].append(secret["Name"])
        # Queues get moto's default attributes: redrive and timeouts only matter to Lambda's poller.
        queues = self.resources_of_type("AWS::SQS::Queue")
        for name in queues:
            if name not in sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [""])[0]:
                sqs.create_queue(QueueName=name)
                created["queues"].append(name)
        return created


def queue_url(name: str) -> str:
    """The URL an SQS queue has locally: moto accepts AWS's URL form and finds the queue by its name."""
    return f"https://sqs.{LOCAL_REGION}.amazonaws.com/{LOCAL_ACCOUNT_ID}/{name}"


def _create_unless_exists(create: Callable[..., Any], kwargs: Mapping[str, Any], exists_code: str) -> bool:
    """create(**kwargs); False when the resource already existed."""
    try:
        create(**kwargs)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == exists_code:
            return False
        raise
    return True


def _ref_target(value: Any) -> str | None:
    if isinstance(value, Mapping) and "Ref" in value:
        return str(value["Ref"])
    return None if value is None else str(value)


def _env_string(value: Any) -> str:
    """Lambda environment values are strings; CloudFormation writes booleans in lower case."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ---------------------------------------------------------------------------------------------- intrinsics


class _Resolver:
    """Evaluates the intrinsic functions the local stack needs, with local names and config."""

    _SUB_VARIABLE = re.compile(r"\$\{([^}]+)\}")

    def __init__(self, template: SamTemplate, config: Config) -> None:
        self.template = template
        self.config = config

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            if key == "Ref":
                return self.ref(str(argument))
            if key.startswith("Fn::") or key == "Condition":
                return self._function(key, argument)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not NO_VALUE}

    def _function(self, name: str, arg: Any) -> Any:
        match name:
            case "Fn::Sub":
                return self.sub(arg)
            case "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else str(arg).split(".", 1)
                return self.get_att(str(resource), str(attribute))
            case "Fn::If":
                condition, if_true, if_false = arg
                return self.resolve(if_true if self.condition(condition) else if_false)
            case "Fn::Equals":
                left, right = (self.resolve(v) for v in arg)
                return str(left) == str(right)
            case "Fn::Not":
                return not self._truth(arg[0])
            case "Fn::And":
                return all(self._truth(v) for v in arg)
            case "Fn::Or":
                return any(self._truth(v) for v in arg)
            case "Condition":
                return self.condition(str(arg))
            case "Fn::Join":
                delimiter, items = arg
                return str(delimiter).join(str(v) for v in self.resolve(items))
            case "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            case "Fn::Split":
                delimiter, text = arg
                return str(self.resolve(text)).split(str(delimiter))
        raise ValueError(f"the local stack does not evaluate {name}")

    def _truth(self, value: Any) -> bool:
        return bool(self.resolve(value))

    def condition(self, name: str) -> bool:
        conditions = self.template.data.get("Conditions") or {}
        if name not in conditions:
            raise KeyError(f"unknown condition {name!r}")
        return bool(self.resolve(conditions[name]))

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in _PSEUDO_PARAMETERS:
            return _PSEUDO_PARAMETERS[name]
        parameters = self.template.data.get("Parameters") or {}
        if name in parameters:
            local = self.config.get(upper_snake(name))
            if local is not None:
                return local
            if "Default" not in parameters[name]:
                raise ValueError(f"parameter {name}: no Default and no {upper_snake(name)} in the config")
            return parameters[name]["Default"]
        if name in self.template.resources:
            if self.template.resources[name].get("Type") == "AWS::SQS::Queue":
                return queue_url(name)  # !Ref of a queue is its URL
            return name  # every resource is named by its logical id locally
        raise KeyError(f"!Ref {name}: no such parameter or resource")

    def get_att(self, resource: str, attribute: str) -> str:
        resource_type = (self.template.resources.get(resource) or {}).get("Type")
        if resource_type is None:
            raise KeyError(f"!GetAtt {resource}.{attribute}: no such resource")
        arn_format = _ARN_FORMATS.get(resource_type)
        if arn_format is None:
            raise ValueError(f"!GetAtt {resource}.{attribute}: {resource_type} has no local ARN")
        arn = arn_format.format(region=LOCAL_REGION, account=LOCAL_ACCOUNT_ID, name=resource)
        if attribute == "Arn":
            return arn
        if attribute == "StreamArn" and resource_type == "AWS::DynamoDB::Table":
            return f"{arn}/stream/local"
        if attribute in ("Name", "QueueName", "TopicName"):
            return resource
        raise ValueError(f"!GetAtt {resource}.{attribute} is not known locally")

    def sub(self, argument: Any) -> str:
        if isinstance(argument, list):
            text, variables = argument[0], {k: self.resolve(v) for k, v in argument[1].items()}
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):  # ${!Literal} is the escape for a literal ${Literal}
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return str(self.ref(name))

        return self._SUB_VARIABLE.sub(replace, str(text))


# ---------------------------------------------------------------------------------------------- shortcuts


def load_template(path: str | Path = DEFAULT_TEMPLATE) -> SamTemplate:
    return SamTemplate.load(path)


def table_specs(template: SamTemplate | None = None) -> list[dict[str, Any]]:
    return (template or load_template()).table_specs()


def secret_specs(config: Config, template: SamTemplate | None = None) -> list[dict[str, str]]:
    return (template or load_template()).secret_specs(config)


def api_routes(template: SamTemplate | None = None) -> list[ApiRoute]:
    return (template or load_template()).api_routes()


def function_environment(
    logical_id: str, config: Config, template: SamTemplate | None = None
) -> dict[str, str]:
    return (template or load_template()).function_environment(logical_id, config)


def provision(
    config: Config, endpoint_url: str | None = None, template: SamTemplate | None = None
) -> dict[str, list[str]]:
    return (template or load_template()).provision(config, endpoint_url)
