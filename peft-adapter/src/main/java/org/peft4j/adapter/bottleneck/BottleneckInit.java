package org.peft4j.adapter.bottleneck;

import java.util.Arrays;

/** How a bottleneck adapter's projections start; every choice has zero biases. */
public enum BottleneckInit {
    /** Down-projection ~ N(0, 0.01²), up-projection zero: a fresh adapter is exactly the identity (the default). */
    IDENTITY("identity"),
    /** Both projections ~ N(0, 0.01²), as in Houlsby et al. and AdapterHub's "bert": a fresh adapter is near the identity. */
    BERT("bert");

    private final String hfName;

    BottleneckInit(String hfName) {
        this.hfName = hfName;
    }

    /** The name in {@code adapter_config.json}. */
    public String hfName() {
        return hfName;
    }

    /** Parses identity or bert (any case). */
    public static BottleneckInit parse(String name) {
        for (BottleneckInit i : values()) {
            if (i.hfName.equalsIgnoreCase(name)) {
                return i;
            }
        }
        throw new IllegalArgumentException("init_weights must be one of " + Arrays.stream(values()).map(BottleneckInit::hfName).toList()
                + ", got '" + name + "'");
    }
}
