package pinctl.twin.msk;

import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Set;
import javax.security.auth.callback.Callback;
import javax.security.auth.callback.UnsupportedCallbackException;
import javax.security.auth.login.AppConfigurationEntry;
import org.apache.kafka.common.security.auth.AuthenticateCallbackHandler;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerExtensionsValidatorCallback;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerToken;
import org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallback;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The broker side of MSK IAM's SASL/OAUTHBEARER: validates each client's token as MSK does — a
 * SigV4-presigned {@code kafka-cluster:Connect} request for {@code kafka.<region>.amazonaws.com}
 * (what the official signers, e.g. aws-msk-iam-sasl-signer-python, make), signed by credentials
 * the twin knows, not expired, for the broker's region, whose principal may
 * {@code kafka-cluster:Connect} to the cluster. The checks are the authority's; this class is the
 * broker's end of them. The token's principal becomes the session's Kafka principal
 * ({@code User:<IAM ARN>}), which {@link IamAuthorizer} authorizes request by request.
 *
 * <p>Configured as {@code listener.name.<iam>.oauthbearer.sasl.server.callback.handler.class}.
 */
public class IamCallbackHandler implements AuthenticateCallbackHandler {
    private static final Logger LOG = LoggerFactory.getLogger(IamCallbackHandler.class);
    private Authority authority;

    @Override
    public void configure(Map<String, ?> configs, String mechanism, List<AppConfigurationEntry> entries) {
        if (!"OAUTHBEARER".equals(mechanism)) {
            throw new IllegalArgumentException("MSK IAM is SASL/OAUTHBEARER, not " + mechanism);
        }
        authority = Authority.from(configs);
    }

    @Override
    public void handle(Callback[] callbacks) throws IOException, UnsupportedCallbackException {
        for (Callback callback : callbacks) {
            if (callback instanceof OAuthBearerValidatorCallback validator) {
                validate(validator);
            } else if (callback instanceof OAuthBearerExtensionsValidatorCallback extensions) {
                // MSK's signers send no SASL extensions; any sent are accepted as they are.
                extensions.inputExtensions().map().keySet().forEach(extensions::valid);
            } else {
                throw new UnsupportedCallbackException(callback);
            }
        }
    }

    private void validate(OAuthBearerValidatorCallback callback) throws IOException {
        String token = callback.tokenValue();
        Authority.Answer answer;
        try {
            answer = authority.call("authenticate", Map.of("token", token));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while checking an MSK IAM token", e);
        }
        if (answer.status() != 200) {
            LOG.info("MSK IAM authentication refused: {}", answer.message());
            // The reason rides in the status, so the client's error says why (MSK says less).
            callback.error("invalid_token: " + answer.message(), null, null);
            return;
        }
        String principal = answer.body().path("principal").asText();
        long expires = answer.body().path("expires_ms").asLong();
        long now = System.currentTimeMillis();
        LOG.info("MSK IAM authenticated {} (token valid until {})", principal, expires);
        callback.token(new Token(token, principal, now, expires));
    }

    @Override
    public void close() {}

    /** A validated token: its principal and lifetime. */
    record Token(String value, String principalName, Long startTimeMs, long lifetimeMs)
            implements OAuthBearerToken {
        @Override
        public Set<String> scope() {
            return Set.of();
        }
    }
}
