package org.mmnet.core.select;

import com.google.gson.JsonObject;
import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * One rule a decision hit: its code and the values it compared, keyed by the code's template fields
 * (Python selector.Reason). {@link #text()} renders the sentence from {@link ReasonCode#template()}
 * the way Python's {@code str.format} does, so both sides write the same words.
 */
public final class Reason {
    private final ReasonCode code;
    private final Map<String, Object> values;

    public Reason(ReasonCode code, Map<String, Object> values) {
        this.code = code;
        this.values = Collections.unmodifiableMap(new LinkedHashMap<>(values));
    }

    /** A reason from its code and alternating field names and values (String, Integer or Double). */
    static Reason of(ReasonCode code, Object... namesAndValues) {
        Map<String, Object> values = new LinkedHashMap<>();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            values.put((String) namesAndValues[i], namesAndValues[i + 1]);
        }
        return new Reason(code, values);
    }

    public ReasonCode code() {
        return code;
    }

    /** The values compared, keyed by the template's field names. */
    public Map<String, Object> values() {
        return values;
    }

    /** The sentence, rendered from the code's template and the values. */
    public String text() {
        return render(code.template(), values);
    }

    /** {"code", "values", "text"}, as Python's Reason.to_json. */
    public JsonObject toJson() {
        JsonObject o = new JsonObject();
        o.addProperty("code", code.json());
        JsonObject v = new JsonObject();
        for (Map.Entry<String, Object> e : values.entrySet()) {
            if (e.getValue() instanceof Number) {
                v.addProperty(e.getKey(), (Number) e.getValue());
            } else {
                v.addProperty(e.getKey(), String.valueOf(e.getValue()));
            }
        }
        o.add("values", v);
        o.addProperty("text", text());
        return o;
    }

    /**
     * A template's {@code {name}} and {@code {name:spec}} fields replaced by the values: spec
     * {@code .0f}, {@code .1f}, {@code .2f} (fixed point, half-even on the exact binary value, as
     * Python) or {@code g} (six significant digits without trailing zeros, as Python's for ordinary
     * magnitudes); no spec: the value's text (names and class indices).
     */
    static String render(String template, Map<String, ?> values) {
        StringBuilder out = new StringBuilder();
        int i = 0;
        while (i < template.length()) {
            int open = template.indexOf('{', i);
            if (open < 0) {
                out.append(template, i, template.length());
                break;
            }
            int close = template.indexOf('}', open);
            if (close < 0) {
                throw new IllegalArgumentException("template '" + template + "' has an unclosed field at " + open);
            }
            out.append(template, i, open);
            String field = template.substring(open + 1, close);
            int colon = field.indexOf(':');
            String name = colon < 0 ? field : field.substring(0, colon);
            String spec = colon < 0 ? "" : field.substring(colon + 1);
            if (!values.containsKey(name)) {
                throw new IllegalArgumentException("template '" + template + "' needs the value '" + name + "'; the reason has "
                        + values.keySet());
            }
            out.append(format(values.get(name), spec));
            i = close + 1;
        }
        return out.toString();
    }

    private static String format(Object value, String spec) {
        switch (spec) {
            case "":
                return String.valueOf(value);
            case ".0f":
                return fixed(value, 0);
            case ".1f":
                return fixed(value, 1);
            case ".2f":
                return fixed(value, 2);
            case "g":
                return new BigDecimal(number(value)).round(new MathContext(6, RoundingMode.HALF_EVEN)).stripTrailingZeros()
                        .toPlainString();
            default:
                throw new IllegalArgumentException("format spec is '" + spec + "'; expected '', '.0f', '.1f', '.2f' or 'g'");
        }
    }

    private static String fixed(Object value, int digits) {
        return new BigDecimal(number(value)).setScale(digits, RoundingMode.HALF_EVEN).toPlainString();
    }

    private static double number(Object value) {
        if (!(value instanceof Number)) {
            throw new IllegalArgumentException("value is '" + value + "'; expected a number for a numeric format spec");
        }
        return ((Number) value).doubleValue();
    }

    @Override
    public String toString() {
        return code + ": " + text();
    }
}
