"""Checks pinctl_moto_fidelity.py's corrections against a moto_server of its own: a new
bucket's Block Public Access, SSM's DescribeInstanceInformation (an empty list, not a 500), API Gateway models (CreateRestApi's Empty and Error models; CreateModel's refusals; UpdateModel;
DeleteModel of a model in use), EMR Serverless (application and job run states, the rules of
StartApplication, StopApplication, UpdateApplication and DeleteApplication, a Spark job run really
run against moto's S3; PINCTL_SKIP_SPARK=1 leaves the run out), S3 under IAM enforcement (a
signature over User-Agent, a query sent unencoded, DeleteObjects per key), EMR Serverless under IAM
enforcement (iam:PassRole with its iam:PassedToService condition; ListJobRuns pages), the
service model's rules on EMR Serverless requests and the faults in front of moto (PINCTL_MOTO_FAULT_RATE and
/moto-api/pinctl/faults).

Run with the moto venv's Python (scripts/setup.sh installs it and the .pth hook):
    ~/.cache/pinctl/venv/bin/python scripts/moto/check_fidelity_models_faults.py
Starts moto_server (the venv's, next to this Python; or PINCTL_MOTO_SERVER) on a free port with
this directory on PYTHONPATH, one at a time, and stops it. Prints each check; exits 1 if any fails.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

HERE = os.path.dirname(os.path.abspath(__file__))
REGION = "us-east-1"
failures = []


def check(what, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f" ({detail})" if detail and not ok else ""))
    if not ok:
        failures.append(what)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    def __init__(self, fault_rate=None):
        server = os.environ.get("PINCTL_MOTO_SERVER") or os.path.join(
            os.path.dirname(sys.executable), "moto_server"
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1")
        env.pop("PINCTL_PROPAGATION_DELAY", None)
        env.pop("PINCTL_MOTO_FAULT_RATE", None)
        if fault_rate is not None:
            env["PINCTL_MOTO_FAULT_RATE"] = str(fault_rate)
        self.log = tempfile.NamedTemporaryFile(prefix="moto-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [server, "-H", "127.0.0.1", "-p", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.faults()
                return
            except (OSError, urllib.error.URLError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"moto_server did not start: {self.stderr()[-2000:]}")
                time.sleep(0.3)

    def http(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def faults(self, rate=None):
        if rate is None:
            status, body = self.http("GET", "/moto-api/pinctl/faults")
        else:
            status, body = self.http("POST", "/moto-api/pinctl/faults", {"rate": rate})
        if status != 200:
            raise OSError(f"/moto-api/pinctl/faults answered {status}")
        return json.loads(body)

    def client(self, service, **config):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="AKIAIOSFODNN7EXAMPLE",
            aws_secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            config=Config(**config) if config else None,
        )

    def stderr(self):
        with open(self.log.name, encoding="utf-8", errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        os.unlink(self.log.name)


def error_of(call):
    """(HTTP status, error code, message, headers) of a call expected to fail, None if it did not."""
    try:
        call()
    except ClientError as e:
        meta = e.response.get("ResponseMetadata", {})
        err = e.response.get("Error", {})
        return meta.get("HTTPStatusCode"), err.get("Code"), err.get("Message"), meta.get("HTTPHeaders", {})
    return None


def expect_error(what, call, status, code, message=None):
    got = error_of(call)
    ok = got is not None and got[0] == status and got[1] == code and (message is None or got[2] == message)
    check(what, ok, f"got {got[:3] if got else 'success'}, expected {(status, code, message)}")
    return got


def check_models(moto):
    apigw = moto.client("apigateway")
    api = apigw.create_rest_api(name="models")["id"]
    models = {m["name"]: m for m in apigw.get_models(restApiId=api)["items"]}
    check("CreateRestApi makes the Empty and Error models", set(models) == {"Empty", "Error"}, str(sorted(models)))
    empty, error = models.get("Empty", {}), models.get("Error", {})
    check(
        "Empty: application/json, 'Empty Schema', type object",
        empty.get("contentType") == "application/json"
        and json.loads(empty.get("schema", "{}")) == {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": "Empty Schema",
            "type": "object",
        },
        str(empty),
    )
    check(
        "Error: application/json, 'Error Schema', a string message",
        error.get("contentType") == "application/json"
        and json.loads(error.get("schema", "{}")) == {
            "$schema": "http://json-schema.org/draft-04/schema#",
            "title": "Error Schema",
            "type": "object",
            "properties": {"message": {"type": "string"}},
        },
        str(error),
    )
    got = apigw.get_model(restApiId=api, modelName="Empty")
    check("GetModel Empty", got.get("name") == "Empty" and got.get("id"), str(got))

    schema = json.dumps({"type": "object", "properties": {"name": {"type": "string"}}})
    apigw.create_model(restApiId=api, name="Pet", contentType="application/json", schema=schema)
    check("CreateModel Pet", apigw.get_model(restApiId=api, modelName="Pet").get("schema") == schema)
    expect_error(
        "CreateModel of a name that is not alphanumeric: 400 BadRequestException",
        lambda: apigw.create_model(restApiId=api, name="bad-name", contentType="application/json", schema=schema),
        400,
        "BadRequestException",
        "Model name must be alphanumeric: bad-name",
    )
    expect_error(
        "CreateModel of an existing name: 409 ConflictException",
        lambda: apigw.create_model(restApiId=api, name="Pet", contentType="application/json", schema=schema),
        409,
        "ConflictException",
        "Model name already exists for this REST API",
    )
    expect_error(
        "CreateModel Empty (predefined) again: 409 ConflictException",
        lambda: apigw.create_model(restApiId=api, name="Empty", contentType="application/json", schema=schema),
        409,
        "ConflictException",
        "Model name already exists for this REST API",
    )
    invalid = "Invalid model specified: Validation Result: warnings : [], errors : [Invalid model schema specified]"
    expect_error(
        "CreateModel of a schema that is not JSON: 400 BadRequestException",
        lambda: apigw.create_model(restApiId=api, name="Broken", contentType="application/json", schema="{not json"),
        400,
        "BadRequestException",
        invalid,
    )
    expect_error(
        "CreateModel of a schema that is not a JSON object: 400 BadRequestException",
        lambda: apigw.create_model(restApiId=api, name="Broken", contentType="application/json", schema="[1, 2]"),
        400,
        "BadRequestException",
        invalid,
    )
    unchecked = moto.client("apigateway", parameter_validation=False)
    got = expect_error(
        "CreateModel without contentType: 400 BadRequestException",
        lambda: unchecked.create_model(restApiId=api, name="NoType", schema=schema),
        400,
        "BadRequestException",
        "Invalid content type specified",
    )
    check(
        "API Gateway's error type header (x-amzn-ErrorType)",
        got is not None and got[3].get("x-amzn-errortype", "").startswith("BadRequestException"),
        str(got and got[3]),
    )
    names = {m["name"] for m in apigw.get_models(restApiId=api)["items"]}
    check("refused CreateModels made nothing", names == {"Empty", "Error", "Pet"}, str(sorted(names)))

    new_schema = json.dumps({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}}})
    out = apigw.update_model(
        restApiId=api,
        modelName="Pet",
        patchOperations=[
            {"op": "replace", "path": "/schema", "value": new_schema},
            {"op": "replace", "path": "/description", "value": "a pet"},
        ],
    )
    check("UpdateModel answers the changed model", out.get("schema") == new_schema and out.get("description") == "a pet", str(out))
    got = apigw.get_model(restApiId=api, modelName="Pet")
    check("UpdateModel changed the schema and description", got.get("schema") == new_schema and got.get("description") == "a pet", str(got))
    expect_error(
        "UpdateModel to a schema that is not JSON: 400 BadRequestException",
        lambda: apigw.update_model(
            restApiId=api, modelName="Pet", patchOperations=[{"op": "replace", "path": "/schema", "value": "nope"}]
        ),
        400,
        "BadRequestException",
        invalid,
    )
    check("a refused UpdateModel changed nothing", apigw.get_model(restApiId=api, modelName="Pet").get("schema") == new_schema)
    expect_error(
        "UpdateModel of an unknown model: 404 NotFoundException",
        lambda: apigw.update_model(
            restApiId=api, modelName="Nope", patchOperations=[{"op": "replace", "path": "/description", "value": "x"}]
        ),
        404,
        "NotFoundException",
        "Invalid model name specified",
    )

    root = next(r["id"] for r in apigw.get_resources(restApiId=api)["items"] if r["path"] == "/")
    pets = apigw.create_resource(restApiId=api, parentId=root, pathPart="pets")["id"]
    apigw.put_method(
        restApiId=api,
        resourceId=pets,
        httpMethod="POST",
        authorizationType="NONE",
        requestModels={"application/json": "Pet"},
    )
    apigw.put_method(restApiId=api, resourceId=pets, httpMethod="GET", authorizationType="NONE")
    apigw.put_method_response(
        restApiId=api, resourceId=pets, httpMethod="GET", statusCode="200", responseModels={"application/json": "Error"}
    )
    expect_error(
        "DeleteModel of a model a method request uses: 409 ConflictException",
        lambda: apigw.delete_model(restApiId=api, modelName="Pet"),
        409,
        "ConflictException",
        "Cannot delete model 'Pet', is referenced in method request: /pets/POST",
    )
    expect_error(
        "DeleteModel of a model a method response uses: 409 ConflictException",
        lambda: apigw.delete_model(restApiId=api, modelName="Error"),
        409,
        "ConflictException",
        "Cannot delete model 'Error', is referenced in method response: /pets/GET/200",
    )
    apigw.create_model(restApiId=api, name="Unused", contentType="application/json", schema=schema)
    apigw.delete_model(restApiId=api, modelName="Unused")
    names = {m["name"] for m in apigw.get_models(restApiId=api)["items"]}
    check("DeleteModel of an unreferenced model deletes it", names == {"Empty", "Error", "Pet"}, str(sorted(names)))
    apigw.delete_method(restApiId=api, resourceId=pets, httpMethod="POST")
    apigw.delete_model(restApiId=api, modelName="Pet")
    names = {m["name"] for m in apigw.get_models(restApiId=api)["items"]}
    check("DeleteModel once no method uses it", names == {"Empty", "Error"}, str(sorted(names)))


# Each service's throttling error as (HTTP status, code), and a read-only call.
THROTTLES = {
    "ec2": ((503, "RequestLimitExceeded"), lambda c: c.describe_vpcs()),
    "apigateway": ((429, "TooManyRequestsException"), lambda c: c.get_rest_apis()),
    "kinesis": ((400, "ThrottlingException"), lambda c: c.list_streams()),
    "s3": ((503, "SlowDown"), lambda c: c.list_buckets()),
    "iam": ((400, "Throttling"), lambda c: c.list_roles()),
}
MESSAGES = {
    "RequestLimitExceeded": "Request limit exceeded.",
    "TooManyRequestsException": "Too Many Requests",
    "ThrottlingException": "Rate exceeded",
    "SlowDown": "Please reduce your request rate.",
    "Throttling": "Rate exceeded",
}


def check_faults(moto):
    check("faults are off by default", moto.faults() == {"rate": 0}, str(moto.faults()))
    status, body = moto.http("POST", "/moto-api/pinctl/faults", {"rate": 2})
    check("a rate outside 0..1 is refused (400)", status == 400, f"{status} {body!r}")
    status, body = moto.http("POST", "/moto-api/pinctl/faults", {"rate": "x"})
    check("a rate that is not a number is refused (400)", status == 400, f"{status} {body!r}")

    # No retries: each call is one request, so each fault reaches the check.
    clients = {s: moto.client(s, retries={"total_max_attempts": 1, "mode": "standard"}) for s in THROTTLES}
    sts = moto.client("sts", retries={"total_max_attempts": 1, "mode": "standard"})

    seen = {s: set() for s in THROTTLES}
    # Two rounds at rate 1: the count restarts at 0 with each POST, and the kinds alternate by
    # the request's number, so a round shifted by one request (an STS call) swaps every kind.
    for shift in (0, 1):
        answer = moto.faults(1.0)
        check(f"POST /moto-api/pinctl/faults {{rate: 1.0}} (round {shift + 1})", answer == {"rate": 1.0}, str(answer))
        check("GET /moto-api/pinctl/faults answers the new rate", moto.faults() == {"rate": 1.0})
        status, _ = moto.http("GET", "/moto-api/data.json")
        check("/moto-api/ paths are never faulted", status == 200, str(status))
        internal = moto.client("ec2", retries={"total_max_attempts": 1, "mode": "standard"})
        internal.meta.events.register(
            "before-send.ec2.*",
            lambda request, **_: request.headers.__setitem__("x-pinctl-service-internal", "1"),
        )
        try:
            internal.describe_vpcs()
            check("a call the emulator makes as an AWS service is never faulted", True)
        except ClientError as e:
            check("a call the emulator makes as an AWS service is never faulted", False, str(e))
        if shift:
            expect_error(
                "sts GetCallerIdentity throttled (query protocol): 400 Throttling",
                lambda: sts.get_caller_identity(),
                400,
                "Throttling",
                "Rate exceeded",
            )
        for service, ((status, code), call) in THROTTLES.items():
            got = error_of(lambda: call(clients[service]))
            if got is not None and got[0] == 502:
                seen[service].add("lost")
                check(f"{service}: lost answer, 502", True)
            elif got is not None and (got[0], got[1]) == (status, code):
                seen[service].add("throttled")
                check(
                    f"{service}: throttled, {status} {code} {MESSAGES[code]!r}",
                    got[2] == MESSAGES[code],
                    f"message {got[2]!r}",
                )
                if service == "apigateway":
                    check(
                        "apigateway throttle carries x-amzn-ErrorType: TooManyRequestsException",
                        got[3].get("x-amzn-errortype") == "TooManyRequestsException",
                        str(got[3]),
                    )
                if service == "kinesis":
                    check(
                        "kinesis throttle is application/x-amz-json-1.1",
                        got[3].get("content-type") == "application/x-amz-json-1.1",
                        str(got[3]),
                    )
            else:
                check(f"{service}: {status} {code} or 502", False, f"got {got[:3] if got else 'success'}")
    for service, kinds in seen.items():
        check(f"{service} saw both kinds over the two rounds", kinds == {"throttled", "lost"}, str(sorted(kinds)))

    # A CreateVpc throttled (request 0) did not run; one whose answer was lost (request 1) did.
    ec2 = clients["ec2"]
    moto.faults(1.0)
    expect_error(
        "CreateVpc 10.77.0.0/16 throttled: 503 RequestLimitExceeded",
        lambda: ec2.create_vpc(CidrBlock="10.77.0.0/16"),
        503,
        "RequestLimitExceeded",
        "Request limit exceeded.",
    )
    got = error_of(lambda: ec2.create_vpc(CidrBlock="10.78.0.0/16"))
    check("CreateVpc 10.78.0.0/16 answered 502 (answer lost)", got is not None and got[0] == 502, str(got and got[:3]))
    check("back to rate 0", moto.faults(0) == {"rate": 0.0})
    cidrs = {v["CidrBlock"] for v in ec2.describe_vpcs()["Vpcs"]}
    check("the throttled CreateVpc made no VPC", "10.77.0.0/16" not in cidrs, str(sorted(cidrs)))
    check("the CreateVpc whose answer was lost made its VPC", "10.78.0.0/16" in cidrs, str(sorted(cidrs)))
    log = moto.stderr()
    check("stderr: 'pinctl fault: throttled ec2 CreateVpc'", "pinctl fault: throttled ec2 CreateVpc" in log)
    check(
        "stderr: 'pinctl fault: lost the answer to ec2 CreateVpc'",
        "pinctl fault: lost the answer to ec2 CreateVpc" in log,
    )
    check("stderr: the REST operation named by method and path", "pinctl fault: throttled apigateway GET /restapis" in log or "pinctl fault: lost the answer to apigateway GET /restapis" in log)

    for service, (_, call) in THROTTLES.items():
        got = error_of(lambda: call(clients[service]))
        check(f"rate 0: {service} answers again", got is None, str(got and got[:3]))


def check_env_rate():
    rate = 0.25
    moto = Moto(fault_rate=rate)
    try:
        check(f"PINCTL_MOTO_FAULT_RATE={rate} is read at start", moto.faults() == {"rate": rate}, str(moto.faults()))
        sts = moto.client("sts", retries={"total_max_attempts": 1, "mode": "standard"})
        outcomes = []
        for _ in range(40):
            got = error_of(lambda: sts.get_caller_identity())
            outcomes.append("ok" if got is None else ("lost" if got[0] == 502 else got[1]))
        expected = [
            ("lost" if n % 2 else "Throttling") if (n * 2654435761) % 10000 / 10000 < rate else "ok" for n in range(40)
        ]
        faulted = sum(o != "ok" for o in outcomes)
        check(
            f"the faults follow the documented hash ({faulted} of 40 requests at rate {rate})",
            outcomes == expected,
            f"got {outcomes}, expected {expected}",
        )
    finally:
        moto.stop()


def check_ssm(moto):
    # No instance of the twin runs an SSM Agent: SSM manages none, and says so with an empty
    # list (Systems Manager API Reference, DescribeInstanceInformation), not a 500.
    ssm = moto.client("ssm")
    try:
        out = ssm.describe_instance_information(
            Filters=[{"Key": "InstanceIds", "Values": ["i-0123456789abcdef0"]}]
        )
        check(
            "DescribeInstanceInformation answers an empty list",
            out.get("InstanceInformationList") == [],
            json.dumps(out.get("InstanceInformationList")),
        )
    except ClientError as e:
        check("DescribeInstanceInformation answers", False, str(e))


def check_bucket_defaults(moto):
    # A new bucket has Block Public Access on, all four settings (since April 2023).
    s3 = moto.client("s3")
    s3.create_bucket(Bucket="pinctl-fidelity-new-bucket")
    try:
        conf = s3.get_public_access_block(Bucket="pinctl-fidelity-new-bucket")[
            "PublicAccessBlockConfiguration"
        ]
        check(
            "a new bucket blocks public access",
            all(conf.get(k) is True for k in (
                "BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"
            )),
            json.dumps(conf),
        )
    except ClientError as e:
        check("a new bucket has a public access block", False, str(e))
    # Tags given to CreateBucket are the new bucket's tags.
    s3.create_bucket(
        Bucket="pinctl-fidelity-tagged-bucket",
        CreateBucketConfiguration={"Tags": [{"Key": "pinctl:id", "Value": "b"}]},
    )
    tags = s3.get_bucket_tagging(Bucket="pinctl-fidelity-tagged-bucket")["TagSet"]
    check(
        "CreateBucket's tags are the bucket's",
        tags == [{"Key": "pinctl:id", "Value": "b"}],
        json.dumps(tags),
    )


def check_stream_tags(moto):
    # Tags given to CreateStream are the new stream's tags.
    k = moto.client("kinesis")
    k.create_stream(
        StreamName="pinctl-fidelity-tagged-stream",
        StreamModeDetails={"StreamMode": "ON_DEMAND"},
        Tags={"pinctl:id": "s"},
    )
    tags = k.list_tags_for_stream(StreamName="pinctl-fidelity-tagged-stream")["Tags"]
    check(
        "CreateStream's tags are the stream's",
        tags == [{"Key": "pinctl:id", "Value": "s"}],
        json.dumps(tags),
    )


def wait_state(get, want, seconds=30):
    deadline = time.monotonic() + seconds
    seen = []
    while time.monotonic() < deadline:
        state = get()
        if not seen or seen[-1] != state:
            seen.append(state)
        if state in want:
            return seen
        time.sleep(0.2)
    return seen


def check_emr_serverless(moto, run_spark=True):
    """EMR Serverless's states and rules, and a Spark job run really run (EMR Serverless API
    Reference: Application.state, JobRun.state, StartApplication, StopApplication,
    UpdateApplication, DeleteApplication, StartJobRun)."""
    emr = moto.client("emr-serverless")
    iam = moto.client("iam")
    s3 = moto.client("s3")

    created = emr.create_application(
        name="pinctl-fidelity", releaseLabel="emr-7.12.0", type="SPARK", clientToken="tok-1",
        maximumCapacity={"cpu": "4 vCPU", "memory": "16 GB"},
    )
    app = created["applicationId"]
    again = emr.create_application(
        name="pinctl-fidelity", releaseLabel="emr-7.12.0", type="SPARK", clientToken="tok-1",
    )
    check("CreateApplication with a repeated clientToken answers the first application",
          again["applicationId"] == app, json.dumps(again, default=str))
    state = lambda: emr.get_application(applicationId=app)["application"]["state"]  # noqa: E731
    seen = wait_state(state, {"CREATED"})
    check("a new application is CREATING, then CREATED", seen[:1] == ["CREATING"] and seen[-1] == "CREATED", seen)
    emr.update_application(applicationId=app, releaseLabel="emr-7.11.0", clientToken="u1")
    label = emr.get_application(applicationId=app)["application"]["releaseLabel"]
    check("UpdateApplication changes the release label", label == "emr-7.11.0", label)

    emr.start_application(applicationId=app)
    seen = wait_state(state, {"STARTED"})
    check("StartApplication: STARTING, then STARTED", seen[:1] == ["STARTING"] and seen[-1] == "STARTED", seen)
    expect_error("UpdateApplication of a STARTED application is refused",
                 lambda: emr.update_application(applicationId=app, clientToken="u2",
                                                maximumCapacity={"cpu": "8 vCPU", "memory": "32 GB"}),
                 400, "ValidationException")
    expect_error("DeleteApplication of a STARTED application is refused",
                 lambda: emr.delete_application(applicationId=app), 400, "ValidationException")
    emr.stop_application(applicationId=app)
    seen = wait_state(state, {"STOPPED"})
    check("StopApplication: STOPPING, then STOPPED", seen[:1] == ["STOPPING"] and seen[-1] == "STOPPED", seen)

    # The service model's rules (botocore emr-serverless 2021-07-13), refused with AWS's
    # ValidationException, and nothing made or changed.
    expect_error("CreateApplication with a name outside [A-Za-z0-9._/#-]+ is refused",
                 lambda: emr.create_application(name="pinctl fidelity", releaseLabel="emr-7.12.0",
                                                type="SPARK", clientToken="tok-bad-name"),
                 400, "ValidationException",
                 "1 validation error detected: Value 'pinctl fidelity' at 'name' failed to satisfy"
                 " constraint: Member must satisfy regular expression pattern: [A-Za-z0-9._/#-]+")
    expect_error("CreateApplication with a cpu of '8 cores' is refused",
                 lambda: emr.create_application(name="pinctl-x", releaseLabel="emr-7.12.0", type="SPARK",
                                                clientToken="tok-bad-cpu",
                                                maximumCapacity={"cpu": "8 cores", "memory": "32 GB"}),
                 400, "ValidationException")
    expect_error("CreateApplication of release emr-6.5.0 (before EMR Serverless) is refused",
                 lambda: emr.create_application(name="pinctl-old", releaseLabel="emr-6.5.0", type="SPARK",
                                                clientToken="tok-old"),
                 400, "ValidationException")
    names = [a["name"] for a in emr.list_applications()["applications"]]
    check("refused CreateApplications made nothing (ListApplications with no filter)",
          names == ["pinctl-fidelity"], str(names))
    runs = emr.list_job_runs(applicationId=app)["jobRuns"]
    check("ListJobRuns of an application with no runs is an empty list", runs == [], str(runs))
    expect_error("UpdateApplication with an idle timeout of 20000 minutes is refused",
                 lambda: emr.update_application(applicationId=app, clientToken="u-idle",
                                                autoStopConfiguration={"enabled": True, "idleTimeoutMinutes": 20000}),
                 400, "ValidationException")
    expect_error("UpdateApplication with six security groups is refused",
                 lambda: emr.update_application(applicationId=app, clientToken="u-sg",
                                                networkConfiguration={"subnetIds": ["subnet-1"],
                                                                      "securityGroupIds": [f"sg-{i}" for i in range(6)]}),
                 400, "ValidationException")
    got = emr.get_application(applicationId=app)["application"]
    check("refused UpdateApplications changed nothing",
          "networkConfiguration" not in got and got.get("autoStopConfiguration", {}).get("idleTimeoutMinutes") != 20000,
          json.dumps(got, default=str))

    # A job run: the role EMR Serverless assumes, the entry point in S3.
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
             "Principal": {"Service": "emr-serverless.amazonaws.com"}}]}
    role = iam.create_role(RoleName="pinctl-fidelity-job", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName="pinctl-fidelity-job", PolicyName="s3", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
    other = iam.create_role(RoleName="pinctl-fidelity-ec2", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
         "Principal": {"Service": "ec2.amazonaws.com"}}]}))["Role"]["Arn"]
    s3.create_bucket(Bucket="pinctl-fidelity-emr")
    s3.put_object(Bucket="pinctl-fidelity-emr", Key="jobs/job.py", Body=b"""
import sys
from pyspark.sql import SparkSession
spark = SparkSession.builder.getOrCreate()
out = sys.argv[1]
spark.createDataFrame([(1, "a"), (2, "b")], ["ind", "v"]).write.mode("overwrite").json(out)
print(spark.read.json(out).count())
spark.stop()
""")
    s3.put_object(Bucket="pinctl-fidelity-emr", Key="jobs/fail.py", Body=b"raise SystemExit(3)\n")

    def run(entry, args, execution_role=role, token=None):
        r = emr.start_job_run(applicationId=app, executionRoleArn=execution_role, clientToken=token or entry.replace("s3://", "").replace("/", "-"),
                              jobDriver={"sparkSubmit": {"entryPoint": entry, "entryPointArguments": args}})
        return r["jobRunId"]

    def run_state(run_id):
        return lambda: emr.get_job_run(applicationId=app, jobRunId=run_id)["jobRun"]["state"]

    if run_spark:
        ok = run("s3://pinctl-fidelity-emr/jobs/job.py", ["s3://pinctl-fidelity-emr/out"])
        check("a job run on a STOPPED application starts it (auto-start)",
              "STARTING" in wait_state(state, {"STARTED"}, 10) or state() == "STARTED", state())
        expect_error("StopApplication while a job runs is refused",
                     lambda: emr.stop_application(applicationId=app), 400, "ValidationException")
        seen = wait_state(run_state(ok), {"SUCCESS", "FAILED"}, 300)
        order = ["SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "SUCCESS"]
        # Polled, so a short state may be missed; none is out of order, and it ends SUCCESS.
        check("a Spark job run is SUBMITTED, PENDING, SCHEDULED, RUNNING, then SUCCESS",
              seen and seen[-1] == "SUCCESS" and "RUNNING" in seen
              and [s for s in order if s in seen] == seen,
              f"{seen}: {emr.get_job_run(applicationId=app, jobRunId=ok)['jobRun'].get('stateDetails')}")
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="pinctl-fidelity-emr", Prefix="out/").get("Contents", [])]
        check("the job wrote its output to S3 (s3:// through S3A, as the job role)",
              any(k.endswith("_SUCCESS") for k in keys), keys)
        again = run("s3://pinctl-fidelity-emr/jobs/job.py", ["s3://pinctl-fidelity-emr/out"])
        check("StartJobRun with a repeated clientToken answers the first run", again == ok, again)
        failed = run("s3://pinctl-fidelity-emr/jobs/fail.py", [])
        seen = wait_state(run_state(failed), {"SUCCESS", "FAILED"}, 300)
        details = emr.get_job_run(applicationId=app, jobRunId=failed)["jobRun"].get("stateDetails", "")
        check("a job that exits non-zero is FAILED with its reason", seen[-1] == "FAILED" and "exit code" in details,
              f"{seen} {details[:200]}")
    untrusted = run("s3://pinctl-fidelity-emr/jobs/fail.py", [], execution_role=other, token="untrusted")
    seen = wait_state(run_state(untrusted), {"SUCCESS", "FAILED"}, 60)
    details = emr.get_job_run(applicationId=app, jobRunId=untrusted)["jobRun"].get("stateDetails", "")
    check("a role that does not trust emr-serverless.amazonaws.com fails the run",
          seen[-1] == "FAILED" and "emr-serverless.amazonaws.com" in details, f"{seen} {details}")
    wait_state(state, {"STARTED"}, 10)
    emr.stop_application(applicationId=app)
    wait_state(state, {"STOPPED"})
    emr.delete_application(applicationId=app)
    check("DeleteApplication of a STOPPED application: TERMINATED", state() == "TERMINATED", state())


def check_iam_s3():
    """S3 under IAM enforcement as AWS checks it: a signature over any headers the client lists
    (the AWS SDK for Java 1.x signs User-Agent), a query value sent with `/` unencoded (signed
    encoded), DeleteObjects authorized object by object."""
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    moto = Moto()
    try:
        iam, s3 = moto.client("iam"), moto.client("s3")
        bucket = "pinctl-fidelity-iam-s3"
        s3.create_bucket(Bucket=bucket)
        for k in ["a/1", "a/2", "b/1"]:
            s3.put_object(Bucket=bucket, Key=k, Body=b"x")

        def user(name, actions, resources):
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
                {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resources}]}))
            return iam.create_access_key(UserName=name)["AccessKey"]

        lister = user("lister", ["s3:ListBucket"], [f"arn:aws:s3:::{bucket}"])
        deleter = user("deleter", ["s3:DeleteObject"], [f"arn:aws:s3:::{bucket}/a/*"])
        req = urllib.request.Request(moto.url + "/moto-api/reset-auth", data=b"0", method="POST",
                                     headers={"Content-Type": "text/plain"})
        urllib.request.urlopen(req, timeout=10).read()

        # Signed as the Java SDK signs: User-Agent among the signed headers, the query's `/`
        # encoded in the signature and sent as is.
        creds = Credentials(lister["AccessKeyId"], lister["SecretAccessKey"])
        signed_url = f"{moto.url}/{bucket}/?delimiter=%2F&list-type=2&prefix=a%2F"
        request = AWSRequest(method="GET", url=signed_url, headers={"User-Agent": "aws-sdk-java/1.12.262"})
        blacklist = botocore.auth.SIGNED_HEADERS_BLACKLIST
        botocore.auth.SIGNED_HEADERS_BLACKLIST = []
        try:
            botocore.auth.S3SigV4Auth(creds, "s3", REGION).add_auth(request)
        finally:
            botocore.auth.SIGNED_HEADERS_BLACKLIST = blacklist
        signed = request.headers["Authorization"].split("SignedHeaders=")[1].split(",")[0]
        sent = urllib.request.Request(f"{moto.url}/{bucket}/?delimiter=/&list-type=2&prefix=a/",
                                      headers=dict(request.headers.items()))
        try:
            with urllib.request.urlopen(sent, timeout=10) as r:
                status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        check("a request signing User-Agent, with `/` unencoded in its query, is accepted",
              status == 200 and b"<Key>a/1</Key>" in body and "user-agent" in signed,
              f"{status} {body[:300]!r}")

        client = boto3.client("s3", endpoint_url=moto.url, region_name=REGION,
                              aws_access_key_id=deleter["AccessKeyId"],
                              aws_secret_access_key=deleter["SecretAccessKey"])
        r = client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a/1"}, {"Key": "b/1"}]})
        deleted = [d["Key"] for d in r.get("Deleted", [])]
        errors = [(e["Key"], e["Code"]) for e in r.get("Errors", [])]
        check("DeleteObjects deletes the objects the caller may delete and refuses the others, per key",
              deleted == ["a/1"] and errors == [("b/1", "AccessDenied")], f"{deleted} {errors}")
    finally:
        moto.stop()


def check_iam_emr():
    """StartJobRun under IAM enforcement: the caller must be allowed iam:PassRole on the job
    role with iam:PassedToService emr-serverless.amazonaws.com (User Guide, "Job runtime roles";
    IAM User Guide, "Grant a user permissions to pass a role to an AWS service"), with the
    condition evaluated as IAM does (StringLike's wildcards; a condition on another service is
    not met). A condition on a global key (aws:RequestedRegion) is evaluated for any action.
    ListJobRuns pages by maxResults (1 to 50)."""
    moto = Moto()
    try:
        iam, emr, s3 = moto.client("iam"), moto.client("emr-serverless"), moto.client("s3")
        app = emr.create_application(name="pinctl-pass", releaseLabel="emr-7.12.0", type="SPARK",
                                     clientToken="tok-pass")["applicationId"]
        wait_state(lambda: emr.get_application(applicationId=app)["application"]["state"], {"CREATED"})
        trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                 "Principal": {"Service": "emr-serverless.amazonaws.com"}}]}
        role = iam.create_role(RoleName="pinctl-pass-job", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]

        def user(name, statements):
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": statements}))
            key = iam.create_access_key(UserName=name)["AccessKey"]
            return boto3.client("emr-serverless", endpoint_url=moto.url, region_name=REGION,
                                aws_access_key_id=key["AccessKeyId"], aws_secret_access_key=key["SecretAccessKey"])

        use = {"Effect": "Allow", "Action": "emr-serverless:*", "Resource": "*"}

        def passing(service):
            return {"Effect": "Allow", "Action": "iam:PassRole", "Resource": role,
                    "Condition": {"StringLike": {"iam:PassedToService": service}}}

        emr_user = user("pass-emr", [use, passing("emr-serverless.*")])
        glue_user = user("pass-glue", [use, passing("glue.amazonaws.com")])
        none_user = user("pass-none", [use])
        elsewhere = user("pass-elsewhere", [{**use, "Condition": {"StringEquals": {"aws:RequestedRegion": "eu-west-1"}}}])
        s3.create_bucket(Bucket="pinctl-pass")
        urllib.request.urlopen(urllib.request.Request(
            moto.url + "/moto-api/reset-auth", data=b"0", method="POST",
            headers={"Content-Type": "text/plain"}), timeout=10).read()

        def start(client, token):
            return client.start_job_run(
                applicationId=app, executionRoleArn=role, clientToken=token,
                # Not there: the run fails at once, with no Spark started.
                jobDriver={"sparkSubmit": {"entryPoint": "s3://pinctl-pass/none.py"}})["jobRunId"]

        runs = [start(emr_user, f"t{i}") for i in range(3)]
        check("StartJobRun by a caller allowed iam:PassRole to emr-serverless.* is accepted", len(set(runs)) == 3, str(runs))
        expect_error("StartJobRun by a caller allowed iam:PassRole only to glue.amazonaws.com is refused",
                     lambda: start(glue_user, "g"), 403, "AccessDeniedException")
        expect_error("StartJobRun by a caller with no iam:PassRole is refused",
                     lambda: start(none_user, "n"), 403, "AccessDeniedException")
        expect_error("a policy for aws:RequestedRegion eu-west-1 allows nothing in us-east-1",
                     lambda: elsewhere.list_applications(), 403, "AccessDeniedException")

        first = emr_user.list_job_runs(applicationId=app, maxResults=2)
        rest = emr_user.list_job_runs(applicationId=app, maxResults=2, nextToken=first.get("nextToken", "-"))
        listed = [r["id"] for r in first["jobRuns"] + rest["jobRuns"]]
        check("ListJobRuns pages by maxResults", len(first["jobRuns"]) == 2 and sorted(listed) == sorted(runs)
              and not rest.get("nextToken"), json.dumps([first, rest], default=str)[:400])
        expect_error("ListJobRuns with maxResults 51 is refused",
                     lambda: emr_user.list_job_runs(applicationId=app, maxResults=51), 400, "ValidationException")
    finally:
        moto.stop()


def main():
    moto = Moto()
    try:
        print("-- S3 bucket defaults")
        check_bucket_defaults(moto)
        print("-- Kinesis tags at creation")
        check_stream_tags(moto)
        print("-- SSM instance information")
        check_ssm(moto)
        print("-- API Gateway models")
        check_models(moto)
        print("-- EMR Serverless")
        check_emr_serverless(moto, run_spark=os.environ.get("PINCTL_SKIP_SPARK") != "1")
        print("-- faults")
        check_faults(moto)
    finally:
        moto.stop()
    print("-- PINCTL_MOTO_FAULT_RATE")
    check_env_rate()
    print("-- S3 under IAM enforcement")
    check_iam_s3()
    print("-- EMR Serverless under IAM enforcement")
    check_iam_emr()
    if failures:
        print(f"{len(failures)} check(s) failed: " + "; ".join(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
