package org.mmnet.core;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonPrimitive;
import com.google.gson.TypeAdapter;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A JSON value with the file it came from and its JSON path, so that every validation error reads
 * {@code "<source>: <json path>: <value> ...; expected ..."} like the Python schema checks.
 */
public final class JsonNode {
    private static final Pattern IDENTIFIER = Pattern.compile("^[A-Za-z_][A-Za-z0-9_]*$");
    // The adapter keeps the reader strict; Gson.fromJson and JsonParser switch it to lenient.
    private static final TypeAdapter<JsonElement> ELEMENTS = new Gson().getAdapter(JsonElement.class);

    private final JsonElement element;
    private final String source;
    private final String path;

    private JsonNode(JsonElement element, String source, String path) {
        this.element = element;
        this.source = source;
        this.path = path;
    }

    /** Parses strict JSON (no NaN, comments or trailing data); BundleException naming {@code source}. */
    public static JsonNode parse(String text, String source) {
        JsonReader reader = new JsonReader(new StringReader(text));
        reader.setLenient(false);
        JsonElement element;
        try {
            element = ELEMENTS.read(reader);
        } catch (JsonParseException | IOException | IllegalStateException e) {
            throw new BundleException(source + ": not valid JSON: " + gsonMessage(e), e);
        }
        boolean end;
        try {
            end = reader.peek() == JsonToken.END_DOCUMENT;
        } catch (IOException | IllegalStateException e) {
            end = false;
        }
        if (!end) {
            throw new BundleException(source + ": not valid JSON: data after the document");
        }
        return new JsonNode(element, source, "$");
    }

    private static String gsonMessage(Exception e) {
        // Gson suggests leniency, which would accept what Python's json module never writes.
        return String.valueOf(e.getMessage()).replace("Use JsonReader.setLenient(true) to accept malformed JSON", "malformed JSON");
    }

    public static JsonNode of(JsonElement element, String source) {
        return new JsonNode(element, source, "$");
    }

    public JsonElement element() {
        return element;
    }

    public String source() {
        return source;
    }

    public String path() {
        return path;
    }

    /** A BundleException reading {@code "<source>: <path>: <message>"}. */
    public BundleException error(String message) {
        return new BundleException(source + ": " + path + ": " + message);
    }

    private String shown() {
        String text = element == null ? "missing" : element.toString();
        return text.length() > 80 ? text.substring(0, 77) + "..." : text;
    }

    private BundleException expected(String what) {
        return error("is " + shown() + "; expected " + what);
    }

    private String childPath(String key) {
        return IDENTIFIER.matcher(key).matches() ? path + "." + key : path + "['" + key + "']";
    }

    public boolean isNull() {
        return element == null || element.isJsonNull();
    }

    public boolean isObject() {
        return element != null && element.isJsonObject();
    }

    private JsonObject object() {
        if (!isObject()) {
            throw expected("an object");
        }
        return element.getAsJsonObject();
    }

    public boolean has(String key) {
        return object().has(key);
    }

    /** The required member {@code key} of this object. */
    public JsonNode get(String key) {
        JsonObject object = object();
        if (!object.has(key)) {
            throw error("lacks the required key '" + key + "'");
        }
        return new JsonNode(object.get(key), source, childPath(key));
    }

    /** The member {@code key}, or null when this object has no such key. */
    public JsonNode opt(String key) {
        JsonObject object = object();
        return object.has(key) ? new JsonNode(object.get(key), source, childPath(key)) : null;
    }

    /** The members in document order. */
    public Map<String, JsonNode> entries() {
        Map<String, JsonNode> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonElement> e : object().entrySet()) {
            out.put(e.getKey(), new JsonNode(e.getValue(), source, childPath(e.getKey())));
        }
        return out;
    }

    public List<JsonNode> items() {
        if (element == null || !element.isJsonArray()) {
            throw expected("an array");
        }
        List<JsonNode> out = new ArrayList<>();
        int i = 0;
        for (JsonElement item : element.getAsJsonArray()) {
            out.add(new JsonNode(item, source, path + "[" + i++ + "]"));
        }
        return Collections.unmodifiableList(out);
    }

    public String string() {
        if (element == null || !element.isJsonPrimitive() || !element.getAsJsonPrimitive().isString()) {
            throw expected("a string");
        }
        return element.getAsString();
    }

    public String nonEmptyString() {
        String value = string();
        if (value.isEmpty()) {
            throw expected("a non-empty string");
        }
        return value;
    }

    /** A string, or null for JSON null. */
    public String nullableString() {
        return isNull() ? null : string();
    }

    public String matching(Pattern pattern, String what) {
        String value = string();
        if (!pattern.matcher(value).matches()) {
            throw expected(what);
        }
        return value;
    }

    /** One of {@code allowed}. */
    public String oneOf(String... allowed) {
        String value = element != null && element.isJsonPrimitive() && element.getAsJsonPrimitive().isString()
                ? element.getAsString() : null;
        for (String a : allowed) {
            if (a.equals(value)) {
                return value;
            }
        }
        throw expected("one of " + quoted(allowed));
    }

    private static String quoted(String[] values) {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < values.length; i++) {
            b.append(i == 0 ? "" : ", ").append('\'').append(values[i]).append('\'');
        }
        return b.append(']').toString();
    }

    public boolean bool() {
        if (element == null || !element.isJsonPrimitive() || !element.getAsJsonPrimitive().isBoolean()) {
            throw expected("true or false");
        }
        return element.getAsBoolean();
    }

    private boolean isNumber() {
        return element != null && element.isJsonPrimitive() && element.getAsJsonPrimitive().isNumber();
    }

    /** A finite number. */
    public double number() {
        if (!isNumber()) {
            throw expected("a number");
        }
        double value = element.getAsDouble();
        if (Double.isNaN(value) || Double.isInfinite(value)) {
            throw expected("a finite number");
        }
        return value;
    }

    public double atLeast(double min) {
        double value = isNumber() ? element.getAsDouble() : Double.NaN;
        if (!(value >= min) || Double.isInfinite(value)) {
            throw expected("a number >= " + fmt(min));
        }
        return value;
    }

    public double above(double min) {
        double value = isNumber() ? element.getAsDouble() : Double.NaN;
        if (!(value > min) || Double.isInfinite(value)) {
            throw expected("a number > " + fmt(min));
        }
        return value;
    }

    public double within(double min, double max) {
        double value = isNumber() ? element.getAsDouble() : Double.NaN;
        if (!(value >= min && value <= max)) {
            throw expected("a number in [" + fmt(min) + ", " + fmt(max) + "]");
        }
        return value;
    }

    /** A number or null. */
    public Double nullableWithin(double min, double max) {
        return isNull() ? null : within(min, max);
    }

    /** An integer (a JSON number without a fractional part) >= {@code min}. */
    public long integerAtLeast(long min) {
        if (!isNumber()) {
            throw expected("an integer >= " + min);
        }
        JsonPrimitive p = element.getAsJsonPrimitive();
        double d = p.getAsDouble();
        if (d != Math.rint(d) || Double.isInfinite(d) || d < min) {
            throw expected("an integer >= " + min);
        }
        try {
            return p.getAsBigDecimal().longValueExact();
        } catch (ArithmeticException e) {  // beyond 64 bits, as Python's strict reader refuses too
            throw expected("an integer >= " + min + " within 64 bits");
        }
    }

    public int intAtLeast(int min) {
        long value = integerAtLeast(min);
        if (value > Integer.MAX_VALUE) {
            throw expected("an integer <= " + Integer.MAX_VALUE);
        }
        return (int) value;
    }

    /** An integer of any sign (JSON null rejected). */
    public int anyInt() {
        long value = integerAtLeast(Integer.MIN_VALUE);
        if (value > Integer.MAX_VALUE) {
            throw expected("an integer in [" + Integer.MIN_VALUE + ", " + Integer.MAX_VALUE + "]");
        }
        return (int) value;
    }

    static String fmt(double value) {
        return value == Math.rint(value) && Math.abs(value) < 1e15 ? Long.toString((long) value) : Double.toString(value);
    }
}
