package org.mmnet.core.measure;

import com.google.gson.JsonObject;
import java.io.BufferedWriter;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Pattern;

/** One JSON object per frame, one line each: traces/&lt;name&gt;.jsonl in the run directory. */
public final class TraceWriter implements AutoCloseable {
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*");

    private final BufferedWriter out;
    /** The path result.json gives for this trace, relative to the run directory. */
    public final String relativePath;

    public TraceWriter(Path runDir, String name) throws IOException {
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("trace name is \"" + name + "\"; expected letters, digits, '.', '_' or '-'");
        }
        relativePath = "traces/" + name + ".jsonl";
        Path file = runDir.resolve(relativePath);
        Files.createDirectories(file.getParent());
        out = Files.newBufferedWriter(file, StandardCharsets.UTF_8);
    }

    public void append(JsonObject frame) throws IOException {
        out.write(Json.WRITER.toJson(frame));
        out.write('\n');
    }

    @Override
    public void close() throws IOException {
        out.close();
    }
}
