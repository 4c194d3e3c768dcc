package org.mmnet.core.measure;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/** The phone, as result.json's "device" describes it (android.os.Build on the phone). */
public final class DeviceInfo {
    public final String manufacturer;
    public final String model;
    public final String device;
    public final int sdkInt;
    public final String release;
    /** Build.SOC_MANUFACTURER / SOC_MODEL (Android 12+), else null. */
    public final String socManufacturer;
    public final String socModel;
    public final List<String> abis;
    public final Integer cpuCores;
    public final String fingerprint;

    public DeviceInfo(String manufacturer, String model, String device, int sdkInt, String release,
                      String socManufacturer, String socModel, List<String> abis, Integer cpuCores,
                      String fingerprint) {
        this.manufacturer = manufacturer;
        this.model = model;
        this.device = blankToNull(device);
        this.sdkInt = sdkInt;
        this.release = blankToNull(release);
        this.socManufacturer = blankToNull(socManufacturer);
        this.socModel = blankToNull(socModel);
        this.abis = Collections.unmodifiableList(new ArrayList<>(abis));
        this.cpuCores = cpuCores;
        this.fingerprint = blankToNull(fingerprint);
    }

    /**
     * Cores in a kernel CPU list such as /sys/devices/system/cpu/possible ("0-7", "0-3,6"), or null
     * when the text is not one; counts offline cores too, unlike Runtime.availableProcessors().
     */
    public static Integer cpuCount(String cpuList) {
        if (cpuList == null || cpuList.trim().isEmpty()) {
            return null;
        }
        int count = 0;
        try {
            for (String part : cpuList.trim().split(",")) {
                String[] range = part.split("-");
                int lo = Integer.parseInt(range[0].trim());
                int hi = range.length == 2 ? Integer.parseInt(range[1].trim()) : lo;
                if (range.length > 2 || hi < lo || lo < 0) {
                    return null;
                }
                count += hi - lo + 1;
            }
        } catch (NumberFormatException e) {
            return null;
        }
        return count;
    }

    /** Build reports "unknown" or "" for what a vendor left out; the result schema wants null there. */
    private static String blankToNull(String s) {
        return s == null || s.isEmpty() || s.equalsIgnoreCase("unknown") ? null : s;
    }

    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("manufacturer", manufacturer);
        o.addProperty("model", model);
        o.addProperty("device", device);
        o.addProperty("sdk_int", sdkInt);
        o.addProperty("release", release);
        o.addProperty("soc_manufacturer", socManufacturer);
        o.addProperty("soc_model", socModel);
        JsonArray a = new JsonArray();
        for (String abi : abis) {
            a.add(abi);
        }
        o.add("abis", a);
        o.addProperty("cpu_cores", cpuCores);
        o.addProperty("fingerprint", fingerprint);
        return o;
    }
}
