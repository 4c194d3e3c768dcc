package org.mmnet.core.measure;

import com.google.gson.JsonObject;

/** The app and its LiteRT, as result.json's "app" describes them. */
public final class AppInfo {
    public final String versionName;
    public final long versionCode;
    /** LiteRT's runtime version, or null when it cannot say. */
    public final String litertVersion;

    public AppInfo(String versionName, long versionCode, String litertVersion) {
        this.versionName = versionName;
        this.versionCode = versionCode;
        this.litertVersion = litertVersion == null || litertVersion.isEmpty() ? null : litertVersion;
    }

    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("version_name", versionName);
        o.addProperty("version_code", versionCode);
        o.addProperty("litert_version", litertVersion);
        return o;
    }
}
