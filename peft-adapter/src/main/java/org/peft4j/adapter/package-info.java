/** Bottleneck adapters (Houlsby, Pfeiffer, parallel) and BitFit: not written yet, see docs/architecture.md for the hooks they use. */
package org.peft4j.adapter;
