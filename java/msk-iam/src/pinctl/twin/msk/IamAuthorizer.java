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
 * controller, where they arrive on the controller's listener with the client's principal. Other
 * principals (ANONYMOUS on PLAINTEXT, which MSK opens only without client authentication, and
 * the broker itself) are not IAM's to judge and are allowed.
 *
 * <p>Verdicts are cached for {@link #TTL_MS}: IAM changes reach MSK within seconds, not per
 * request. Configured as {@code authorizer.class.name}.
 */
public class IamAuthorizer implements Authorizer {
    private static final Logger LOG = LoggerFactory.getLogger(IamAuthorizer.class);
    static final long TTL_MS = 5_000;
    private Authority authority;
    private final Map<String, Verdict> cache = new ConcurrentHashMap<>();

    private record Verdict(boolean allowed, long until) {}

    @Override
    public void configure(Map<String, ?> configs) {
        authority = Authority.from(configs);
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
        if (!isIam(context)) {
            return actions.stream().map(a -> AuthorizationResult.ALLOWED).collect(Collectors.toList());
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
        return isIam(context)
                ? AuthorizationResult.DENIED
                : AuthorizationResult.ALLOWED;
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
