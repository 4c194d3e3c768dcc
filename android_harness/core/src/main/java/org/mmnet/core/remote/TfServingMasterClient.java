package org.mmnet.core.remote;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonPrimitive;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.SocketTimeoutException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import org.mmnet.core.BundleException;
import org.mmnet.core.ConfigException;
import org.mmnet.core.DataException;
import org.mmnet.core.JsonNode;
import org.mmnet.core.RuntimeConfig;
import org.mmnet.core.runtime.Clock;
import org.mmnet.core.runtime.Frame;
import org.mmnet.core.runtime.MasterClient;
import org.mmnet.core.runtime.MasterException;
import org.mmnet.core.runtime.MasterReply;

/**
 * The master behind a TF Serving REST endpoint {@code {base}/v1/models/{name}}, the protocol of
 * Python {@code mobile_runtime/remote.py} and {@code mmnet serve}: {@code POST ...:predict} with
 * {@code {"instances": [{"b64": "<PNG>"}]}} (a JPEG at the runtime config's quality with
 * {@link Options#upload}, or the raw H×W×C lists), reply
 * {@code {"predictions": [[p0, ..., pC-1]]}}. Unreachable, timed-out and 5xx requests are retried
 * with exponential back-off; every failure ends in a MasterException of the matching kind.
 * Uses java.util.Base64 (Android API 26+). Not thread-safe in spirit: one client per runtime.
 */
public final class TfServingMasterClient implements MasterClient {
    private static final int MAX_ERROR_TEXT = 300;

    private final String modelUrl;
    private final String token;
    private final int timeoutMs;
    private final int retries;
    private final double backoffS;
    private final String encoding;
    private final int jpegQuality;
    private final JpegEncoder jpegEncoder;
    private final Clock clock;
    private Integer numClasses;

    /** Client settings; defaults as the Python client's (timeout 2 s, 2 retries, 0.05 s back-off, PNG). */
    public static final class Options {
        private final String baseUrl;
        private final String modelName;
        private String token;
        private double timeoutS = 2.0;
        private int retries = 2;
        private double backoffS = 0.05;
        private String encoding = "png";
        private Integer jpegQuality;
        private JpegEncoder jpegEncoder;
        private Integer numClasses;
        private Clock clock = Clock.SYSTEM;

        private Options(String baseUrl, String modelName) {
            this.baseUrl = baseUrl;
            this.modelName = modelName;
        }

        /** Bearer token, or null. */
        public Options token(String value) {
            token = value;
            return this;
        }

        public Options timeoutS(double value) {
            timeoutS = value;
            return this;
        }

        public Options retries(int value) {
            retries = value;
            return this;
        }

        public Options backoffS(double value) {
            backoffS = value;
            return this;
        }

        /** "png", "jpeg" (needs {@link #jpegQuality} and {@link #jpegEncoder}) or "raw". */
        public Options encoding(String value) {
            encoding = value;
            return this;
        }

        /** The JPEG quality, 1-95; only with encoding "jpeg". */
        public Options jpegQuality(Integer value) {
            jpegQuality = value;
            return this;
        }

        /** The JPEG encoder for encoding "jpeg" (Android has no javax.imageio: the app brings one). */
        public Options jpegEncoder(JpegEncoder value) {
            jpegEncoder = value;
            return this;
        }

        /**
         * The frame travels as the runtime config's {@code upload} costed it: its encoding and, for
         * "jpeg", its quality.
         */
        public Options upload(RuntimeConfig.Upload upload) {
            if (upload == null) {
                throw new ConfigException("TfServingMasterClient upload is null; expected the runtime config's upload");
            }
            encoding = upload.encoding;
            jpegQuality = upload.jpegQuality;
            return this;
        }

        /** The expected row length; null: fixed by the first valid reply. */
        public Options numClasses(Integer value) {
            numClasses = value;
            return this;
        }

        /** The clock timing each attempt's round trip. */
        public Options clock(Clock value) {
            clock = value;
            return this;
        }

        public TfServingMasterClient build() {
            return new TfServingMasterClient(this);
        }
    }

    public static Options options(String baseUrl, String modelName) {
        return new Options(baseUrl, modelName);
    }

    private TfServingMasterClient(Options o) {
        if (o.baseUrl == null || !(o.baseUrl.startsWith("http://") || o.baseUrl.startsWith("https://"))) {
            throw new ConfigException("TfServingMasterClient base URL is '" + o.baseUrl + "'; expected an http(s):// URL");
        }
        if (o.modelName == null || o.modelName.isEmpty() || o.modelName.contains("/")) {
            throw new ConfigException("TfServingMasterClient model name is '" + o.modelName + "'; expected a model name without '/'");
        }
        if (o.token != null && o.token.trim().isEmpty()) {
            throw new ConfigException("TfServingMasterClient token is empty; expected a non-empty string or null");
        }
        if (!(o.timeoutS > 0) || Double.isInfinite(o.timeoutS)) {
            throw new ConfigException("TfServingMasterClient timeout_s is " + o.timeoutS + "; expected a finite number > 0");
        }
        if (!(o.backoffS >= 0) || Double.isInfinite(o.backoffS)) {
            throw new ConfigException("TfServingMasterClient backoff_s is " + o.backoffS + "; expected a finite number >= 0");
        }
        if (o.retries < 0 || o.retries > 10) {
            throw new ConfigException("TfServingMasterClient retries is " + o.retries + "; expected an int 0..10");
        }
        if (!"png".equals(o.encoding) && !"jpeg".equals(o.encoding) && !"raw".equals(o.encoding)) {
            throw new ConfigException("TfServingMasterClient encoding is '" + o.encoding + "'; expected 'png', 'jpeg' or 'raw'");
        }
        boolean jpeg = "jpeg".equals(o.encoding);
        if (jpeg != (o.jpegQuality != null)) {
            throw new ConfigException("TfServingMasterClient jpeg_quality is " + o.jpegQuality + " with encoding '" + o.encoding
                    + "'; expected a quality exactly when the encoding is 'jpeg'");
        }
        if (jpeg && (o.jpegQuality < 1 || o.jpegQuality > 95)) {
            throw new ConfigException("TfServingMasterClient jpeg_quality is " + o.jpegQuality + "; expected an int 1..95");
        }
        if (jpeg && o.jpegEncoder == null) {
            throw new ConfigException("TfServingMasterClient encoding 'jpeg' needs a JpegEncoder (Options.jpegEncoder; on "
                    + "Android one built on Bitmap.compress): the core has no JPEG encoder of its own");
        }
        if (o.numClasses != null && o.numClasses < 1) {
            throw new ConfigException("TfServingMasterClient num_classes is " + o.numClasses + "; expected an int >= 1 or null");
        }
        String base = o.baseUrl.replaceAll("/+$", "");
        modelUrl = base + "/v1/models/" + o.modelName;
        token = o.token;
        timeoutMs = (int) Math.max(1, Math.round(o.timeoutS * 1000));
        retries = o.retries;
        backoffS = o.backoffS;
        encoding = o.encoding;
        jpegQuality = jpeg ? o.jpegQuality : 0;
        jpegEncoder = o.jpegEncoder;
        numClasses = o.numClasses;
        clock = o.clock;
    }

    /** One failed attempt. */
    private static final class Failure extends Exception {
        final MasterException.Kind kind;
        final Integer status;

        Failure(MasterException.Kind kind, String message, Integer status, Throwable cause) {
            super(message, cause);
            this.kind = kind;
            this.status = status;
        }
    }

    /** A successful call: the reply document, the round trip of the answering attempt, the attempts made. */
    private static final class Reply {
        final JsonElement doc;
        final double rttMs;
        final int attempts;

        Reply(JsonElement doc, double rttMs, int attempts) {
            this.doc = doc;
            this.rttMs = rttMs;
            this.attempts = attempts;
        }
    }

    private JsonElement once(String method, String url, byte[] body) throws Failure {
        HttpURLConnection connection;
        try {
            connection = (HttpURLConnection) new URL(url).openConnection();
        } catch (IOException e) {
            throw new Failure(MasterException.Kind.UNREACHABLE, "request failed: " + e, null, e);
        }
        try {
            connection.setRequestMethod(method);
            connection.setConnectTimeout(timeoutMs);
            connection.setReadTimeout(timeoutMs);
            connection.setInstanceFollowRedirects(false);
            connection.setUseCaches(false);
            connection.setRequestProperty("Accept", "application/json");
            if (token != null) {
                connection.setRequestProperty("Authorization", "Bearer " + token);
            }
            if (body != null) {
                connection.setDoOutput(true);
                connection.setRequestProperty("Content-Type", "application/json");
                connection.setFixedLengthStreamingMode(body.length);
                try (OutputStream out = connection.getOutputStream()) {
                    out.write(body);
                }
            }
            int status = connection.getResponseCode();
            InputStream stream = status >= 400 ? connection.getErrorStream() : connection.getInputStream();
            byte[] content = stream == null ? new byte[0] : readAll(stream);
            if (status >= 400) {
                MasterException.Kind kind = status >= 500 ? MasterException.Kind.HTTP_5XX : MasterException.Kind.HTTP_4XX;
                throw new Failure(kind, "HTTP " + status + ": " + errorText(content), status, null);
            }
            if (status != 200) {
                throw new Failure(MasterException.Kind.MALFORMED, "HTTP " + status + "; expected 200", status, null);
            }
            try {
                return JsonNode.parse(new String(content, StandardCharsets.UTF_8), "reply").element();
            } catch (BundleException e) {
                String start = new String(content, 0, Math.min(content.length, 80), StandardCharsets.UTF_8);
                throw new Failure(MasterException.Kind.MALFORMED, "the reply is not JSON (" + e.getMessage() + "): " + start, status, e);
            }
        } catch (SocketTimeoutException e) {
            throw new Failure(MasterException.Kind.TIMEOUT, "no reply within " + timeoutMs + " ms: " + e.getMessage(), null, e);
        } catch (IOException e) {
            throw new Failure(MasterException.Kind.UNREACHABLE, "connection failed: " + e, null, e);
        } finally {
            connection.disconnect();
        }
    }

    private static byte[] readAll(InputStream in) throws IOException {
        try (InputStream stream = in) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buffer = new byte[8192];
            int n;
            while ((n = stream.read(buffer)) > 0) {
                out.write(buffer, 0, n);
            }
            return out.toByteArray();
        }
    }

    private Reply call(String method, String url, byte[] body, String what) throws MasterException {
        int attempts = 0;
        int maxAttempts = retries + 1;
        while (true) {
            attempts++;
            double start = clock.seconds();
            try {
                JsonElement doc = once(method, url, body);
                return new Reply(doc, (clock.seconds() - start) * 1000.0, attempts);
            } catch (Failure failure) {
                boolean retry = failure.kind.retryable() && attempts < maxAttempts;
                if (!retry) {
                    throw new MasterException(what + " " + url + " failed after " + attempts + " attempt" + (attempts > 1 ? "s" : "")
                            + ": " + failure.getMessage(), failure.kind, failure.status, attempts, failure);
                }
            }
            try {
                Thread.sleep(Math.round(backoffS * Math.pow(2, attempts - 1) * 1000));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new MasterException(what + " " + url + " interrupted while backing off", MasterException.Kind.UNREACHABLE,
                        null, attempts, e);
            }
        }
    }

    /** The model status document ({@code GET /v1/models/<name>}). */
    public JsonObject status() throws MasterException {
        Reply reply = call("GET", modelUrl, null, "status");
        JsonElement doc = reply.doc;
        if (!doc.isJsonObject() || !doc.getAsJsonObject().has("model_version_status")
                || !doc.getAsJsonObject().get("model_version_status").isJsonArray()) {
            throw new MasterException("status " + modelUrl + ": the reply has no 'model_version_status' list: " + shorten(doc),
                    MasterException.Kind.MALFORMED, 200, reply.attempts);
        }
        return doc.getAsJsonObject();
    }

    @Override
    public MasterReply predict(Frame frame) throws MasterException {
        JsonObject request = new JsonObject();
        JsonArray instances = new JsonArray();
        instances.add(encode(frame));
        request.add("instances", instances);
        byte[] body = request.toString().getBytes(StandardCharsets.UTF_8);
        String url = modelUrl + ":predict";
        Reply reply = call("POST", url, body, "predict");
        return new MasterReply(parsePredictions(reply.doc, url, reply.attempts), reply.rttMs, reply.attempts);
    }

    private JsonElement encode(Frame frame) {
        if (!"raw".equals(encoding)) {
            byte[] image;
            if ("png".equals(encoding)) {
                image = PngEncoder.encode(frame);
            } else {
                if (frame.channels() != 1 && frame.channels() != 3) {
                    throw new DataException("frame has " + frame.channels()
                            + " channels; JPEG encoding takes 1 or 3 (use encoding 'raw' for others)");
                }
                image = jpegEncoder.encode(frame, jpegQuality);
                if (image == null || image.length == 0) {
                    throw new DataException("the JpegEncoder returned no bytes for a " + frame.height() + "x" + frame.width()
                            + "x" + frame.channels() + " frame; expected a JPEG image");
                }
            }
            JsonObject o = new JsonObject();
            o.addProperty("b64", Base64.getEncoder().encodeToString(image));
            return o;
        }
        JsonArray rows = new JsonArray();
        for (int y = 0; y < frame.height(); y++) {
            JsonArray row = new JsonArray();
            for (int x = 0; x < frame.width(); x++) {
                JsonArray pixel = new JsonArray();
                for (int c = 0; c < frame.channels(); c++) {
                    pixel.add(frame.at(y, x, c));
                }
                row.add(pixel);
            }
            rows.add(row);
        }
        return rows;
    }

    private float[] parsePredictions(JsonElement doc, String url, int attempts) throws MasterException {
        if (!doc.isJsonObject() || !doc.getAsJsonObject().has("predictions")) {
            throw malformed(url, attempts, "expected an object with 'predictions', got " + shorten(doc));
        }
        JsonElement rows = doc.getAsJsonObject().get("predictions");
        if (!rows.isJsonArray() || rows.getAsJsonArray().size() != 1 || !rows.getAsJsonArray().get(0).isJsonArray()) {
            throw malformed(url, attempts, "'predictions' is " + shorten(rows) + "; expected one row [[p0, ..., pC-1]]");
        }
        JsonArray row = rows.getAsJsonArray().get(0).getAsJsonArray();
        if (row.size() == 0) {
            throw malformed(url, attempts, "the row is []; expected a non-empty list of numbers");
        }
        float[] values = new float[row.size()];
        for (int i = 0; i < values.length; i++) {
            JsonElement v = row.get(i);
            if (!v.isJsonPrimitive() || !((JsonPrimitive) v).isNumber()) {
                throw malformed(url, attempts, "the row is " + shorten(row) + "; expected a non-empty list of numbers");
            }
            double d = v.getAsDouble();
            if (Double.isNaN(d) || Double.isInfinite(d)) {
                throw malformed(url, attempts, "the row " + shorten(row) + " has non-finite values");
            }
            values[i] = (float) d;
        }
        if (numClasses != null && values.length != numClasses) {
            throw malformed(url, attempts, "the row has " + values.length + " values; expected " + numClasses + " (one per class)");
        }
        numClasses = values.length;
        return values;
    }

    private static MasterException malformed(String url, int attempts, String why) {
        return new MasterException("predict " + url + ": malformed reply: " + why, MasterException.Kind.MALFORMED, 200, attempts);
    }

    private static String shorten(JsonElement e) {
        String text = e.toString();
        return text.length() > 80 ? text.substring(0, 80) : text;
    }

    /** The {@code error} of a TF Serving error reply, else the start of the body. */
    static String errorText(byte[] content) {
        String text = new String(content, StandardCharsets.UTF_8);
        try {
            JsonElement doc = JsonNode.parse(text, "error reply").element();
            if (doc.isJsonObject() && doc.getAsJsonObject().has("error") && doc.getAsJsonObject().get("error").isJsonPrimitive()) {
                String error = doc.getAsJsonObject().get("error").getAsString();
                return error.length() > MAX_ERROR_TEXT ? error.substring(0, MAX_ERROR_TEXT) : error;
            }
            return text.length() > MAX_ERROR_TEXT ? text.substring(0, MAX_ERROR_TEXT) : text;
        } catch (BundleException e) {
            return text.isEmpty() ? "<empty body>" : (text.length() > MAX_ERROR_TEXT ? text.substring(0, MAX_ERROR_TEXT) : text);
        }
    }

    @Override
    public String toString() {
        return "TfServingMasterClient(" + modelUrl + ", " + encoding + ")";
    }
}
