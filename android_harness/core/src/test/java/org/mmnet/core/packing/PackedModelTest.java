package org.mmnet.core.packing;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.Test;
import org.mmnet.core.BundleException;
import org.mmnet.core.Fixtures;
import org.mmnet.core.JsonNode;
import org.mmnet.core.Sha256;

/**
 * The golden cases of {@code packed/cases.json} (written by {@code python -m android_harness.parity.packed_cases}):
 * every format's codes decode to Python's float32 bits, every packed container unpacks to the flatbuffer whose
 * sha256 Python's {@code unpack_model} gave, and every corrupt container or spec is refused.
 */
public class PackedModelTest {
    private static final JsonObject DOC =
            JsonNode.parse(Fixtures.resource("packed/cases.json"), "packed/cases.json").element().getAsJsonObject();

    private static int[] uint32s(String base64) {
        ByteBuffer buffer = ByteBuffer.wrap(Base64.getDecoder().decode(base64)).order(ByteOrder.LITTLE_ENDIAN);
        int[] out = new int[buffer.remaining() / 4];
        for (int i = 0; i < out.length; i++) {
            out[i] = buffer.getInt();
        }
        return out;
    }

    static Packing packing(JsonObject c, String where) {
        return Packing.fromJson(JsonNode.of(c.get("packing"), where));
    }

    @Test
    public void everyFormatDecodesToPythonsBits() {
        List<String> failures = new ArrayList<>();
        Set<String> kinds = new HashSet<>();
        int codes = 0;
        for (JsonElement e : DOC.getAsJsonArray("formats")) {
            JsonObject f = e.getAsJsonObject();
            FloatFormat format = FloatFormat.parse(f.get("format").getAsString(), "formats[].format");
            assertEquals(f.get("format").getAsString(), f.get("width").getAsInt(), format.width());
            int[] in = uint32s(f.get("codes").getAsString());
            int[] expected = uint32s(f.get("bits").getAsString());
            assertEquals(f.get("count").getAsInt(), in.length);
            for (int i = 0; i < in.length; i++) {
                int actual = format.decodeBits(Integer.toUnsignedLong(in[i]));
                if (actual != expected[i]) {
                    failures.add(format + " code 0x" + Integer.toHexString(in[i]) + ": Python 0x" + Integer.toHexString(expected[i])
                            + ", Java 0x" + Integer.toHexString(actual));
                }
                kinds.add(expected[i] == 0x80000000 ? "negative zero" : (expected[i] & 0x7F800000) == 0 && expected[i] != 0
                        ? "float32 subnormal" : "other");
            }
            kinds.add(format.subnormals() ? "subnormal format" : "flush-to-zero format");
            kinds.add(format.signed() ? "signed" : "unsigned");
            kinds.add("width " + format.width());
            codes += in.length;
        }
        assertTrue(failures.size() + " codes differ, e.g. " + failures.subList(0, Math.min(10, failures.size())), failures.isEmpty());
        for (String kind : new String[] {"negative zero", "float32 subnormal", "subnormal format", "flush-to-zero format",
                                         "unsigned", "width 3", "width 32"}) {
            assertTrue("no case of " + kind + ": " + kinds, kinds.contains(kind));
        }
        assertTrue("only " + codes + " codes", codes > 2000);
    }

    @Test
    public void everyCaseUnpacksToTheFlatbufferPythonUnpacked() {
        int tensors = 0;
        for (JsonElement e : DOC.getAsJsonArray("cases")) {
            JsonObject c = e.getAsJsonObject();
            String name = c.get("name").getAsString();
            Packing spec = packing(c, "packed/cases.json " + name);
            byte[] tflite = PackedModel.unpack(Base64.getDecoder().decode(c.get("container").getAsString()), spec, name);
            assertEquals(name + ": sha256 of the unpacked flatbuffer", c.get("tflite_sha256").getAsString(), Sha256.ofBytes(tflite));
            assertEquals(name + ": size", spec.tfliteBytes(), tflite.length);
            tensors += spec.tensors().size();
        }
        assertTrue("only " + tensors + " packed tensors", tensors >= 20);
    }

    @Test
    public void corruptContainersAndSpecsAreRefusedWithWhatIsWrong() {
        Set<String> names = new HashSet<>();
        for (JsonElement e : DOC.getAsJsonArray("corrupt")) {
            JsonObject c = e.getAsJsonObject();
            String name = c.get("name").getAsString();
            Packing spec = packing(c, "packed/cases.json " + name);
            byte[] container = Base64.getDecoder().decode(c.get("container").getAsString());
            BundleException error = assertThrows(name, BundleException.class,
                    () -> PackedModel.unpack(container, spec, "models/x.packed"));
            String words = c.get("words").getAsString();
            assertTrue(name + ": '" + error.getMessage() + "' lacks '" + words + "' (Python: " + c.get("python_error") + ")",
                    error.getMessage().startsWith("models/x.packed: ") && error.getMessage().contains(words));
            names.add(name);
        }
        assertTrue(names.toString(), names.containsAll(List.of("flipped-bit", "reserved-code", "padding-bit", "short-tensor",
                "packed-offset-past-the-end", "wrong-size", "template-past-the-end")));
    }

    @Test
    public void aBadSpecNamesItsJsonPath() {
        JsonObject c = DOC.getAsJsonArray("cases").get(0).getAsJsonObject().deepCopy();
        c.getAsJsonObject("packing").getAsJsonArray("tensors").get(0).getAsJsonObject().addProperty("format", "e9m1b0");
        BundleException e = assertThrows(BundleException.class, () -> packing(c, "manifest.json"));
        assertTrue(e.getMessage(), e.getMessage().startsWith("manifest.json: $.tensors[0].format: ")
                && e.getMessage().contains("exponent_bits is 9"));
        JsonObject zip = DOC.getAsJsonArray("cases").get(0).getAsJsonObject().deepCopy();
        zip.getAsJsonObject("packing").addProperty("method", "zip");
        e = assertThrows(BundleException.class, () -> packing(zip, "manifest.json"));
        assertTrue(e.getMessage(), e.getMessage().contains("$.method") && e.getMessage().contains("custom_float"));
    }
}
