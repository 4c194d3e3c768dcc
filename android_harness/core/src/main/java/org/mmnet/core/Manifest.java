package org.mmnet.core;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * A bundle's {@code manifest.json} (schema 1.0), checked for what the runtime relies on and for the
 * rules of the Python loader that the schema cannot express (unique ids, label count, input and
 * output shapes, blessed models shipped).
 */
public final class Manifest {
    public static final String SCHEMA_VERSION = Vocabulary.MANIFEST_SCHEMA_VERSION;

    /** A file inside the bundle with its size and sha256 ({@code file_ref} of the schema). */
    public static final class FileRef {
        private final String where;
        private final String file;
        private final String sha256;
        private final long bytes;

        FileRef(String where, String file, String sha256, long bytes) {
            this.where = where;
            this.file = file;
            this.sha256 = sha256;
            this.bytes = bytes;
        }

        static FileRef fromJson(JsonNode node, String where) {
            return new FileRef(where, node.get("file").nonEmptyString(),
                    node.get("sha256").matching(ModelRecord.SHA256, "64 lowercase hex digits"),
                    node.get("bytes").integerAtLeast(0));
        }

        /** The manifest field naming the file, e.g. {@code models[3].file}. */
        public String where() {
            return where;
        }

        public String file() {
            return file;
        }

        public String sha256() {
            return sha256;
        }

        public long bytes() {
            return bytes;
        }
    }

    private final JsonNode json;
    private final String name;
    private final int numClasses;
    private final PreprocessingSpec preprocessing;
    private final List<String> labels;
    private final String labelsFile;
    private final List<ModelRecord> models;
    private final Map<String, ModelRecord> byId;
    private final FileRef runtimeConfig;

    private Manifest(JsonNode json) {
        this.json = json;
        String version = json.get("schema_version").string();
        if (!SCHEMA_VERSION.equals(version)) {
            throw json.get("schema_version").error("is \"" + version + "\"; expected \"" + SCHEMA_VERSION + "\"");
        }
        name = json.get("name").matching(ModelRecord.NAME, "a bundle name of letters, digits, '.', '_' or '-'");
        JsonNode dataset = json.get("dataset");
        numClasses = dataset.get("num_classes").intAtLeast(2);
        int[] datasetShape = PreprocessingSpec.intArray(dataset.get("frame_shape"), 3);
        preprocessing = PreprocessingSpec.fromJson(json.get("preprocessing"));
        if (!Arrays.equals(datasetShape, preprocessing.frameShape())) {
            throw json.get("preprocessing").get("frame_shape").error("is " + Arrays.toString(preprocessing.frameShape())
                    + "; expected dataset.frame_shape " + Arrays.toString(datasetShape));
        }
        List<String> names = new ArrayList<>();
        JsonNode labelNode = json.get("labels");
        for (JsonNode label : labelNode.items()) {
            String text = label.nonEmptyString();
            if (text.contains("\n") || text.contains("\r")) {
                throw label.error("contains a line break; expected one line per label");
            }
            names.add(text);
        }
        if (new HashSet<>(names).size() != names.size()) {
            throw labelNode.error("has duplicate labels; expected unique labels");
        }
        if (names.size() != numClasses) {
            throw labelNode.error("has " + names.size() + " entries; dataset.num_classes is " + numClasses);
        }
        labels = Collections.unmodifiableList(names);
        labelsFile = json.get("labels_file").nonEmptyString();
        JsonNode data = json.get("data");
        for (String split : new String[] {"val", "test"}) {
            data.get(split).get("count").integerAtLeast(0);
        }
        List<ModelRecord> records = new ArrayList<>();
        Map<String, ModelRecord> ids = new LinkedHashMap<>();
        Set<String> duplicates = new TreeSet<>();
        List<JsonNode> modelNodes = json.get("models").items();
        for (JsonNode node : modelNodes) {
            ModelRecord record = ModelRecord.fromJson(node);
            if (ids.put(record.id(), record) != null) {
                duplicates.add(record.id());
            }
            records.add(record);
            if (record.blessed() && !record.shipped()) {
                throw node.error("model '" + record.id() + "' is blessed but not shipped (file is null)");
            }
            int r = record.resolution();
            int[] expectedIn = {1, r, r, preprocessing.channels()};
            if (!Arrays.equals(record.input().shape(), expectedIn)) {
                throw node.get("input").get("shape").error("is " + Arrays.toString(record.input().shape()) + "; expected "
                        + Arrays.toString(expectedIn) + " (batch 1, resolution, resolution, channels)");
            }
            int[] expectedOut = {1, numClasses};
            if (!Arrays.equals(record.output().shape(), expectedOut)) {
                throw node.get("output").get("shape").error("is " + Arrays.toString(record.output().shape()) + "; expected "
                        + Arrays.toString(expectedOut));
            }
        }
        if (!duplicates.isEmpty()) {
            throw json.get("models").error("has duplicate model ids " + duplicates);
        }
        models = Collections.unmodifiableList(records);
        byId = Collections.unmodifiableMap(ids);
        JsonNode config = json.get("runtime_config");
        runtimeConfig = config.isNull() ? null : FileRef.fromJson(config, "runtime_config.file");
    }

    /** Parses and checks a manifest document; BundleException naming {@code source} and the JSON path. */
    public static Manifest parse(String text, String source) {
        return new Manifest(JsonNode.parse(text, source));
    }

    /** The document as parsed (for fields this class does not expose). */
    public JsonNode json() {
        return json;
    }

    public String name() {
        return name;
    }

    public int numClasses() {
        return numClasses;
    }

    public PreprocessingSpec preprocessing() {
        return preprocessing;
    }

    public List<String> labels() {
        return labels;
    }

    public String labelsFile() {
        return labelsFile;
    }

    public List<ModelRecord> models() {
        return models;
    }

    /** The model {@code id}; BundleException listing the known ids when there is none. */
    public ModelRecord model(String id) {
        ModelRecord record = byId.get(id);
        if (record == null) {
            throw new BundleException("bundle " + name + " has no model '" + id + "'; known ids: " + byId.keySet());
        }
        return record;
    }

    public boolean hasModel(String id) {
        return byId.containsKey(id);
    }

    /** runtime_config.json's reference, null when the bundle has none. */
    public FileRef runtimeConfig() {
        return runtimeConfig;
    }

    /** Ids of the shipped models (file not null). */
    public List<String> shippedModels() {
        List<String> out = new ArrayList<>();
        for (ModelRecord m : models) {
            if (m.shipped()) {
                out.add(m.id());
            }
        }
        return out;
    }
}
