package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

/**
 * Type-checks the Android app's sources (android_harness/app/harness/src/main/java) against the
 * real core on this test's classpath and hand-written stubs of the android.* and LiteRT members it
 * uses (android_harness/app/compile-check-stubs). It proves the app compiles against the core's
 * current API and against the stubs' signatures; it proves nothing about the real android.jar or
 * LiteRT AAR, which only a Gradle build with the Android SDK does (android_harness/BUILD.md).
 */
public class AppCompileCheckTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    /**
     * android_harness/app, found above the working directory or above any classpath entry (the core's
     * build script puts android_harness/core/src/test/resources on it, wherever it is run from).
     */
    static Path appDir() {
        List<Path> starts = new ArrayList<>();
        starts.add(Paths.get("").toAbsolutePath());
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            starts.add(Paths.get(entry).toAbsolutePath());
        }
        for (Path start : starts) {
            for (Path dir = start; dir != null; dir = dir.getParent()) {
                Path app = dir.resolve("android_harness/app");
                if (Files.isDirectory(app.resolve("compile-check-stubs"))) {
                    return app;
                }
            }
        }
        throw new AssertionError("no android_harness/app/compile-check-stubs above the working directory or the "
                + "classpath " + starts + "; run the tests from inside the repository");
    }

    static List<String> javaFiles(Path root) throws IOException {
        try (Stream<Path> files = Files.walk(root)) {
            return files.filter(p -> p.toString().endsWith(".java")).map(Path::toString).sorted()
                    .collect(Collectors.toList());
        }
    }

    @Test
    public void appSourcesCompileAgainstTheCoreAndTheStubs() throws IOException {
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull("no Java compiler in this JVM: run the tests on a JDK, not a JRE", javac);
        Path app = appDir();
        List<String> sources = javaFiles(app.resolve("harness/src/main/java"));
        assertTrue("no app sources under " + app, sources.size() >= 10);
        List<String> args = new ArrayList<>(Arrays.asList("--release", "11", "-Xlint:all,-serial", "-Werror",
                "-proc:none", "-classpath", System.getProperty("java.class.path"),
                "-d", tmp.newFolder("classes").getPath()));
        args.addAll(javaFiles(app.resolve("compile-check-stubs")));
        args.addAll(sources);
        ByteArrayOutputStream diagnostics = new ByteArrayOutputStream();
        int status = javac.run(null, diagnostics, diagnostics, args.toArray(new String[0]));
        assertEquals("javac on the app's sources (with the core and the stubs) says:\n"
                + diagnostics.toString(StandardCharsets.UTF_8.name()), 0, status);
    }
}
