package org.mmnet.core.remote;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import javax.imageio.ImageIO;
import org.junit.After;
import org.junit.Test;
import org.mmnet.core.ConfigException;
import org.mmnet.core.JsonNode;
import org.mmnet.core.runtime.Frame;
import org.mmnet.core.runtime.MasterException;
import org.mmnet.core.runtime.MasterReply;

/** The client against a local HTTP server speaking the TF Serving REST protocol of `mmnet serve`. */
public class TfServingMasterClientTest {
    private static final String OK = "{\"predictions\": [[0.1, 0.9]]}";
    private HttpServer server;
    private final List<String> bodies = new ArrayList<>();
    private final List<String> auth = new ArrayList<>();
    private final AtomicInteger requests = new AtomicInteger();

    interface Reply {
        void send(HttpExchange exchange, int attempt) throws IOException;
    }

    private String serve(Reply reply) throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", exchange -> {
            int attempt = requests.incrementAndGet();
            try (InputStream in = exchange.getRequestBody()) {
                bodies.add(exchange.getRequestMethod() + " " + exchange.getRequestURI() + " "
                        + new String(in.readAllBytes(), StandardCharsets.UTF_8));
            }
            auth.add(String.valueOf(exchange.getRequestHeaders().getFirst("Authorization")));
            reply.send(exchange, attempt);
            exchange.close();
        });
        server.start();
        return "http://127.0.0.1:" + server.getAddress().getPort() + "/";
    }

    private static void send(HttpExchange exchange, int status, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = exchange.getResponseBody()) {
            out.write(bytes);
        }
    }

    @After
    public void stop() {
        if (server != null) {
            server.stop(0);
        }
    }

    private static Frame frame() {
        byte[] pixels = new byte[12];
        for (int i = 0; i < pixels.length; i++) {
            pixels[i] = (byte) (i * 20);
        }
        return Frame.of(pixels, 3, 4, 1);
    }

    @Test
    public void predictsFromAPngFrameWithABearerToken() throws Exception {
        String base = serve((x, attempt) -> send(x, 200, OK));
        TfServingMasterClient client = TfServingMasterClient.options(base, "digits").token("s3cret").numClasses(2).build();
        MasterReply reply = client.predict(frame());
        assertArrayEquals(new float[] {0.1f, 0.9f}, reply.probabilities(), 0f);
        assertEquals(1, reply.attempts());
        assertTrue(reply.rttMs() >= 0);
        assertEquals("Bearer s3cret", auth.get(0));
        String request = bodies.get(0);
        assertTrue(request, request.startsWith("POST /v1/models/digits:predict "));
        JsonObject body = JsonNode.parse(request.substring(request.indexOf('{')), "body").element().getAsJsonObject();
        byte[] png = Base64.getDecoder().decode(body.getAsJsonArray("instances").get(0).getAsJsonObject().get("b64").getAsString());
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(png));
        assertEquals(4, image.getWidth());
        assertEquals(3, image.getHeight());
        for (int y = 0; y < 3; y++) {
            for (int x = 0; x < 4; x++) {
                assertEquals((y * 4 + x) * 20, image.getRaster().getSample(x, y, 0));
            }
        }
    }

    /** A JVM JPEG encoder (javax.imageio), the role Bitmap.compress plays on Android; records the qualities asked for. */
    private static JpegEncoder imageIoJpeg(List<Integer> qualities) {
        return (frame, quality) -> {
            qualities.add(quality);
            BufferedImage image = new BufferedImage(frame.width(), frame.height(),
                    frame.channels() == 1 ? BufferedImage.TYPE_BYTE_GRAY : BufferedImage.TYPE_3BYTE_BGR);
            for (int y = 0; y < frame.height(); y++) {
                for (int x = 0; x < frame.width(); x++) {
                    for (int c = 0; c < frame.channels(); c++) {
                        image.getRaster().setSample(x, y, c, frame.at(y, x, c));
                    }
                }
            }
            javax.imageio.ImageWriter writer = ImageIO.getImageWritersByFormatName("jpeg").next();
            javax.imageio.ImageWriteParam param = writer.getDefaultWriteParam();
            param.setCompressionMode(javax.imageio.ImageWriteParam.MODE_EXPLICIT);
            param.setCompressionQuality(quality / 100f);
            java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
            try (javax.imageio.stream.ImageOutputStream stream = ImageIO.createImageOutputStream(out)) {
                writer.setOutput(stream);
                writer.write(null, new javax.imageio.IIOImage(image, null, null), param);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            } finally {
                writer.dispose();
            }
            return out.toByteArray();
        };
    }

    private static org.mmnet.core.RuntimeConfig.Upload upload(String encoding, Integer quality) {
        JsonObject doc = org.mmnet.core.Fixtures.configJson();
        JsonObject up = doc.getAsJsonObject("upload");
        up.addProperty("encoding", encoding);
        if (quality != null) {
            up.addProperty("jpeg_quality", quality);
        }
        return org.mmnet.core.Fixtures.config(doc).upload();
    }

    @Test
    public void aJpegUploadSendsTheFrameAsAJpegAtTheConfigsQuality() throws Exception {
        String base = serve((x, attempt) -> send(x, 200, OK));
        List<Integer> qualities = new ArrayList<>();
        TfServingMasterClient client = TfServingMasterClient.options(base, "digits").upload(upload("jpeg", 75))
                .jpegEncoder(imageIoJpeg(qualities)).numClasses(2).build();
        assertEquals("TfServingMasterClient(" + base.replaceAll("/+$", "") + "/v1/models/digits, jpeg)", client.toString());
        byte[] pixels = new byte[8 * 8];
        java.util.Arrays.fill(pixels, (byte) 128);
        assertArrayEquals(new float[] {0.1f, 0.9f}, client.predict(Frame.of(pixels, 8, 8, 1)).probabilities(), 0f);
        assertEquals(java.util.Collections.singletonList(75), qualities);
        String request = bodies.get(0);
        JsonObject body = JsonNode.parse(request.substring(request.indexOf('{')), "body").element().getAsJsonObject();
        byte[] jpeg = Base64.getDecoder().decode(body.getAsJsonArray("instances").get(0).getAsJsonObject().get("b64").getAsString());
        assertEquals(0xFF, jpeg[0] & 0xFF);  // the JPEG start-of-image marker FF D8
        assertEquals(0xD8, jpeg[1] & 0xFF);
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(jpeg));
        assertEquals(8, image.getWidth());
        assertEquals(8, image.getHeight());
        assertEquals(128, image.getRaster().getSample(3, 3, 0), 2);  // lossy, but a flat frame stays flat
        // The config's PNG upload stays PNG, with no encoder needed.
        TfServingMasterClient png = TfServingMasterClient.options(base, "digits").upload(upload("png", null)).build();
        assertTrue(png.toString(), png.toString().endsWith(", png)"));
    }

    @Test
    public void aJpegUploadNeedsAnEncoderAndAQualityOfOneToNinetyFive() {
        String base = "http://127.0.0.1:9/";
        ConfigException e = assertThrows(ConfigException.class,
                () -> TfServingMasterClient.options(base, "digits").upload(upload("jpeg", 90)).build());
        assertTrue(e.getMessage(), e.getMessage().contains("encoding 'jpeg' needs a JpegEncoder"));
        JpegEncoder never = (frame, quality) -> {
            throw new AssertionError("not called");
        };
        e = assertThrows(ConfigException.class, () -> TfServingMasterClient.options(base, "digits").encoding("jpeg")
                .jpegQuality(96).jpegEncoder(never).build());
        assertEquals("TfServingMasterClient jpeg_quality is 96; expected an int 1..95", e.getMessage());
        e = assertThrows(ConfigException.class, () -> TfServingMasterClient.options(base, "digits").encoding("jpeg")
                .jpegEncoder(never).build());
        assertTrue(e.getMessage(), e.getMessage().contains("expected a quality exactly when the encoding is 'jpeg'"));
        e = assertThrows(ConfigException.class, () -> TfServingMasterClient.options(base, "digits").jpegQuality(90).build());
        assertTrue(e.getMessage(), e.getMessage().contains("jpeg_quality is 90 with encoding 'png'"));
        org.mmnet.core.DataException empty = assertThrows(org.mmnet.core.DataException.class, () -> TfServingMasterClient
                .options(base, "digits").upload(upload("jpeg", 90)).jpegEncoder((frame, quality) -> new byte[0]).build()
                .predict(frame()));
        assertEquals("the JpegEncoder returned no bytes for a 3x4x1 frame; expected a JPEG image", empty.getMessage());
        e = assertThrows(ConfigException.class, () -> TfServingMasterClient.options(base, "digits").encoding("webp").build());
        assertEquals("TfServingMasterClient encoding is 'webp'; expected 'png', 'jpeg' or 'raw'", e.getMessage());
    }

    @Test
    public void rawEncodingSendsNestedLists() throws Exception {
        String base = serve((x, attempt) -> send(x, 200, OK));
        TfServingMasterClient.options(base, "digits").encoding("raw").build().predict(Frame.of(new byte[] {1, 2, 3, 4}, 2, 2, 1));
        assertTrue(bodies.get(0), bodies.get(0).endsWith("{\"instances\":[[[[1],[2]],[[3],[4]]]]}"));
    }

    @Test
    public void serverErrorsAreRetriedClientErrorsAreNot() throws Exception {
        String base = serve((x, attempt) -> send(x, attempt == 1 ? 503 : 200, attempt == 1 ? "{\"error\": \"busy\"}" : OK));
        MasterReply reply = TfServingMasterClient.options(base, "digits").retries(1).backoffS(0).build().predict(frame());
        assertEquals(2, reply.attempts());
        stop();
        requests.set(0);
        String base4 = serve((x, attempt) -> send(x, 400, "{\"error\": \"instances[0] is a 3x4 image; expected 8x8\"}"));
        MasterException e = assertThrows(MasterException.class,
                () -> TfServingMasterClient.options(base4, "digits").retries(3).backoffS(0).build().predict(frame()));
        assertEquals(MasterException.Kind.HTTP_4XX, e.kind());
        assertEquals(Integer.valueOf(400), e.status());
        assertEquals(1, requests.get());
        assertTrue(e.getMessage(), e.getMessage().endsWith("failed after 1 attempt: HTTP 400: instances[0] is a 3x4 image; expected 8x8"));
    }

    @Test
    public void malformedRepliesAreNamed() throws Exception {
        String base = serve((x, attempt) -> send(x, 200, attempt == 1 ? "not json" : "{\"predictions\": [[0.5, 0.2, 0.3]]}"));
        TfServingMasterClient client = TfServingMasterClient.options(base, "digits").numClasses(2).build();
        MasterException e = assertThrows(MasterException.class, () -> client.predict(frame()));
        assertEquals(MasterException.Kind.MALFORMED, e.kind());
        e = assertThrows(MasterException.class, () -> client.predict(frame()));
        assertTrue(e.getMessage(), e.getMessage().contains("the row has 3 values; expected 2 (one per class)"));
    }

    @Test
    public void aSlowServerTimesOutAndAClosedPortIsUnreachable() throws Exception {
        String base = serve((x, attempt) -> {
            try {
                Thread.sleep(1500);
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
            send(x, 200, OK);
        });
        MasterException e = assertThrows(MasterException.class,
                () -> TfServingMasterClient.options(base, "digits").timeoutS(0.2).retries(0).build().predict(frame()));
        assertEquals(MasterException.Kind.TIMEOUT, e.kind());
        stop();
        server = null;
        MasterException gone = assertThrows(MasterException.class,
                () -> TfServingMasterClient.options(base, "digits").retries(1).backoffS(0).build().predict(frame()));
        assertEquals(MasterException.Kind.UNREACHABLE, gone.kind());
        assertEquals(2, gone.attempts());
    }

    @Test
    public void statusReadsTheModelVersionStatus() throws Exception {
        String base = serve((x, attempt) -> send(x, 200, "{\"model_version_status\": [{\"version\": \"1\", \"state\": \"AVAILABLE\"}]}"));
        JsonObject status = TfServingMasterClient.options(base, "digits").build().status();
        assertEquals(1, status.getAsJsonArray("model_version_status").size());
        assertTrue(bodies.get(0), bodies.get(0).startsWith("GET /v1/models/digits "));
    }

    @Test
    public void settingsAreChecked() {
        assertThrows(ConfigException.class, () -> TfServingMasterClient.options("ftp://x", "digits").build());
        assertThrows(ConfigException.class, () -> TfServingMasterClient.options("http://x", "a/b").build());
        assertThrows(ConfigException.class, () -> TfServingMasterClient.options("http://x", "d").retries(11).build());
        assertThrows(ConfigException.class, () -> TfServingMasterClient.options("http://x", "d").encoding("jpeg").build());
    }

    @Test
    public void rgbFramesEncodeAsRgbPngs() throws Exception {
        byte[] pixels = {(byte) 255, 0, 0, 0, (byte) 255, 0};
        BufferedImage image = ImageIO.read(new ByteArrayInputStream(PngEncoder.encode(Frame.of(pixels, 1, 2, 3))));
        assertEquals(0xFF0000, image.getRGB(0, 0) & 0xFFFFFF);
        assertEquals(0x00FF00, image.getRGB(1, 0) & 0xFFFFFF);
    }
}
