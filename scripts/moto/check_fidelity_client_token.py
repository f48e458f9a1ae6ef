"""Checks pinctl_moto_fidelity.py's EC2 client tokens against a moto_server of its own: a request
repeated with its ClientToken is answered as the first one was and makes nothing new; the same
token with other parameters is 400 IdempotentParameterMismatch (EC2 Developer Guide, "Ensuring
idempotency in Amazon EC2 API requests"); and a request whose answer the faults lost, retried
with its token (by hand, and by the SDK's own retries), makes one resource.

Run with the moto venv's Python (scripts/setup.sh installs it and the .pth hook):
    ~/.cache/pinctl/venv/bin/python scripts/moto/check_fidelity_client_token.py
Starts moto_server (the venv's, next to this Python; or PINCTL_MOTO_SERVER) on a free port with
this directory on PYTHONPATH, and stops it. Prints each check; exits 1 if any fails.
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
MISMATCH = "Arguments on this idempotent request are inconsistent with arguments used in previous request(s)."
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
    def __init__(self):
        server = os.environ.get("PINCTL_MOTO_SERVER") or os.path.join(
            os.path.dirname(sys.executable), "moto_server"
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, PYTHONPATH=HERE, PYTHONDONTWRITEBYTECODE="1")
        env.pop("PINCTL_PROPAGATION_DELAY", None)
        env.pop("PINCTL_MOTO_FAULT_RATE", None)
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

    def client(self, service, region=REGION, **config):
        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=region,
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
    """(HTTP status, error code, message) of a call expected to fail, None if it did not."""
    try:
        call()
    except ClientError as e:
        return (
            e.response.get("ResponseMetadata", {}).get("HTTPStatusCode"),
            e.response.get("Error", {}).get("Code"),
            e.response.get("Error", {}).get("Message"),
        )
    return None


def expect_error(what, call, status, code, message=None):
    got = error_of(call)
    ok = got is not None and got[0] == status and got[1] == code and (message is None or got[2] == message)
    check(what, ok, f"got {got or 'success'}, expected {(status, code, message)}")


def id_of(call, *path):
    """The id a creating call answers (following `path` into its answer), or its error."""
    try:
        out = call()
    except ClientError as e:
        return f"error {e.response.get('Error', {}).get('Code')}"
    for step in path:
        out = out[step]
    return out


def route_tables(ec2, vpc):
    """The ids of a VPC's route tables other than its main one."""
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["RouteTables"]
    return sorted(t["RouteTableId"] for t in tables if not any(a.get("Main") for a in t.get("Associations", [])))


def new_vpc(ec2, cidr):
    return ec2.create_vpc(CidrBlock=cidr)["Vpc"]["VpcId"]


def without_token(ec2):
    """An EC2 client that sends no ClientToken at all (the SDK fills one in by itself), and the
    tokens its requests carried."""
    sent = []

    def strip(params, **kwargs):
        params["body"].pop("ClientToken", None)

    def seen(request, **kwargs):
        body = request.body or b""
        sent.append(b"ClientToken=" in (body if isinstance(body, bytes) else body.encode()))

    ec2.meta.events.register("before-call.ec2.CreateRouteTable", strip)
    ec2.meta.events.register("before-send.ec2.CreateRouteTable", seen)
    return ec2, sent


def check_tokens(moto):
    ec2 = moto.client("ec2")
    vpc = new_vpc(ec2, "10.1.0.0/16")

    first = ec2.create_route_table(VpcId=vpc, ClientToken="rt-same")["RouteTable"]["RouteTableId"]
    again = id_of(lambda: ec2.create_route_table(VpcId=vpc, ClientToken="rt-same"), "RouteTable", "RouteTableId")
    check("CreateRouteTable repeated with its ClientToken answers the same RouteTableId", first == again, f"{first} then {again}")
    check("... and makes one route table", route_tables(ec2, vpc) == [first], str(route_tables(ec2, vpc)))

    other = new_vpc(ec2, "10.2.0.0/16")
    expect_error(
        "the same ClientToken with another VpcId: 400 IdempotentParameterMismatch",
        lambda: ec2.create_route_table(VpcId=other, ClientToken="rt-same"),
        400,
        "IdempotentParameterMismatch",
        MISMATCH,
    )
    check("... and makes nothing", route_tables(ec2, other) == [], str(route_tables(ec2, other)))
    expect_error(
        "the same ClientToken with the same VpcId and a tag more: IdempotentParameterMismatch",
        lambda: ec2.create_route_table(
            VpcId=vpc,
            ClientToken="rt-same",
            TagSpecifications=[{"ResourceType": "route-table", "Tags": [{"Key": "k", "Value": "v"}]}],
        ),
        400,
        "IdempotentParameterMismatch",
        MISMATCH,
    )
    again = id_of(lambda: ec2.create_route_table(VpcId=vpc, ClientToken="rt-same"), "RouteTable", "RouteTableId")
    check("the first request repeated after a mismatch still answers its route table", again == first, again)
    check("the same token for another action is another request (CreateNetworkAcl)", bool(ec2.create_network_acl(VpcId=vpc, ClientToken="rt-same")["NetworkAcl"]["NetworkAclId"]))

    # The SDK fills a new token into each call: two calls, two tables.
    plain = new_vpc(ec2, "10.3.0.0/16")
    a = ec2.create_route_table(VpcId=plain)["RouteTable"]["RouteTableId"]
    b = ec2.create_route_table(VpcId=plain)["RouteTable"]["RouteTableId"]
    check("two calls with the SDK's own tokens make two route tables", a != b and route_tables(ec2, plain) == sorted([a, b]), str(route_tables(ec2, plain)))
    bare, sent = without_token(moto.client("ec2"))
    none = new_vpc(ec2, "10.4.0.0/16")
    a = bare.create_route_table(VpcId=none)["RouteTable"]["RouteTableId"]
    b = bare.create_route_table(VpcId=none)["RouteTable"]["RouteTableId"]
    check("(the requests carried no ClientToken)", sent == [False, False], str(sent))
    check("two requests without a ClientToken make two route tables", a != b and route_tables(ec2, none) == sorted([a, b]), str(route_tables(ec2, none)))

    # Only a successful answer is remembered.
    expect_error(
        "CreateRouteTable of an unknown VPC with a token: InvalidVpcID.NotFound",
        lambda: ec2.create_route_table(VpcId="vpc-0000000000000000f", ClientToken="rt-failed"),
        400,
        "InvalidVpcID.NotFound",
    )
    got = error_of(lambda: ec2.create_route_table(VpcId=plain, ClientToken="rt-failed"))
    check("a token whose request failed is free: the corrected request runs", got is None and len(route_tables(ec2, plain)) == 3, str(got))

    # Another Region is another request.
    west = moto.client("ec2", region="us-west-2")
    west_vpc = new_vpc(west, "10.1.0.0/16")
    w = west.create_route_table(VpcId=west_vpc, ClientToken="rt-same")["RouteTable"]["RouteTableId"]
    check("the same token in another Region makes that Region's route table", w != first and route_tables(west, west_vpc) == [w], w)

    # CreateNatGateway (a token the SDK fills in), CreateVpcEndpoint (one it does not).
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    eip = ec2.allocate_address(Domain="vpc")["AllocationId"]
    n1 = ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip, ClientToken="nat-same")["NatGateway"]["NatGatewayId"]
    n2 = id_of(lambda: ec2.create_nat_gateway(SubnetId=subnet, AllocationId=eip, ClientToken="nat-same"), "NatGateway", "NatGatewayId")
    nats = [g["NatGatewayId"] for g in ec2.describe_nat_gateways(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["NatGateways"]]
    check("CreateNatGateway repeated with its ClientToken: one NAT gateway, the same id", n1 == n2 and nats == [n1], f"{n1} {n2} {nats}")
    e1 = ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", RouteTableIds=[first], ClientToken="vpce-same")["VpcEndpoint"]["VpcEndpointId"]
    e2 = id_of(
        lambda: ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.us-east-1.s3", RouteTableIds=[first], ClientToken="vpce-same"),
        "VpcEndpoint",
        "VpcEndpointId",
    )
    endpoints = [e["VpcEndpointId"] for e in ec2.describe_vpc_endpoints(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["VpcEndpoints"]]
    check("CreateVpcEndpoint repeated with its ClientToken: one endpoint, the same id", e1 == e2 and endpoints == [e1], f"{e1} {e2} {endpoints}")

    # RunInstances: moto 5.2 keeps the token on the instance but launches again.
    ami = ec2.describe_images()["Images"][0]["ImageId"]
    i1 = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, ClientToken="run-same")["Instances"][0]["InstanceId"]
    i2 = id_of(lambda: ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, ClientToken="run-same"), "Instances", 0, "InstanceId")
    running = [
        i["InstanceId"]
        for r in ec2.describe_instances(Filters=[{"Name": "subnet-id", "Values": [subnet]}])["Reservations"]
        for i in r["Instances"]
    ]
    check("RunInstances repeated with its ClientToken: one instance, the same id", i1 == i2 and running == [i1], f"{i1} {i2} {running}")
    expect_error(
        "RunInstances with the same token and another instance type: IdempotentParameterMismatch",
        lambda: ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, SubnetId=subnet, InstanceType="t3.large", ClientToken="run-same"),
        400,
        "IdempotentParameterMismatch",
        MISMATCH,
    )
    return vpc


def check_lost(moto):
    ec2 = moto.client("ec2")
    once = moto.client("ec2", retries={"total_max_attempts": 1, "mode": "standard"})

    # By hand: at rate 1 request 0 is throttled and request 1 loses its answer.
    vpc = new_vpc(ec2, "10.5.0.0/16")
    moto.faults(1.0)
    expect_error("request 0 at rate 1: throttled", lambda: once.describe_vpcs(), 503, "RequestLimitExceeded")
    got = error_of(lambda: once.create_route_table(VpcId=vpc, ClientToken="rt-lost"))
    check("request 1: CreateRouteTable's answer lost (502)", got is not None and got[0] == 502, str(got))
    moto.faults(0)
    made = route_tables(ec2, vpc)
    check("the lost answer's CreateRouteTable ran", len(made) == 1, str(made))
    got = id_of(lambda: ec2.create_route_table(VpcId=vpc, ClientToken="rt-lost"), "RouteTable", "RouteTableId")
    check("its retry with the same token answers that route table", [got] == made, f"{got} {made}")
    check("... and makes no other", route_tables(ec2, vpc) == made, str(route_tables(ec2, vpc)))

    # By the SDK: its own token, its own retries. At rate 0.6 the faults' hash picks requests
    # 0 (throttled), 1 (lost), 2 (throttled) and lets 3 through.
    rate = 0.6
    plan = [
        ("lost" if n % 2 else "throttled") if (n * 2654435761) % 10000 / 10000 < rate else "ok" for n in range(4)
    ]
    check(f"rate {rate}: requests 0..3 are throttled, lost, throttled, ok", plan == ["throttled", "lost", "throttled", "ok"], str(plan))
    vpc = new_vpc(ec2, "10.6.0.0/16")
    retrying = moto.client("ec2", retries={"total_max_attempts": 5, "mode": "standard"})
    moto.faults(rate)
    out = retrying.create_route_table(VpcId=vpc)
    moto.faults(0)
    attempts = out["ResponseMetadata"].get("RetryAttempts")
    got = out["RouteTable"]["RouteTableId"]
    check("the SDK's CreateRouteTable succeeds after 3 retries", attempts == 3, str(attempts))
    check("... answering the route table its lost request made, the only one", route_tables(ec2, vpc) == [got], f"{got} {route_tables(ec2, vpc)}")
    log = moto.stderr()
    check("stderr: 'pinctl fault: lost the answer to ec2 CreateRouteTable'", "pinctl fault: lost the answer to ec2 CreateRouteTable" in log)
    check(
        "stderr: 'pinctl client token: answered a repeated ec2 CreateRouteTable'",
        "pinctl client token: answered a repeated ec2 CreateRouteTable" in log,
    )


def check_reset(moto):
    status, _ = moto.http("POST", "/moto-api/reset")
    check("POST /moto-api/reset", status == 200, str(status))
    ec2 = moto.client("ec2")
    vpc = new_vpc(ec2, "10.1.0.0/16")
    got = error_of(lambda: ec2.create_route_table(VpcId=vpc, ClientToken="rt-same"))
    check("after a reset a token is new again", got is None and len(route_tables(ec2, vpc)) == 1, str(got))


def main():
    moto = Moto()
    try:
        print("-- client tokens")
        check_tokens(moto)
        print("-- lost answers")
        check_lost(moto)
        print("-- reset")
        check_reset(moto)
    finally:
        moto.stop()
    if failures:
        print(f"{len(failures)} check(s) failed: " + "; ".join(failures))
        sys.exit(1)
    print("all checks passed")


if __name__ == "__main__":
    main()
