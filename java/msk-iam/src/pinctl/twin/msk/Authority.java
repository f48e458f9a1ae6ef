package pinctl.twin.msk;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.Map;

/**
 * The twin's MSK IAM authority: the emulator's {@code /_pinctl/msk-iam/{authenticate,authorize}}
 * endpoints (src/local/emulator/msk_iam.rs), which check tokens and policies with moto, where the
 * twin's credentials and IAM policies live. Its URL is the broker setting
 * {@code pinctl.msk.iam.authority} (e.g. {@code http://127.0.0.1:4510}).
 */
final class Authority {
    static final String CONFIG = "pinctl.msk.iam.authority";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http =
            HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final String base;

    Authority(String base) {
        this.base = base.endsWith("/") ? base.substring(0, base.length() - 1) : base;
    }

    /** The authority named in the broker's settings. */
    static Authority from(Map<String, ?> configs) {
        Object url = configs.get(CONFIG);
        if (url == null || url.toString().isEmpty()) {
            throw new IllegalArgumentException(CONFIG + " is not set: the broker needs the emulator's URL");
        }
        return new Authority(url.toString());
    }

    /** An answer: the HTTP status and its JSON body. */
    record Answer(int status, JsonNode body) {
        String message() {
            JsonNode m = body.get("message");
            return m == null ? body.toString() : m.asText();
        }
    }

    /** POSTs {@code body} as JSON to {@code /_pinctl/msk-iam/{op}}. */
    Answer call(String op, Object body) throws IOException, InterruptedException {
        HttpRequest request = HttpRequest.newBuilder(URI.create(base + "/_pinctl/msk-iam/" + op))
                .timeout(Duration.ofSeconds(30))
                .header("content-type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body)))
                .build();
        HttpResponse<byte[]> response = http.send(request, HttpResponse.BodyHandlers.ofByteArray());
        byte[] bytes = response.body();
        JsonNode node = bytes.length == 0 ? JSON.createObjectNode() : JSON.readTree(bytes);
        return new Answer(response.statusCode(), node);
    }
}
