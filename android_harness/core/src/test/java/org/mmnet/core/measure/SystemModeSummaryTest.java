package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class SystemModeSummaryTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    @Test
    public void sumsUpFramesAsTheProtocolSays() {
        SystemModeSummary s = new SystemModeSummary();
        s.add(3, 3, false, "minions", 1.5);
        s.add(4, 4, true, "minions", 4.0);
        s.add(5, 2, true, "minions", 4.5);
        s.add(1, 1, false, "master_cloud", 80.0);
        s.setMissedDeadlines(2);
        assertEquals("{\"frames\":4,\"accuracy\":0.75,\"recovery_rate\":0.5,\"latency_ms\":[1.5,4.0,4.5,80.0],"
                + "\"path_counts\":{\"master_cloud\":1,\"minions\":3},\"trace\":\"traces/normal.jsonl\","
                + "\"missed_deadlines\":2}", s.toJson("traces/normal.jsonl").toString());
    }

    @Test
    public void anEmptyModeHasNoAccuracy() {
        assertEquals("{\"frames\":0,\"accuracy\":null,\"recovery_rate\":null,\"latency_ms\":[],\"path_counts\":{},"
                        + "\"trace\":null,\"missed_deadlines\":0}",
                Json.WRITER.toJson(new SystemModeSummary().toJson(null)));
    }

    @Test
    public void tracesAreOneObjectPerLine() throws IOException {
        Path run = tmp.getRoot().toPath();
        try (TraceWriter trace = new TraceWriter(run, "mobile_only")) {
            assertEquals("traces/mobile_only.jsonl", trace.relativePath);
            for (int i = 0; i < 2; i++) {
                JsonObject frame = new JsonObject();
                frame.addProperty("index", i);
                frame.add("master_answer", null);
                trace.append(frame);
            }
        }
        assertEquals(Arrays.asList("{\"index\":0,\"master_answer\":null}", "{\"index\":1,\"master_answer\":null}"),
                Files.readAllLines(run.resolve("traces/mobile_only.jsonl"), StandardCharsets.UTF_8));
    }
}
