"""Corrections to moto server where it answers differently from AWS, loaded by moto_server only.

scripts/setup.sh puts a .pth file in the moto venv that imports this module at interpreter start
when it is on the path: pinctl's tests and twin put this checkout's copy there (PYTHONPATH). It
patches nothing unless the program is moto_server. Each correction names
the AWS API reference that documents the answer AWS gives. A stand-in that answers what AWS does
not is a bug in the stand-in: each one here was found by pinctl's provider conformance suite.
"""

import os
import sys
import time


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
    _policy_conditions()


# ---- IAM policy conditions ------------------------------------------------------------------
# moto 5.2 evaluates one condition operator, StringEquals, passes every other one ("If the
# evaluation operation is not supported, ignore condition evaluation", moto/iam/
# policy_conditions.py), passes a condition whose key the request does not have, and answers an
# Allow statement whose condition fails with an explicit deny. AWS (IAM User Guide, "IAM JSON
# policy elements: Condition operators",
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html,
# and "Policy evaluation logic"): a statement applies only when all its conditions hold; within
# one operator every key must match (AND) any of its values (OR); a key the request does not have
# makes the condition false (for the keys the twin sets; others are taken as met and said),
# except under a negated operator (StringNotEquals, StringNotLike,
# ArnNotLike, ...), an ...IfExists operator, ForAllValues, and Null; StringLike and ArnLike take
# `*` and `?` as wildcards, case-sensitively. An operator pinctl does not evaluate (Date*,
# IpAddress, Binary*) makes its statement not apply, and says so on moto's stderr: refusing is
# the side AWS errs on for a policy it cannot match.


def _like(pattern, value):
    import re

    rx = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, value, re.S) is not None


def _numeric(test):
    def compare(expected, actual):
        try:
            return test(float(actual), float(expected))
        except ValueError:
            return False

    return compare


_CONDITION_OPERATORS = {
    "StringEquals": lambda e, a: a == e,
    "StringEqualsIgnoreCase": lambda e, a: a.lower() == e.lower(),
    "StringLike": _like,
    # "ArnEquals and ArnLike behave identically" (Condition operators, "Amazon Resource Name").
    "ArnEquals": _like,
    "ArnLike": _like,
    "NumericEquals": _numeric(lambda a, e: a == e),
    "NumericLessThan": _numeric(lambda a, e: a < e),
    "NumericLessThanEquals": _numeric(lambda a, e: a <= e),
    "NumericGreaterThan": _numeric(lambda a, e: a > e),
    "NumericGreaterThanEquals": _numeric(lambda a, e: a >= e),
    "Bool": lambda e, a: a.lower() == e.lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
}
_UNSUPPORTED_SAID = set()
# The condition keys the twin sets on the requests that have them (lower case).
_KEYS_SET = {
    "aws:requestedregion", "aws:principalaccount", "aws:principalarn", "aws:securetransport",
    "iam:passedtoservice", "sts:externalid",
}


def _text(v):
    return ("true" if v else "false") if isinstance(v, bool) else str(v)


def condition_holds(operator, key, expected, context):
    """Whether one `"Operator": {"key": expected}` entry holds for the request `context`
    (condition keys to a value or a list of values; keys compared case-insensitively)."""
    set_op = None
    if operator.startswith(("ForAnyValue:", "ForAllValues:")):
        set_op, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    wanted = [_text(e) for e in (expected if isinstance(expected, list) else [expected])]
    actual = next((v for k, v in context.items() if k.lower() == key.lower()), None)
    if actual is None and key.lower() not in _KEYS_SET:
        # A key AWS would set on this request and the twin never does (s3:prefix,
        # kms:ViaService, ...): not judged, as moto did not, and said once.
        if key.lower() not in _UNSUPPORTED_SAID:
            _UNSUPPORTED_SAID.add(key.lower())
            print(f"pinctl moto: the condition key {key} is not set here; conditions on it are "
                  "taken as met", file=sys.stderr, flush=True)
        return True
    if operator == "Null":
        return (actual is None) == (wanted[0].lower() == "true")
    negated = operator in _NEGATED
    test = _CONDITION_OPERATORS.get(_NEGATED.get(operator, operator))
    if test is None:
        if operator not in _UNSUPPORTED_SAID:
            _UNSUPPORTED_SAID.add(operator)
            print(f"pinctl moto: the condition operator {operator} is not evaluated here; "
                  "statements using it do not apply", file=sys.stderr, flush=True)
        return False
    if actual is None:
        return if_exists or set_op == "ForAllValues" or (negated and set_op is None)
    values = [_text(v) for v in (actual if isinstance(actual, list) else [actual])]

    def one(v):
        matched = any(test(e, v) for e in wanted)
        return not matched if negated else matched

    if set_op == "ForAllValues":
        return all(one(v) for v in values)
    return any(one(v) for v in values)


def conditions_hold(condition, context):
    """Whether a statement's whole `Condition` block holds for `context` (every operator, every
    key)."""
    return all(
        condition_holds(operator, key, expected, context)
        for operator, keys in (condition or {}).items()
        for key, expected in (keys or {}).items()
    )


def principal_context(key):
    """aws:PrincipalArn and aws:PrincipalAccount of an access key (an assumed role's is the
    role's ARN: IAM User Guide, "AWS global condition context keys")."""
    arn = getattr(key, "arn", "") or ""
    parts = arn.split(":")
    account = parts[4] if len(parts) > 5 else ""
    if ":assumed-role/" in arn:
        arn = f"arn:aws:iam::{account}:role/{arn.split(':assumed-role/')[1].split('/')[0]}"
    return {"aws:PrincipalArn": arn, "aws:PrincipalAccount": account}


def _request_context(request):
    """The global condition keys AWS sets on every request that the twin knows (IAM User Guide,
    "AWS global condition context keys"): the region called, the caller, and TLS (the twin's
    plain HTTP stands for the HTTPS endpoint the same client calls on AWS)."""
    context = {
        "aws:RequestedRegion": getattr(request, "_region", None) or "us-east-1",
        "aws:SecureTransport": "true",
    }
    context.update(principal_context(getattr(request, "_access_key", None)))
    return context


def _policy_conditions():
    from moto.iam import access_control as ac

    is_action_permitted = ac.IAMPolicyStatement.is_action_permitted

    def _is_action_permitted(self, action, resource="*", principal=None, incoming_condition_values=None):
        condition = self._statement.get("Condition")
        if condition and not conditions_hold(condition, incoming_condition_values or {}):
            return ac.PermissionResult.NEUTRAL
        return is_action_permitted(self, action, resource, principal, incoming_condition_values)

    ac.IAMPolicyStatement.is_action_permitted = _is_action_permitted
    # Evaluated above; moto's own check would deny an Allow whose condition fails.
    ac.IAMPolicyStatement._check_conditions = lambda self, incoming: True


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
        context = _request_context(self)
        for policy in self._access_key.collect_policies():
            result = ac.IAMPolicy(policy).is_action_permitted(
                self._action, resource, incoming_condition_values=context
            )
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
        if self._service in _REST_JSON_SERVICES:
            raise rest_json_access_denied(message)
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
        # The canonical query string is each parameter's name and value URI-encoded (SigV4: "URI-
        # encode each parameter name and value", everything but A-Z a-z 0-9 - _ . ~), whatever the
        # client put on the wire: the AWS SDK for Java 1.x (S3A's) sends `/` in a query value
        # unencoded and signs it as %2F; moto hashed the query as sent.
        path, sep, query = self._path.partition("?")
        if sep:
            from urllib.parse import quote, unquote

            pairs = []
            for pair in query.split("&"):
                key, eq, value = pair.partition("=")
                pairs.append(
                    quote(unquote(key), safe="-_.~") + eq + quote(unquote(value), safe="-_.~")
                )
            path = path + "?" + "&".join(pairs)
        request = AWSRequest(method=self._method, url=path, data=body, headers=headers)
        request.context["timestamp"] = headers["X-Amz-Date"]
        return request

    ac.IAMRequestBase._create_aws_request = _create_aws_request

    # The signed headers. AWS checks the headers the request's SignedHeaders lists, whichever they
    # are (SigV4, "Create a canonical request": CanonicalHeaders and SignedHeaders). moto checks
    # with botocore's signer, which never signs User-Agent (botocore.auth's
    # SIGNED_HEADERS_BLACKLIST), so it refused every request of a client that signs it: the AWS
    # SDK for Java 1.x, which S3A (Spark's s3a:// and the twin's EMR Serverless job runs) uses.
    def _calculate_signature(self):
        from botocore.awsrequest import HTTPHeaders

        credentials = self._access_key.create_credentials()
        auth = self._create_auth(credentials)
        request = self._create_aws_request()

        def headers_to_sign(req):
            out = HTTPHeaders()
            for name, value in req.headers.items():
                out[name.lower()] = value
            return out

        auth.headers_to_sign = headers_to_sign
        canonical_request = auth.canonical_request(request)
        string_to_sign = auth.string_to_sign(request, canonical_request)
        return auth.signature(string_to_sign, request)

    ac.IAMRequestBase._calculate_signature = _calculate_signature
    ac.IAMRequestBase.check_action_permitted = _check_action_permitted
    ac.IAMRequestBase._pinctl_refuse = _refuse


# MSK IAM on the twin's broker. MSK checks a client's SASL/OAUTHBEARER token and then every Kafka
# request against the principal's IAM policies (MSK Developer Guide, "IAM access control":
# https://docs.aws.amazon.com/msk/latest/developerguide/iam-access-control.html). The broker's
# callback handler and authorizer (java/msk-iam) ask the emulator, which knows the clusters and
# asks moto, which alone knows the twin's credentials and policies, through this endpoint:
#
#   POST /moto-api/pinctl/msk-iam/authenticate {"token", "region", "now"?}
#        -> 200 {"principal", "expires_ms"} | 403 {"message"}
#   POST /moto-api/pinctl/msk-iam/authorize {"principal", "requests": [{"action", "resource"}]}
#        -> 200 {"results": [{"allowed", "message"}]}
#
# The token is what the official signers make (aws-msk-iam-sasl-signer-python, `generate_auth_token`):
# base64url, unpadded, of a SigV4 presigned GET of https://kafka.<region>.amazonaws.com/ with
# Action=kafka-cluster:Connect, signed for the service `kafka-cluster`, X-Amz-Expires 900, and a
# User-Agent parameter appended after signing (so not signed).


def _msk_iam():
    import base64
    import datetime
    import hashlib
    import hmac
    import json
    from urllib.parse import parse_qsl, quote, urlsplit

    from moto.iam import access_control as ac
    from moto.iam.models import get_account_id_from
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from moto.sts.models import sts_backends

    prefix = "/moto-api/pinctl/msk-iam/"
    dispatch = DomainDispatcherApplication.__call__

    class Refused(Exception):
        pass

    def _uri(value):
        return quote(value, safe="-_.~")

    def _hmac(key, text):
        return hmac.new(key, text.encode(), hashlib.sha256).digest()

    def _signed(secret, stamp, day, region, service, canonical, signature):
        # SigV4's string to sign and signing key (IAM User Guide, "Create a signed AWS API
        # request"): whether `signature` is the one `secret` makes of `canonical`.
        scope = f"{day}/{region}/{service}/aws4_request"
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        k = _hmac(("AWS4" + secret).encode(), day)
        for part in (region, service, "aws4_request"):
            k = _hmac(k, part)
        expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, signature)

    def authenticate(token, region, now):
        try:
            padded = token + "=" * (-len(token) % 4)
            url = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise Refused("the token is not base64url")
        parts = urlsplit(url)
        expected_host = f"kafka.{region}.amazonaws.com"
        if parts.scheme != "https" or parts.netloc != expected_host:
            raise Refused(
                f"the token is signed for {parts.scheme}://{parts.netloc}, not {expected_host}"
            )
        query = parse_qsl(parts.query, keep_blank_values=True)
        params = dict(query)
        if params.get("Action") != "kafka-cluster:Connect":
            raise Refused(f"the token's action is {params.get('Action')!r}, not kafka-cluster:Connect")
        if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256":
            raise Refused("the token is not signed with AWS4-HMAC-SHA256")
        try:
            key_id, day, scope_region, service, terminal = params["X-Amz-Credential"].split("/")
            stamp = params["X-Amz-Date"]
            signed_at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc
            )
            expires = int(params["X-Amz-Expires"])
            signature = params["X-Amz-Signature"]
            signed_headers = params["X-Amz-SignedHeaders"]
        except (KeyError, ValueError):
            raise Refused("the token lacks SigV4's query parameters")
        if scope_region != region:
            raise Refused(f"the token is signed for region {scope_region}, this cluster is in {region}")
        if service != "kafka-cluster" or terminal != "aws4_request" or day != stamp[:8]:
            raise Refused(f"the token's credential scope {day}/{scope_region}/{service}/{terminal} is not kafka-cluster's")
        if signed_headers != "host":
            raise Refused("the token signs headers other than host")
        # SigV4 allows 5 minutes of clock skew (IAM User Guide, "Signature Version 4 signing").
        if signed_at - datetime.timedelta(minutes=5) > now:
            raise Refused(f"the token is signed in the future ({stamp})")
        if signed_at + datetime.timedelta(seconds=expires) < now:
            raise Refused(f"the token expired at {(signed_at + datetime.timedelta(seconds=expires)).isoformat()}")
        headers = {}
        if "X-Amz-Security-Token" in params:
            headers["X-Amz-Security-Token"] = params["X-Amz-Security-Token"]
        account = get_account_id_from(key_id)
        try:
            found = ac.create_access_key(account, "aws", key_id, headers)
        except ac.CreateAccessKeyFailure as e:
            raise Refused(f"the token is signed with credentials the twin does not know ({e.reason})")
        if isinstance(found, ac.AssumedRoleAccessKey):
            for role in sts_backends[account]["aws"].assumed_roles:
                if role.access_key_id == key_id and role.expiration < now.replace(tzinfo=None):
                    raise Refused("the token is signed with expired temporary credentials")
        signed = sorted(
            (_uri(k), _uri(v)) for k, v in query if k not in ("X-Amz-Signature", "User-Agent")
        )
        canonical = "\n".join(
            [
                "GET",
                parts.path or "/",
                "&".join(f"{k}={v}" for k, v in signed),
                f"host:{parts.netloc}\n",
                "host",
                hashlib.sha256(b"").hexdigest(),
            ]
        )
        if not _signed(found._secret_access_key, stamp, day, scope_region, service, canonical, signature):
            raise Refused("the token's signature does not match its credentials")
        until = signed_at + datetime.timedelta(seconds=expires)
        return {"principal": found.arn, "expires_ms": int(until.timestamp() * 1000)}

    def policies(principal):
        # arn:aws:iam::<account>:user/<name> or arn:aws:sts::<account>:assumed-role/<role>/<session>
        try:
            _, partition, service, _, account, rest = principal.split(":", 5)
        except ValueError:
            raise Refused(f"{principal} is not an IAM principal")
        if service == "iam" and rest.startswith("user/"):
            key = ac.IAMUserAccessKey.__new__(ac.IAMUserAccessKey)
            key._owner_user_name = rest.split("/")[-1]
        elif service == "sts" and rest.startswith("assumed-role/"):
            key = ac.AssumedRoleAccessKey.__new__(ac.AssumedRoleAccessKey)
            key._owner_role_name = rest.split("/")[1]
        else:
            raise Refused(f"{principal} is not an IAM user or an assumed role")
        key.account_id, key.partition = account, partition
        return key.collect_policies()

    def authorize(principal, requests):
        found = policies(principal)
        results = []
        for r in requests:
            action, resource = r["action"], r["resource"]
            verdicts = [ac.IAMPolicy(p).is_action_permitted(action, resource) for p in found]
            if ac.PermissionResult.DENIED in verdicts:
                why = "with an explicit deny in an identity-based policy"
            elif ac.PermissionResult.PERMITTED in verdicts:
                results.append({"allowed": True})
                continue
            else:
                why = f"because no identity-based policy allows the {action} action"
            results.append(
                {
                    "allowed": False,
                    "message": f"User: {principal} is not authorized to perform: {action} on resource: {resource} {why}",
                }
            )
        return {"results": results}

    def invoke(body, now):
        # A request signed with SigV4 in its Authorization header (IAM User Guide, "Elements of
        # an AWS API request signature"), as API Gateway checks one for a method whose
        # authorizationType is AWS_IAM; then execute-api:Invoke on the method's ARN.
        headers = {k.lower(): v for k, v in body["headers"].items()}
        auth = headers.get("authorization")
        if not auth:
            raise Refused("Missing Authentication Token")
        try:
            algorithm, rest = auth.split(" ", 1)
            fields = dict(
                part.strip().split("=", 1) for part in rest.split(",")
            )
            key_id, day, scope_region, service, terminal = fields["Credential"].split("/")
            signed_headers = fields["SignedHeaders"]
            signature = fields["Signature"]
            stamp = headers["x-amz-date"]
            signed_at = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc
            )
        except (KeyError, ValueError):
            raise Refused("Authorization header requires 'Credential', 'Signature', 'SignedHeaders' and an 'X-Amz-Date' header")
        if algorithm != "AWS4-HMAC-SHA256":
            raise Refused(f"Unsupported signing algorithm {algorithm}")
        if service != body["service"] or scope_region != body["region"] or terminal != "aws4_request" or day != stamp[:8]:
            raise Refused(
                f"Credential should be scoped to correct service: '{body['service']}' and region '{body['region']}'"
            )
        if abs(signed_at - now) > datetime.timedelta(minutes=5):
            raise Refused("Signature expired: the request's X-Amz-Date is more than 5 minutes from now")
        account = get_account_id_from(key_id)
        extra = {}
        if "x-amz-security-token" in headers:
            extra["X-Amz-Security-Token"] = headers["x-amz-security-token"]
        try:
            found = ac.create_access_key(account, "aws", key_id, extra)
        except ac.CreateAccessKeyFailure:
            raise Refused("The security token included in the request is invalid.")
        if isinstance(found, ac.AssumedRoleAccessKey):
            for role in sts_backends[account]["aws"].assumed_roles:
                if role.access_key_id == key_id and role.expiration < now.replace(tzinfo=None):
                    raise Refused("The security token included in the request is expired")
        names = signed_headers.split(";")
        canonical_headers = "".join(
            f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names
        )
        query = sorted(
            (_uri(k), _uri(v)) for k, v in parse_qsl(body.get("query", ""), keep_blank_values=True)
        )
        payload = headers.get("x-amz-content-sha256") or hashlib.sha256(
            base64.b64decode(body.get("body_base64", ""))
        ).hexdigest()
        canonical = "\n".join(
            [
                body["method"],
                quote(body["path"] or "/", safe="/-_.~"),
                "&".join(f"{k}={v}" for k, v in query),
                canonical_headers,
                signed_headers,
                payload,
            ]
        )
        if not _signed(found._secret_access_key, stamp, day, scope_region, service, canonical, signature):
            raise Refused(
                "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
            )
        verdict = authorize(found.arn, [{"action": body["action"], "resource": body["resource"]}])
        result = verdict["results"][0]
        if not result["allowed"]:
            raise Forbidden(result["message"])
        return {"principal": found.arn}

    class Forbidden(Exception):
        pass

    def _call(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if not path.startswith(prefix):
            return dispatch(self, environ, start_response)
        status, answer = "200 OK", None
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(length) or b"{}")
            now = datetime.datetime.now(datetime.timezone.utc)
            if "now" in body:
                now = datetime.datetime.fromtimestamp(body["now"], datetime.timezone.utc)
            if path == prefix + "authenticate":
                answer = authenticate(body["token"], body["region"], now)
            elif path == prefix + "authorize":
                answer = authorize(body["principal"], body["requests"])
            elif path == prefix + "invoke":
                answer = invoke(body, now)
            else:
                status, answer = "404 Not Found", {"message": f"no {path}"}
        except Refused as e:
            status, answer = "403 Forbidden", {"message": str(e)}
        except Forbidden as e:
            # Authenticated, not authorized: API Gateway's IAM refusal says `Message`.
            status, answer = "403 Forbidden", {"Message": str(e), "authorized": False}
        except (KeyError, TypeError, ValueError) as e:
            status, answer = "400 Bad Request", {"message": f"malformed request: {e!r}"}
        data = json.dumps(answer).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    DomainDispatcherApplication.__call__ = _call


# Services of the twin whose protocol is JSON: their errors are `{"__type": ..., "message": ...}`.
_JSON_SERVICES = {"kinesis", "ssm", "logs", "monitoring", "sqs", "kms"}
# REST-JSON services answer an IAM refusal 403 AccessDeniedException ("Common Errors" of their
# API References, e.g. AWS Lambda's: "AccessDeniedException ... HTTP Status Code: 403").
_REST_JSON_SERVICES = {"emr-serverless"}


def rest_json_access_denied(message):
    from moto.core.exceptions import JsonRESTError

    error = JsonRESTError("AccessDeniedException", message)
    error.code = 403
    return error


def _in_use():
    from moto.ec2.exceptions import DependencyViolationError
    from moto.ec2.models import nat_gateways, security_groups, subnets

    def live_enis(backend):
        """The network interfaces AWS would still hold: a terminated instance's primary ENI is
        deleted with it on AWS; moto keeps it."""
        for eni in list(getattr(backend, "enis", {}).values()):
            instance = getattr(eni, "instance", None)
            if instance is not None and getattr(instance, "state", None) == "terminated":
                continue
            yield eni

    # DeleteSecurityGroup of a group a network interface still uses: AWS answers
    # DependencyViolation ("resource sg-... has a dependent object"; EC2 API Reference,
    # DeleteSecurityGroup: "you can't delete a security group that is associated with an
    # instance or network interface"). moto 5.2 deletes it.
    delete_group = security_groups.SecurityGroupBackend.delete_security_group

    def _delete_group(self, name=None, group_id=None):
        target = group_id or name
        for eni in live_enis(self):
            if any(target in (g.id, g.name) for g in eni.group_set):
                raise DependencyViolationError(f"resource {target} has a dependent object")
        return delete_group(self, name=name, group_id=group_id)

    security_groups.SecurityGroupBackend.delete_security_group = _delete_group

    # DeleteSubnet while a network interface is in it: AWS answers DependencyViolation ("The
    # subnet '...' has dependencies and cannot be deleted"; EC2 API Reference, DeleteSubnet: "You
    # must terminate all running instances in the subnet before you can delete the subnet").
    # moto 5.2 deletes it and leaves the interfaces behind.
    delete_subnet = subnets.SubnetBackend.delete_subnet

    def _delete_subnet(self, subnet_id):
        for eni in live_enis(self):
            if getattr(getattr(eni, "subnet", None), "id", None) == subnet_id:
                raise DependencyViolationError(
                    f"The subnet '{subnet_id}' has dependencies and cannot be deleted."
                )
        return delete_subnet(self, subnet_id)

    subnets.SubnetBackend.delete_subnet = _delete_subnet

    # DeleteNatGateway: AWS disassociates the gateway's Elastic IP and deletes the network
    # interface it made (EC2 User Guide, "Delete a NAT gateway": "the NAT gateway ... releases
    # its network interface"); moto 5.2 keeps both, so the subnet and VPC stay in use forever.
    delete_nat = nat_gateways.NatGatewayBackend.delete_nat_gateway

    def _delete_nat(self, nat_gateway_id):
        gw = delete_nat(self, nat_gateway_id)
        eni = getattr(gw, "_eni", None)
        if eni is not None and eni.id in getattr(self, "enis", {}):
            for address in list(getattr(self, "addresses", [])):
                if getattr(address, "eni", None) is eni:
                    self.disassociate_address(address=address.public_ip)
            self.enis.pop(eni.id, None)
        return gw

    nat_gateways.NatGatewayBackend.delete_nat_gateway = _delete_nat


def _accounts():
    from moto.s3 import responses as s3_responses
    from moto.s3.models import s3_backends

    # HeadBucket of a bucket another account owns: AWS answers 403 Forbidden ("If the bucket
    # does not exist or you do not have permission to access it, the HEAD request returns a
    # generic 400 Bad Request, 403 Forbidden or 404 Not Found code"; S3 API Reference,
    # HeadBucket). moto 5.2 keeps one bucket namespace across accounts (CreateBucket of another
    # account's name is BucketAlreadyExists, as on AWS) but answers HeadBucket with 200 to any
    # account. (A bucket policy granting the caller would make AWS answer 200; moto evaluates
    # no bucket policy across accounts, and pinctl's stacks grant none.)
    head_bucket = s3_responses.S3Response.head_bucket

    def _head_bucket(self):
        owner = s3_backends.bucket_accounts.get(self.bucket_name)
        if owner is not None and owner[1] != self.get_current_account():
            return 403, {}, ""
        return head_bucket(self)

    s3_responses.S3Response.head_bucket = _head_bucket


def _quotas():
    from moto.servicequotas import models as sq

    # GetServiceQuota of EC2's Elastic IP quota (service code `ec2`, quota code L-0263D0A3,
    # "EC2-VPC Elastic IPs", default 5 per Region: EC2 User Guide, "Elastic IP address quota",
    # https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/elastic-ip-addresses-eip.html). moto
    # 5.2 serves the `vpc` service code only and answers NoSuchResourceException for it.
    get_quota = sq.ServiceQuotasBackend.get_service_quota

    def _get_service_quota(self, service_code, quota_code):
        if (service_code, quota_code) == ("ec2", "L-0263D0A3"):
            return {
                "Adjustable": True,
                "GlobalQuota": False,
                "QuotaArn": f"arn:aws:servicequotas:{self.region_name}:{self.account_id}:ec2/L-0263D0A3",
                "QuotaCode": "L-0263D0A3",
                "QuotaName": "EC2-VPC Elastic IPs",
                "ServiceCode": "ec2",
                "ServiceName": "Amazon Elastic Compute Cloud (Amazon EC2)",
                "Unit": "None",
                "Value": 5.0,
            }
        return get_quota(self, service_code, quota_code)

    sq.ServiceQuotasBackend.get_service_quota = _get_service_quota


def _ssm_instance_information():
    import json

    from moto.ssm import responses as ssm

    # DescribeInstanceInformation lists the instances SSM manages: those whose SSM Agent has
    # registered (AWS Systems Manager API Reference, DescribeInstanceInformation). moto 5.2 does
    # not implement it (NotImplementedError, a 500, which a client retries as a server fault).
    # No instance of the twin runs an agent, so SSM manages none: an empty list, as AWS answers
    # for instances that have not registered.
    def describe_instance_information(self):
        return json.dumps({"InstanceInformationList": []})

    ssm.SimpleSystemManagerResponse.describe_instance_information = describe_instance_information


def _bucket_defaults():
    from moto.s3 import models as s3

    # Since April 2023 every new bucket has S3 Block Public Access on, all four settings, and
    # ACLs disabled (AWS News Blog, "Heads-Up: Amazon S3 Security Changes Are Coming in April of
    # 2023"; Amazon S3 User Guide, "Blocking public access to your Amazon S3 storage": "new
    # buckets ... have S3 Block Public Access enabled by default"). moto 5 makes a bucket with
    # none, so a bucket made by hand read back as public: what AWS no longer does.
    original = s3.S3Backend.create_bucket

    def create_bucket(self, *a, **k):
        bucket = original(self, *a, **k)
        if getattr(bucket, "public_access_block", None) is None:
            bucket.public_access_block = s3.PublicAccessBlock(True, True, True, True)
        return bucket

    s3.S3Backend.create_bucket = create_bucket

    # CreateBucket takes the new bucket's tags in CreateBucketConfiguration `Tags` (S3 API
    # Reference, CreateBucket; "You must have the s3:TagResource permission to create a general
    # purpose bucket with tags"). moto 5.2 drops them, so a bucket created with its tags read
    # back untagged.
    import xmltodict
    from moto.s3 import responses

    bucket_put = responses.S3Response._bucket_response_put

    def _bucket_response_put(self, request, bucket_name, querystring):
        tags = {}
        if not querystring and self.body:
            try:
                conf = xmltodict.parse(self.body, force_list={"Tag": True})
                conf = conf.get("CreateBucketConfiguration") or {}
                for tag in ((conf.get("Tags") or {}).get("Tag")) or []:
                    tags[tag["Key"]] = tag.get("Value") or ""
            except Exception:
                tags = {}
        existed = bucket_name in self.backend.buckets
        answer = bucket_put(self, request, bucket_name, querystring)
        bucket = self.backend.buckets.get(bucket_name)
        if tags and not existed and bucket is not None:
            # Straight to the tagger: the bucket may not be visible yet (propagation).
            self.backend.tagger.tag_resource(
                bucket.arn, [{"Key": k, "Value": v} for k, v in tags.items()]
            )
        return answer

    responses.S3Response._bucket_response_put = _bucket_response_put


def _stream_tags_at_creation():
    from moto.kinesis import responses

    # CreateStream takes the new stream's tags (`Tags`, Kinesis API Reference, CreateStream);
    # moto 5.2 drops them, so a stream created with its tags read back untagged.
    create_stream = responses.KinesisResponse.create_stream

    def create(self):
        answer = create_stream(self)
        tags = self._get_param("Tags") or {}
        stream = self.kinesis_backend.streams.get(self._get_param("StreamName"))
        if tags and stream is not None:
            # Straight to the stream: it may not be visible yet (propagation).
            stream.tags.update(tags)
        return answer

    responses.KinesisResponse.create_stream = create


# ---- VPC links ---------------------------------------------------------------------------
# A REST API's VPC link is PENDING, then AVAILABLE (API Gateway API Reference, VpcLink `status`:
# AVAILABLE | PENDING | DELETING | FAILED). How long it stays PENDING on AWS is not a documented
# figure, so the twin's wait is its own. moto makes it AVAILABLE at once. Here it stays PENDING for half the twin's propagation delay (at least a second), so
# a provider that used a link before it is AVAILABLE fails on the twin too.


def _vpc_links(delay):
    import json

    from moto.apigateway import models as apigateway
    from moto.apigateway import responses

    # UpdateVpcLink (PATCH /vpclinks/{id}, `replace` of /name and /description: API Gateway API
    # Reference, UpdateVpcLink) is not implemented by moto 5.2, which answers an unknown error.
    def update_vpc_link(self):
        link = self.backend.get_vpc_link(vpc_link_id=self.path.split("/")[-1])
        for op in self._get_param("patchOperations") or []:
            if op.get("op") == "replace" and op.get("path") in ("/name", "/description"):
                setattr(link, op["path"][1:], op.get("value") or "")
        return json.dumps(link.to_json())

    responses.APIGatewayResponse.update_vpc_link = update_vpc_link

    # PutIntegration's `connectionId` (the VPC link of a `VPC_LINK` integration: API Gateway API
    # Reference, PutIntegration) is dropped by moto 5.2, so GetIntegration never names the link.
    put_integration = responses.APIGatewayResponse.put_integration

    def _put_integration(self):
        put_integration(self)
        parts = self.path.split("/")
        integration = self.backend.get_integration(parts[2], parts[4], parts[6])
        integration.connection_id = self._get_param("connectionId")
        return 201, {"status": 201}, json.dumps(integration.to_json())

    responses.APIGatewayResponse.put_integration = _put_integration
    integration_json = apigateway.Integration.to_json

    def _integration_json(self):
        out = integration_json(self)
        if getattr(self, "connection_id", None):
            out["connectionId"] = self.connection_id
        return out

    apigateway.Integration.to_json = _integration_json

    pending = max(1.0, delay / 2)
    cls = apigateway.VpcLink
    init = cls.__init__

    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self._pinctl_born = time.monotonic()

    def status(self):
        born = getattr(self, "_pinctl_born", None)
        if born is not None and time.monotonic() - born < pending:
            return "PENDING"
        return "AVAILABLE"

    def set_status(self, value):
        pass  # moto sets AVAILABLE in __init__; the clock above decides

    cls.__init__ = __init__
    cls.status = property(status, set_status)


# ---- API Gateway models ------------------------------------------------------------------
# A REST API's models (API Gateway API Reference, Model; CreateModel, UpdateModel, DeleteModel,
# GetModels). moto 5.2 stores whatever CreateModel is given, implements no UpdateModel, deletes
# a model methods still use, and starts a new API with no model at all.

# The two models AWS gives every REST API it creates (API Gateway Developer Guide, "Data models
# for REST APIs": "API Gateway ... provides the Empty and Error models"; the schemas are those
# GetModels answers on AWS, as the CDK reproduces them: aws-apigateway's EmptyModel/ErrorModel).
_PREDEFINED_MODELS = (
    (
        "Empty",
        "This is a default empty schema model",
        '{\n  "$schema": "http://json-schema.org/draft-04/schema#",\n  "title" : "Empty Schema",\n'
        '  "type" : "object"\n}',
    ),
    (
        "Error",
        "This is a default error schema model",
        '{\n  "$schema" : "http://json-schema.org/draft-04/schema#",\n  "title" : "Error Schema",\n'
        '  "type" : "object",\n  "properties" : {\n    "message" : { "type" : "string" }\n  }\n}',
    ),
)


def _models():
    import json
    import re
    import threading
    from urllib.parse import unquote

    from moto.apigateway import models as apigateway
    from moto.apigateway import responses
    from moto.apigateway.exceptions import (
        BadRequestException,
        ConflictException,
        NotFoundException,
    )

    backend = apigateway.APIGatewayBackend

    # CreateRestApi: the new API has the Empty and Error models (see above). An API made by
    # ImportRestApi gets the models its definition names (moto's put_rest_api), none added here.
    create_rest_api = backend.create_rest_api
    importing = threading.local()

    def _create_rest_api(self, *args, **kwargs):
        api = create_rest_api(self, *args, **kwargs)
        if not getattr(importing, "on", False):
            for name, description, schema in _PREDEFINED_MODELS:
                api.add_model(
                    name=name, description=description, schema=schema, content_type="application/json"
                )
        return api

    import_rest_api = backend.import_rest_api

    def _import_rest_api(self, *args, **kwargs):
        importing.on = True
        try:
            return import_rest_api(self, *args, **kwargs)
        finally:
            importing.on = False

    backend.create_rest_api = _create_rest_api
    backend.import_rest_api = _import_rest_api

    # A model's schema is a JSON Schema draft 4 document (API Gateway API Reference, CreateModel,
    # `schema`); AWS refuses one that is not a JSON object with BadRequestException "Invalid
    # model specified: Validation Result: warnings : [], errors : [Invalid model schema
    # specified]". moto 5.2 stores any string.
    def check_schema(schema):
        if schema is None or schema == "":
            return
        try:
            parsed = json.loads(schema)
        except (TypeError, ValueError):
            parsed = None
        if not isinstance(parsed, dict):
            raise BadRequestException(
                "Invalid model specified: Validation Result: warnings : [], errors : [Invalid model schema specified]"
            )

    # CreateModel (API Gateway API Reference, CreateModel: `name` "must be alphanumeric";
    # `contentType` required; Errors: BadRequestException 400, ConflictException 409). AWS
    # answers "Model name must be alphanumeric: <name>", "Invalid content type specified", the
    # schema refusal above, and "Model name already exists for this REST API"; moto 5.2 checks
    # none of them and replaces an existing model of the same name.
    create_model = backend.create_model

    def _create_model(self, rest_api_id, name, content_type, description, schema):
        if name and not re.fullmatch(r"[a-zA-Z0-9]+", name):
            raise BadRequestException(f"Model name must be alphanumeric: {name}")
        if not content_type:
            raise BadRequestException("Invalid content type specified")
        check_schema(schema)
        if rest_api_id and name and name in self.get_rest_api(rest_api_id).models:
            raise ConflictException("Model name already exists for this REST API")
        return create_model(self, rest_api_id, name, content_type, description, schema)

    backend.create_model = _create_model

    # DeleteModel of a model a method uses (its `requestModels`, or a method response's
    # `responseModels`): AWS refuses with ConflictException (API Gateway API Reference,
    # DeleteModel, Errors: ConflictException 409), "Cannot delete model '<name>', is referenced
    # in method request: <path>/<METHOD>". moto 5.2 deletes it, leaving the methods naming a
    # model that no longer exists.
    delete_model = backend.delete_model

    def _delete_model(self, rest_api_id, model_name):
        api = self.get_rest_api(rest_api_id)
        if model_name in api.models:
            for resource in api.resources.values():
                path = resource.get_path().rstrip("/")
                for verb, method in (resource.resource_methods or {}).items():
                    if model_name in (method.request_models or {}).values():
                        raise ConflictException(
                            f"Cannot delete model '{model_name}', is referenced in method request: {path}/{verb}"
                        )
                    for code, response in (method.method_responses or {}).items():
                        if model_name in (response.response_models or {}).values():
                            raise ConflictException(
                                f"Cannot delete model '{model_name}', is referenced in method response: {path}/{verb}/{code}"
                            )
        return delete_model(self, rest_api_id, model_name)

    backend.delete_model = _delete_model

    # UpdateModel (PATCH /restapis/{id}/models/{name}; API Gateway API Reference, UpdateModel:
    # patch operations on the model, answered with the Model as GetModel answers it) is not
    # implemented by moto 5.2, which fails with NotImplementedError (a 500). The patchable
    # fields are `schema` and `description` (`op` replace; "PATCH operations" in the API
    # Gateway API Reference lists /schema and /description for Model). An unknown model is
    # NotFoundException "Invalid model name specified"; a new schema is checked as CreateModel
    # checks it.
    def update_model(self):
        parts = self.path.split("/")
        rest_api_id, model_name = parts[2], unquote(parts[4])
        model = self.backend.get_rest_api(rest_api_id).models.get(model_name)
        if model is None:
            missing = NotFoundException("Invalid model name specified")
            missing.code = 404  # moto's NotFoundException keeps JsonRESTError's 400
            raise missing
        changes = {}
        for op in self._get_param("patchOperations") or []:
            verb, path = op.get("op"), op.get("path")
            if path not in ("/schema", "/description"):
                raise BadRequestException(
                    f"Invalid patch path '{path}' specified for op '{verb}'. Must be one of: [/description, /schema]"
                )
            if verb != "replace":
                raise BadRequestException(
                    "Invalid patch operation specified. Must be one of: [replace]"
                )
            if path == "/schema":
                check_schema(op.get("value"))
            changes[path[1:]] = op.get("value")
        for field, value in changes.items():
            setattr(model, field, value)
        return json.dumps(model.to_json())

    responses.APIGatewayResponse.update_model = update_model


# ---- faults ------------------------------------------------------------------------------
# AWS's APIs fail now and then: a call is throttled before it runs, or it runs and its answer
# never reaches the caller (a connection reset, a 502 from the load balancer in front of the
# service). The SDKs retry both (AWS SDKs and Tools Reference Guide, "Retry behavior":
# throttling errors and 502/503/504 are retryable), and a provider must cope with a retried
# call that already ran. With PINCTL_MOTO_FAULT_RATE=<0..1> (read at start; 0, the default, is
# off) that share of AWS API requests fails, chosen by a multiplicative hash of the request's
# number so a run is reproducible, and the two kinds alternate:
#   - throttled (even numbers): not run; answered with the service's own throttling error
#     (below, by protocol);
#   - lost (odd numbers): run by moto, then answered 502 Bad Gateway with an empty body.
# Tests change the rate at run time (the count restarts from 0 at each change):
#   GET  /moto-api/pinctl/faults             -> 200 {"rate"}
#   POST /moto-api/pinctl/faults {"rate": x} -> 200 {"rate"} | 400 {"message"}
# Nothing under /moto-api/ (moto's own endpoints and pinctl's, above) is ever faulted. Each
# fault is logged on stderr in one line ("pinctl fault: throttled ec2 CreateVpc").


def _fault_rate(text):
    try:
        rate = float(text or 0)
    except ValueError:
        print(f"pinctl fault: PINCTL_MOTO_FAULT_RATE={text!r} is not a number; faults are off", file=sys.stderr)
        return 0.0
    return min(max(rate, 0.0), 1.0)


# SigV4's credential scope: <access key id>/<date>/<region>/<service>/aws4_request (IAM User
# Guide, "Elements of an AWS API request signature").
_CREDENTIAL_SCOPE = r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request"


def _credential(environ):
    """(access key id, region, service) of the credential scope a request is signed with (its
    Authorization header, or a presigned URL's X-Amz-Credential); Nones if it is not signed."""
    import re
    from urllib.parse import parse_qs

    scope = re.compile(_CREDENTIAL_SCOPE)
    m = scope.search(environ.get("HTTP_AUTHORIZATION", "")) or scope.search(
        "Credential=" + (parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential") or [""])[0]
    )
    return m.groups() if m else (None, None, None)


def _form_body(environ):
    """The form body of a request (b"" if it has none), left readable again for moto."""
    import io

    if not environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        return b""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _describe(environ):
    """(service, protocol, operation) of an AWS API request, None for anything else. The
    service is the one the request is signed for (SigV4's credential scope); the protocol
    is the request's own: X-Amz-Target (JSON), Action= (query; EC2's own flavour for ec2),
    S3's REST-XML, else REST-JSON."""
    import re
    from urllib.parse import parse_qs

    service = _credential(environ)[2]
    if service is None:
        host = re.match(r"([a-z0-9-]+)\.(?:[a-z0-9-]+\.)?amazonaws\.com", environ.get("HTTP_HOST", ""))
        service = host.group(1) if host else None
    params = parse_qs(environ.get("QUERY_STRING", ""))
    params.update(parse_qs(_form_body(environ).decode("utf-8", "replace")))
    target = environ.get("HTTP_X_AMZ_TARGET")
    action = (params.get("Action") or [None])[0]
    method, path = environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/")
    if target:
        return service or "json", "json", target.split(".")[-1]
    if action:
        ec2 = service == "ec2" or (service is None and params.get("Version") == ["2016-11-15"])
        return service or "query", "ec2" if ec2 else "query", action
    if service is None:
        return None
    return service, "s3" if service == "s3" else "rest-json", f"{method} {path}"


def _faults(rate):
    import json
    import threading
    import uuid

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    endpoint = "/moto-api/pinctl/faults"
    state = {"rate": rate, "n": 0}
    lock = threading.Lock()
    dispatch = DomainDispatcherApplication.__call__

    def throttled(environ, start_response, protocol):
        # The throttling error of each protocol, as AWS answers it:
        #   EC2: 503 RequestLimitExceeded "Request limit exceeded." (EC2 API Reference, "Error
        #     codes for the Amazon EC2 API": RequestLimitExceeded; EC2 Developer Guide,
        #     "Request throttling");
        #   query (IAM, STS, ELB): 400 Throttling "Rate exceeded", Type Sender (the common error
        #     of the query APIs);
        #   JSON: 400 ThrottlingException "Rate exceeded" (Common Errors of the JSON APIs:
        #     "ThrottlingException ... HTTP Status Code: 400");
        #   REST-JSON: 429 TooManyRequestsException "Too Many Requests" (API Gateway API
        #     Reference, every action's Errors: TooManyRequestsException, HTTP 429);
        #   S3: 503 SlowDown "Please reduce your request rate." (S3 API Reference, "Error
        #     responses", List of error codes: SlowDown, 503 Slow Down).
        request_id = str(uuid.uuid4())
        if protocol == "ec2":
            status, content_type = "503 Service Unavailable", "text/xml;charset=UTF-8"
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
                "<Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>"
            )
            headers = []
        elif protocol == "query":
            status, content_type = "400 Bad Request", "text/xml"
            body = (
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                f"<Message>Rate exceeded</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
            )
            headers = [("x-amzn-RequestId", request_id)]
        elif protocol == "json":
            status = "400 Bad Request"
            sent = environ.get("CONTENT_TYPE", "")
            content_type = sent if sent.startswith("application/x-amz-json-") else "application/x-amz-json-1.1"
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
            headers = [("x-amzn-RequestId", request_id)]
        elif protocol == "s3":
            status, content_type = "503 Slow Down", "application/xml"
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
                "<Message>Please reduce your request rate.</Message>"
                f"<RequestId>{request_id}</RequestId></Error>"
            )
            headers = [("x-amz-request-id", request_id)]
        else:
            status, content_type = "429 Too Many Requests", "application/json"
            body = json.dumps({"message": "Too Many Requests"})
            headers = [("x-amzn-RequestId", request_id), ("x-amzn-ErrorType", "TooManyRequestsException")]
        data = b"" if environ.get("REQUEST_METHOD") == "HEAD" else body.encode()
        start_response(
            status, [("Content-Type", content_type), ("Content-Length", str(len(data)))] + headers
        )
        return [data]

    def lost(self, environ, start_response):
        answered = []

        def keep(status, headers, exc_info=None):
            answered.append(status)
            return lambda chunk: None

        result = dispatch(self, environ, keep)
        try:
            for _ in result:
                pass
        finally:
            if hasattr(result, "close"):
                result.close()
        start_response("502 Bad Gateway", [("Content-Length", "0")])
        return [b""], (answered[0].split(" ")[0] if answered else "?")

    def control(environ, start_response):
        status, answer = "200 OK", None
        if environ.get("REQUEST_METHOD") == "POST":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                rate = float(json.loads(environ["wsgi.input"].read(length) or b"{}")["rate"])
                if not 0 <= rate <= 1:
                    raise ValueError(f"rate {rate} is not within 0..1")
                with lock:
                    state["rate"], state["n"] = rate, 0
            except (KeyError, TypeError, ValueError) as e:
                status, answer = "400 Bad Request", {"message": f"expected {{\"rate\": 0..1}}: {e}"}
        elif environ.get("REQUEST_METHOD") != "GET":
            status, answer = "405 Method Not Allowed", {"message": "GET or POST"}
        data = json.dumps(answer or {"rate": state["rate"]}).encode()
        start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def _call(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == endpoint:
            return control(environ, start_response)
        # The emulator's own calls, made as MSK, MSK Connect and MWAA themselves (their network
        # interfaces, the security groups and roles they read), carry x-pinctl-service-internal:
        # AWS's faults are what an API's client meets, not a service's own work inside AWS.
        if (
            path.startswith("/moto-api/")
            or state["rate"] <= 0
            or environ.get("HTTP_X_PINCTL_SERVICE_INTERNAL")
        ):
            return dispatch(self, environ, start_response)
        request = _describe(environ)
        if request is None:
            return dispatch(self, environ, start_response)
        with lock:
            n, rate = state["n"], state["rate"]
            state["n"] += 1
        if (n * 2654435761) % 10000 / 10000 >= rate:
            return dispatch(self, environ, start_response)
        service, protocol, operation = request
        if n % 2 == 0:
            print(f"pinctl fault: throttled {service} {operation}", file=sys.stderr, flush=True)
            return throttled(environ, start_response, protocol)
        body, moto_status = lost(self, environ, start_response)
        print(
            f"pinctl fault: lost the answer to {service} {operation} (moto answered {moto_status})",
            file=sys.stderr,
            flush=True,
        )
        return body

    DomainDispatcherApplication.__call__ = _call


# ---- EC2 client tokens -------------------------------------------------------------------
# An EC2 action that takes a client token is idempotent by it (EC2 Developer Guide, "Ensuring
# idempotency in Amazon EC2 API requests":
# https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html): "If you retry a
# request that completed successfully using the same client token and the same parameters, the
# retry succeeds without performing any further actions. If you retry a successful request using
# the same client token, but one or more of the parameters are different, other than the Region
# or Availability Zone, the retry fails with an IdempotentParameterMismatch error." (the API
# Reference's edition of the page: "the result of the original request is returned"). The SDKs
# fill the token themselves for most of these actions (`idempotencyToken` in the service model:
# CreateRouteTable, CreateNatGateway, CreateNetworkInterface, RunInstances, ...) and send the
# same one on each retry, so a call whose answer was lost (a fault above) is retried with its
# token: AWS answers the first result, moto 5.2 ignores the token (RunInstances' too: it only
# keeps it on the instance) and makes a second resource.
#
# Here an EC2 request that carries a ClientToken, for an action whose input has one in the EC2
# service model moto serves (116 actions in botocore 1.44, 23 of them implemented by moto 5.2),
# is remembered with its successful (2xx) answer, under its account, Region, Availability Zone,
# action and token (the same token in another Region makes another resource: "You can use the
# same client token for the same request across different Regions", ibid., "Idempotency for
# RunInstances"). A repeat with the same other parameters gets that answer again and runs
# nothing; a repeat with other parameters gets 400 IdempotentParameterMismatch (EC2 API
# Reference, "Error codes for the Amazon EC2 API": "The request uses the same client token as
# a previous, but non-identical request"), with the message AWS answers it with. AWS keeps a
# RunInstances token "for at least 24 hours after the termination of the instance"; here tokens
# last as long as the server (the latest 10,000 of them) or until POST /moto-api/reset. This
# wraps moto inside the faults, so the request of a lost answer is remembered. Each repeat
# answered here is logged on stderr ("pinctl client token: ...").


def _client_tokens():
    import hashlib
    import json
    import threading
    import uuid
    from collections import OrderedDict
    from urllib.parse import parse_qsl

    from moto.core.utils import get_service_model
    from moto.iam.models import get_account_id_from
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    dispatch = DomainDispatcherApplication.__call__
    lock = threading.Lock()
    answers = OrderedDict()  # key -> (digest of the other parameters, status, headers, body)
    gates = {}  # key -> [lock, requests waiting]: a retry waits for the request it repeats
    taking = []

    def takes_token(action):
        if not taking:
            model = get_service_model("ec2")
            taking.append(
                frozenset(
                    name
                    for name in model.operation_names
                    if (shape := model.operation_model(name).input_shape) is not None
                    and "ClientToken" in shape.members
                )
            )
        return action in taking[0]

    def run(self, environ):
        answered, chunks = [], []

        def keep(status, headers, exc_info=None):
            answered[:] = [status, list(headers)]
            return chunks.append

        result = dispatch(self, environ, keep)
        try:
            for chunk in result:
                chunks.append(chunk)
        finally:
            if hasattr(result, "close"):
                result.close()
        return answered[0], answered[1], b"".join(chunks)

    def zone(name):
        return name.rsplit(".", 1)[-1] in ("AvailabilityZone", "AvailabilityZoneId")

    def mismatch():
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error>'
            "<Code>IdempotentParameterMismatch</Code><Message>Arguments on this idempotent request"
            " are inconsistent with arguments used in previous request(s).</Message></Error>"
            f"</Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
        ).encode()
        headers = [("Content-Type", "text/xml;charset=UTF-8"), ("Content-Length", str(len(body)))]
        return "400 Bad Request", headers, body

    def _call(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/moto-api/"):
            if path == "/moto-api/reset" and environ.get("REQUEST_METHOD") == "POST":
                with lock:
                    answers.clear()
            return dispatch(self, environ, start_response)
        request = _describe(environ)
        if request is None or request[1] != "ec2" or not takes_token(request[2]):
            return dispatch(self, environ, start_response)
        pairs = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        pairs += parse_qsl(_form_body(environ).decode("utf-8", "replace"), keep_blank_values=True)
        token = next((v for k, v in pairs if k == "ClientToken"), "")
        if not token:
            return dispatch(self, environ, start_response)
        zones = tuple(sorted((k, v) for k, v in pairs if zone(k)))
        others = sorted(
            (k, v) for k, v in pairs if k != "ClientToken" and not zone(k) and not k.startswith("X-Amz-")
        )
        digest = hashlib.sha256(json.dumps(others).encode()).hexdigest()
        key_id, region, _ = _credential(environ)
        account = (
            os.environ.get("MOTO_ACCOUNT_ID")
            or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
            or get_account_id_from(key_id or "")
        )
        key = (account, region or "us-east-1", zones, request[2], token)
        with lock:
            gate = gates.setdefault(key, [threading.Lock(), 0])
            gate[1] += 1
        try:
            with gate[0]:
                with lock:
                    known = answers.get(key)
                if known is None:
                    status, headers, body = run(self, environ)
                    if status.startswith("2"):
                        with lock:
                            answers[key] = (digest, status, headers, body)
                            while len(answers) > 10000:
                                answers.popitem(last=False)
                else:
                    same = known[0] == digest
                    status, headers, body = known[1:] if same else mismatch()
                    print(
                        f"pinctl client token: {'answered' if same else 'IdempotentParameterMismatch to'}"
                        f" a repeated ec2 {request[2]} (ClientToken {token})",
                        file=sys.stderr,
                        flush=True,
                    )
        finally:
            with lock:
                gate[1] -= 1
                if gate[1] == 0:
                    del gates[key]
        start_response(status, headers)
        return [body]

    DomainDispatcherApplication.__call__ = _call


# ---- propagation -------------------------------------------------------------------------
# AWS is eventually consistent: what one API just made is not yet visible to the services that
# use it. With PINCTL_PROPAGATION_DELAY=<seconds> (the twin's `--propagation-delay`), moto
# answers as AWS answers in that window, for the cases AWS documents or mature providers
# retry (the table in pinctl's `src/clients/propagation.rs` names each source):
#   IAM (the whole delay): RunInstances naming a new instance profile; AddRoleToInstanceProfile
#     naming a new role; DeleteRole right after its policies or profiles were detached;
#     CreateBucket of a name deleted moments ago (OperationAborted);
#   settling (a fifth of the delay): a new security group not yet visible to
#     DescribeSecurityGroups / AuthorizeSecurityGroupIngress; a new bucket's configuration
#     calls (NoSuchBucket); API Gateway methods, integrations and deployments of a new API
#     (ConflictException).


def _propagation(delay):
    from moto.apigateway import models as apigateway
    from moto.apigateway.exceptions import ConflictException
    from moto.ec2.exceptions import EC2ClientError, InvalidSecurityGroupNotFoundError
    from moto.ec2.models import security_groups
    from moto.ec2.responses import instances as ec2_instances
    from moto.iam import models as iam
    from moto.iam.exceptions import DeleteConflictException, NotFoundException
    from moto.s3 import models as s3
    from moto.s3.exceptions import MissingBucket, S3ClientError

    settle = delay / 5
    born = {}  # (kind, name) -> when it was made or last changed

    def mark(kind, name):
        born[(kind, name)] = time.monotonic()

    def young(kind, name, window):
        t = born.get((kind, name))
        return t is not None and time.monotonic() - t < window

    def wrap(cls, method, before=None, after=None):
        original = getattr(cls, method)

        def patched(self, *args, **kwargs):
            if before:
                before(self, *args, **kwargs)
            out = original(self, *args, **kwargs)
            if after:
                after(self, out, *args, **kwargs)
            return out

        setattr(cls, method, patched)

    def arg(args, kwargs, i, name):
        return kwargs[name] if name in kwargs else (args[i] if len(args) > i else None)

    # -- IAM ---------------------------------------------------------------------------------
    wrap(iam.IAMBackend, "create_role", after=lambda self, role, *a, **k: mark("role", role.name))
    wrap(
        iam.IAMBackend,
        "create_instance_profile",
        after=lambda self, p, *a, **k: mark("profile", p.name),
    )

    def add_role_before(self, *a, **k):
        role = arg(a, k, 1, "role_name")
        if young("role", role, delay):
            raise NotFoundException(f"The role with name {role} cannot be found.")

    wrap(
        iam.IAMBackend,
        "add_role_to_instance_profile",
        before=add_role_before,
        after=lambda self, out, *a, **k: mark("profile", arg(a, k, 0, "profile_name")),
    )
    detached = {}

    def detach(what, index):
        # delete_role_policy(role_name, ...); detach_role_policy(policy_arn, role_name);
        # remove_role_from_instance_profile(profile_name, role_name)
        def after(self, out, *a, **k):
            role = arg(a, k, index, "role_name")
            detached[role] = (time.monotonic(), what)

        return after

    wrap(iam.IAMBackend, "delete_role_policy", after=detach("inline", 0))
    wrap(iam.IAMBackend, "detach_role_policy", after=detach("managed", 1))
    wrap(iam.IAMBackend, "remove_role_from_instance_profile", after=detach("profile", 1))
    messages = {
        "inline": "Cannot delete entity, must delete policies first.",
        "managed": "Cannot delete entity, must detach all policies first.",
        "profile": "Cannot delete entity, must remove roles from instance profile first.",
    }

    def delete_role_before(self, *a, **k):
        role = arg(a, k, 0, "role_name")
        t = detached.get(role)
        if t and time.monotonic() - t[0] < delay:
            raise DeleteConflictException(messages[t[1]])

    wrap(iam.IAMBackend, "delete_role", before=delete_role_before)

    # -- EC2 ---------------------------------------------------------------------------------
    filter_profiles = ec2_instances.filter_iam_instance_profiles

    def _filter_profiles(account_id, partition, iam_instance_profile_arn, iam_instance_profile_name):
        profile = filter_profiles(
            account_id,
            partition=partition,
            iam_instance_profile_arn=iam_instance_profile_arn,
            iam_instance_profile_name=iam_instance_profile_name,
        )
        name = iam_instance_profile_name or (iam_instance_profile_arn or "").rsplit("/", 1)[-1]
        if young("profile", name, delay):
            given = iam_instance_profile_name or iam_instance_profile_arn
            param = "iamInstanceProfile.name" if iam_instance_profile_name else "iamInstanceProfile.arn"
            raise EC2ClientError(
                "InvalidParameterValue",
                f"Value ({given}) for parameter {param} is invalid. Invalid IAM Instance Profile name",
            )
        return profile

    ec2_instances.filter_iam_instance_profiles = _filter_profiles
    sgb = security_groups.SecurityGroupBackend
    wrap(sgb, "create_security_group", after=lambda self, g, *a, **k: mark("sg", g.id))

    def describe_before(self, group_ids=None, groupnames=None, filters=None):
        for gid in group_ids or []:
            if young("sg", gid, settle):
                raise InvalidSecurityGroupNotFoundError(gid)

    wrap(sgb, "describe_security_groups", before=describe_before)

    def authorize_before(self, *a, **k):
        gid = arg(a, k, 0, "group_name_or_id")
        if young("sg", gid, settle):
            raise InvalidSecurityGroupNotFoundError(gid)

    wrap(sgb, "authorize_security_group_ingress", before=authorize_before)

    # -- S3 ----------------------------------------------------------------------------------
    class OperationAborted(S3ClientError):
        code = "OperationAborted"

    def create_bucket_before(self, *a, **k):
        name = arg(a, k, 0, "bucket_name")
        if young("deleted-bucket", name, delay):
            raise OperationAborted(
                "A conflicting conditional operation is currently in progress against this "
                "resource. Please try again."
            )

    wrap(
        s3.S3Backend,
        "create_bucket",
        before=create_bucket_before,
        after=lambda self, b, *a, **k: mark("bucket", b.name),
    )
    wrap(
        s3.S3Backend,
        "delete_bucket",
        after=lambda self, out, *a, **k: mark("deleted-bucket", arg(a, k, 0, "bucket_name")),
    )

    def new_bucket_before(self, *a, **k):
        name = arg(a, k, 0, "bucket_name")
        if young("bucket", name, settle):
            raise MissingBucket(bucket=name)

    for m in (
        "put_bucket_versioning",
        "put_bucket_tagging",
        "put_bucket_encryption",
        "put_public_access_block",
        "put_bucket_policy",
    ):
        wrap(s3.S3Backend, m, before=new_bucket_before)

    # -- API Gateway -------------------------------------------------------------------------
    apib = apigateway.APIGatewayBackend
    wrap(apib, "create_rest_api", after=lambda self, api, *a, **k: mark("api", api.id))

    def api_before(self, *a, **k):
        api = arg(a, k, 0, "function_id")
        if young("api", api, settle):
            raise ConflictException(
                "Unable to complete operation due to concurrent modification. Please try again later."
            )

    for m in ("put_method", "put_integration", "create_deployment"):
        wrap(apib, m, before=api_before)



# ---- a service model's rules on requests ----------------------------------------------------
# AWS refuses a request whose values break its service model's constraints (lengths, ranges,
# patterns, enums, required members) with a ValidationException naming each: "1 validation error
# detected: Value 'x y' at 'name' failed to satisfy constraint: Member must satisfy regular
# expression pattern: [A-Za-z0-9._/#-]+". moto 5.2 checks none of them for EMR Serverless, and
# the AWS SDK for Rust checks only required members. The rules are botocore's model of the
# service (the one moto serves); a pattern must match the whole value (CloudFormation shows the
# same rules anchored, e.g. AWS::EMRServerless::Application Tag: ^[A-Za-z0-9 /_.:=+@-]+$).


def _shape_problems(shape, value, where, out):
    import re

    if value is None:
        return
    t = shape.type_name
    meta = shape.metadata
    shown = f"'{value}'" if isinstance(value, str) else str(value)
    if t == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if value.get(name) is None:
                out.append(f"Value null at '{where}{name}' failed to satisfy constraint: Member must not be null")
        for name, member in shape.members.items():
            _shape_problems(member, value.get(name), f"{where}{name}.", out)
        return
    at = where.rstrip(".")
    size = None
    if t == "string" and isinstance(value, str):
        size = len(value)
    elif t in ("list", "map") and isinstance(value, (list, dict)):
        size = len(value)
    if size is not None:
        if "min" in meta and size < meta["min"]:
            out.append(f"Value {shown} at '{at}' failed to satisfy constraint: Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and size > meta["max"]:
            out.append(f"Value {shown} at '{at}' failed to satisfy constraint: Member must have length less than or equal to {meta['max']}")
    if t in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            out.append(f"Value {shown} at '{at}' failed to satisfy constraint: Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            out.append(f"Value {shown} at '{at}' failed to satisfy constraint: Member must have value less than or equal to {meta['max']}")
    if t == "string" and isinstance(value, str):
        if "pattern" in meta and re.fullmatch(meta["pattern"], value, re.S) is None:
            out.append(f"Value {shown} at '{at}' failed to satisfy constraint: Member must satisfy regular expression pattern: {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            out.append(f"Value {shown} at '{at}' failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    if t == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            _shape_problems(shape.member, v, f"{at}.{i + 1}.", out)
    if t == "map" and isinstance(value, dict):
        for k, v in value.items():
            _shape_problems(shape.key, k, f"{at}.{k}.member.key.", out)
            _shape_problems(shape.value, v, f"{at}.{k}.member.value.", out)


def validation_message(problems):
    n = len(problems)
    return f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(problems)


def _model_rules(service, response_cls, exception_cls):
    """Checks every operation of `service` served by `response_cls` against botocore's model
    before moto runs it; `exception_cls(message)` is the service's ValidationException."""
    import functools

    import botocore.session
    from moto.core.utils import camelcase_to_underscores

    model = botocore.session.get_session().get_service_model(service)

    def checked(method, operation):
        @functools.wraps(method)
        def run(self):
            shape = operation.input_shape
            if shape is not None:
                # moto parses a query-string list the request did not send as []: a member is
                # judged only when the request carries it.
                sent = self.querystring or {}
                params = {
                    name: self._get_param(name)
                    for name, member in shape.members.items()
                    if member.serialization.get("location") != "querystring"
                    or member.serialization.get("name", name) in sent
                }
                found = []
                _shape_problems(shape, params, "", found)
                if found:
                    raise exception_cls(validation_message(found))
            return method(self)

        return run

    for name in model.operation_names:
        attr = camelcase_to_underscores(name)
        method = getattr(response_cls, attr, None)
        if method is not None and not getattr(method, "_pinctl_rules", False):
            wrapped = checked(method, model.operation_model(name))
            wrapped._pinctl_rules = True
            setattr(response_cls, attr, wrapped)


# ---- EMR Serverless ----------------------------------------------------------------------
# What AWS does that moto 5.2 does not (EMR Serverless API Reference:
# https://docs.aws.amazon.com/emr-serverless/latest/APIReference/):
# - states: an application is CREATING, then CREATED (moto: STARTED at once); StartApplication
#   takes it through STARTING to STARTED, StopApplication through STOPPING to STOPPED
#   (`Application.state`); StartApplication of a TERMINATED or CREATING application, and
#   StopApplication while job runs are not done ("All scheduled and running jobs must be
#   completed or cancelled before stopping an application", StopApplication) are refused with
#   ValidationException; UpdateApplication takes `releaseLabel` (moto drops it);
# - `clientToken` (CreateApplication, StartJobRun): a repeated request returns what the first
#   made, not a second application or run;
# - a job run is SUBMITTED, PENDING, SCHEDULED, RUNNING, then SUCCESS or FAILED with its
#   `stateDetails` (`JobRun.state`; moto: SUCCESS at once, having run nothing); a job submitted
#   to a CREATED or STOPPED application starts it (auto-start, on by default: User Guide,
#   "Application behavior"); CancelJobRun is CANCELLING, then CANCELLED;
# - IAM: actions are authorized on the application's ARN, and GetJobRun / CancelJobRun on the
#   run's (`.../applications/<id>/jobruns/<run>`; Service Authorization Reference, "Actions,
#   resources, and condition keys for Amazon EMR Serverless"); moto checks them against "*";
#   StartJobRun checks that the caller may iam:PassRole the execution role (User Guide, "Job
#   runtime roles"), which moto does not;
# - a Spark job run really runs: spark-submit (the venv's pyspark) with the entry point read from
#   S3 as the job role, its arguments and sparkSubmitParameters, against this moto's S3. The
#   release image's paths stand for local files: Delta Lake's jars (/usr/share/aws/delta/lib/,
#   PINCTL_SPARK_JARS) and, for s3://, S3A (hadoop-aws and the AWS SDK bundle, PINCTL_S3A_JARS)
#   where EMR has EMRFS. The job calls S3 as the job role, assumed as emr-serverless.amazonaws.com
#   (its trust policy must name that service, else the run FAILS as on AWS).
# PINCTL_EMR_STATE_SECONDS (default 1) is how long each transient state lasts here; AWS's own
# take seconds to minutes and are not documented figures.


def _emr_serverless():
    import glob
    import json
    import shlex
    import subprocess
    import tempfile
    import threading

    from moto.emrserverless import models as emr
    from moto.emrserverless import responses
    from moto.emrserverless.exceptions import ValidationException

    step = float(os.environ.get("PINCTL_EMR_STATE_SECONDS", "1") or 1)
    backend_cls = emr.EMRServerlessBackend
    live_runs = {}  # job run id -> the spark-submit process
    lock = threading.Lock()
    done_states = ("SUCCESS", "FAILED", "CANCELLED")

    def later(seconds, fn):
        t = threading.Timer(seconds, fn)
        t.daemon = True
        t.start()

    def move(obj, through, to):
        """`obj.state` = through now, `to` after one step (unless it left `through` meanwhile)."""
        obj.state = through

        def finish():
            if obj.state == through:
                obj.state = to
                obj.updated_at = emr.utcnow()

        later(step, finish)

    # CreateApplication: CREATING -> CREATED; a repeated clientToken answers the first one's.
    create_application = backend_cls.create_application

    def _create_application(self, name, release_label, application_type, client_token, *a, **k):
        # AWS takes `Spark` as well as `SPARK` (its own examples use both).
        application_type = (application_type or "").upper()
        # EMR Serverless runs releases 6.6.0 and later (User Guide, "Amazon EMR Serverless
        # release versions").
        import re

        m = re.fullmatch(r"emr-(\d+)\.(\d+)\.(\d+)", release_label or "")
        if m and (int(m.group(1)), int(m.group(2))) < (6, 6):
            raise ValidationException(
                f"Type '{application_type}' is not supported for release label '{release_label}'"
                " or release label does not exist"
            )
        if client_token:
            for app in self.applications.values():
                if app.client_token == client_token and app.state != "TERMINATED":
                    return app
        app = create_application(self, name, release_label, application_type, client_token, *a, **k)
        move(app, "CREATING", "CREATED")
        return app

    backend_cls.create_application = _create_application

    def running_jobs(self, application_id):
        return [j for j in self.job_runs.get(application_id, []) if j.state not in done_states]

    def _start_application(self, application_id):
        app = self.get_application(application_id)
        if app.state in ("STARTED", "STARTING"):
            return
        if app.state not in ("CREATED", "STOPPED"):
            raise ValidationException(
                f"Application {application_id} must be in one of the following statuses"
                f" [CREATED, STOPPED]. Current status: {app.state}"
            )
        move(app, "STARTING", "STARTED")

    backend_cls.start_application = _start_application

    def _stop_application(self, application_id):
        app = self.get_application(application_id)
        if app.state in ("STOPPED", "STOPPING", "CREATED"):
            return
        if app.state != "STARTED":
            raise ValidationException(
                f"Application {application_id} must be in one of the following statuses"
                f" [STARTED]. Current status: {app.state}"
            )
        if running_jobs(self, application_id):
            raise ValidationException(
                f"Application {application_id} has running jobs. All scheduled and running jobs"
                " must be completed or cancelled before stopping an application."
            )
        move(app, "STOPPING", "STOPPED")

    backend_cls.stop_application = _stop_application

    update_application = responses.EMRServerlessResponse.update_application

    def _update_application(self):
        answer = update_application(self)
        label = self._get_param("releaseLabel")
        if label:
            app = self.emrserverless_backend.get_application(self._get_param("applicationId"))
            app.release_label = label
        return answer

    responses.EMRServerlessResponse.update_application = _update_application

    # The resource IAM authorizes each call on.
    def _determine_resource(self):
        path = (self.path or "").split("?")[0].rstrip("/")
        parts = path.split("/")
        if len(parts) < 3 or parts[1] != "applications":
            return "*"
        base = f"arn:aws:emr-serverless:{self.region}:{self.current_account}:/applications/{parts[2]}"
        if len(parts) >= 5 and parts[3] == "jobruns":
            return f"{base}/jobruns/{parts[4]}"
        return base

    responses.EMRServerlessResponse._determine_resource = _determine_resource

    # The caller of the request being served, kept by the IAM check (which runs before the
    # operation, on the same thread) for StartJobRun's iam:PassRole check; none when IAM is
    # not enforced.
    from moto.core.responses import BaseResponse
    from moto.iam import access_control as ac

    caller = _request_caller()
    authorize = BaseResponse._authenticate_and_authorize_normal_action

    def _authorize(self, resource="*"):
        caller.key = None
        return authorize(self, resource)

    BaseResponse._authenticate_and_authorize_normal_action = _authorize

    def may_pass_role(role_arn):
        """None when the caller may iam:PassRole `role_arn` (or IAM is not enforced), else why not."""
        key = getattr(caller, "key", None)
        if key is None:
            return None
        allowed = False
        for policy in key.collect_policies():
            # The service the role is passed to is the request's iam:PassedToService (IAM User
            # Guide, "Grant a user permissions to pass a role to an AWS service").
            result = ac.IAMPolicy(policy).is_action_permitted(
                "iam:PassRole",
                role_arn,
                incoming_condition_values={
                    "iam:PassedToService": "emr-serverless.amazonaws.com",
                    "aws:SecureTransport": "true",
                    **principal_context(key),
                },
            )
            if result == ac.PermissionResult.DENIED:
                return (
                    f"User: {key.arn} is not authorized to perform: iam:PassRole on resource:"
                    f" {role_arn} with an explicit deny in an identity-based policy"
                )
            if result == ac.PermissionResult.PERMITTED:
                allowed = True
        if allowed:
            return None
        return (
            f"User: {key.arn} is not authorized to perform: iam:PassRole on resource: {role_arn}"
            " because no identity-based policy allows the iam:PassRole action"
        )

    start_job_run_response = responses.EMRServerlessResponse.start_job_run

    def _start_job_run_response(self):
        role = self._get_param("executionRoleArn") or ""
        refused = may_pass_role(role)
        if refused:
            raise rest_json_access_denied(refused)
        host = self.headers.get("Host") or "127.0.0.1"
        self.emrserverless_backend._pinctl_endpoint = f"http://{host}"
        return start_job_run_response(self)

    responses.EMRServerlessResponse.start_job_run = _start_job_run_response

    start_job_run = backend_cls.start_job_run

    def _start_job_run(self, application_id, client_token, execution_role_arn, *a, **k):
        if client_token:
            for run in self.job_runs.get(application_id, []):
                if run.client_token == client_token:
                    return run
        app = self.get_application(application_id)
        if app.state in ("CREATING", "TERMINATED"):
            raise ValidationException(
                f"Application {application_id} is in {app.state} state. Cannot start job run."
            )
        run = start_job_run(self, application_id, client_token, execution_role_arn, *a, **k)
        run.state = "SUBMITTED"
        run.state_details = ""
        # Auto-start (on unless the application turned it off).
        auto = app.auto_start_configuration or {}
        if app.state in ("CREATED", "STOPPED") and auto.get("enabled", True):
            move(app, "STARTING", "STARTED")
        endpoint = getattr(self, "_pinctl_endpoint", "http://127.0.0.1:5000")
        threading.Thread(
            target=execute, args=(self, app, run, endpoint), daemon=True, name=f"emr-{run.id}"
        ).start()
        return run

    backend_cls.start_job_run = _start_job_run

    cancel_job_run = backend_cls.cancel_job_run

    def _cancel_job_run(self, application_id, job_run_id):
        run = self.get_job_run(application_id, job_run_id)
        if run.state in done_states:
            raise ValidationException(f"Job run {job_run_id} is in {run.state} state and cannot be cancelled.")
        answer = cancel_job_run(self, application_id, job_run_id)
        run.state = "CANCELLING"
        with lock:
            proc = live_runs.get(run.id)
        if proc is not None:
            proc.terminate()
        else:
            later(step, lambda: setattr(run, "state", "CANCELLED"))
        return answer

    backend_cls.cancel_job_run = _cancel_job_run

    # ListJobRuns of an application with no runs yet: an empty list (moto: ResourceNotFound,
    # which the API Reference does not list among ListJobRuns' errors).
    list_job_runs = backend_cls.list_job_runs

    def _list_job_runs(self, application_id, *a, **k):
        self.get_application(application_id)
        self.job_runs.setdefault(application_id, [])
        return list_job_runs(self, application_id, *a, **k)

    backend_cls.list_job_runs = _list_job_runs

    # The service model's rules, checked first (outermost), as AWS validates a request before
    # it authorizes what it asks (StartJobRun's iam:PassRole).
    _model_rules("emr-serverless", responses.EMRServerlessResponse, ValidationException)

    def set_state(run, state, details=""):
        if run.state in ("CANCELLING", "CANCELLED") and state != "CANCELLED":
            return False
        run.state = state
        run.state_details = details
        run.updated_at = emr.utcnow()
        return True

    def assume(backend, role_arn):
        """The job role's temporary credentials, as EMR Serverless assumes it, or why not."""
        from moto.iam.models import iam_backends
        from moto.sts.models import sts_backends

        account = role_arn.split(":")[4] if role_arn.count(":") >= 5 else backend.account_id
        name = role_arn.rsplit("/", 1)[-1]
        try:
            role = iam_backends[account]["global"].get_role(name)
        except Exception:
            return None, f"The execution role {role_arn} does not exist."
        trust = role.assume_role_policy_document
        if isinstance(trust, str):
            try:
                trust = json.loads(trust)
            except ValueError:
                trust = {}
        trusted = False
        for st in (trust or {}).get("Statement", []):
            services = (st.get("Principal") or {}).get("Service", []) if isinstance(st.get("Principal"), dict) else []
            services = [services] if isinstance(services, str) else services
            if st.get("Effect") == "Allow" and "emr-serverless.amazonaws.com" in services:
                trusted = True
        if not trusted:
            return None, (
                f"EMR Serverless could not assume the execution role {role_arn}: its trust policy"
                " does not allow emr-serverless.amazonaws.com to call sts:AssumeRole"
            )
        assumed = sts_backends[account]["global"].assume_role(
            region_name=backend.region_name,
            role_session_name=f"emr-serverless-{backend.account_id}",
            role_arn=role_arn,
            policy=None,
            duration=3600,
            external_id=None,
        )
        return assumed, None

    def cache_dir(*parts):
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(base, "pinctl", *parts)

    def installed(jar):
        """The newest `~/.cache/pinctl/spark/*/jars` directory holding `jar` (a glob), or ""."""
        found = sorted(glob.glob(cache_dir("spark", "*", "jars", jar)), key=os.path.getmtime)
        return os.path.dirname(found[-1]) if found else ""

    def execute(backend, app, run, endpoint):
        """Runs the job run's sparkSubmit driver with local Spark; ends it SUCCESS or FAILED."""
        started = time.monotonic()
        try:
            time.sleep(step / 2)
            set_state(run, "PENDING")
            # SCHEDULED once the application is STARTED (auto-start takes a step).
            deadline = time.monotonic() + 60 * step + 30
            while app.state != "STARTED":
                if run.state in ("CANCELLING", "CANCELLED") or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            if app.state != "STARTED":
                set_state(run, "FAILED", f"Application {app.id} did not start (state {app.state}).")
                return
            if not set_state(run, "SCHEDULED"):
                set_state(run, "CANCELLED")
                return
            driver = (run.job_driver or {}).get("sparkSubmit")
            if not driver:
                set_state(run, "FAILED", "Only sparkSubmit job drivers run on the twin.")
                return
            creds, why = assume(backend, run.execution_role_arn)
            if why:
                set_state(run, "FAILED", why)
                return
            entry = driver.get("entryPoint", "")
            work = tempfile.mkdtemp(prefix=f"emr-{run.id}-")
            env = dict(os.environ)
            for k in list(env):
                if k.startswith("AWS_") or k.startswith("PYSPARK") or k == "SPARK_HOME":
                    env.pop(k)
            env.update(
                AWS_ACCESS_KEY_ID=creds.access_key_id,
                AWS_SECRET_ACCESS_KEY=creds.secret_access_key,
                AWS_SESSION_TOKEN=creds.session_token,
                AWS_ENDPOINT_URL=endpoint,
                AWS_REGION=backend.region_name,
                AWS_DEFAULT_REGION=backend.region_name,
            )
            env.pop("PYTHONPATH", None)
            # The venv's pyspark, and its Python for the driver and the workers.
            import importlib.util

            spec = importlib.util.find_spec("pyspark")
            if spec is None or not spec.origin:
                set_state(run, "FAILED", "pyspark is not installed in moto's venv (scripts/setup.sh)")
                return
            env["SPARK_HOME"] = os.path.dirname(spec.origin)
            env["PYSPARK_PYTHON"] = sys.executable
            env["PYSPARK_DRIVER_PYTHON"] = sys.executable
            env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
            script = entry
            if entry.startswith("s3://"):
                import boto3

                bucket, _, key = entry[len("s3://"):].partition("/")
                s3 = boto3.client(
                    "s3",
                    endpoint_url=endpoint,
                    region_name=backend.region_name,
                    aws_access_key_id=creds.access_key_id,
                    aws_secret_access_key=creds.secret_access_key,
                    aws_session_token=creds.session_token,
                )
                script = os.path.join(work, os.path.basename(key) or "entry.py")
                try:
                    s3.download_file(bucket, key, script)
                except Exception as e:  # the job role cannot read it, or it is not there
                    set_state(run, "FAILED", f"Reading the entry point {entry}: {e}")
                    return
            # scripts/setup.sh exports both; else what it installed under ~/.cache/pinctl/spark.
            delta = os.environ.get("PINCTL_SPARK_JARS") or installed("delta-spark_*.jar")
            s3a = os.environ.get("PINCTL_S3A_JARS") or installed("hadoop-aws-*.jar")
            image = {
                "/usr/share/aws/delta/lib/delta-spark.jar": glob.glob(os.path.join(delta, "delta-spark_*.jar")),
                "/usr/share/aws/delta/lib/delta-storage.jar": glob.glob(os.path.join(delta, "delta-storage-*.jar")),
            }
            params = driver.get("sparkSubmitParameters") or ""
            for path, found in image.items():
                if path in params:
                    if not found:
                        set_state(run, "FAILED", f"{path}: Delta Lake's jars are not installed (scripts/setup.sh)")
                        return
                    params = params.replace(path, found[0])
            s3a_jars = sorted(glob.glob(os.path.join(s3a, "*.jar")))
            if not s3a_jars:
                set_state(run, "FAILED", f"S3A's jars are not installed in {s3a} (scripts/setup.sh)")
                return
            submit = os.path.join(os.path.dirname(sys.executable), "spark-submit")
            master = os.environ.get("PINCTL_EMR_MASTER", "local[2]")
            cmd = [
                submit, "--master", master,
                "--driver-memory", os.environ.get("PINCTL_EMR_DRIVER_MEMORY", "1g"),
                "--driver-class-path", ":".join(s3a_jars),
                # EMRFS's s3:// is S3A here, as the job role, on this moto.
                "--conf", "spark.hadoop.fs.s3.impl=org.apache.hadoop.fs.s3a.S3AFileSystem",
                "--conf", f"spark.hadoop.fs.s3a.endpoint={endpoint}",
                "--conf", "spark.hadoop.fs.s3a.path.style.access=true",
                "--conf", "spark.hadoop.fs.s3a.connection.ssl.enabled=false",
                "--conf", "spark.hadoop.fs.s3a.aws.credentials.provider=org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider",
                "--conf", f"spark.hadoop.fs.s3a.access.key={creds.access_key_id}",
                "--conf", f"spark.hadoop.fs.s3a.secret.key={creds.secret_access_key}",
                "--conf", f"spark.hadoop.fs.s3a.session.token={creds.session_token}",
                "--conf", "spark.ui.enabled=false",
                *shlex.split(params),
                script,
                *driver.get("entryPointArguments", []),
            ]
            log_path = os.path.join(work, "driver.log")
            with open(log_path, "wb") as log:
                if not set_state(run, "RUNNING"):
                    set_state(run, "CANCELLED")
                    return
                proc = subprocess.Popen(cmd, env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT)
                with lock:
                    live_runs[run.id] = proc
                print(f"pinctl emr-serverless: job run {run.id} running (log {log_path})", file=sys.stderr, flush=True)
                # "If the job run runs beyond this duration, it will be automatically cancelled"
                # (StartJobRun `executionTimeoutMinutes`); "The default timeout is 12 hours"
                # (User Guide, "Running jobs from the AWS CLI").
                limit = int(run.execution_timeout_minutes or 720)
                timed_out = False
                try:
                    code = proc.wait(timeout=limit * 60)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    run.state = "CANCELLING"
                    proc.terminate()
                    try:
                        code = proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        code = proc.wait()
                with lock:
                    live_runs.pop(run.id, None)
            if timed_out:
                set_state(run, "CANCELLED", f"Job run timed out after {limit} minutes (executionTimeoutMinutes).")
            elif run.state == "CANCELLING":
                set_state(run, "CANCELLED", "Job run was cancelled.")
            elif code == 0:
                set_state(run, "SUCCESS")
            else:
                with open(log_path, "rb") as f:
                    tail = f.read()[-1500:].decode("utf-8", "replace")
                set_state(run, "FAILED", f"Job failed, exit code {code} (driver log {log_path}): {tail}")
            print(f"pinctl emr-serverless: job run {run.id} {run.state}", file=sys.stderr, flush=True)
        except Exception as e:  # the run ends, whatever broke
            set_state(run, "FAILED", f"The twin could not run the job: {e}")
        finally:
            seconds = int(time.monotonic() - started)
            run.total_execution_duration_seconds = seconds


# ---- the caller of the request being served ------------------------------------------------
# moto's IAM check (which runs before the operation, on the same thread) knows the caller's
# access key; the corrections that authorize more than moto does (StartJobRun's iam:PassRole,
# DeleteObjects per key) read it from here. `key` is None when IAM is not enforced or the
# request was not checked; each correction clears it before the request it serves.
_CALLER = None


def _request_caller():
    """The thread-local whose `key` is the access key moto's IAM check last saw on this thread."""
    global _CALLER
    if _CALLER is None:
        import threading

        from moto.iam import access_control as ac

        _CALLER = threading.local()
        check_action_permitted = ac.IAMRequestBase.check_action_permitted

        def _check_action_permitted(self, resource):
            _CALLER.key = getattr(self, "_access_key", None)
            return check_action_permitted(self, resource)

        ac.IAMRequestBase.check_action_permitted = _check_action_permitted
    return _CALLER


# ---- S3 DeleteObjects under IAM ------------------------------------------------------------
# DeleteObjects is authorized object by object: "you must have s3:DeleteObject permission on
# each object" and each refused key is an <Error> with AccessDenied in a 200 answer (S3 API
# Reference, DeleteObjects). moto checks s3:DeleteObject on the bucket's ARN, which a policy
# granting it on `bucket/*` does not match, and falls back to refusing every key only for its own
# bucket-level refusal; with the refusals of _iam_enforcement above the whole request was a 403.
# S3A (the twin's EMR Serverless job runs) deletes its directory markers this way.


def _delete_objects_per_key():
    import threading

    import xmltodict
    from moto.core.responses import ActionResult
    from moto.iam import access_control as ac
    from moto.s3.exceptions import BucketAccessDeniedError, S3AccessDeniedError
    from moto.s3.responses import S3Response

    caller = _request_caller()
    post = S3Response._bucket_response_post

    def _post(self, request, bucket_name):
        self.path = self._get_path(request)  # what is_delete_keys reads (moto sets it first too)
        if not self.is_delete_keys():
            return post(self, request, bucket_name)
        caller.key = None
        try:
            return post(self, request, bucket_name)
        except (S3AccessDeniedError, BucketAccessDeniedError):
            key = getattr(caller, "key", None)
            if key is None:
                raise
        objects = xmltodict.parse(self.body, strip_whitespace=False)["Delete"].get("Object", [])
        if not isinstance(objects, list):
            objects = [objects]
        allowed, errors = [], []
        for obj in objects:
            arn = f"arn:aws:s3:::{bucket_name}/{obj['Key']}"
            results = [
                ac.IAMPolicy(policy).is_action_permitted("s3:DeleteObject", arn)
                for policy in key.collect_policies()
            ]
            if ac.PermissionResult.DENIED in results or ac.PermissionResult.PERMITTED not in results:
                errors.append({"Key": obj["Key"], "Code": "AccessDenied", "Message": "Access Denied"})
            else:
                allowed.append(obj)
        deleted, errored = self.backend.delete_objects(bucket_name, allowed, False) if allowed else ([], [])
        errors += [{"Key": k, "Code": "AccessDenied", "Message": "Access Denied"} for k in errored]
        self.data["Action"] = "DeleteObjects"
        return self.serialized(
            ActionResult(
                {
                    "Deleted": [
                        {"Key": k, "VersionId": v or None, "DeleteMarkerVersionId": dv or None,
                         "DeleteMarker": True if dv else None}
                        for k, v, dv in deleted
                    ],
                    "Errors": errors,
                }
            )
        )

    S3Response._bucket_response_post = _post

if os.path.basename(sys.argv[0] if sys.argv else "") == "moto_server":
    _apply()
    _in_use()
    _msk_iam()
    _accounts()
    _quotas()
    _ssm_instance_information()
    _bucket_defaults()
    _stream_tags_at_creation()
    _emr_serverless()
    _delete_objects_per_key()
    _delay = float(os.environ.get("PINCTL_PROPAGATION_DELAY", "0") or 0)
    _vpc_links(_delay)
    _models()
    if _delay > 0:
        _propagation(_delay)
    # Then the client tokens, and last the fault middleware, which wraps every other WSGI entry
    # above: the request of an answer it loses is remembered with its token.
    _client_tokens()
    _faults(_fault_rate(os.environ.get("PINCTL_MOTO_FAULT_RATE")))
