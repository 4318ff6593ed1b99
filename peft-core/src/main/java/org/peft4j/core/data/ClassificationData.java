package org.peft4j.core.data;

import java.util.List;

/**
 * Texts with one label each, as label indices into a {@link LabelSet}.
 *
 * @param texts    the texts, in file order
 * @param labels   {@code labels[i]} is the index in {@code labelSet} of the label of {@code texts.get(i)}
 * @param labelSet the labels and their order
 */
public record ClassificationData(List<String> texts, int[] labels, LabelSet labelSet) {
    /** Checks that every text has a label index within the label set. */
    public ClassificationData {
        if (texts == null || labels == null || labelSet == null) {
            throw new IllegalArgumentException("classification data needs texts, labels and a label set");
        }
        texts = List.copyOf(texts);
        if (texts.size() != labels.length) {
            throw new IllegalArgumentException("there are " + texts.size() + " texts but " + labels.length + " labels; each text needs one");
        }
        labels = labels.clone();
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] < 0 || labels[i] >= labelSet.size()) {
                throw new IllegalArgumentException("label of example " + i + " is index " + labels[i] + ", outside [0, " + labelSet.size()
                        + ") of the label set " + labelSet.names());
            }
        }
    }

    /** The label indices (a copy). */
    @Override
    public int[] labels() {
        return labels.clone();
    }

    /** Number of examples. */
    public int size() {
        return texts.size();
    }

    /** The label index of example {@code i}. */
    public int label(int i) {
        return labels[i];
    }

    /** How many examples carry each label, by label index. */
    public int[] labelCounts() {
        int[] counts = new int[labelSet.size()];
        for (int label : labels) {
            counts[label]++;
        }
        return counts;
    }
}
