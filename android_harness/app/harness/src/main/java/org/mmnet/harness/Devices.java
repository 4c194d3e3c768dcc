package org.mmnet.harness;

import android.content.Context;
import android.content.pm.PackageInfo;
import android.content.pm.PackageManager;
import android.os.Build;
import android.util.Log;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import org.mmnet.core.measure.AppInfo;
import org.mmnet.core.measure.DeviceInfo;

/** What result.json says about the phone (android.os.Build) and the app (its package). */
final class Devices {
    private Devices() {
    }

    static DeviceInfo device() {
        String socManufacturer = null;
        String socModel = null;
        if (Build.VERSION.SDK_INT >= 31) {
            socManufacturer = Build.SOC_MANUFACTURER;
            socModel = Build.SOC_MODEL;
        }
        return new DeviceInfo(Build.MANUFACTURER, Build.MODEL, Build.DEVICE, Build.VERSION.SDK_INT,
                Build.VERSION.RELEASE, socManufacturer, socModel, Arrays.asList(Build.SUPPORTED_ABIS), cpuCores(),
                Build.FINGERPRINT);
    }

    /** Every core the kernel knows, online or not (big cores may be offline while idle). */
    private static Integer cpuCores() {
        try {
            String possible = new String(Files.readAllBytes(Paths.get("/sys/devices/system/cpu/possible")),
                    StandardCharsets.US_ASCII);
            Integer cores = DeviceInfo.cpuCount(possible);
            if (cores != null) {
                return cores;
            }
        } catch (IOException e) {
            Log.w(HarnessActivity.TAG, "cannot read the CPU list (" + e + "); reporting the online cores");
        }
        return Runtime.getRuntime().availableProcessors();
    }

    @SuppressWarnings("deprecation")  // versionCode: the only one below API 28
    static AppInfo app(Context context, String litertVersion) {
        try {
            PackageInfo info = context.getPackageManager().getPackageInfo(context.getPackageName(), 0);
            long code = Build.VERSION.SDK_INT >= 28 ? info.getLongVersionCode() : info.versionCode;
            return new AppInfo(info.versionName, code, litertVersion);
        } catch (PackageManager.NameNotFoundException e) {
            throw new IllegalStateException("the app cannot find its own package " + context.getPackageName(), e);
        }
    }
}
