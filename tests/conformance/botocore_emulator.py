#!/usr/bin/env python3
"""Drives pinctl's emulator of MSK (`kafka`), MSK Connect (`kafkaconnect`) and MWAA (`mwaa`)
through boto3 the way a standard client does, and checks every exchange against botocore's own
service models (`botocore/data/{kafka,kafkaconnect,mwaa}/*/service-2.json`):

* requests: botocore's parameter validation (`botocore.validate`), on for every call;
* responses, on the raw wire JSON before botocore's parser (which silently drops unknown
  members and nulls): a strict walk of the operation's output shape that fails on an unknown
  member, a `null`, a wrong type, a missing required member, a value outside an enum, a
  number out of range or a string out of length, and on an HTTP status other than the
  operation's `responseCode`;
* errors: the error code (`x-amzn-errortype`) must be one the operation's model lists, with
  that error shape's HTTP status, and the body must walk as that error shape.

Usage: botocore_emulator.py ENDPOINT_URL, or botocore_emulator.py --self-test (the walker
must find each flaw of a set of broken answers; no endpoint needed). Prints one line per failure, naming the operation
and the member path (`kafka.DescribeCluster: ClusterInfo.EncryptionInfo: missing ...`), then
a summary; exits 1 on any failure. Every operation in SCOPE must have been answered and
validated at least once; operations of the models outside SCOPE are listed in OUT_OF_SCOPE
with the reason, and any other operation of the installed models is reported as unclassified
(a warning: a newer botocore may add operations).
"""

import base64
import collections
import json
import re
import sys
import time

import boto3
import botocore
import botocore.exceptions
from botocore.config import Config
from botocore import xform_name

REGION = "us-east-1"

# The operations a standard client uses for the resources pinctl manages, per service.
SCOPE = {
    "kafka": [
        "CreateCluster", "CreateClusterV2", "DescribeCluster", "DescribeClusterV2",
        "ListClusters", "ListClustersV2", "DeleteCluster", "GetBootstrapBrokers", "ListNodes",
        "DescribeClusterOperation", "DescribeClusterOperationV2", "ListClusterOperations",
        "ListClusterOperationsV2", "UpdateBrokerCount", "UpdateBrokerStorage",
        "UpdateBrokerType", "UpdateClusterConfiguration", "UpdateClusterKafkaVersion",
        "UpdateMonitoring", "UpdateSecurity", "UpdateConnectivity", "UpdateStorage",
        "CreateConfiguration", "DescribeConfiguration", "ListConfigurations",
        "UpdateConfiguration", "DeleteConfiguration", "ListConfigurationRevisions",
        "DescribeConfigurationRevision", "CreateTopic", "DescribeTopic", "ListTopics",
        "UpdateTopic", "DeleteTopic", "DescribeTopicPartitions", "TagResource",
        "UntagResource", "ListTagsForResource", "ListKafkaVersions",
        "GetCompatibleKafkaVersions",
    ],
    "kafkaconnect": [
        "CreateCustomPlugin", "DescribeCustomPlugin", "ListCustomPlugins", "DeleteCustomPlugin",
        "CreateWorkerConfiguration", "DescribeWorkerConfiguration", "ListWorkerConfigurations",
        "DeleteWorkerConfiguration", "CreateConnector", "DescribeConnector", "ListConnectors",
        "UpdateConnector", "DeleteConnector", "ListConnectorOperations",
        "DescribeConnectorOperation", "PauseConnector", "ResumeConnector", "RestartConnector",
        "TagResource", "UntagResource", "ListTagsForResource",
    ],
    "mwaa": [
        "CreateEnvironment", "GetEnvironment", "ListEnvironments", "UpdateEnvironment",
        "DeleteEnvironment", "TagResource", "UntagResource", "ListTagsForResource",
        "CreateCliToken", "CreateWebLoginToken",
    ],
}

# Operations of the models the emulator does not serve, and why.
OUT_OF_SCOPE = {
    "kafka": {
        "BatchAssociateScramSecret": "SCRAM secrets (Secrets Manager); pinctl uses IAM auth",
        "BatchDisassociateScramSecret": "SCRAM secrets",
        "ListScramSecrets": "SCRAM secrets",
        "CreateReplicator": "MSK Replicator", "DeleteReplicator": "MSK Replicator",
        "DescribeReplicator": "MSK Replicator", "ListReplicators": "MSK Replicator",
        "UpdateReplicationInfo": "MSK Replicator",
        "CreateVpcConnection": "multi-VPC private connectivity",
        "DeleteVpcConnection": "multi-VPC private connectivity",
        "DescribeVpcConnection": "multi-VPC private connectivity",
        "ListVpcConnections": "multi-VPC private connectivity",
        "ListClientVpcConnections": "multi-VPC private connectivity",
        "RejectClientVpcConnection": "multi-VPC private connectivity",
        "GetClusterPolicy": "cluster resource policies (multi-VPC)",
        "PutClusterPolicy": "cluster resource policies (multi-VPC)",
        "DeleteClusterPolicy": "cluster resource policies (multi-VPC)",
        "RebootBroker": "broker reboots",
        "UpdateRebalancing": "intelligent rebalancing (Express brokers)",
        "StartTopicReassignment": "topic reassignment", "StopTopicReassignment": "topic reassignment",
        "DescribeTopicReassignment": "topic reassignment",
        "ListTopicReassignments": "topic reassignment",
        "CreateAssessment": "assessments", "DeleteAssessment": "assessments",
        "DescribeAssessment": "assessments", "ListAssessments": "assessments",
        "ListAssessmentFindings": "assessments",
        "CreateChannel": "channels", "DeleteChannel": "channels", "DescribeChannel": "channels",
        "ListChannels": "channels", "UpdateChannel": "channels",
    },
    "kafkaconnect": {},
    "mwaa": {
        "InvokeRestApi": "calls Airflow's REST API on the webserver (the twin's Airflow), not MWAA",
        "PublishMetrics": "internal to MWAA's workers (deprecated)",
    },
}

# Where AWS's own answers differ from a constraint of botocore's model, AWS wins: the emulator
# answers as the service does. (service, shape name) -> why the shape's pattern is not checked.
MODEL_DEVIATIONS = {
    ("mwaa", "WebserverUrl"): "MWAA answers a host name without the scheme the pattern asks "
                              "for (e.g. `xxxxxxxx-....c5.eu-west-1.airflow.amazonaws.com`)",
}

ISO8601 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:?\d\d)$")


class Conformance:
    def __init__(self, endpoint, quiet=False):
        self.quiet = quiet
        self.failures = []
        self.validated = collections.Counter()
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
        )
        # The host prefix MWAA's model asks for (`api.`, `env.`) cannot resolve on a loopback
        # endpoint; stock clients turn it off with AWS_DISABLE_HOST_PREFIX_INJECTION, which
        # `pinctl local env` exports. Here the client is told directly.
        config = Config(
            retries={"max_attempts": 1, "mode": "standard"},
            parameter_validation=True,
            inject_host_prefix=False,
        )
        self.clients = {}
        for svc in SCOPE:
            client = session.client(svc, endpoint_url=endpoint, config=config)
            service_id = client.meta.service_model.service_id.hyphenize()
            client.meta.events.register("before-parse.%s" % service_id, self.check_response)
            self.clients[svc] = client

    # --- reporting -------------------------------------------------------------------------

    def fail(self, where, message):
        self.failures.append("%s: %s" % (where, message))
        if not self.quiet:
            print("FAIL %s: %s" % (where, message), flush=True)

    # --- the strict walker -----------------------------------------------------------------

    def walk(self, where, shape, value, path):
        """Checks `value` (wire JSON) against `shape`; `path` names the member for messages."""
        here = path or "(top)"
        if value is None:
            self.fail(where, "%s: null (an absent optional member must be left out)" % here)
            return
        kind = shape.type_name
        if kind == "structure":
            if not isinstance(value, dict):
                self.fail(where, "%s: expected an object (%s), got %r" % (here, shape.name, value))
                return
            wire = {}
            for name, member in shape.members.items():
                if member.serialization.get("location") not in (None, "body"):
                    continue  # headers, status code, query and path members are not in the body
                wire[member.serialization.get("name", name)] = (name, member)
            for key, item in value.items():
                if key not in wire:
                    self.fail(where, "%s: unknown member `%s` (not in %s)" % (here, key, shape.name))
                    continue
                name, member = wire[key]
                self.walk(where, member, item, "%s.%s" % (path, name) if path else name)
            for name in shape.required_members:
                member = shape.members[name]
                if member.serialization.get("location") not in (None, "body"):
                    continue
                if member.serialization.get("name", name) not in value:
                    self.fail(where, "%s: missing required member `%s`" % (here, name))
            if shape.metadata.get("union") and len(value) != 1:
                self.fail(where, "%s: a union holds exactly one member, not %d" % (here, len(value)))
        elif kind == "list":
            if not isinstance(value, list):
                self.fail(where, "%s: expected a list, got %r" % (here, value))
                return
            self.check_range(where, shape, len(value), here, "length")
            for i, item in enumerate(value):
                self.walk(where, shape.member, item, "%s[%d]" % (path, i))
        elif kind == "map":
            if not isinstance(value, dict):
                self.fail(where, "%s: expected a map, got %r" % (here, value))
                return
            for key, item in value.items():
                self.walk(where, shape.key, key, "%s{key}" % path)
                self.walk(where, shape.value, item, "%s{%s}" % (path, key))
        elif kind == "string":
            if not isinstance(value, str):
                self.fail(where, "%s: expected a string, got %r" % (here, value))
                return
            enum = shape.enum if hasattr(shape, "enum") else []
            if enum and value not in enum:
                self.fail(where, "%s: %r is not one of %s" % (here, value, "|".join(enum)))
            self.check_range(where, shape, len(value), here, "length")
            pattern = shape.metadata.get("pattern")
            if pattern and (where.split(".")[0], shape.name) not in MODEL_DEVIATIONS:
                try:
                    if not re.search(pattern, value):
                        self.fail(where, "%s: %r does not match %s" % (here, value, pattern))
                except re.error:
                    pass
        elif kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(where, "%s: expected an integer, got %r" % (here, value))
                return
            self.check_range(where, shape, value, here, "value")
        elif kind in ("double", "float"):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(where, "%s: expected a number, got %r" % (here, value))
        elif kind == "boolean":
            if not isinstance(value, bool):
                self.fail(where, "%s: expected a boolean, got %r" % (here, value))
        elif kind == "timestamp":
            fmt = shape.serialization.get("timestampFormat") or "unixTimestamp"
            if fmt == "iso8601":
                if not isinstance(value, str) or not ISO8601.match(value):
                    self.fail(where, "%s: expected an ISO 8601 time, got %r" % (here, value))
            elif fmt == "unixTimestamp":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    self.fail(where, "%s: expected epoch seconds, got %r" % (here, value))
            elif not isinstance(value, str):
                self.fail(where, "%s: expected a %s time, got %r" % (here, fmt, value))
        elif kind == "blob":
            try:
                base64.b64decode(value, validate=True)
            except Exception:  # noqa: BLE001 - any decoding failure is the finding
                self.fail(where, "%s: expected base64, got %r" % (here, value))
        else:
            self.fail(where, "%s: the walker does not know shape type %s" % (here, kind))

    def check_range(self, where, shape, n, here, what):
        lo, hi = shape.metadata.get("min"), shape.metadata.get("max")
        if lo is not None and n < lo:
            self.fail(where, "%s: %s %s below the minimum %s" % (here, what, n, lo))
        if hi is not None and n > hi:
            self.fail(where, "%s: %s %s above the maximum %s" % (here, what, n, hi))

    # --- the response hook -----------------------------------------------------------------

    def check_response(self, operation_model, response_dict, **_):
        svc = operation_model.service_model.service_name
        where = "%s.%s" % (svc, operation_model.name)
        status = response_dict["status_code"]
        raw = response_dict["body"] or b"{}"
        try:
            data = json.loads(raw)
        except ValueError:
            self.fail(where, "HTTP %d body is not JSON: %r" % (status, raw[:200]))
            return
        if status < 300:
            expected = operation_model.http.get("responseCode", 200)
            if status != expected:
                self.fail(where, "HTTP %d, the model says %d" % (status, expected))
            shape = operation_model.output_shape
            if shape is None:
                if data not in ({}, None):
                    self.fail(where, "the operation has no output, got %r" % data)
            else:
                self.walk(where, shape, data, "")
            self.validated[(svc, operation_model.name)] += 1
            return
        headers = response_dict["headers"]
        code = (headers.get("x-amzn-errortype") or data.get("__type") or "").split(":")[0]
        code = code.split("#")[-1]
        errors = {e.name: e for e in operation_model.error_shapes}
        if code not in errors:
            self.fail(where, "error %s (HTTP %d) is not among the operation's errors %s"
                      % (code or "(none)", status, sorted(errors)))
            return
        shape = errors[code]
        want = shape.metadata.get("error", {}).get("httpStatusCode")
        if want is not None and want != status:
            self.fail(where, "%s with HTTP %d, the model says %d" % (code, status, want))
        self.walk(where + " (" + code + ")", shape, data, "")
        self.validated[(svc, operation_model.name)] += 1

    # --- calls -----------------------------------------------------------------------------

    def call(self, svc, op, expect=None, **params):
        """Calls `op`; with `expect`, the call must fail with that error code."""
        where = "%s.%s" % (svc, op)
        method = getattr(self.clients[svc], xform_name(op))
        try:
            out = method(**params)
        except botocore.exceptions.ParamValidationError as e:
            self.fail(where, "the request does not validate: %s" % e)
            return None
        except botocore.exceptions.ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if expect and code == expect:
                return e.response
            self.fail(where, "%s: %s" % (code, e.response.get("Error", {}).get("Message")))
            return None
        except botocore.exceptions.BotoCoreError as e:
            self.fail(where, "%s" % e)
            return None
        if expect:
            self.fail(where, "expected %s, the call succeeded" % expect)
        return out

    def wait(self, what, probe, want, timeout=30.0):
        """Polls `probe()` until it returns `want` (or a value in `want`)."""
        wants = want if isinstance(want, (list, tuple, set)) else [want]
        deadline = time.time() + timeout
        seen = None
        failed = len(self.failures)
        while time.time() < deadline:
            seen = probe()
            if seen in wants:
                return True
            if len(self.failures) > failed:
                return False  # the probe itself failed; that failure is the finding
            time.sleep(0.1)
        self.fail(what, "waited %.0f s for %s; last seen %s" % (timeout, want, seen))
        return False

    # --- the scenario ----------------------------------------------------------------------

    def kafka(self):
        k = "kafka"
        props = b"auto.create.topics.enable=false\nnum.partitions=3\n"
        conf = self.call(k, "CreateConfiguration", Name="conf-a", Description="first",
                         KafkaVersions=["3.6.0"], ServerProperties=props) or {}
        conf_arn = conf.get("Arn", "arn:aws:kafka:us-east-1:123456789012:configuration/x/y")
        self.call(k, "CreateConfiguration", Name="conf-b", ServerProperties=props)
        self.call(k, "CreateConfiguration", expect="ConflictException", Name="conf-a",
                  ServerProperties=props)
        self.call(k, "DescribeConfiguration", Arn=conf_arn)
        self.call(k, "ListConfigurations")
        self.call(k, "ListConfigurations", MaxResults=1)
        self.call(k, "UpdateConfiguration", Arn=conf_arn, Description="second",
                  ServerProperties=props + b"log.retention.hours=48\n")
        revs = self.call(k, "ListConfigurationRevisions", Arn=conf_arn) or {}
        if [r.get("Revision") for r in revs.get("Revisions", [])] != [1, 2]:
            self.fail("kafka.ListConfigurationRevisions", "revisions %s, not [1, 2]" % revs)
        rev = self.call(k, "DescribeConfigurationRevision", Arn=conf_arn, Revision=2) or {}
        if b"log.retention.hours=48" not in rev.get("ServerProperties", b""):
            self.fail("kafka.DescribeConfigurationRevision", "revision 2 lost its properties")
        missing = conf_arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000-1"
        self.call(k, "DescribeConfiguration", expect="BadRequestException", Arn=missing)
        self.call(k, "DeleteConfiguration", expect="BadRequestException", Arn=missing)

        v2 = self.call(k, "CreateClusterV2", ClusterName="conformance-v2", Tags={"team": "data"},
                       Provisioned={
                           "BrokerNodeGroupInfo": {
                               "InstanceType": "kafka.t3.small",
                               "ClientSubnets": ["subnet-1", "subnet-2"],
                               "SecurityGroups": ["sg-1"],
                               "StorageInfo": {"EbsStorageInfo": {"VolumeSize": 10}},
                           },
                           "KafkaVersion": "3.8.x",
                           "NumberOfBrokerNodes": 2,
                           "ConfigurationInfo": {"Arn": conf_arn, "Revision": 1},
                           "ClientAuthentication": {"Sasl": {"Iam": {"Enabled": True}}},
                       }) or {}
        arn = v2.get("ClusterArn", "arn:aws:kafka:us-east-1:123456789012:cluster/none/x-1")
        # At once, while the cluster is CREATING: later calls may find it ACTIVE on a busy machine.
        self.call(k, "GetBootstrapBrokers", expect="BadRequestException", ClusterArn=arn)
        v1 = self.call(k, "CreateCluster", ClusterName="conformance-v1", KafkaVersion="3.8.x",
                       NumberOfBrokerNodes=2, BrokerNodeGroupInfo={
                           "InstanceType": "kafka.m5.large",
                           "ClientSubnets": ["subnet-1", "subnet-2"],
                       }) or {}
        arn1 = v1.get("ClusterArn", arn)
        self.call(k, "CreateClusterV2", expect="ConflictException", ClusterName="conformance-v2",
                  Provisioned={"BrokerNodeGroupInfo": {"InstanceType": "kafka.t3.small",
                                                       "ClientSubnets": ["subnet-1"]},
                               "KafkaVersion": "3.8.x", "NumberOfBrokerNodes": 1})
        for a in (arn, arn1):
            self.call(k, "DescribeCluster", ClusterArn=a)
            self.call(k, "DescribeClusterV2", ClusterArn=a)
        self.call(k, "ListClusters")
        self.call(k, "ListClusters", ClusterNameFilter="conformance-v1")
        self.call(k, "ListClustersV2")
        self.call(k, "ListClustersV2", ClusterTypeFilter="PROVISIONED", MaxResults=1)
        pages = self.clients[k].get_paginator("list_clusters_v2").paginate(PaginationConfig={"PageSize": 1})
        names = [c["ClusterName"] for p in pages for c in p["ClusterInfoList"]]
        if sorted(names) != ["conformance-v1", "conformance-v2"]:
            self.fail("kafka.ListClustersV2", "paging by 1 gave %s" % names)
        gone = arn.rsplit("/", 1)[0] + "/00000000-0000-0000-0000-000000000000-1"
        self.call(k, "DescribeClusterV2", expect="NotFoundException", ClusterArn=gone)
        self.call(k, "DescribeCluster", expect="NotFoundException", ClusterArn=gone)

        def state(a=arn):
            out = self.call(k, "DescribeClusterV2", ClusterArn=a) or {}
            return out.get("ClusterInfo", {}).get("State")

        self.wait("kafka cluster ACTIVE", state, "ACTIVE")
        self.wait("kafka v1 cluster ACTIVE", lambda: state(arn1), "ACTIVE")
        self.call(k, "GetBootstrapBrokers", ClusterArn=arn)
        nodes = self.call(k, "ListNodes", ClusterArn=arn) or {}
        if len(nodes.get("NodeInfoList", [])) != 2:
            self.fail("kafka.ListNodes", "expected 2 brokers, got %s" % nodes)
        self.call(k, "ListKafkaVersions")
        self.call(k, "GetCompatibleKafkaVersions", ClusterArn=arn)
        self.call(k, "GetCompatibleKafkaVersions")
        ops = self.call(k, "ListClusterOperations", ClusterArn=arn) or {}
        if ops.get("ClusterOperationInfoList"):
            self.fail("kafka.ListClusterOperations", "no update yet, but %s" % ops)
        self.call(k, "ListClusterOperationsV2", ClusterArn=arn)

        def current():
            out = self.call(k, "DescribeCluster", ClusterArn=arn) or {}
            return out.get("ClusterInfo", {}).get("CurrentVersion", "")

        def update(op, **params):
            before = current()
            out = self.call(k, op, ClusterArn=arn, CurrentVersion=before, **params) or {}
            op_arn = out.get("ClusterOperationArn")
            if not op_arn:
                return
            self.call(k, "DescribeClusterOperation", ClusterOperationArn=op_arn)
            self.call(k, "DescribeClusterOperationV2", ClusterOperationArn=op_arn)

            def op_state():
                o = self.call(k, "DescribeClusterOperation", ClusterOperationArn=op_arn) or {}
                return o.get("ClusterOperationInfo", {}).get("OperationState")

            self.wait("kafka %s operation" % op, op_state, "UPDATE_COMPLETE")
            self.wait("kafka cluster ACTIVE after %s" % op, state, "ACTIVE")
            self.call(k, "DescribeClusterOperationV2", ClusterOperationArn=op_arn)
            # The version the update started from is stale now.
            self.call(k, op, expect="BadRequestException", ClusterArn=arn, CurrentVersion=before,
                      **params)

        update("UpdateMonitoring", EnhancedMonitoring="PER_BROKER",
               OpenMonitoring={"Prometheus": {"JmxExporter": {"EnabledInBroker": True},
                                              "NodeExporter": {"EnabledInBroker": True}}},
               LoggingInfo={"BrokerLogs": {"CloudWatchLogs": {"Enabled": True,
                                                              "LogGroup": "msk-logs"}}})
        info = (self.call(k, "DescribeCluster", ClusterArn=arn) or {}).get("ClusterInfo", {})
        if info.get("EnhancedMonitoring") != "PER_BROKER":
            self.fail("kafka.UpdateMonitoring", "EnhancedMonitoring not applied: %s" % info)
        update("UpdateBrokerCount", TargetNumberOfBrokerNodes=4)
        update("UpdateBrokerStorage", TargetBrokerEBSVolumeInfo=[
            {"KafkaBrokerNodeId": "All", "VolumeSizeGB": 20}])
        update("UpdateStorage", VolumeSizeGB=30)
        update("UpdateBrokerType", TargetInstanceType="kafka.m5.large")
        update("UpdateClusterConfiguration", ConfigurationInfo={"Arn": conf_arn, "Revision": 2})
        update("UpdateClusterKafkaVersion", TargetKafkaVersion="3.9.x")
        update("UpdateSecurity", ClientAuthentication={"Sasl": {"Iam": {"Enabled": True}},
                                                       "Unauthenticated": {"Enabled": False}})
        update("UpdateConnectivity", ConnectivityInfo={"PublicAccess": {"Type": "DISABLED"}})
        ops = self.call(k, "ListClusterOperations", ClusterArn=arn) or {}
        if len(ops.get("ClusterOperationInfoList", [])) != 9:
            self.fail("kafka.ListClusterOperations", "expected 9 operations, got %d"
                      % len(ops.get("ClusterOperationInfoList", [])))
        self.call(k, "ListClusterOperations", ClusterArn=arn, MaxResults=2)
        self.call(k, "ListClusterOperationsV2", ClusterArn=arn)
        self.call(k, "ListClusterOperationsV2", ClusterArn=arn, MaxResults=3)
        self.call(k, "DescribeCluster", ClusterArn=arn)
        self.call(k, "DescribeClusterV2", ClusterArn=arn)
        self.call(k, "ListClusters")
        self.call(k, "ListClustersV2")

        configs = base64.b64encode(json.dumps({"retention.ms": "3600000"}).encode()).decode()
        self.call(k, "CreateTopic", ClusterArn=arn, TopicName="events", PartitionCount=3,
                  ReplicationFactor=2, Configs=configs)
        self.call(k, "CreateTopic", ClusterArn=arn, TopicName="other", PartitionCount=1,
                  ReplicationFactor=1)
        self.call(k, "CreateTopic", expect="TopicExistsException", ClusterArn=arn,
                  TopicName="events", PartitionCount=1, ReplicationFactor=1)

        def topic_state():
            out = self.call(k, "DescribeTopic", ClusterArn=arn, TopicName="events") or {}
            return out.get("Status")

        self.wait("kafka topic ACTIVE", topic_state, "ACTIVE")
        self.call(k, "ListTopics", ClusterArn=arn)
        self.call(k, "ListTopics", ClusterArn=arn, TopicNameFilter="ev", MaxResults=1)
        parts = self.call(k, "DescribeTopicPartitions", ClusterArn=arn, TopicName="events") or {}
        if len(parts.get("Partitions", [])) != 3:
            self.fail("kafka.DescribeTopicPartitions", "expected 3 partitions: %s" % parts)
        self.call(k, "DescribeTopicPartitions", ClusterArn=arn, TopicName="events", MaxResults=2)
        self.call(k, "UpdateTopic", ClusterArn=arn, TopicName="events", PartitionCount=6)
        self.wait("kafka topic ACTIVE after update", topic_state, "ACTIVE")
        self.call(k, "DescribeTopic", expect="NotFoundException", ClusterArn=arn, TopicName="nope")
        self.call(k, "DescribeTopicPartitions", expect="NotFoundException", ClusterArn=arn,
                  TopicName="nope")
        self.call(k, "DeleteTopic", ClusterArn=arn, TopicName="other")

        self.call(k, "TagResource", ResourceArn=arn, Tags={"owner": "me"})
        tags = self.call(k, "ListTagsForResource", ResourceArn=arn) or {}
        if tags.get("Tags") != {"team": "data", "owner": "me"}:
            self.fail("kafka.ListTagsForResource", "tags %s" % tags)
        self.call(k, "UntagResource", ResourceArn=arn, TagKeys=["owner"])
        self.call(k, "ListTagsForResource", expect="NotFoundException", ResourceArn=gone)

        self.call(k, "DeleteConfiguration", expect="BadRequestException", Arn=conf_arn)
        self.call(k, "DeleteCluster", ClusterArn=arn1)
        self.call(k, "DeleteCluster", ClusterArn=arn, CurrentVersion=current())
        self.call(k, "DescribeCluster", ClusterArn=arn)
        self.call(k, "ListClustersV2")
        self.wait("kafka cluster gone", lambda: len(
            (self.call(k, "ListClustersV2") or {}).get("ClusterInfoList", [1])), 0)
        self.call(k, "DescribeClusterV2", expect="NotFoundException", ClusterArn=arn)
        self.call(k, "DeleteConfiguration", Arn=conf_arn)
        self.call(k, "DescribeConfiguration", expect="BadRequestException", Arn=conf_arn)

    def kafkaconnect(self):
        c = "kafkaconnect"
        plugin = self.call(c, "CreateCustomPlugin", name="sink-plugin", contentType="ZIP",
                           description="S3 sink",
                           location={"s3Location": {"bucketArn": "arn:aws:s3:::artifacts",
                                                    "fileKey": "plugins/s3-sink.zip"}},
                           tags={"team": "data"}) or {}
        plugin_arn = plugin.get("customPluginArn", "arn:aws:kafkaconnect:us-east-1:1:custom-plugin/x/y")
        self.call(c, "CreateCustomPlugin", expect="ConflictException", name="sink-plugin",
                  contentType="ZIP", location={"s3Location": {"bucketArn": "arn:aws:s3:::a",
                                                              "fileKey": "k"}})
        worker = self.call(c, "CreateWorkerConfiguration", name="workers",
                           propertiesFileContent=base64.b64encode(b"key.converter=x\n").decode()) or {}
        worker_arn = worker.get("workerConfigurationArn", "arn:aws:kafkaconnect:us-east-1:1:worker-configuration/x/y")
        self.call(c, "DescribeCustomPlugin", customPluginArn=plugin_arn)
        self.call(c, "ListCustomPlugins")
        self.call(c, "ListCustomPlugins", maxResults=1, namePrefix="sink")
        self.call(c, "DescribeWorkerConfiguration", workerConfigurationArn=worker_arn)
        self.call(c, "ListWorkerConfigurations")
        self.call(c, "ListWorkerConfigurations", maxResults=1, namePrefix="w")
        self.call(c, "DescribeCustomPlugin", expect="NotFoundException",
                  customPluginArn=plugin_arn + "0")

        def plugin_state():
            out = self.call(c, "DescribeCustomPlugin", customPluginArn=plugin_arn) or {}
            return out.get("customPluginState")

        self.wait("kafkaconnect plugin ACTIVE", plugin_state, "ACTIVE")
        connector = self.call(
            c, "CreateConnector", connectorName="s3-sink", connectorDescription="to S3",
            capacity={"provisionedCapacity": {"mcuCount": 1, "workerCount": 1}},
            connectorConfiguration={"connector.class": "io.confluent.connect.s3.S3SinkConnector",
                                    "tasks.max": "1", "topics": "events"},
            kafkaCluster={"apacheKafkaCluster": {"bootstrapServers": "b-1:9098",
                                                 "vpc": {"subnets": ["subnet-1"],
                                                         "securityGroups": ["sg-1"]}}},
            kafkaClusterClientAuthentication={"authenticationType": "IAM"},
            kafkaClusterEncryptionInTransit={"encryptionType": "TLS"},
            kafkaConnectVersion="2.7.1",
            plugins=[{"customPlugin": {"customPluginArn": plugin_arn, "revision": 1}}],
            serviceExecutionRoleArn="arn:aws:iam::123456789012:role/connect",
            workerConfiguration={"workerConfigurationArn": worker_arn, "revision": 1},
            logDelivery={"workerLogDelivery": {"cloudWatchLogs": {"enabled": True,
                                                                  "logGroup": "connect"}}},
            tags={"team": "data"}) or {}
        conn_arn = connector.get("connectorArn", "arn:aws:kafkaconnect:us-east-1:1:connector/x/y")

        def conn_state():
            out = self.call(c, "DescribeConnector", connectorArn=conn_arn) or {}
            return out.get("connectorState")

        self.wait("kafkaconnect connector RUNNING", conn_state, "RUNNING")
        self.call(c, "ListConnectors")
        self.call(c, "ListConnectors", connectorNamePrefix="s3", maxResults=1)
        desc = self.call(c, "DescribeConnector", connectorArn=conn_arn) or {}
        up = self.call(c, "UpdateConnector", connectorArn=conn_arn,
                       currentVersion=desc.get("currentVersion", ""),
                       capacity={"provisionedCapacity": {"mcuCount": 1, "workerCount": 2}}) or {}
        if up.get("connectorOperationArn"):
            self.call(c, "DescribeConnectorOperation",
                      connectorOperationArn=up["connectorOperationArn"])
        self.wait("kafkaconnect connector RUNNING after update", conn_state, "RUNNING")
        desc = self.call(c, "DescribeConnector", connectorArn=conn_arn) or {}
        self.call(c, "UpdateConnector", connectorArn=conn_arn,
                  currentVersion=desc.get("currentVersion", ""),
                  connectorConfiguration={"connector.class": "io.confluent.connect.s3.S3SinkConnector",
                                          "tasks.max": "2", "topics": "events"})
        self.wait("kafkaconnect connector RUNNING after the second update", conn_state, "RUNNING")
        self.call(c, "PauseConnector", connectorArn=conn_arn)
        self.wait("kafkaconnect connector PAUSED", conn_state, "PAUSED")
        self.call(c, "ResumeConnector", connectorArn=conn_arn)
        self.wait("kafkaconnect connector RUNNING after resume", conn_state, "RUNNING")
        self.call(c, "RestartConnector", connectorArn=conn_arn)
        self.wait("kafkaconnect connector RUNNING after restart", conn_state, "RUNNING")
        ops = self.call(c, "ListConnectorOperations", connectorArn=conn_arn) or {}
        for o in ops.get("connectorOperations", []):
            self.call(c, "DescribeConnectorOperation",
                      connectorOperationArn=o["connectorOperationArn"])
        if len(ops.get("connectorOperations", [])) != 5:
            self.fail("kafkaconnect.ListConnectorOperations", "expected 5 operations: %s" % ops)
        self.call(c, "ListConnectorOperations", connectorArn=conn_arn, maxResults=2)
        self.call(c, "TagResource", resourceArn=conn_arn, tags={"owner": "me"})
        self.call(c, "ListTagsForResource", resourceArn=conn_arn)
        self.call(c, "UntagResource", resourceArn=conn_arn, tagKeys=["owner"])
        self.call(c, "ListTagsForResource", resourceArn=plugin_arn)
        self.call(c, "ListTagsForResource", resourceArn=worker_arn)
        self.call(c, "DescribeConnector", expect="NotFoundException", connectorArn=conn_arn + "0")
        self.call(c, "DeleteConnector", connectorArn=conn_arn,
                  currentVersion=(self.call(c, "DescribeConnector", connectorArn=conn_arn)
                                  or {}).get("currentVersion"))
        self.call(c, "DescribeConnector", connectorArn=conn_arn)
        self.wait("kafkaconnect connector gone", lambda: len(
            (self.call(c, "ListConnectors") or {}).get("connectors", [1])), 0)
        self.call(c, "DeleteCustomPlugin", customPluginArn=plugin_arn)
        self.call(c, "DeleteWorkerConfiguration", workerConfigurationArn=worker_arn)
        self.call(c, "DeleteWorkerConfiguration", expect="NotFoundException",
                  workerConfigurationArn=worker_arn)

    def mwaa(self):
        m = "mwaa"
        created = self.call(
            m, "CreateEnvironment", Name="airflow-env",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/mwaa",
            SourceBucketArn="arn:aws:s3:::mwaa-bucket", DagS3Path="dags",
            RequirementsS3Path="requirements.txt", RequirementsS3ObjectVersion="v1",
            NetworkConfiguration={"SubnetIds": ["subnet-1", "subnet-2"],
                                  "SecurityGroupIds": ["sg-1"]},
            AirflowVersion="2.10.3",
            LoggingConfiguration={"TaskLogs": {"Enabled": True, "LogLevel": "INFO"}},
            Tags={"team": "data"}) or {}
        arn = created.get("Arn", "arn:aws:airflow:us-east-1:123456789012:environment/none")
        self.call(m, "CreateEnvironment", expect="ValidationException", Name="airflow-env",
                  ExecutionRoleArn="arn:aws:iam::123456789012:role/mwaa",
                  SourceBucketArn="arn:aws:s3:::mwaa-bucket", DagS3Path="dags",
                  NetworkConfiguration={"SubnetIds": ["subnet-1", "subnet-2"]})
        self.call(m, "GetEnvironment", Name="airflow-env")
        self.call(m, "ListEnvironments")
        self.call(m, "ListEnvironments", MaxResults=1)
        self.call(m, "GetEnvironment", expect="ResourceNotFoundException", Name="nope")

        def env_state():
            out = self.call(m, "GetEnvironment", Name="airflow-env") or {}
            return out.get("Environment", {}).get("Status")

        self.wait("mwaa environment AVAILABLE", env_state, "AVAILABLE")
        self.call(m, "CreateCliToken", Name="airflow-env")
        self.call(m, "CreateWebLoginToken", Name="airflow-env")
        self.call(m, "CreateCliToken", expect="ResourceNotFoundException", Name="nope")
        self.call(m, "UpdateEnvironment", Name="airflow-env", MaxWorkers=5,
                  RequirementsS3ObjectVersion="v2",
                  NetworkConfiguration={"SecurityGroupIds": ["sg-2"]})
        self.call(m, "UpdateEnvironment", expect="ValidationException", Name="airflow-env",
                  MaxWorkers=6)
        self.wait("mwaa environment AVAILABLE after update", env_state, "AVAILABLE")
        self.call(m, "GetEnvironment", Name="airflow-env")
        self.call(m, "TagResource", ResourceArn=arn, Tags={"owner": "me"})
        tags = self.call(m, "ListTagsForResource", ResourceArn=arn) or {}
        if tags.get("Tags") != {"team": "data", "owner": "me"}:
            self.fail("mwaa.ListTagsForResource", "tags %s" % tags)
        self.call(m, "UntagResource", ResourceArn=arn, tagKeys=["owner"])
        self.call(m, "DeleteEnvironment", Name="airflow-env")
        self.call(m, "GetEnvironment", Name="airflow-env")
        self.wait("mwaa environment gone", lambda: len(
            (self.call(m, "ListEnvironments") or {}).get("Environments", [1])), 0)
        self.call(m, "DeleteEnvironment", expect="ResourceNotFoundException", Name="airflow-env")

    def coverage(self):
        for svc, ops in SCOPE.items():
            model = self.clients[svc].meta.service_model
            for op in ops:
                if op not in model.operation_names:
                    self.fail("%s.%s" % (svc, op), "not an operation of botocore's model")
                elif not self.validated[(svc, op)]:
                    self.fail("%s.%s" % (svc, op), "never answered and validated")
            unclassified = sorted(set(model.operation_names) - set(ops) - set(OUT_OF_SCOPE[svc]))
            for op in unclassified:
                print("WARN %s.%s: an operation of botocore %s neither in SCOPE nor OUT_OF_SCOPE"
                      % (svc, op, botocore.__version__))


def self_test():
    """The walker must catch each kind of flaw it claims to, at the right member path."""
    run = Conformance("http://127.0.0.1:9", quiet=True)
    op = run.clients["kafka"].meta.service_model.operation_model("DescribeCluster")
    good = {"clusterInfo": {"clusterArn": "a", "state": "ACTIVE",
                            "creationTime": "2026-01-01T00:00:00.000Z",
                            "brokerNodeGroupInfo": {"clientSubnets": ["s"],
                                                    "instanceType": "kafka.t3.small"},
                            "numberOfBrokerNodes": 2, "tags": {"k": "v"}}}
    cases = [
        ("unknown member", {"extra": 1}, "unknown member `extra`"),
        ("null", {"clusterName": None}, "ClusterInfo.ClusterName: null"),
        ("wrong type", {"numberOfBrokerNodes": "2"}, "expected an integer"),
        ("enum", {"state": "RUNNING"}, "ClusterInfo.State: 'RUNNING' is not one of"),
        ("required", {"brokerNodeGroupInfo": {"clientSubnets": ["s"]}},
         "missing required member `InstanceType`"),
        ("timestamp", {"creationTime": 1700000000}, "expected an ISO 8601 time"),
        ("boolean", {"encryptionInfo": {"encryptionInTransit": {"inCluster": "true"}}},
         "expected a boolean"),
        ("map value", {"tags": {"k": 1}}, "ClusterInfo.Tags{k}: expected a string"),
    ]
    missed = []
    clean = len(run.failures)
    run.walk("self-test", op.output_shape, good, "")
    if len(run.failures) != clean:
        missed.append("a valid answer was refused: %s" % run.failures[clean:])
    for name, change, expected in cases:
        bad = json.loads(json.dumps(good))
        bad["clusterInfo"].update(change)
        before = len(run.failures)
        run.walk("self-test", op.output_shape, bad, "")
        found = run.failures[before:]
        if not any(expected in f for f in found):
            missed.append("%s: expected `%s`, found %s" % (name, expected, found))
    for m in missed:
        print("SELF-TEST MISSED %s" % m)
    print("self-test: %d flaws, %d missed" % (len(cases), len(missed)))
    return 1 if missed else 0


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    if sys.argv[1] == "--self-test":
        return self_test()
    run = Conformance(sys.argv[1])
    for part in (run.kafka, run.kafkaconnect, run.mwaa):
        try:
            part()
        except Exception as e:  # noqa: BLE001 - a crash of the scenario is a finding too
            run.fail(part.__name__, "the scenario stopped: %r" % e)
    run.coverage()
    ops = sum(len(v) for v in SCOPE.values())
    print("botocore %s: %d operations in scope, %d answers validated, %d failures"
          % (botocore.__version__, ops, sum(run.validated.values()), len(run.failures)))
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
