# TEMPORARY stand-in until the local-stack branch lands; replaced by it.
from pathlib import Path
from typing import Any

import boto3
import yaml


class _L(yaml.SafeLoader): pass
def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode): return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode): return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}
_L.add_multi_constructor("!", _tag)
ROOT = Path(__file__).resolve().parent.parent

def load_template() -> dict[str, Any]:
    return yaml.load((ROOT/"template.yaml").read_text(), Loader=_L)

def load_config(path: str = "local/local.env") -> dict[str, str]:
    out = {}
    for line in (ROOT/path).read_text().splitlines():
        line=line.strip()
        if line and not line.startswith("#"):
            k,v=line.split("=",1); out[k.strip()]=v.strip()
    return out

def provision(config, endpoint_url=None):
    t = load_template()
    ddb = boto3.client("dynamodb", endpoint_url=endpoint_url)
    sm = boto3.client("secretsmanager", endpoint_url=endpoint_url)
    for name, r in t["Resources"].items():
        p = r.get("Properties", {})
        if r["Type"] == "AWS::DynamoDB::Table":
            kw = {k: p[k] for k in ("AttributeDefinitions","KeySchema","BillingMode","GlobalSecondaryIndexes","StreamSpecification") if k in p}
            if "StreamSpecification" in kw: kw["StreamSpecification"] = {"StreamEnabled": True, **kw["StreamSpecification"]}
            ddb.create_table(TableName=name, **kw)
        if r["Type"] == "AWS::SecretsManager::Secret":
            sm.create_secret(Name=name, SecretString=config[r["Metadata"]["LocalValueFrom"]])

def function_environment(logical_id, config):
    t = load_template()
    params = t.get("Parameters", {})
    import re
    def snake(n): return re.sub(r"(?<!^)(?=[A-Z])", "_", n).upper()
    def res(v):
        if isinstance(v, dict) and "Ref" in v:
            r = v["Ref"]
            if r in params: return config.get(snake(r), str(params[r].get("Default", "")))
            return r
        return str(v)
    env = dict(t["Globals"]["Function"]["Environment"]["Variables"])
    env.update(t["Resources"][logical_id]["Properties"].get("Environment", {}).get("Variables", {}))
    return {k: res(v) for k, v in env.items()}
