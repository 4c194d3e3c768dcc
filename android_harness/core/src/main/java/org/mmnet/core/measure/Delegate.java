package org.mmnet.core.measure;

import java.util.Locale;

/** Where LiteRT runs a model, as request.json names it. */
public enum Delegate {
    /** LiteRT's builtin kernels, XNNPACK switched off. */
    CPU,
    /** XNNPACK CPU kernels (LiteRT's default on Android). */
    XNNPACK,
    /** The GPU delegate (OpenCL / OpenGL). */
    GPU,
    /** The NNAPI delegate (vendor drivers; deprecated from Android 15 but still present). */
    NNAPI;

    /** The name in request.json and result.json. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** The delegate named {@code name}, or null when there is none of that name. */
    public static Delegate fromWireName(String name) {
        for (Delegate d : values()) {
            if (d.wireName().equals(name)) {
                return d;
            }
        }
        return null;
    }
}
