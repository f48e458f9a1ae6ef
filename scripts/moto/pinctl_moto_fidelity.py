"""Corrections to moto server where it answers differently from AWS, loaded by moto_server only.

scripts/setup.sh installs this module into the moto venv with a .pth file that imports it at
interpreter start; it patches nothing unless the program is moto_server. Each correction names
the AWS API reference that documents the answer AWS gives. A stand-in that answers what AWS does
not is a bug in the stand-in: each one here was found by pinctl's provider conformance suite.
"""

import os
import sys


def _apply():
    from moto.apigateway import models as apigateway
    from moto.apigateway.exceptions import RestAPINotFound

    # DeleteRestApi of an unknown id: AWS answers 404 NotFoundException (API Gateway API
    # Reference, DeleteRestApi, Errors); moto 5.2 raises KeyError, served as a 500.
    delete_rest_api = apigateway.APIGatewayBackend.delete_rest_api

    def _delete_rest_api(self, function_id):
        if function_id not in self.apis:
            raise RestAPINotFound()
        return delete_rest_api(self, function_id)

    apigateway.APIGatewayBackend.delete_rest_api = _delete_rest_api

    _iam_enforcement()


# The local twin turns moto's IAM enforcement on (POST /moto-api/reset-auth, see
# src/local/twin.rs): every call is then checked against its caller's policies with moto's own
# evaluator (moto/iam/access_control.py). What follows only gives that evaluator what AWS
# checks and answers as AWS answers; it decides nothing itself.


def _iam_enforcement():
    import base64
    import json

    from moto.core.exceptions import AccessDeniedError, JsonRESTError, _RESTError
    from moto.iam import access_control as ac
    from moto.kinesis.responses import KinesisResponse
    from moto.s3.exceptions import S3AccessDeniedError

    # Service principals. A role's trust policy names the service that may assume it
    # (`"Principal": {"Service": "ec2.amazonaws.com"}`; IAM User Guide, "AWS service
    # principals": https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html#principal-services).
    # moto 5.2 reads only `Principal.AWS` and fails with a 500 (`x in None`) on a statement that
    # has no `AWS` key. On the twin, the process that stands in for a service (the supervisor
    # for EC2, MSK Connect and MWAA; the gateway worker for API Gateway) calls AssumeRole as an
    # IAM user named exactly as the service principal, so a Service principal matches that user.
    check_principal = ac.IAMPolicyStatement._check_principal

    def _listed(value):
        if value is None:
            return []
        return [value] if isinstance(value, str) else list(value)

    def _check_principal(self, principal):
        expected = self._statement.get("Principal")
        if not isinstance(expected, dict) or "Service" not in expected:
            return check_principal(self, principal)
        aws = _listed(expected.get("AWS"))
        if "*" in aws or principal in aws:
            return True
        return any(principal.endswith(":user/" + s) for s in _listed(expected["Service"]))

    ac.IAMPolicyStatement._check_principal = _check_principal

    # The resource of a Kinesis action. moto checks every service but S3, IAM, STS and SQS
    # against the resource "*", so a policy that names a stream (as policies should) allows
    # nothing. AWS checks the stream's ARN for every stream action, and "*" for ListStreams,
    # which has no resource type (Service Authorization Reference, "Actions, resources, and
    # condition keys for Amazon Kinesis Data Streams":
    # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonkinesisdatastreams.html).
    def _kinesis_resource(self):
        try:
            body = json.loads(self.body or "{}")
        except (TypeError, ValueError):
            return "*"
        if not isinstance(body, dict):
            return "*"
        if body.get("StreamARN"):
            return body["StreamARN"]
        name = body.get("StreamName")
        if not name and body.get("ShardIterator"):
            # moto's iterator is base64("<stream>:<shard>:<sequence>") (moto/kinesis/utils.py).
            try:
                name = base64.b64decode(body["ShardIterator"]).decode().split(":")[0]
            except (ValueError, UnicodeDecodeError):
                name = None
        if not name:
            return "*"
        return f"arn:aws:kinesis:{self.region}:{self.current_account}:stream/{name}"

    KinesisResponse._determine_resource = _kinesis_resource

    # The refusal, as AWS words it: the caller, the action, the resource and why (IAM User
    # Guide, "Troubleshoot access denied error messages":
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html). moto
    # names neither the resource nor the reason, and S3 only says "Access Denied"; AWS gives S3's
    # same-account refusals the same detail (S3 User Guide, "Troubleshoot access denied (403
    # Forbidden) errors": https://docs.aws.amazon.com/AmazonS3/latest/userguide/troubleshoot-403-errors.html).
    # JSON-protocol services answer AccessDeniedException (Kinesis API Reference, e.g. GetRecords,
    # Errors: "AccessDeniedException ... HTTP Status Code: 400").
    def _check_action_permitted(self, resource):
        if self._action == "sts:GetCallerIdentity":
            return
        denied = False
        permitted = False
        for policy in self._access_key.collect_policies():
            result = ac.IAMPolicy(policy).is_action_permitted(self._action, resource)
            if result == ac.PermissionResult.DENIED:
                denied = True
            elif result == ac.PermissionResult.PERMITTED:
                permitted = True
        if denied:
            self._pinctl_refuse(resource, "with an explicit deny in an identity-based policy")
        if not permitted:
            self._pinctl_refuse(
                resource, f"because no identity-based policy allows the {self._action} action"
            )
        if self._is_assuming_role_operation(resource) and not self._check_role_trust_relationship(
            resource
        ):
            # AWS gives no reason for a trust policy's refusal.
            self._pinctl_refuse(resource, "")

    def _refuse(self, resource, why):
        shown = f'"{resource}"' if self._service == "s3" else resource
        message = (
            f"User: {self._access_key.arn} is not authorized to perform: {self._action}"
            f" on resource: {shown} {why}"
        ).rstrip()
        if self._service == "s3":
            error = S3AccessDeniedError()
            error.message = message
            raise error
        if self._service in _JSON_SERVICES:
            raise JsonRESTError("AccessDeniedException", message)
        raise _AccessDenied(message)

    class _AccessDenied(AccessDeniedError):
        def __init__(self, message):
            _RESTError.__init__(self, "AccessDenied", message)

    # The signature. SigV4 signs the payload as sent (Signature Version 4 signing process,
    # "Create a canonical request": the hash of the request body, that of an empty string when
    # there is none: https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html).
    # moto recomputes it from the body it kept, or else from the parameters it parsed, re-encoded
    # by botocore: a GET (no body) is then hashed as a form body, and a form body (which werkzeug
    # consumes when it parses the form) re-encoded with `+` for spaces where the SDKs send `%20`:
    # both answer SignatureDoesNotMatch (AuthFailure for EC2) to a correct request. The WSGI
    # entry below keeps each request's form body as sent; the signature is checked against it.
    import io
    import threading

    from botocore.awsrequest import AWSRequest
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    sent = threading.local()
    dispatch = DomainDispatcherApplication.__call__

    def _call(self, environ, start_response):
        sent.body = None
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length > 0 else b""
            environ["wsgi.input"] = io.BytesIO(body)
            sent.body = body
        return dispatch(self, environ, start_response)

    DomainDispatcherApplication.__call__ = _call

    def _create_aws_request(self):
        signed = self._get_string_between("SignedHeaders=", ",", self._headers["Authorization"])
        headers = self._create_headers_for_aws_request(signed.split(";"), self._headers)
        body = getattr(sent, "body", None)
        if body is None:
            body = self._body if isinstance(self._body, (bytes, str)) else b""
        request = AWSRequest(method=self._method, url=self._path, data=body, headers=headers)
        request.context["timestamp"] = headers["X-Amz-Date"]
        return request

    ac.IAMRequestBase._create_aws_request = _create_aws_request
    ac.IAMRequestBase.check_action_permitted = _check_action_permitted
    ac.IAMRequestBase._pinctl_refuse = _refuse


# Services of the twin whose protocol is JSON: their errors are `{"__type": ..., "message": ...}`.
_JSON_SERVICES = {"kinesis", "ssm", "logs", "monitoring", "sqs", "kms"}


if os.path.basename(sys.argv[0] if sys.argv else "") == "moto_server":
    _apply()
