package org.mmnet.harness;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.Test;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.NodeList;

/**
 * The manifest (compiled only by the phone's Gradle build) against the code: the components it declares exist
 * with the right base classes, the service's type and permissions match what the service does, and every resource
 * it names is in res/.
 */
public class AppManifestTest {
    static final String ANDROID = "http://schemas.android.com/apk/res/android";
    static final File MAIN = new File("src/main");

    static Document parse(File file) throws Exception {
        DocumentBuilderFactory factory = DocumentBuilderFactory.newInstance();
        factory.setNamespaceAware(true);
        return factory.newDocumentBuilder().parse(file);
    }

    static List<Element> elements(Document doc, String tag) {
        List<Element> out = new ArrayList<>();
        NodeList nodes = doc.getElementsByTagName(tag);
        for (int i = 0; i < nodes.getLength(); i++) {
            out.add((Element) nodes.item(i));
        }
        return out;
    }

    static Class<?> component(Element e) throws ClassNotFoundException {
        String name = e.getAttributeNS(ANDROID, "name");
        return Class.forName("org.mmnet.harness" + name, false, AppManifestTest.class.getClassLoader());
    }

    @Test
    public void theDeclaredComponentsAreTheAppsClassesAndOnlyTheActivityIsExported() throws Exception {
        Document manifest = parse(new File(MAIN, "AndroidManifest.xml"));
        List<Element> activities = elements(manifest, "activity");
        List<Element> services = elements(manifest, "service");
        assertEquals(1, activities.size());
        assertEquals(1, services.size());
        assertEquals(HarnessActivity.class, component(activities.get(0)));
        assertTrue(android.app.Activity.class.isAssignableFrom(component(activities.get(0))));
        assertEquals("true", activities.get(0).getAttributeNS(ANDROID, "exported"));
        assertEquals(HarnessService.class, component(services.get(0)));
        assertTrue(android.app.Service.class.isAssignableFrom(component(services.get(0))));
        assertEquals("false", services.get(0).getAttributeNS(ANDROID, "exported"));
        // startForeground(..., FOREGROUND_SERVICE_TYPE_SPECIAL_USE) on Android 14+ needs the type, its permission and
        // the subtype property; the wake lock and the notification need theirs.
        assertEquals("specialUse", services.get(0).getAttributeNS(ANDROID, "foregroundServiceType"));
        assertTrue(elements(manifest, "property").stream().anyMatch(p -> p.getAttributeNS(ANDROID, "name")
                .equals(android.content.pm.PackageManager.PROPERTY_SPECIAL_USE_FGS_SUBTYPE)));
        List<String> permissions = new ArrayList<>();
        for (Element p : elements(manifest, "uses-permission")) {
            permissions.add(p.getAttributeNS(ANDROID, "name"));
        }
        for (String needed : new String[] {android.Manifest.permission.FOREGROUND_SERVICE,
                android.Manifest.permission.FOREGROUND_SERVICE_SPECIAL_USE, android.Manifest.permission.WAKE_LOCK,
                android.Manifest.permission.POST_NOTIFICATIONS, android.Manifest.permission.INTERNET}) {
            assertTrue(needed + " is not in " + permissions, permissions.contains(needed));
        }
    }

    @Test
    public void everyResourceTheManifestNamesIsInRes() throws Exception {
        String text = new String(java.nio.file.Files.readAllBytes(new File(MAIN, "AndroidManifest.xml").toPath()),
                java.nio.charset.StandardCharsets.UTF_8);
        List<String> strings = new ArrayList<>();
        for (Element s : elements(parse(new File(MAIN, "res/values/strings.xml")), "string")) {
            strings.add(s.getAttribute("name"));
        }
        Matcher refs = Pattern.compile("\"@(\\w+)/(\\w+)\"").matcher(text);
        int seen = 0;
        while (refs.find()) {
            seen++;
            assertEquals("@" + refs.group(1) + "/" + refs.group(2) + ": only string resources exist", "string",
                    refs.group(1));
            assertTrue("@string/" + refs.group(2) + " is not in res/values/strings.xml " + strings,
                    strings.contains(refs.group(2)));
        }
        assertTrue("the manifest names no resource", seen >= 1);
    }
}
