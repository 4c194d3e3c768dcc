package org.mmnet.core.measure;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonPrimitive;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.math.BigDecimal;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/** Strict JSON reading with errors that name the file, the field, the value and what was expected. */
final class Json {
    /** Serialises documents the app writes: nulls kept (PROTOCOL.md shows them), no HTML escaping. */
    static final Gson WRITER = new GsonBuilder().serializeNulls().disableHtmlEscaping().create();

    private Json() {
    }

    /** Parses one JSON object; comments, trailing data and other lenient extensions are errors. */
    static JsonObject parseObject(String text, String source) {
        JsonElement element;
        try {
            JsonReader reader = new JsonReader(new StringReader(text));
            reader.setLenient(false);
            element = WRITER.getAdapter(JsonElement.class).read(reader);
            if (reader.peek() != JsonToken.END_DOCUMENT) {
                throw new InvalidRequestException(source + ": unexpected data after the JSON object");
            }
        } catch (IOException | JsonParseException | IllegalStateException e) {
            throw new InvalidRequestException(source + ": not valid JSON: " + e.getMessage(), e);
        }
        if (element == null || !element.isJsonObject()) {
            throw new InvalidRequestException(source + ": expected a JSON object, got " + describe(element));
        }
        return element.getAsJsonObject();
    }

    static void rejectUnknown(JsonObject object, Set<String> known, String source, String where) {
        Set<String> unknown = new TreeSet<>(object.keySet());
        unknown.removeAll(known);
        if (!unknown.isEmpty()) {
            throw new InvalidRequestException(source + ": " + where + " has unknown field(s) " + unknown
                    + "; expected only " + new TreeSet<>(known));
        }
    }

    static JsonElement required(JsonObject object, String field, String source) {
        if (!object.has(field)) {
            throw new InvalidRequestException(source + ": " + field + " is missing");
        }
        return object.get(field);
    }

    static boolean isNull(JsonObject object, String field, String source) {
        return required(object, field, source).isJsonNull();
    }

    static String string(JsonObject object, String field, String source) {
        JsonElement e = required(object, field, source);
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isString() || e.getAsString().isEmpty()) {
            throw new InvalidRequestException(source + ": " + field + " is " + describe(e) + "; expected a non-empty string");
        }
        return e.getAsString();
    }

    static String nullableString(JsonObject object, String field, String source) {
        return isNull(object, field, source) ? null : string(object, field, source);
    }

    static long integer(JsonObject object, String field, long min, long max, String source) {
        JsonElement e = required(object, field, source);
        BigDecimal value = number(e);
        if (value == null || value.stripTrailingZeros().scale() > 0
                || value.compareTo(BigDecimal.valueOf(min)) < 0 || value.compareTo(BigDecimal.valueOf(max)) > 0) {
            throw new InvalidRequestException(source + ": " + field + " is " + describe(e)
                    + "; expected an integer in [" + min + ", " + max + "]");
        }
        return value.longValueExact();
    }

    static Long nullableInteger(JsonObject object, String field, long min, long max, String source) {
        return isNull(object, field, source) ? null : integer(object, field, min, max, source);
    }

    /** A finite number in [min, max]; {@code minExclusive} makes the lower bound strict. */
    static double real(JsonObject object, String field, double min, boolean minExclusive, double max, String source) {
        JsonElement e = required(object, field, source);
        BigDecimal value = number(e);
        double d = value == null ? Double.NaN : value.doubleValue();
        boolean ok = !Double.isNaN(d) && !Double.isInfinite(d) && (minExclusive ? d > min : d >= min) && d <= max;
        if (!ok) {
            throw new InvalidRequestException(source + ": " + field + " is " + describe(e) + "; expected a number "
                    + (minExclusive ? "> " : ">= ") + fmt(min) + " and <= " + fmt(max));
        }
        return d;
    }

    static Double nullableReal(JsonObject object, String field, double min, boolean minExclusive, double max,
                               String source) {
        return isNull(object, field, source) ? null : real(object, field, min, minExclusive, max, source);
    }

    static JsonObject object(JsonObject object, String field, String source) {
        JsonElement e = required(object, field, source);
        if (!e.isJsonObject()) {
            throw new InvalidRequestException(source + ": " + field + " is " + describe(e) + "; expected an object");
        }
        return e.getAsJsonObject();
    }

    static List<String> strings(JsonObject object, String field, String source) {
        JsonElement e = required(object, field, source);
        if (!e.isJsonArray()) {
            throw new InvalidRequestException(source + ": " + field + " is " + describe(e) + "; expected a list of strings");
        }
        List<String> out = new ArrayList<>();
        JsonArray array = e.getAsJsonArray();
        for (int i = 0; i < array.size(); i++) {
            JsonElement item = array.get(i);
            if (!item.isJsonPrimitive() || !item.getAsJsonPrimitive().isString() || item.getAsString().isEmpty()) {
                throw new InvalidRequestException(source + ": " + field + "[" + i + "] is " + describe(item)
                        + "; expected a non-empty string");
            }
            if (out.contains(item.getAsString())) {
                throw new InvalidRequestException(source + ": " + field + " names " + item + " twice");
            }
            out.add(item.getAsString());
        }
        return out;
    }

    private static BigDecimal number(JsonElement e) {
        if (e == null || !e.isJsonPrimitive() || !e.getAsJsonPrimitive().isNumber()) {
            return null;
        }
        try {
            return new BigDecimal(e.getAsJsonPrimitive().getAsString());
        } catch (NumberFormatException ex) {
            return null;
        }
    }

    static String describe(JsonElement e) {
        if (e == null || e.isJsonNull()) {
            return "null";
        }
        String text = e.toString();
        return text.length() > 80 ? text.substring(0, 77) + "..." : text;
    }

    private static String fmt(double d) {
        return d == Math.rint(d) && Math.abs(d) < 1e15 ? Long.toString((long) d) : Double.toString(d);
    }

    /** A JSON number for a double; NaN and infinities (which JSON cannot carry) become null. */
    static JsonElement number(double value) {
        return Double.isNaN(value) || Double.isInfinite(value) ? JsonNull.INSTANCE : new JsonPrimitive(value);
    }

    /** A JSON number, or null for a null box. */
    static JsonElement number(Number value) {
        if (value == null) {
            return JsonNull.INSTANCE;
        }
        return value instanceof Double ? number(value.doubleValue()) : new JsonPrimitive(value);
    }

    static JsonArray numbers(double[] values) {
        JsonArray array = new JsonArray(values.length);
        for (double v : values) {
            array.add(number(v));
        }
        return array;
    }
}
