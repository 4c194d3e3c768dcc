package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class StatusWriterTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    static JsonObject read(Path file) throws IOException {
        return JsonParser.parseString(new String(Files.readAllBytes(file), StandardCharsets.UTF_8)).getAsJsonObject();
    }

    @Test
    public void writesTheProtocolsStatusAtomically() throws IOException {
        Path run = tmp.getRoot().toPath().resolve("runs/r1");
        Fakes.FakeClock clock = new Fakes.FakeClock();
        StatusWriter status = new StatusWriter(run, "r1", clock);
        status.write(StatusWriter.State.RUNNING, 0.42, "model 3/9: mnasnet-a0.5-r16-int8");
        JsonObject doc = read(run.resolve("status.json"));
        assertEquals("{\"protocol_version\":1,\"run_id\":\"r1\",\"state\":\"running\",\"progress\":0.42,"
                + "\"message\":\"model 3/9: mnasnet-a0.5-r16-int8\",\"updated_utc\":\"2026-11-18T11:06:40.000Z\"}",
                doc.toString());
        clock.advance(1_500_000_000L);
        status.write(StatusWriter.State.FAILED, null, "delegate gpu unavailable: no OpenCL");
        doc = read(run.resolve("status.json"));
        assertEquals("failed", doc.get("state").getAsString());
        assertEquals("null", doc.get("progress").toString());
        assertEquals("2026-11-18T11:06:41.500Z", doc.get("updated_utc").getAsString());
        try (Stream<Path> files = Files.list(run)) {
            assertEquals(1, files.count());  // no temporary file left behind
        }
    }

    @Test
    public void aFinalStateIsFinal() {
        StatusWriter status = new StatusWriter(tmp.getRoot().toPath(), "r1", new Fakes.FakeClock());
        status.write(StatusWriter.State.CANCELLED, 0.5, "cancelled by the host");
        assertEquals("status of run r1 is already cancelled; cannot change it to running",
                assertThrows(IllegalStateException.class,
                        () -> status.write(StatusWriter.State.RUNNING, 0.6, "late")).getMessage());
    }

    @Test
    public void rejectsProgressOutsideZeroToOne() {
        StatusWriter status = new StatusWriter(tmp.getRoot().toPath(), "r1", new Fakes.FakeClock());
        assertEquals("progress is 1.5; expected null or a fraction in [0, 1]", assertThrows(
                IllegalArgumentException.class, () -> status.write(StatusWriter.State.RUNNING, 1.5, "x")).getMessage());
    }

    @Test
    public void utcTimestamps() {
        assertEquals("1970-01-01T00:00:00.000Z", JsonFiles.utc(0));
        assertEquals("2026-11-24T07:15:00.123Z", JsonFiles.utc(1_795_504_500_123L));
    }
}
