package pinctl.twin.msk;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Collectors;
import org.apache.kafka.common.Endpoint;
import org.apache.kafka.common.acl.AclBinding;
import org.apache.kafka.common.acl.AclBindingFilter;
import org.apache.kafka.common.acl.AclOperation;
import org.apache.kafka.common.errors.SecurityDisabledException;
import org.apache.kafka.common.resource.ResourceType;
import org.apache.kafka.server.authorizer.AclCreateResult;
import org.apache.kafka.server.authorizer.AclDeleteResult;
import org.apache.kafka.server.authorizer.Action;
import org.apache.kafka.server.authorizer.AuthorizableRequestContext;
import org.apache.kafka.server.authorizer.AuthorizationResult;
import org.apache.kafka.server.authorizer.Authorizer;
import org.apache.kafka.server.authorizer.AuthorizerServerInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * MSK IAM's authorization: every request a client authenticated with IAM makes is allowed only
 * when the principal's IAM policies allow the {@code kafka-cluster:*} action MSK maps the Kafka
 * operation to, on the resource's ARN (MSK Developer Guide, "Semantics of IAM authorization
 * policy actions and resources": https://docs.aws.amazon.com/msk/latest/developerguide/kafka-actions.html).
 * MSK has no implied operations (Kafka's ACLs let WRITE imply DESCRIBE; MSK's policies list
 * DescribeTopic beside WriteData), and nothing here implies one either.
 *
 * <p>Whose requests are IAM's is told by the principal, not the listener: a principal that
 * authenticated with MSK IAM is named by its IAM ARN ({@link IamCallbackHandler}), and KRaft
 * forwards some of its requests (CreateTopics, CreatePartitions, AlterConfigs, ...) to the
 * controller, where they arrive on the controller's listener with the client's principal.
 *
 * <p>The control principal ({@code pinctl.msk.control.user}, authenticated with SASL/PLAIN on
 * the internal and controller listeners: the broker itself and the emulator's topic API, MSK's
 * control plane) is allowed everything. Every other principal is ANONYMOUS on MSK's PLAINTEXT
 * port, which MSK admits only on clusters with unauthenticated access and without IAM ("IAM
 * access control": with IAM on, {@code allow.everyone.if.no.acl.found} has no effect and this
 * broker keeps no ACLs); the authority says whether such a cluster exists.
 *
 * <p>Verdicts are cached for {@link #TTL_MS}: IAM changes reach MSK within seconds, not per
 * request. Configured as {@code authorizer.class.name}.
 */
public class IamAuthorizer implements Authorizer {
    private static final Logger LOG = LoggerFactory.getLogger(IamAuthorizer.class);
    static final long TTL_MS = 5_000;
    static final String CONTROL_USER = "pinctl.msk.control.user";
    private Authority authority;
    private String controlUser;
    private final Map<String, Verdict> cache = new ConcurrentHashMap<>();

    private record Verdict(boolean allowed, long until) {}

    @Override
    public void configure(Map<String, ?> configs) {
        authority = Authority.from(configs);
        Object user = configs.get(CONTROL_USER);
        if (user == null || user.toString().isEmpty()) {
            throw new IllegalArgumentException(CONTROL_USER + " is not set: the broker needs its control principal");
        }
        controlUser = user.toString();
    }

    /** Whether the request's principal is the control principal (SASL/PLAIN, the twin's secret). */
    boolean isControl(AuthorizableRequestContext context) {
        return context.principal().getPrincipalType().equals("User")
                && context.principal().getName().equals(controlUser);
    }

    /** Whether PLAINTEXT's ANONYMOUS may act: asked of the authority, cached for {@link #TTL_MS}. */
    boolean anonymousAllowed(boolean log) {
        long now = System.currentTimeMillis();
        Verdict v = cache.get("ANONYMOUS");
        if (v != null && v.until() > now) {
            return v.allowed();
        }
        boolean allowed = false;
        String why = "the authority did not answer";
        try {
            Authority.Answer a = authority.call("anonymous", Map.of());
            if (a.status() == 200) {
                allowed = a.body().path("allowed").asBoolean(false);
                why = a.message();
                cache.put("ANONYMOUS", new Verdict(allowed, now + TTL_MS));
            } else {
                why = a.status() + " " + a.message();
            }
        } catch (IOException e) {
            why = e.toString();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (!allowed && log) {
            LOG.info("MSK denied an unauthenticated PLAINTEXT client: {}", why);
        }
        return allowed;
    }

    /** Whether the request's principal authenticated with MSK IAM (its name is an IAM ARN). */
    static boolean isIam(AuthorizableRequestContext context) {
        return context.principal().getName().startsWith("arn:");
    }

    @Override
    public Map<Endpoint, ? extends CompletionStage<Void>> start(AuthorizerServerInfo info) {
        Map<Endpoint, CompletableFuture<Void>> ready = new HashMap<>();
        for (Endpoint e : info.endpoints()) {
            ready.put(e, CompletableFuture.completedFuture(null));
        }
        return ready;
    }

    /**
     * The {@code kafka-cluster:*} action for a Kafka operation on a resource type, and the MSK
     * resource type it is checked on; null when MSK grants it to no IAM principal.
     */
    static String[] action(AclOperation op, ResourceType type) {
        String a = switch (type) {
            case CLUSTER -> switch (op) {
                case DESCRIBE -> "DescribeCluster";
                case ALTER -> "AlterCluster";
                case DESCRIBE_CONFIGS -> "DescribeClusterDynamicConfiguration";
                case ALTER_CONFIGS -> "AlterClusterDynamicConfiguration";
                case IDEMPOTENT_WRITE -> "WriteDataIdempotently";
                // CREATE on the cluster is MSK's CreateTopic on every topic (checked below).
                case CREATE -> "CreateTopic";
                default -> null;
            };
            case TOPIC -> switch (op) {
                case CREATE -> "CreateTopic";
                case DESCRIBE -> "DescribeTopic";
                case ALTER -> "AlterTopic";
                case DELETE -> "DeleteTopic";
                case DESCRIBE_CONFIGS -> "DescribeTopicDynamicConfiguration";
                case ALTER_CONFIGS -> "AlterTopicDynamicConfiguration";
                case READ -> "ReadData";
                case WRITE -> "WriteData";
                default -> null;
            };
            case GROUP -> switch (op) {
                case DESCRIBE -> "DescribeGroup";
                case READ -> "AlterGroup";
                case DELETE -> "DeleteGroup";
                default -> null;
            };
            case TRANSACTIONAL_ID -> switch (op) {
                case DESCRIBE -> "DescribeTransactionalState";
                case WRITE -> "AlterTransactionalState";
                default -> null;
            };
            default -> null;
        };
        if (a == null) {
            return null;
        }
        String resource = switch (type) {
            case CLUSTER -> op == AclOperation.CREATE ? "topic" : "cluster";
            case TOPIC -> "topic";
            case GROUP -> "group";
            default -> "transactional-id";
        };
        return new String[] {"kafka-cluster:" + a, resource};
    }

    @Override
    public List<AuthorizationResult> authorize(AuthorizableRequestContext context, List<Action> actions) {
        if (isControl(context)) {
            return actions.stream().map(a -> AuthorizationResult.ALLOWED).collect(Collectors.toList());
        }
        if (!isIam(context)) {
            boolean log = actions.stream().anyMatch(Action::logIfDenied);
            AuthorizationResult r = anonymousAllowed(log) ? AuthorizationResult.ALLOWED : AuthorizationResult.DENIED;
            return actions.stream().map(a -> r).collect(Collectors.toList());
        }
        String principal = context.principal().getName();
        long now = System.currentTimeMillis();
        AuthorizationResult[] results = new AuthorizationResult[actions.size()];
        List<Map<String, String>> checks = new ArrayList<>();
        List<Integer> asked = new ArrayList<>();
        List<String> keys = new ArrayList<>();
        for (int i = 0; i < actions.size(); i++) {
            Action action = actions.get(i);
            String[] mapped = action(action.operation(), action.resourcePattern().resourceType());
            if (mapped == null) {
                results[i] = AuthorizationResult.DENIED;
                continue;
            }
            String name = action.resourcePattern().resourceType() == ResourceType.CLUSTER
                    ? (mapped[1].equals("topic") ? "*" : "")
                    : action.resourcePattern().name();
            String key = principal + "|" + mapped[0] + "|" + mapped[1] + "|" + name;
            Verdict v = cache.get(key);
            if (v != null && v.until() > now) {
                results[i] = v.allowed() ? AuthorizationResult.ALLOWED : AuthorizationResult.DENIED;
                continue;
            }
            checks.add(Map.of("action", mapped[0], "resource_type", mapped[1], "name", name));
            asked.add(i);
            keys.add(key);
        }
        if (!checks.isEmpty()) {
            JsonNode answer = ask(principal, checks);
            for (int j = 0; j < asked.size(); j++) {
                JsonNode r = answer == null ? null : answer.path("results").get(j);
                boolean allowed = r != null && r.path("allowed").asBoolean(false);
                if (r != null) {
                    cache.put(keys.get(j), new Verdict(allowed, now + TTL_MS));
                }
                if (!allowed && actions.get(asked.get(j)).logIfDenied()) {
                    LOG.info("MSK IAM denied: {}", r == null ? "the authority did not answer" : r.path("message").asText());
                }
                results[asked.get(j)] = allowed ? AuthorizationResult.ALLOWED : AuthorizationResult.DENIED;
            }
        }
        return List.of(results);
    }

    private JsonNode ask(String principal, List<Map<String, String>> checks) {
        try {
            Authority.Answer a = authority.call("authorize", Map.of("principal", principal, "checks", checks));
            if (a.status() == 200) {
                return a.body();
            }
            LOG.warn("MSK IAM authorization failed: {} {}", a.status(), a.message());
        } catch (IOException e) {
            LOG.warn("MSK IAM authorization failed: {}", e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return null;
    }

    /** MSK answers "any topic this principal may WRITE" with no: idempotent producers need WriteDataIdempotently. */
    @Override
    public AuthorizationResult authorizeByResourceType(
            AuthorizableRequestContext context, AclOperation op, ResourceType type) {
        if (isControl(context)) {
            return AuthorizationResult.ALLOWED;
        }
        if (isIam(context)) {
            return AuthorizationResult.DENIED;
        }
        return anonymousAllowed(false) ? AuthorizationResult.ALLOWED : AuthorizationResult.DENIED;
    }

    @Override
    public List<? extends CompletionStage<AclCreateResult>> createAcls(
            AuthorizableRequestContext context, List<AclBinding> bindings) {
        return bindings.stream()
                .map(b -> CompletableFuture.completedFuture(new AclCreateResult(
                        new SecurityDisabledException("MSK IAM clusters are authorized by IAM policies, not ACLs"))))
                .collect(Collectors.toList());
    }

    @Override
    public List<? extends CompletionStage<AclDeleteResult>> deleteAcls(
            AuthorizableRequestContext context, List<AclBindingFilter> filters) {
        return filters.stream()
                .map(f -> CompletableFuture.completedFuture(new AclDeleteResult(
                        new SecurityDisabledException("MSK IAM clusters are authorized by IAM policies, not ACLs"))))
                .collect(Collectors.toList());
    }

    @Override
    public Iterable<AclBinding> acls(AclBindingFilter filter) {
        return List.of();
    }

    @Override
    public void close() {}
}
