package org.mmnet.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertThrows;
import static org.junit.Assert.assertTrue;

import com.google.gson.JsonObject;
import org.junit.Test;

/** The manifest's {@code preprocessing.resize_policy}: optional (squash), one of two values. */
public class ResizePolicyManifestTest {
    private static Manifest withPolicy(Object policy) {
        JsonObject doc = Fixtures.manifestJson();
        JsonObject preprocessing = doc.getAsJsonObject("preprocessing");
        preprocessing.remove("resize_policy");
        if (policy instanceof String) {
            preprocessing.addProperty("resize_policy", (String) policy);
        } else if (policy instanceof Number) {
            preprocessing.addProperty("resize_policy", (Number) policy);
        }
        return Manifest.parse(doc.toString(), "manifest.json");
    }

    @Test
    public void aManifestWithoutThePolicySquashes() {
        assertEquals(PreprocessingSpec.ResizePolicy.SQUASH, withPolicy(null).preprocessing().resizePolicy());
    }

    @Test
    public void bothPoliciesAreRead() {
        assertEquals(PreprocessingSpec.ResizePolicy.CENTER_CROP, withPolicy("center_crop").preprocessing().resizePolicy());
        assertEquals(PreprocessingSpec.ResizePolicy.SQUASH, withPolicy("squash").preprocessing().resizePolicy());
    }

    @Test
    public void anUnknownPolicyIsABundleErrorNamingTheField() {
        for (Object bad : new Object[] {"crop", "CENTER_CROP", 1}) {
            BundleException e = assertThrows(BundleException.class, () -> withPolicy(bad));
            assertTrue(e.getMessage(), e.getMessage().contains("preprocessing.resize_policy"));
            assertTrue(e.getMessage(), e.getMessage().contains("'center_crop', 'squash'"));
        }
    }

    @Test
    public void aMistypedKeyIsNotTakenForTheDefault() {
        JsonObject doc = Fixtures.manifestJson();
        doc.getAsJsonObject("preprocessing").addProperty("resize_polcy", "center_crop");
        BundleException e = assertThrows(BundleException.class, () -> Manifest.parse(doc.toString(), "manifest.json"));
        assertTrue(e.getMessage(), e.getMessage().contains("unknown keys [resize_polcy]"));
    }

    @Test
    public void thePolicyNamesAreThePythonOnes() {
        assertEquals("center_crop", PreprocessingSpec.ResizePolicy.CENTER_CROP.json());
        assertEquals(PreprocessingSpec.ResizePolicy.SQUASH, PreprocessingSpec.ResizePolicy.of("squash"));
        ConfigException e = assertThrows(ConfigException.class, () -> PreprocessingSpec.ResizePolicy.of("fit"));
        assertEquals("resize policy is 'fit'; expected one of [center_crop, squash]", e.getMessage());
    }
}
