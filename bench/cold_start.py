"""Cold start per function: the handler's import against its floor, in fresh interpreters, layer as built.

    python bench/cold_start.py [--runs 9] [--containers 5] [--warm 5] [--layer DIR] [--instructions]

1. The layer is built once with `sam build CommonLayer` (layers/common/Makefile) for this machine's CPU
   (PLATFORM=manylinux2014_x86_64 here; the deployed layer is arm64, its size is printed too), then used
   twice: compiled, as the Makefile leaves it, and uncompiled (every __pycache__ removed), which is what
   `sam build` made before the Makefile compiled it.
2. Every run is a new `python3.13 -I -S -B` (no site-packages, nothing written: /opt and /var/task are
   read-only in Lambda) with sys.path as Lambda sets it: the function's CodeUri (/var/task), the layer
   (/opt/python), then the runtime's own packages (boto3, botocore, jmespath, s3transfer, urllib3,
   dateutil, six: linked from this venv). The environment is the function's in template.yaml (Globals
   and its own, read with SAM CLI's providers through local/template.py, !Ref as the local names) plus
   Lambda's (AWS_LAMBDA_FUNCTION_NAME, AWS_REGION, ...). Measured inside the child: wall and CPU time of
   `import app` (Lambda's init of our code: module top levels and the Wiring builds) and the peak RSS.
3. The floors run in the same rounds, interleaved with the handlers (the order turns from round to round,
   see import_rounds): (a) `import boto3`; (b) boto3 +
   pydantic + pynamodb + Powertools Logger/Metrics/Tracer (Tracer with the X-Ray SDK from this venv:
   what every function carried before); (c) each function's true floor: boto3 + the libraries its job
   needs + the clients it makes and the secret it reads at init (TRUE_FLOOR below). Over-floor is the
   median of the per-round differences, so drift in the machine's speed cancels out. Target: import ≤
   true floor + 25 ms, judged on CPU time: on a shared machine the wall time is mostly waiting for a core
   (the load average is printed), CPU time is not. Minor page faults are printed too: most of an
   import's kernel time.
   A 3.13 older than Lambda's (no data-stack chunk cache, gh-142183) takes thousands of extra faults at
   call-depth boundaries; the probes then run with bench/chunk_cache.c preloaded, which gives it the
   cache (--raw-interpreter: as it is). The first line of the output says which.
   "vs (b)": CPU over floor (b), what a function pays beyond the stack every function used to carry.
4. The Tracer option: the Payme handler with and without a Powertools Tracer created after it (the X-Ray
   SDK from this venv), in the same rounds.
5. --instructions: the same comparison counted in instructions, which do not depend on what else the
   machine is doing: each handler's import and its true floor once more, compiled layer, under valgrind's
   cachegrind (no cache simulation; PYTHONHASHSEED=0), less an empty interpreter's count. Over-floor in
   instructions is turned into ms at the floor's own rate (its CPU median / its instructions), so the
   pass mark is the same ≤ 25 ms; CPU medians of a shared machine move by ±5 ms, instruction counts by
   well under 1%.
6. First call vs warm: --containers fresh interpreters each import the Payme handler against a moto server
   and send CheckPerformTransaction, CreateTransaction and PerformTransaction (API Gateway events) on a
   fresh invoice, then --warm more rounds on other invoices; first / median warm per method.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path[:0] = [str(ROOT / "layers" / "common"), str(ROOT)]

from tolov.aws import ATTEMPTS, CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS  # noqa: E402 (the layer on sys.path)

# What the Lambda python3.13 runtime ships besides the standard library (boto3 and its dependencies).
RUNTIME_PACKAGES = ("boto3", "botocore", "jmespath", "s3transfer", "urllib3", "dateutil", "six.py")
TRACER_PACKAGES = ("aws_xray_sdk", "wrapt")  # not in the layer: for the floors and the Tracer option
LAYER_LIMIT_BYTES = 15_000_000
TARGET_MS = 25.0

LOGGING = "from aws_lambda_powertools import Logger, Metrics; Logger(); Metrics()"
PYNAMODB = "import pynamodb.models, pynamodb.attributes, pynamodb.connection"
BATCH = "import aws_lambda_powertools.utilities.batch"
RESOLVER = "from aws_lambda_powertools.event_handler import APIGatewayRestResolver"
VALIDATION = "APIGatewayRestResolver(enable_validation=True); import pydantic"
SECRETS = "from aws_lambda_powertools.utilities.parameters import SecretsProvider"


def clients(*services: str) -> str:
    """The clients a function makes at init (issue 9: clients built at init, from one session, with time-outs
    and attempts inside the function's budget): botocore loads each service's model and endpoint rules
    then, whoever makes the client."""
    budget = (
        f"Config(connect_timeout={CONNECT_TIMEOUT_SECONDS}, read_timeout={READ_TIMEOUT_SECONDS}, "
        f"retries={{'mode': 'standard', 'total_max_attempts': {ATTEMPTS}}})"
    )
    made = ", ".join(
        f"{service!r}: session.create_client({service!r}, config={budget})" for service in services
    )
    return (
        "import botocore.session; from botocore.config import Config; "
        f"session = botocore.session.get_session(); made = {{{made}}}"
    )


def secret_read(variable: str) -> str:
    """The secret every request needs, read at init through Powertools' SecretsProvider on the client made
    at init: what the first request would otherwise wait for (issue 9: first call ≤ 2 × warm). Against the
    bench's dead endpoint it fails after its attempts, as the handler's own read does there."""
    return (
        "import os, contextlib\n"
        "with contextlib.suppress(Exception):\n"
        f"    SecretsProvider(boto3_client=made['secretsmanager']).get(os.environ[{variable!r}])"
    )


# Each function's true floor: boto3 and what its job needs, whoever wrote it (the Click request checks
# and the settings need no pydantic; the three HTTP APIs' OpenAPI validation, JsonResolver, does), and
# the clients it makes at init (Payme and Click: DynamoDB and Secrets Manager, read by every request, the
# secret through Powertools' cached SecretsProvider, the library that concern belongs to; the billing API:
# DynamoDB; the others make theirs on first use).
TRUE_FLOOR: dict[str, tuple[str, ...]] = {
    "PaymeMerchantFunction": (
        PYNAMODB,
        LOGGING,
        SECRETS,
        clients("dynamodb", "secretsmanager"),
        secret_read("PAYME_KEY_SECRET_ARN"),
    ),
    "ClickShopFunction": (
        PYNAMODB,
        LOGGING,
        SECRETS,
        clients("dynamodb", "secretsmanager"),
        secret_read("CLICK_SECRET_KEY_SECRET_ARN"),
    ),
    # The Completes queued while DynamoDB was down: the Click shop, consumed through Powertools batch.
    "ClickCompleteFunction": (
        PYNAMODB,
        LOGGING,
        BATCH,
        SECRETS,
        clients("dynamodb", "secretsmanager"),
        secret_read("CLICK_SECRET_KEY_SECRET_ARN"),
    ),
    "AutopaySchedulerFunction": (PYNAMODB, LOGGING),
    "ClickReversalFunction": (PYNAMODB, LOGGING, BATCH),
    "AutopayChargerFunction": (PYNAMODB, LOGGING, BATCH),
    "EventPublisherFunction": (
        PYNAMODB,
        LOGGING,
        BATCH,
        "import aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event",
    ),
    "ReconciliationFunction": (PYNAMODB, LOGGING, RESOLVER, VALIDATION),
    # The pages check and sign their links with a key from Secrets Manager, read through Powertools'
    # SecretsProvider on every signed stage (the bill page of a signed link, every card form).
    "ResidentPagesFunction": (PYNAMODB, LOGGING, RESOLVER, VALIDATION, SECRETS, "import segno"),
    "BillingApiFunction": (
        PYNAMODB,
        LOGGING,
        RESOLVER,
        VALIDATION,
        "import aws_lambda_powertools.utilities.idempotency",
        clients("dynamodb"),
    ),
}
FLOOR_BOTO3 = ("import boto3",)
FLOOR_FULL = (
    "import boto3, pydantic",
    PYNAMODB,
    "from aws_lambda_powertools import Logger, Metrics, Tracer; Logger(); Metrics(); Tracer()",
)

# The child: statements timed one after another (with the minor page faults they take), then the peak RSS
# (VmHWM starts again at exec, unlike getrusage's ru_maxrss, which a forked child inherits from its parent).
PROBE = r"""
import json, resource, sys, time
spec = json.loads(sys.argv[1])
sys.path[:0] = spec["paths"]
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
wall, cpu = time.perf_counter(), time.process_time()
scope = {}
for statement in spec["run"]:
    exec(statement, scope)
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
with open("/proc/self/status") as status:
    hwm = next(int(line.split()[1]) for line in status if line.startswith("VmHWM"))
out = {"ms": wall * 1000, "cpu_ms": cpu * 1000, "rss_mb": hwm / 1024, "faults": faults}
for call in spec.get("calls", []):
    event = call["event"]
    started = time.perf_counter()
    reply = scope["lambda_handler"](event, scope["Context"]())
    body = json.loads(reply["body"])
    if "error" in body:
        raise SystemExit(f"{call['label']}: {body}")
    out.setdefault("calls", []).append([call["label"], (time.perf_counter() - started) * 1000])
print(json.dumps(out))
"""
CONTEXT = (
    "class Context:\n"
    "    function_name = 'bench'; memory_limit_in_mb = '512'; aws_request_id = 'bench'\n"
    "    invoked_function_arn = 'arn:aws:lambda:us-east-1:123456789012:function:bench'\n"
    "    def get_remaining_time_in_millis(self): return 10_000\n"
)


# ---------------------------------------------------------------------- the layer and the runtime
def native_platform() -> str:
    return "manylinux2014_aarch64" if platform.machine() in ("aarch64", "arm64") else "manylinux2014_x86_64"


def build_layer(build_dir: Path, wheel_platform: str | None = None) -> Path:
    """`sam build CommonLayer` into build_dir (the Makefile's PLATFORM, default arm64); its python/."""
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    if wheel_platform:
        env["PLATFORM"] = wheel_platform
    result = subprocess.run(
        [str(BIN / "sam"), "build", "CommonLayer", "--build-dir", str(build_dir)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"sam build failed:\n{result.stdout}\n{result.stderr}")
    return build_dir / "CommonLayer" / "python"


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def linked_packages(dest: Path, names: Sequence[str]) -> Path:
    """A directory of links to these packages of this venv (the runtime's, or the X-Ray SDK)."""
    import boto3

    site = Path(boto3.__file__).resolve().parent.parent
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = dest / name
        if not link.exists():
            link.symlink_to(site / name)
    return dest


def uncompiled_copy(layer: Path, dest: Path) -> Path:
    shutil.copytree(layer, dest, ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
    return dest


# ---------------------------------------------------------------------- the interpreter's data stack
# Lambda's python3.13 follows the 3.13 patch releases; an older local 3.13 lacks the data-stack chunk cache
# (gh-142183, see chunk_cache.c) and charges an import thousands of page faults that depend only on the call
# depth at which its regex compiles happen (importing boto3 first moves them off the boundary, importing
# botocore.session first moves more of them onto it). Every probe runs with INTERPRETER in its environment:
# the chunk cache preloaded when this interpreter lacks it, so the figures are the patched runtime's.
INTERPRETER: dict[str, str] = {}
CHURN_LIMIT = 1000  # page faults of CHURN_PROBE: about 6,000 without the cache, under 100 with it
CHURN_PROBE = r"""
import resource
def faults(): return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def down(n): return down(n - 1) if n else 0
def at(pad):
    if pad: return at(pad - 1)
    before = faults()
    for _ in range(200): down(40)
    return faults() - before
print(sum(at(pad) for pad in range(0, 400, 4)))
"""


def data_stack_churn(environment: Mapping[str, str]) -> int:
    """Page faults of short calls run 200 times at each of 100 call depths: one of them crosses a chunk
    boundary, which an interpreter without the chunk cache maps afresh on every call."""
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", CHURN_PROBE],
        env={"PATH": os.environ["PATH"], **environment},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return int(result.stdout.strip())


def chunk_cache(dest: Path) -> Path | None:
    """bench/chunk_cache.c built as a shared library in dest; None without a C compiler."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    library = dest / "chunk_cache.so"
    subprocess.run(
        [compiler, "-O2", "-shared", "-fPIC", "-o", str(library), str(ROOT / "bench/chunk_cache.c"), "-ldl"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return library


def patched_interpreter(work: Path, raw: bool) -> str:
    """Fill INTERPRETER so the probes run as the patched runtime does; what was done, for the output."""
    before = data_stack_churn({})
    said = f"data stack: {before} page faults at chunk boundaries (CHURN_PROBE)"
    if before <= CHURN_LIMIT:
        return f"{said}: has the chunk cache"
    said += ": no chunk cache (gh-142183)"
    library = None if raw else chunk_cache(work)
    if library is None:
        why = "--raw-interpreter" if raw else "no C compiler"
        return f"{said}; measured as it is ({why})"
    INTERPRETER["LD_PRELOAD"] = str(library)
    after = data_stack_churn(INTERPRETER)
    if after > CHURN_LIMIT:
        raise RuntimeError(f"bench/chunk_cache.c preloaded, still {after} page faults at chunk boundaries")
    return f"{said}; every probe runs with bench/chunk_cache.c preloaded, which adds it: {after} faults"


# ---------------------------------------------------------------------- the functions
@dataclass(frozen=True)
class Function:
    logical_id: str
    code_dir: Path
    environment: dict[str, str]


def template_functions() -> list[Function]:
    """Every function of template.yaml with its environment as Lambda sets it (local names for !Ref)."""
    from local.template import SamTemplate, load_config

    template, config = SamTemplate.load(), load_config()
    functions = []
    for logical_id in template.function_ids(config):
        settings = template.function_settings(logical_id, config)
        environment = {
            **template.function_environment(logical_id, config),
            "AWS_LAMBDA_FUNCTION_NAME": logical_id,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(settings.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "LAMBDA_TASK_ROOT": "/var/task",
            "_HANDLER": "app.lambda_handler",
            # Nothing at init may reach AWS; were something to, it fails at once here instead of waiting.
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        }
        code_dir = ROOT / Path(settings.handler_file).parent
        functions.append(Function(logical_id, code_dir, environment))
    return functions


def run_probe(
    paths: Sequence[Path],
    statements: Sequence[str],
    environment: Mapping[str, str],
    calls: Sequence[Mapping[str, Any]] = (),
    timeout: float = 120,
) -> dict[str, Any]:
    """One fresh interpreter: the statements timed, then the calls; what PROBE prints."""
    spec = {"paths": [str(p) for p in paths], "run": list(statements), "calls": list(calls)}
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-B", "-c", PROBE, json.dumps(spec)],
        env={"PATH": os.environ["PATH"], **environment, **INTERPRETER},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"probe {statements} failed:\n{result.stderr[-4000:]}")
    out: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return out


def import_handler(function: Function, layer: Path, runtime: Path) -> dict[str, Any]:
    return run_probe([function.code_dir, layer, runtime], ["import app"], function.environment)


# ---------------------------------------------------------------------- 1-4: imports against floors
def floor_once(
    done: dict[tuple[str, ...], dict[str, Any]],
    paths: Sequence[Path],
    floor: tuple[str, ...],
    function: Function,
) -> dict[str, Any]:
    """The floor's probe of this round and variant, run when first asked for: functions sharing a floor
    share it."""
    if floor not in done:
        done[floor] = run_probe(paths, floor, function.environment)
    return done[floor]


def import_rounds(
    functions: list[Function], layers: dict[str, Path], runtime: Path, tracer_dir: Path, runs: int
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Every probe once per round, rounds one after another: (variant, probe) → samples.

    Counterbalanced: round r starts at the r-th function, and odd rounds run a function's floor before
    the function, so that no function is always the first probe of a variant, nor always runs before its
    floor: where a probe stands in a round is not a property of the function."""
    samples: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    floors = {f.logical_id: ("import boto3", *TRUE_FLOOR[f.logical_id]) for f in functions}
    payme = next(f for f in functions if f.logical_id == "PaymeMerchantFunction")
    tracer = "from aws_lambda_powertools import Tracer; Tracer()"
    for run in range(runs):
        order = functions[run % len(functions) :] + functions[: run % len(functions)]
        for variant, layer in layers.items():
            paths = [layer, runtime, tracer_dir]
            done: dict[tuple[str, ...], dict[str, Any]] = {}  # functions sharing a floor share its run
            for function in order:
                floor = floors[function.logical_id]
                if run % 2:
                    floor_once(done, paths, floor, function)
                samples[variant, function.logical_id].append(import_handler(function, layer, runtime))
                samples[variant, "true floor " + function.logical_id].append(
                    floor_once(done, paths, floor, function)
                )
            samples[variant, "floor boto3"].append(run_probe(paths, FLOOR_BOTO3, payme.environment))
            samples[variant, "floor full"].append(run_probe(paths, FLOOR_FULL, payme.environment))
            samples[variant, "Payme + Tracer"].append(
                run_probe([payme.code_dir, *paths], ["import app", tracer], payme.environment)
            )
    return samples


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def paired(a: list[dict[str, Any]], b: list[dict[str, Any]], key: str = "ms") -> float:
    return median([x[key] - y[key] for x, y in zip(a, b, strict=True)])


def print_imports(samples: dict[tuple[str, str], list[dict[str, Any]]], functions: list[Function]) -> None:
    variants = list(dict.fromkeys(v for v, _ in samples))
    for variant in variants:
        boto3 = samples[variant, "floor boto3"]
        full = samples[variant, "floor full"]
        print(
            f"layer {variant}: floor (a) boto3 {median([s['ms'] for s in boto3]):.0f} ms "
            f"(CPU {median([s['cpu_ms'] for s in boto3]):.0f}), (b) boto3 + pydantic + pynamodb + "
            f"Powertools Logger/Metrics/Tracer {median([s['ms'] for s in full]):.0f} ms "
            f"(CPU {median([s['cpu_ms'] for s in full]):.0f}, "
            f"RSS {median([s['rss_mb'] for s in full]):.0f} MB)"
        )
        header = (
            f"{'function':26} {'import':>7} {'floor':>6} {'over':>6} {'| CPU':>6} {'floor':>6} {'over':>6} "
            f"{'target':>7} {'pass':>5} {'vs (b)':>7} {'RSS MB':>7} {'faults':>7} {'over':>6}"
        )
        print(header)
        print("-" * len(header))
        for function in functions:
            own = samples[variant, function.logical_id]
            floor = samples[variant, "true floor " + function.logical_id]
            cpu_floor = median([s["cpu_ms"] for s in floor])
            cpu_over = paired(own, floor, "cpu_ms")
            print(
                f"{function.logical_id:26} {median([s['ms'] for s in own]):7.0f} "
                f"{median([s['ms'] for s in floor]):6.0f} {paired(own, floor):+6.0f} "
                f"{median([s['cpu_ms'] for s in own]):6.0f} {cpu_floor:6.0f} {cpu_over:+6.0f} "
                f"{cpu_floor + TARGET_MS:7.0f} {'pass' if cpu_over <= TARGET_MS else 'FAIL':>5} "
                f"{paired(own, full, 'cpu_ms'):+7.0f} {median([s['rss_mb'] for s in own]):7.1f} "
                f"{median([s['faults'] for s in own]):7.0f} {paired(own, floor, 'faults'):+6.0f}"
            )
        payme = samples[variant, "PaymeMerchantFunction"]
        traced = samples[variant, "Payme + Tracer"]
        print(
            f"Tracer option: Payme handler + a Powertools Tracer (X-Ray SDK) {paired(traced, payme):+.0f} ms "
            f"wall, {paired(traced, payme, 'cpu_ms'):+.0f} ms CPU, "
            f"{median([t['rss_mb'] - p['rss_mb'] for t, p in zip(traced, payme, strict=True)]):+.1f} MB RSS"
        )
        print()


# ---------------------------------------------------------------------- 5: instructions
def instructions(paths: Sequence[Path], statements: Sequence[str], environment: Mapping[str, str]) -> int:
    """Instructions a fresh interpreter runs for PROBE with these statements (cachegrind's I refs)."""
    spec = {"paths": [str(p) for p in paths], "run": list(statements), "calls": []}
    with tempfile.TemporaryDirectory(prefix="cachegrind-") as tmp:
        result = subprocess.run(
            [
                "valgrind",
                "--tool=cachegrind",
                "--cache-sim=no",
                f"--cachegrind-out-file={tmp}/out",
                sys.executable,
                *("-I", "-S", "-B", "-c", PROBE, json.dumps(spec)),
            ],
            env={"PATH": os.environ["PATH"], "PYTHONHASHSEED": "0", **environment},
            capture_output=True,
            text=True,
            timeout=600,
        )
    counted = re.search(r"I\s+refs:\s+([\d,]+)", result.stderr)
    if result.returncode != 0 or counted is None:
        raise RuntimeError(f"valgrind {statements} failed:\n{result.stderr[-4000:]}")
    return int(counted.group(1).replace(",", ""))


Samples = dict[tuple[str, str], list[dict[str, Any]]]


def print_instructions(functions: list[Function], layer: Path, runtime: Path, samples: Samples) -> None:
    print(
        "Instructions (valgrind cachegrind, compiled layer, one run each, less an empty interpreter's); "
        "over in ms at the floor's own CPU ms per instruction"
    )
    header = f"{'function':26} {'import M':>9} {'floor M':>8} {'over M':>7} {'over ms':>8} {'pass':>5}"
    print(header)
    print("-" * len(header))
    for function in functions:
        empty = instructions([], ["pass"], function.environment)
        own = instructions([function.code_dir, layer, runtime], ["import app"], function.environment) - empty
        floor_statements = ("import boto3", *TRUE_FLOOR[function.logical_id])
        floor = instructions([layer, runtime], floor_statements, function.environment) - empty
        cpu_floor = median([s["cpu_ms"] for s in samples["compiled", "true floor " + function.logical_id]])
        over_ms = (own - floor) * cpu_floor / floor
        print(
            f"{function.logical_id:26} {own / 1e6:9.1f} {floor / 1e6:8.1f} {(own - floor) / 1e6:+7.1f} "
            f"{over_ms:+8.1f} {'pass' if over_ms <= TARGET_MS else 'FAIL':>5}"
        )
    print()


# ---------------------------------------------------------------------- 6: first call vs warm
def first_calls(function: Function, layer: Path, runtime: Path, containers: int, warm: int) -> None:
    from local.stack import start_moto

    server, url = start_moto(0)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ENDPOINT_URL": url,
            "AWS_ENDPOINT_URL_DYNAMODB": url,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    try:
        from local.template import load_config, provision

        provision(load_config(), endpoint_url=url)
        environment = {**function.environment, "AWS_ENDPOINT_URL": url}
        timings: dict[str, list[tuple[float, float]]] = defaultdict(list)
        for container in range(containers):
            calls = [
                call
                for n in range(warm + 1)
                for call in _payme_round(f"c{container}r{n}", first=n == 0, now=int(time.time() * 1000))
            ]
            statements = ["from app import lambda_handler", CONTEXT]
            out = run_probe([function.code_dir, layer, runtime], statements, environment, calls)
            by_label: dict[str, list[float]] = defaultdict(list)
            for label, ms in out["calls"]:
                by_label[label.split(":")[0]].append(ms)
            for method, values in by_label.items():
                timings[method].append((values[0], median(values[1:])))
    finally:
        server.stop()
    print(
        f"First call in a fresh container vs warm: Payme handler against moto server {url}, {containers} "
        f"containers, {warm} warm rounds each (compiled layer); medians over the containers"
    )
    header = f"{'method':28} {'first ms':>9} {'warm ms':>8} {'first/warm':>10} {'target':>7}"
    print(header)
    print("-" * len(header))
    for method, pairs in timings.items():
        first = median([p[0] for p in pairs])
        warm_ms = median([p[1] for p in pairs])
        ratio = median([p[0] / p[1] for p in pairs])
        print(f"{method:28} {first:9.1f} {warm_ms:8.1f} {ratio:9.1f}× {'pass' if ratio <= 2 else 'FAIL':>7}")
    print()


def _payme_round(tag: str, *, first: bool, now: int) -> list[dict[str, Any]]:
    """Check, Create, Perform on a new invoice, as API Gateway events (the invoice seeded here)."""
    import base64
    import hashlib

    from tolov.billing.invoices import Billing, NewItem

    billing = Billing()
    apartment = f"bench-{tag}"
    billing.put_apartment(apartment, f"Flat {tag}", "resident")
    water = NewItem("water", "Sovuq suv", 2_500_000, 1, "10301001001000000", "1503826", 12)
    invoice = billing.create_invoice(apartment, "2026-11", [water])
    account = {"order_id": invoice.invoice_id}
    tx_id = hashlib.sha256(tag.encode()).hexdigest()[:24]
    key = "Basic " + base64.b64encode(b"Paycom:local-payme-key").decode()
    bodies = [
        ("CheckPerformTransaction", {"amount": int(invoice.amount), "account": account}),
        ("CreateTransaction", {"id": tx_id, "time": now, "amount": int(invoice.amount), "account": account}),
        ("PerformTransaction", {"id": tx_id}),
    ]
    return [
        {
            "label": f"{method}:{'first' if first else 'warm'}",
            "event": {
                "resource": "/payme",
                "path": "/payme",
                "httpMethod": "POST",
                "headers": {"Authorization": key, "Content-Type": "application/json"},
                "multiValueHeaders": {"Authorization": [key], "Content-Type": ["application/json"]},
                "queryStringParameters": None,
                "body": json.dumps({"method": method, "params": params, "id": n}),
                "isBase64Encoded": False,
                "requestContext": {
                    "requestId": f"{tag}-{n}",
                    "stage": "dev",
                    "identity": {"sourceIp": "185.234.113.1"},
                },
            },
        }
        for n, (method, params) in enumerate(bodies)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9, help="interleaved rounds (fresh interpreter each)")
    parser.add_argument("--containers", type=int, default=5, help="fresh containers for first-call figures")
    parser.add_argument("--warm", type=int, default=5, help="warm rounds after the first, per container")
    parser.add_argument("--layer", type=Path, help="a layer's python/ built before (skips sam build)")
    parser.add_argument("--instructions", action="store_true", help="also count instructions (valgrind)")
    parser.add_argument(
        "--raw-interpreter",
        action="store_true",
        help="measure this interpreter as it is, without the data-stack chunk cache it may lack",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        work = Path(tmp)
        deployed = build_layer(work / "arm64")
        layer = args.layer or build_layer(work / "native", native_platform())
        layers = {"uncompiled": uncompiled_copy(layer, work / "uncompiled"), "compiled": layer}
        runtime = linked_packages(work / "runtime", RUNTIME_PACKAGES)
        tracer_dir = linked_packages(work / "xray", TRACER_PACKAGES)
        functions = template_functions()
        print(
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
            f"load average {os.getloadavg()[0]:.1f} at the start"
        )
        print(f"Interpreter {patched_interpreter(work, args.raw_interpreter)}")
        print(
            f"Layer (sam build CommonLayer): arm64 as deployed {tree_bytes(deployed) / 1e6:.2f} MB unzipped "
            f"(limit {LAYER_LIMIT_BYTES / 1e6:.0f} MB), {sum(1 for _ in deployed.rglob('*.pyc'))} .pyc; "
            f"{native_platform()} as measured {tree_bytes(layer) / 1e6:.2f} MB"
        )
        print(
            f"{args.runs} rounds; each round runs every probe once per layer variant, each in a new "
            "interpreter; medians, ms; over = median of the per-round differences to the function's true "
            "floor; wall first, then CPU (pass: CPU over ≤ 25 ms)"
        )
        print()
        samples = import_rounds(functions, layers, runtime, tracer_dir, args.runs)
        print_imports(samples, functions)
        if args.instructions:
            print_instructions(functions, layer, runtime, samples)
        payme = next(f for f in functions if f.logical_id == "PaymeMerchantFunction")
        first_calls(payme, layer, runtime, args.containers, args.warm)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
