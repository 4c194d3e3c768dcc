package org.mmnet.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class JsonNodeTest {
    @Test
    public void rejectsWhatPythonsJsonWouldNotWrite() {
        BundleException nan = assertThrows(BundleException.class, () -> JsonNode.parse("{\"a\": NaN}", "x.json"));
        assertTrue(nan.getMessage(), nan.getMessage().startsWith("x.json: not valid JSON"));
        BundleException trailing = assertThrows(BundleException.class, () -> JsonNode.parse("{} {}", "y.json"));
        assertTrue(trailing.getMessage(), trailing.getMessage().contains("data after the document"));
        assertThrows(BundleException.class, () -> JsonNode.parse("{\"a\": 1,}", "z.json"));
    }

    @Test
    public void errorsNameSourcePathValueAndExpectation() {
        JsonNode doc = JsonNode.parse("{\"systems\": {\"pair:a+b\": {\"n\": -2, \"s\": 3}}}", "cfg.json");
        JsonNode system = doc.get("systems").get("pair:a+b");
        BundleException e = assertThrows(BundleException.class, () -> system.get("n").atLeast(0));
        assertEquals("cfg.json: $.systems['pair:a+b'].n: is -2; expected a number >= 0", e.getMessage());
        e = assertThrows(BundleException.class, () -> system.get("s").string());
        assertEquals("cfg.json: $.systems['pair:a+b'].s: is 3; expected a string", e.getMessage());
        e = assertThrows(BundleException.class, () -> system.get("missing"));
        assertEquals("cfg.json: $.systems['pair:a+b']: lacks the required key 'missing'", e.getMessage());
    }

    @Test
    public void integersMayBeWrittenWithAZeroFraction() {
        JsonNode doc = JsonNode.parse("{\"a\": 3.0, \"b\": 3.5, \"c\": true}", "i.json");
        assertEquals(3, doc.get("a").intAtLeast(1));
        assertThrows(BundleException.class, () -> doc.get("b").intAtLeast(1));
        assertThrows(BundleException.class, () -> doc.get("c").number());
    }
}
