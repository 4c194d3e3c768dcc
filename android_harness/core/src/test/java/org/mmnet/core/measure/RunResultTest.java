package org.mmnet.core.measure;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class RunResultTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    static final DeviceInfo DEVICE = new DeviceInfo("Google", "Pixel 7", "panther", 34, "14", "Google", "Tensor G2",
            Arrays.asList("arm64-v8a"), 8, "google/panther/panther:14/UQ1A/1:user/release-keys");

    static RunRequest systemRequest() {
        return RunRequest.parse(RunRequestTest.with("kind", "\"system\"").replace("\"system\":null",
                "\"system\":{\"testset_dir\":\"/t\",\"modes\":[\"normal\"],\"network\":null,\"master_url\":null,"
                        + "\"frame_interval_ms\":null}"), "request.json");
    }

    @Test
    public void aChargingPhoneIsWarnedAboutAndUnknownsAreNull() {
        RunRequest request = RunRequest.parse(RunRequestTest.PROFILE, "request.json");
        DeviceInfo vague = new DeviceInfo("Acme", "A1", "", 30, "11", "unknown", null, Collections.emptyList(), null, null);
        RunResult r = new RunResult(request, vague, new AppInfo("0.1.0", 1, ""),
                new BatteryStatus(true, "usb", 0.5, null));
        JsonObject json = r.toJson();
        assertEquals("{\"charging\":true,\"battery_level\":0.5,\"battery_temp_c\":null,\"warnings\":[\"the phone is "
                + "charging (usb): the battery current includes the charger, so the fuel gauge cannot measure energy; "
                + "unplug it (adb over Wi-Fi) for energy numbers\"]}", Json.WRITER.toJson(json.get("environment")));
        assertEquals("{\"manufacturer\":\"Acme\",\"model\":\"A1\",\"device\":null,\"sdk_int\":30,\"release\":\"11\","
                + "\"soc_manufacturer\":null,\"soc_model\":null,\"abis\":[],\"cpu_cores\":null,\"fingerprint\":null}",
                Json.WRITER.toJson(json.get("device")));
        assertEquals("{\"version_name\":\"0.1.0\",\"version_code\":1,\"litert_version\":null}",
                Json.WRITER.toJson(json.get("app")));
    }

    @Test
    public void systemRunsWriteTheirSystemObject() throws IOException {
        RunResult r = new RunResult(systemRequest(), DEVICE, new AppInfo("0.1.0", 1, "1.4.0"),
                new BatteryStatus(false, null, 0.9, 31.5));
        Path run = tmp.getRoot().toPath();
        assertEquals("system run 20261124T071500Z-ab12 has no system result to write",
                assertThrows(IllegalStateException.class, () -> r.write(run)).getMessage());
        JsonObject system = new JsonObject();
        JsonObject modes = new JsonObject();
        modes.add("normal", new SystemModeSummary().toJson(null));
        system.add("modes", modes);
        system.add("mobile_only", null);
        system.add("cloud_only", null);
        r.setSystem(system);
        r.write(run);
        JsonObject written = JsonParser.parseString(new String(Files.readAllBytes(run.resolve("result.json")),
                StandardCharsets.UTF_8)).getAsJsonObject();
        assertEquals("system", written.get("kind").getAsString());
        assertEquals("[modes, mobile_only, cloud_only]", written.getAsJsonObject("system").keySet().toString());
    }

    @Test
    public void cpuCountFromTheKernelsList() {
        assertEquals(Integer.valueOf(8), DeviceInfo.cpuCount("0-7\n"));
        assertEquals(Integer.valueOf(6), DeviceInfo.cpuCount("0-3,6-7"));
        assertEquals(Integer.valueOf(1), DeviceInfo.cpuCount("0"));
        assertEquals(null, DeviceInfo.cpuCount("7-0"));
        assertEquals(null, DeviceInfo.cpuCount("cpu0"));
        assertEquals(null, DeviceInfo.cpuCount(""));
    }

    @Test
    public void profileRunsHaveNoSystem() {
        RunResult r = new RunResult(RunRequest.parse(RunRequestTest.PROFILE, "request.json"), DEVICE,
                new AppInfo("0.1.0", 1, "1.4.0"), new BatteryStatus(false, null, 0.9, 31.5));
        assertEquals("run 20261124T071500Z-ab12 is a profile run; it has no system result",
                assertThrows(IllegalStateException.class, () -> r.setSystem(new JsonObject())).getMessage());
    }
}
